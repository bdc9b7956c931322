#!/usr/bin/env bash
# Make sure a RabbitMQ installation (and Erlang's epmd) is there for the generated
# suites' local provider. RabbitMQ is an Erlang application that no wheel carries;
# Debian packages it (rabbitmq-server, with erlang-base). Idempotent: with it installed
# this returns at once.
#
# The package's own system service is not started: the suites run a throwaway node of
# their own (free ports, their own epmd and data dir), and a system node on 5672 would
# only hold ports and memory. A policy-rc.d that refuses service starts keeps
# apt-get from starting it, and is removed again afterwards.
#
# Prints the rabbitmq-server script to use as the last line of stdout.
set -euo pipefail

SERVER=/usr/lib/rabbitmq/bin/rabbitmq-server
log() { echo "rabbitmq.sh: $*" >&2; }

if [[ -x "$SERVER" ]] && command -v epmd >/dev/null 2>&1; then
  echo "$SERVER"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  log "no $SERVER and no apt-get: install RabbitMQ (https://www.rabbitmq.com/docs/download) and set RABBITMQ_HOME"
  exit 1
fi
SUDO=()
if [[ "$(id -u)" != 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    log "installing rabbitmq-server needs root: run as root, or apt-get install rabbitmq-server"
    exit 1
  fi
  SUDO=(sudo)
fi

POLICY=/usr/sbin/policy-rc.d
placed_policy=0
if [[ ! -e "$POLICY" ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
  "${SUDO[@]}" chmod +x "$POLICY"
  placed_policy=1
fi
cleanup() { if [[ $placed_policy == 1 ]]; then "${SUDO[@]}" rm -f "$POLICY"; fi; }
trap cleanup EXIT

log "installing rabbitmq-server from Debian's packages"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  rabbitmq-server >&2
[[ -x "$SERVER" ]] || { log "installed, but $SERVER is missing"; exit 1; }
echo "$SERVER"
