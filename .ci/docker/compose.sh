#!/usr/bin/env bash
# Docker Compose v2 (`up --wait` needs v2; Debian 12 has only docker-compose 1.29), built
# from the Go module proxy into a cache: a first build takes about 4 minutes on 2 cores,
# a cached one milliseconds. Prints the binary's path as the last line of stdout.
#
#   COMPOSE_VERSION  default 2.40.3
#   PROVISION_CACHE  default $HOME/.cache/proving-ground
#
# `go install github.com/docker/compose/v2/cmd@vX` refuses (compose's go.mod has exclude
# directives), so the module is downloaded and built in a copy of it.
set -euo pipefail
COMPOSE_VERSION=${COMPOSE_VERSION:-2.40.3}
CACHE=${PROVISION_CACHE:-$HOME/.cache/proving-ground}
DEST=$CACHE/docker-compose-$COMPOSE_VERSION
log() { echo "compose.sh: $*" >&2; }

if [ -x "$DEST/docker-compose" ]; then
	log "cached: $DEST/docker-compose"
	echo "$DEST/docker-compose"
	exit 0
fi
command -v go >/dev/null || { log "error: go not found on PATH (Go 1.24+ builds compose $COMPOSE_VERSION)"; exit 1; }
started=$SECONDS
mkdir -p "$CACHE"
stage=$(mktemp -d "$CACHE/.docker-compose.XXXXXX")
trap 'chmod -R u+w "$stage" 2>/dev/null; rm -rf "$stage"' EXIT
module=$(cd "$stage" && go mod download -json "github.com/docker/compose/v2@v$COMPOSE_VERSION" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$module" ] || { log "error: go mod download of compose v$COMPOSE_VERSION failed"; exit 1; }
cp -r "$module" "$stage/src" && chmod -R u+w "$stage/src"
log "building compose v$COMPOSE_VERSION (a few minutes on 2 cores)"
(cd "$stage/src" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w \
	-X github.com/docker/compose/v2/internal.Version=v$COMPOSE_VERSION" -o "$stage/out/docker-compose" ./cmd)
"$stage/out/docker-compose" version >&2
mv "$stage/out" "$DEST.tmp.$$" && mv -T "$DEST.tmp.$$" "$DEST"
log "built $DEST/docker-compose in $((SECONDS - started)) s"
echo "$DEST/docker-compose"
