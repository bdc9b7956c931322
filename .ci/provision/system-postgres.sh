#!/usr/bin/env bash
# The system's PostgreSQL server binaries with the contrib extensions (uuid-ossp,
# pgcrypto), from the distribution, if they are not there yet. Debian and Ubuntu only;
# elsewhere it says what is missing and leaves it to the machine's setup.
set -euo pipefail

if compgen -G "/usr/lib/postgresql/*/lib/uuid-ossp.so" >/dev/null \
    || { command -v pg_config >/dev/null \
         && [ -e "$(pg_config --sharedir)/extension/uuid-ossp.control" ]; }; then
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "system-postgres: no PostgreSQL with contrib here and no apt-get; install it" >&2
    exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get -o DPkg::Lock::Timeout=300 update -qq
# postgresql-common first, told not to make the "main" cluster; then the server.
$sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends postgresql-common >/dev/null
$sudo mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.d/no-main.conf >/dev/null
$sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends postgresql postgresql-contrib >/dev/null
