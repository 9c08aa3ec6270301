#!/bin/sh
# Make a local Debian base image with python3 for machines that cannot pull
# images (no container registry). Reuses the image when it already exists.
#
#   scripts/make-base-image.sh [IMAGE]      (default: gossip-train-base:bookworm)
#
# The root file system comes from debootstrap, fetching from the Debian mirror
# that apt on this machine already uses (read from apt's own configuration with
# `apt-get indextargets`, never written here), then `docker import`. Needs root
# and debootstrap (installed with apt-get when missing).
set -eu
image=${1:-${BASE_IMAGE:-gossip-train-base:bookworm}}
say() { echo "make-base-image: $*" >&2; }
die() { say "$*"; exit 1; }

docker info >/dev/null 2>&1 || die "no Docker engine answers ('docker info' failed); start dockerd first"
if docker image inspect "$image" >/dev/null 2>&1; then
  say "reusing $image"
  exit 0
fi
[ "$(id -u)" = 0 ] || die "building $image needs root (debootstrap); run as root or 'docker pull python:3.11-slim' where a registry is reachable"

# The release and mirror apt uses for this machine's main archive.
suite=${DEBIAN_SUITE:-}
mirror=${DEBIAN_MIRROR:-}
if [ -z "$suite" ] || [ -z "$mirror" ]; then
  command -v apt-get >/dev/null || die "no apt-get here: set DEBIAN_SUITE and DEBIAN_MIRROR"
  line=$(apt-get indextargets --format '$(TARGET_OF) $(COMPONENT) $(RELEASE) $(REPO_URI)' 2>/dev/null |
    awk '$1 == "deb" && $2 == "main" && $3 !~ /-/ && $4 ~ /debian\/?$/ { print $3, $4; exit }')
  [ -n "$line" ] || die "apt has no Debian 'main' archive configured (apt-get indextargets): set DEBIAN_SUITE and DEBIAN_MIRROR"
  suite=${suite:-${line%% *}}
  mirror=${mirror:-${line#* }}
fi
if ! command -v debootstrap >/dev/null; then
  say "installing debootstrap with apt-get"
  # a fresh machine may have no package lists yet: update them once, then retry
  apt-get install -y -qq debootstrap >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null && apt-get install -y -qq debootstrap >/dev/null; } ||
    die "cannot install debootstrap (apt-get update; apt-get install debootstrap)"
fi
# Pass apt's proxy on, if apt has one.
proxy=$(apt-config dump 2>/dev/null | sed -n 's/^Acquire::http::Proxy "\(.*\)";$/\1/p' | head -n1)
[ -n "$proxy" ] && export http_proxy="$proxy"

root=$(mktemp -d "${TMPDIR:-/tmp}/gossip-base.XXXXXX")
trap 'rm -rf "$root" "$root.log"' EXIT INT TERM
say "debootstrap $suite from $mirror (a few minutes, once per machine)"
debootstrap --variant=minbase --include=python3,python3-venv \
  "$suite" "$root" "$mirror" >"$root.log" 2>&1 || {
  tail -n 5 "$root.log" >&2
  rm -f "$root.log"
  die "debootstrap failed (log above)"
}
rm -f "$root.log"
# What an image never needs: package caches, docs, man pages, locales.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
  "$root"/usr/share/locale/* "$root"/var/log/*
tar -C "$root" -c . | docker import \
  --change 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/bash"]' \
  --message "debootstrap --variant=minbase $suite + python3, python3-venv" \
  - "$image" >/dev/null
say "made $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"
