#!/bin/sh
# Build the gossip-train peer image with no network inside the build.
#
#   scripts/build-image.sh [TAG]        (default: gossip-train:latest)
#
# BASE_IMAGE (default gossip-train-base:bookworm) is reused when the local
# Docker store has it; when it is missing and named gossip-train-base:*, it is
# made by scripts/make-base-image.sh (debootstrap, no registry needed). Wheels
# for the package and its dependencies are prepared on the host (pip, PyPI) for
# the base image's Python, then the build installs from them with --no-index.
# GIT_REV=REV builds the sources of that commit instead of the work tree.
set -eu
cd "$(dirname "$0")/.."
tag=${1:-${IMAGE:-gossip-train:latest}}
base=${BASE_IMAGE:-gossip-train-base:bookworm}
wheels=${WHEEL_DIR:-build/wheels}
py=${PYTHON:-python3}
say() { echo "build-image: $*" >&2; }
die() { say "$*"; exit 1; }

docker info >/dev/null 2>&1 || die "no Docker engine answers ('docker info' failed); start dockerd first"
if ! docker image inspect "$base" >/dev/null 2>&1; then
  case $base in
    gossip-train-base:*) sh scripts/make-base-image.sh "$base" ;;
    *) die "base image $base is not in the local Docker store (no registry to pull it from here)" ;;
  esac
fi

# A small build context: the sources, the entrypoint and the wheels; no .venv.
ctx=$(mktemp -d "${TMPDIR:-/tmp}/gossip-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT INT TERM
mkdir -p "$ctx/compose/wheels"
if [ -n "${GIT_REV:-}" ]; then
  git archive "$GIT_REV" gossip pyproject.toml README.md | tar -x -C "$ctx" ||
    die "cannot read the sources of $GIT_REV"
else
  cp -r gossip pyproject.toml README.md "$ctx/"
fi
find "$ctx/gossip" -name __pycache__ -type d -prune -exec rm -rf {} +
cp compose/Dockerfile compose/entrypoint.py compose/healthcheck.py "$ctx/compose/"

# The base image's Python decides which wheels fit.
pyver=$(docker run --rm --network none --entrypoint python3 "$base" \
  -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")') ||
  die "base image $base has no working python3"
say "base $base has Python $pyver; preparing wheels in $wheels"
mkdir -p "$wheels"
rm -f "$wheels"/gossip_train-*.whl
"$py" -m pip wheel -q --no-deps --wheel-dir "$wheels" "$ctx" >/dev/null ||
  die "cannot build the gossip-train wheel ($py -m pip wheel .)"
reqs=$("$py" - "$ctx/pyproject.toml" <<'PY'
import tomllib
import sys
print("\n".join(tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]))
PY
) || die "cannot read dependencies from pyproject.toml with $py (needs Python 3.11+)"
echo "$reqs" >"$wheels/requirements.txt"
"$py" -m pip download -q --only-binary=:all: --dest "$wheels" \
  --python-version "$pyver" --implementation cp \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 \
  -r "$wheels/requirements.txt" ||
  die "cannot download wheels for Python $pyver from PyPI"

cp "$wheels"/*.whl "$ctx/compose/wheels/"
say "building $tag"
build_id=$$-$(date +%s)
DOCKER_BUILDKIT=0 docker build -q --network none --build-arg "BASE_IMAGE=$base" \
  --build-arg "BUILD_ID=$build_id" \
  -f "$ctx/compose/Dockerfile" -t "$tag" "$ctx" >/dev/null 2>"$ctx/build.err" || {
  tail -n 20 "$ctx/build.err" >&2
  docker image prune -f --filter "label=org.gossip-train.build=$build_id" >/dev/null 2>&1 || true
  die "docker build failed (above)"
}
# the legacy builder keeps the build stage as an untagged image: ours carry this label
docker image prune -f --filter "label=org.gossip-train.build=$build_id" >/dev/null 2>&1 || true
say "built $tag ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))"
