#!/bin/sh
# A gossip-train cluster in Docker Compose: what `make cluster-up`,
# `make cluster-status` and `make cluster-down` run.
#
#   scripts/cluster.sh up [N]      build the image if missing, start N peers (default $PEERS or 4),
#                                  wait until every peer answers, print the table
#   scripts/cluster.sh status      one table of all peers (scripts/cluster_status.py)
#   scripts/cluster.sh down        remove containers, network and volumes
#
# Environment: PROJECT (compose project, default gossip), GOSSIP_IMAGE
# (default gossip-train:latest), UP_TIMEOUT (seconds, default 300), and the
# GOSSIP_* settings that compose/docker-compose.yml passes to the peers.
# A failed `up` prints one line saying why and leaves nothing running.
set -eu
cd "$(dirname "$0")/.."
PROJECT=${PROJECT:-gossip}
export GOSSIP_IMAGE=${GOSSIP_IMAGE:-gossip-train:latest}
file=compose/docker-compose.yml
say() { echo "cluster: $*" >&2; }
die() { say "$*"; exit 1; }

docker info >/dev/null 2>&1 || die "no Docker engine answers ('docker info' failed): start dockerd, or check DOCKER_HOST"
if docker compose version >/dev/null 2>&1; then
  compose() { docker compose -p "$PROJECT" -f "$file" "$@"; }
elif command -v docker-compose >/dev/null; then
  compose() { docker-compose -p "$PROJECT" -f "$file" "$@"; }
else
  die "neither 'docker compose' nor 'docker-compose' is installed"
fi

containers() { docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" --filter "label=com.docker.compose.service=peer"; }

down() { compose down -v --remove-orphans --timeout 20 >/dev/null 2>&1 || true; }

up() {
  n=${1:-${PEERS:-4}}
  case $n in '' | *[!0-9]* | 0) die "the number of peers must be a positive integer, got '$n'" ;; esac
  export PEERS=$n
  [ -z "$(containers)" ] || die "a cluster '$PROJECT' exists already: 'make cluster-status', or 'make cluster-down' first"
  if ! docker image inspect "$GOSSIP_IMAGE" >/dev/null 2>&1; then
    say "image $GOSSIP_IMAGE not found: building it (scripts/build-image.sh)"
    sh scripts/build-image.sh "$GOSSIP_IMAGE" || die "cannot build $GOSSIP_IMAGE"
  fi
  err=$(mktemp)
  if ! compose up -d --no-build --scale "peer=$n" >/dev/null 2>"$err"; then
    reason=$(grep -v -e '^Creating' -e '^Starting' -e '^\s*$' "$err" | tail -n 1)
    rm -f "$err"
    down
    die "could not start: ${reason:-docker compose up failed}; nothing left running"
  fi
  rm -f "$err"
  say "$n peers starting; waiting until each answers its gRPC health check"
  deadline=$(($(date +%s) + ${UP_TIMEOUT:-300}))
  while :; do
    total=0 healthy=0
    for c in $(containers); do
      total=$((total + 1))
      st=$(docker inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$c")
      case $st in
        "running healthy") healthy=$((healthy + 1)) ;;
        exited* | dead*)
          name=$(docker inspect -f '{{.Name}}' "$c")
          line=$(docker logs --tail 20 "$c" 2>&1 | grep -v '^gossip-entrypoint: ignoring' | tail -n 1)
          down
          die "peer ${name#/} exited: ${line:-no output}; nothing left running"
          ;;
      esac
    done
    [ "$total" -gt 0 ] && [ "$healthy" -eq "$total" ] && break
    if [ "$(date +%s)" -ge "$deadline" ]; then
      down
      die "only $healthy of $total peers answered within ${UP_TIMEOUT:-300} s; nothing left running"
    fi
    sleep 2
  done
  say "all $total peers answer"
  status
}

status() {
  [ -n "$(containers)" ] || die "no cluster '$PROJECT' is running ('make cluster-up' starts one)"
  python3 scripts/cluster_status.py "$PROJECT"
}

case ${1:-} in
  up) shift; up "$@" ;;
  status) status ;;
  down)
    had=$(containers)
    down
    if [ -n "$had" ]; then say "cluster '$PROJECT' removed (containers, network, volumes)"; else say "no cluster '$PROJECT' was running"; fi
    ;;
  *) die "usage: scripts/cluster.sh up [N] | status | down" ;;
esac
