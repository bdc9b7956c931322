#!/usr/bin/env bash
# A stand-in for Kafka's kafka-run-class.sh (the jars come from Maven Central, not the
# release tarball). Same variables: KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS,
# KAFKA_OPTS, KAFKA_LOG4J_OPTS. Defaults for a single-node test broker: a small heap,
# the serial collector, C1 only, and the image's class-data-sharing archive.
set -euo pipefail
KAFKA_HOME="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
: "${KAFKA_HEAP_OPTS:=-Xms64m -Xmx384m -XX:MaxDirectMemorySize=128m}"
: "${KAFKA_JVM_PERFORMANCE_OPTS:=-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=64m -Xss512k -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true}"
: "${KAFKA_LOG4J_OPTS:=-Dlog4j2.configurationFile=$KAFKA_HOME/config/log4j2.properties}"
cds_opts=()
if [[ "${KAFKA_CDS:-1}" == 1 && -f "$KAFKA_HOME/kafka.jsa" ]]; then
  cds_opts=(-XX:SharedArchiveFile="$KAFKA_HOME/kafka.jsa")
fi
# shellcheck disable=SC2086  # *_OPTS are word-split on purpose, as upstream does
exec java $KAFKA_HEAP_OPTS $KAFKA_JVM_PERFORMANCE_OPTS "${cds_opts[@]}" $KAFKA_LOG4J_OPTS ${KAFKA_OPTS:-} \
  -cp "$KAFKA_HOME/libs/*" "$@"
