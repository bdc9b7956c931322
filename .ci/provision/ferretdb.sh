#!/usr/bin/env bash
# Build FerretDB v1 (SQLite backend; speaks the MongoDB wire protocol) from the Go
# module proxy into a cache dir. Idempotent: with the binary present it returns at once.
#
#   FERRETDB_VERSION  default v1.24.0 (last v1.x; v2 needs PostgreSQL+DocumentDB)
#   FERRETDB_H1       go.sum hash of that module zip (pinned for v1.24.0)
#   PROVISION_CACHE   default $HOME/.cache/proving-ground
#
# Why not `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.0`?
#  1. That form asks the proxy for the module's version list (deprecation check);
#     the registry mirror here answers 403 for `@v/list`, and sum.golang.org is
#     unreachable, so it fails before building.
#  2. Even when it builds, the binary panics at start: build/version embeds
#     version.txt, generated from git by upstream's `task gen-version`.
# So: download the exact version (only @v/<ver>.{info,mod,zip} are fetched), check
# its hash against a pin, copy it, write version.txt, build it as the main module.
#
# Prints the path of the ferretdb binary as the last line of stdout.
set -euo pipefail

FERRETDB_VERSION="${FERRETDB_VERSION:-v1.24.0}"
if [[ "$FERRETDB_VERSION" == v1.24.0 ]]; then
  FERRETDB_H1="${FERRETDB_H1:-h1:7WJmezL48Bj9bYWnhT/bEJgX5gjT5s7LFdHTqkN25rA=}"
fi
CACHE="${PROVISION_CACHE:-$HOME/.cache/proving-ground}"
DEST="$CACHE/ferretdb-$FERRETDB_VERSION"
BIN="$DEST/bin/ferretdb"
MOD=github.com/FerretDB/FerretDB

log() { echo "ferretdb.sh: $*" >&2; }

if [[ -x "$BIN" ]]; then
  log "cached: $BIN"
  echo "$BIN"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  log "error: 'go' not found on PATH; install Go >= 1.22 (apt-get install golang-go on Debian 13+, or a go.dev toolchain)"
  exit 1
fi

gov="$(go env GOVERSION)"; gov="${gov#go}"
if ! printf '1.22\n%s\n' "$gov" | sort -C -V; then
  log "error: FerretDB $FERRETDB_VERSION needs Go >= 1.22, found go$gov (Debian 12's golang-go is 1.19)"
  exit 1
fi

start=$(date +%s)
mkdir -p "$DEST"
work="$(mktemp -d "$DEST/.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export GOFLAGS="-buildvcs=false" GOTOOLCHAIN=local CGO_ENABLED="${CGO_ENABLED:-0}"
# sum.golang.org is unreachable here. FerretDB itself is checked against the pin below;
# its dependencies against its own go.sum (-mod=readonly: a missing line is an error).
export GOSUMDB=off
if [[ -z "${FERRETDB_H1:-}" ]]; then
  log "error: no pinned FERRETDB_H1 for $FERRETDB_VERSION; set FERRETDB_H1=h1:... (go.sum hash of $MOD@$FERRETDB_VERSION)"
  exit 1
fi

log "fetching $MOD@$FERRETDB_VERSION ($(go version))"
# `go mod download -json` of an exact version uses only @v/<ver>.{info,mod,zip}.
# It prints the hash it computed and the module dir; compare against the pin.
cd "$work"
info="$(go mod download -json "$MOD@$FERRETDB_VERSION")"
srcdir="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])' <<<"$info" 2>/dev/null \
  || sed -n 's/.*"Dir": "\(.*\)".*/\1/p' <<<"$info")"
sum="$(sed -n 's/.*"Sum": "\(.*\)".*/\1/p' <<<"$info")"
if [[ "$sum" != "$FERRETDB_H1" ]]; then
  log "error: $MOD@$FERRETDB_VERSION hash $sum != pinned $FERRETDB_H1"
  exit 1
fi

# Build inside a writable copy of the module, as FerretDB's own main module: its own
# go.mod and go.sum (complete, checked in upstream) verify every dependency. The copy
# is needed because build/version embeds version.txt, which `task gen-version`
# normally writes from git; without it the binary panics at start-up.
cp -r "$srcdir" "$work/src"
chmod -R u+w "$work/src"
cd "$work/src"
echo "$FERRETDB_VERSION" > build/version/version.txt
echo "provision" > build/version/package.txt
export GOFLAGS="-buildvcs=false -mod=readonly"

log "building ./cmd/ferretdb (CGO_ENABLED=$CGO_ENABLED; SQLite via modernc.org/sqlite, pure Go)"
go build -trimpath -o "$work/ferretdb" ./cmd/ferretdb
"$work/ferretdb" --version >/dev/null   # smoke test before it lands in the cache
mkdir -p "$DEST/bin"
mv -f "$work/ferretdb" "$BIN"   # atomic rename on one filesystem
log "built in $(( $(date +%s) - start ))s: $("$BIN" --version 2>&1 | tr '\n' ' ' | cut -c1-200)"
echo "$BIN"
