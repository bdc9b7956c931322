#!/usr/bin/env bash
# Provision an Apache Kafka broker (KRaft) from Maven Central jars — no tarball
# download — into a KAFKA_HOME-like layout in a cache dir:
#
#   <cache>/kafka-<version>/
#     libs/*.jar                      broker + tools runtime classpath
#     bin/kafka-run-class.sh          java -cp "$KAFKA_HOME/libs/*" <class> ...
#     bin/kafka-server-start.sh       kafka.Kafka <server.properties>
#     bin/kafka-storage.sh            kafka.tools.StorageTool (format/random-uuid/info)
#     bin/kafka-topics.sh             org.apache.kafka.tools.TopicCommand
#     bin/kafka-consumer-groups.sh    org.apache.kafka.tools.consumer.group.ConsumerGroupCommand
#     config/server.properties        single-node combined broker+controller template
#     config/log4j2.properties        logs to stderr; level from $KAFKA_LOG_LEVEL (broker INFO, tools WARN)
#
#   KAFKA_VERSION    default 4.3.1 (Kafka 4.x brokers need Java >= 17)
#   PROVISION_CACHE  default $HOME/.cache/proving-ground
#   MVN              default mvn
#
# Idempotent: with <dir>/.complete present it exits at once. Prints KAFKA_HOME as
# the last line of stdout.
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.3.1}"
SCALA_VERSION="${SCALA_VERSION:-2.13}"
CACHE="${PROVISION_CACHE:-$HOME/.cache/proving-ground}"
DEST="$CACHE/kafka-$KAFKA_VERSION"
MVN="${MVN:-mvn}"

log() { echo "kafka.sh: $*" >&2; }

if [[ -f "$DEST/.complete" ]]; then
  log "cached: $DEST"
  echo "$DEST"
  exit 0
fi

if ! command -v java >/dev/null 2>&1; then
  log "error: 'java' not found on PATH; Kafka ${KAFKA_VERSION%%.*}.x needs a JDK/JRE >= 17 (apt-get install openjdk-17-jre-headless)"
  exit 1
fi
java_major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
if [[ "${KAFKA_VERSION%%.*}" -ge 4 && "${java_major%%.*}" -lt 17 ]]; then
  log "error: Kafka $KAFKA_VERSION brokers need Java >= 17, found $java_major"
  exit 1
fi
if ! command -v "$MVN" >/dev/null 2>&1; then
  log "error: '$MVN' not found on PATH; needed to fetch Kafka jars from Maven Central (apt-get install maven)"
  exit 1
fi

start=$(date +%s)
mkdir -p "$CACHE"
stage="$(mktemp -d "$CACHE/.kafka-$KAFKA_VERSION.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/libs" "$stage/bin" "$stage/config"

# A throwaway pom whose runtime closure is the broker (kafka_2.13 pulls kafka-server,
# raft, metadata, storage, group-coordinator, ...), the CLI tools, and a log4j2
# backend for slf4j (the published poms leave the logging backend to the distro).
cat > "$stage/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>provision.local</groupId>
  <artifactId>kafka-libs</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_$SCALA_VERSION</artifactId><version>$KAFKA_VERSION</version></dependency>
    <!-- CLI tools (topics, consumer-groups); connect-runtime (Jetty, Jersey: ~25 MB) only
         serves the connect-plugin-path tool, so it stays out. -->
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version>
      <exclusions><exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion></exclusions></dependency>
    <!-- Nearest-wins would otherwise pick slf4j-api 1.7 (via scala-logging), which
         cannot see the slf4j2 binding below: the broker would log nothing. -->
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>${SLF4J_VERSION:-2.0.17}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>${LOG4J_VERSION:-2.24.3}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>${LOG4J_VERSION:-2.24.3}</version></dependency>
  </dependencies>
</project>
POM

log "fetching org.apache.kafka:kafka_$SCALA_VERSION:$KAFKA_VERSION + kafka-tools from Maven Central"
# -B batch, -q quiet; copy-dependencies resolves the runtime closure into libs/.
if ! "$MVN" -B -q -f "$stage/pom.xml" \
     org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
     -DincludeScope=runtime -DoutputDirectory="$stage/libs" >"$stage/mvn.log" 2>&1; then
  cat "$stage/mvn.log" >&2
  log "error: mvn could not fetch Kafka $KAFKA_VERSION (see output above)"
  exit 1
fi
rm -f "$stage/pom.xml" "$stage/mvn.log"
# Two slf4j backends on one classpath make slf4j pick arbitrarily; keep log4j2's.
rm -f "$stage"/libs/slf4j-reload4j-*.jar "$stage"/libs/slf4j-log4j12-*.jar "$stage"/libs/logback-classic-*.jar

# --- bin/ ------------------------------------------------------------------------
cat > "$stage/bin/kafka-run-class.sh" <<'SH'
#!/usr/bin/env bash
# Minimal stand-in for Kafka's kafka-run-class.sh. Same env vars:
#   KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS, KAFKA_OPTS, KAFKA_LOG4J_OPTS, JAVA_HOME
set -euo pipefail
# Always the dir this script sits in: a stray KAFKA_HOME from the caller's env must
# not mix two installs.
KAFKA_HOME="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
# Defaults tuned for a single-node test broker: small heap, serial GC, C1 only
# (see .ci/provision/NOTES.md for the measurements behind them).
: "${KAFKA_HEAP_OPTS:=-Xms64m -Xmx384m -XX:MaxDirectMemorySize=128m}"
: "${KAFKA_JVM_PERFORMANCE_OPTS:=-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=64m -Xss512k -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true}"
: "${KAFKA_LOG4J_OPTS:=-Dlog4j2.configurationFile=$KAFKA_HOME/config/log4j2.properties}"
# AppCDS archive (made by kafka.sh at provision time): cuts class loading on start.
cds_opts=()
if [[ "${KAFKA_CDS:-1}" == 1 && -f "$KAFKA_HOME/kafka.jsa" ]]; then
  cds_opts=(-XX:SharedArchiveFile="$KAFKA_HOME/kafka.jsa")
fi
# shellcheck disable=SC2086  # *_OPTS are intentionally word-split, as upstream does
exec "$JAVA" $KAFKA_HEAP_OPTS $KAFKA_JVM_PERFORMANCE_OPTS "${cds_opts[@]}" $KAFKA_LOG4J_OPTS ${KAFKA_OPTS:-} \
  -cp "$KAFKA_HOME/libs/*" "$@"
SH

wrapper() { # name main-class [extra env]
  cat > "$stage/bin/$1" <<SH
#!/usr/bin/env bash
set -euo pipefail
$3
exec "\$(dirname "\${BASH_SOURCE[0]}")/kafka-run-class.sh" $2 "\$@"
SH
}
wrapper kafka-server-start.sh kafka.Kafka ''
# CLI tools: smaller heap, no CDS archive (its classpath differs from the broker's).
tool_env=': "${KAFKA_HEAP_OPTS:=-Xms32m -Xmx256m}" "${KAFKA_LOG_LEVEL:=WARN}"; export KAFKA_HEAP_OPTS KAFKA_LOG_LEVEL KAFKA_CDS=0'
wrapper kafka-storage.sh kafka.tools.StorageTool "$tool_env"
wrapper kafka-topics.sh org.apache.kafka.tools.TopicCommand "$tool_env"
wrapper kafka-consumer-groups.sh org.apache.kafka.tools.consumer.group.ConsumerGroupCommand "$tool_env"
chmod +x "$stage"/bin/*.sh

# --- config/ -----------------------------------------------------------------------
cat > "$stage/config/server.properties" <<'PROPS'
# Single-node KRaft (combined broker+controller) for tests. Replace the two ports and
# log.dirs per instance; format with:
#   bin/kafka-storage.sh format -t "$(bin/kafka-storage.sh random-uuid)" -c server.properties
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:9093
listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093
advertised.listeners=PLAINTEXT://127.0.0.1:9092
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=/tmp/kraft-combined-logs
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Fast tests: no 3 s wait before the first rebalance of a new group.
group.initial.rebalance.delay.ms=0
# Let clients use session.timeout.ms down to 1 s.
group.min.session.timeout.ms=1000
auto.create.topics.enable=true
delete.topic.enable=true
# Fewer threads: less memory and faster start on a 2-core box.
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=4194304
log.segment.bytes=16777216
PROPS

cat > "$stage/config/log4j2.properties" <<'L4J'
status = warn
appender.out.type = Console
appender.out.name = STDERR
appender.out.target = SYSTEM_ERR
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = ${env:KAFKA_LOG_LEVEL:-INFO}
rootLogger.appenderRef.out.ref = STDERR
logger.kafka.name = kafka
logger.kafka.level = ${env:KAFKA_LOG_LEVEL:-INFO}
logger.ak.name = org.apache.kafka
logger.ak.level = ${env:KAFKA_LOG_LEVEL:-INFO}
logger.zk.name = org.apache.zookeeper
logger.zk.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
L4J

# Smoke test: StorageTool loads and runs.
KAFKA_HOME="$stage" "$stage/bin/kafka-storage.sh" random-uuid >/dev/null
njars=$(ls "$stage/libs" | wc -l)
rm -rf "$DEST"
mv "$stage" "$DEST"
trap 'rm -rf "$DEST"' EXIT   # no .complete yet: a failure below leaves nothing half-made

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo $(( 20000 + RANDOM % 40000 ))
}

# AppCDS: start the broker once with -XX:ArchiveClassesAtExit, stop it, keep the
# archive. Later starts map it (bin/kafka-run-class.sh adds -XX:SharedArchiveFile):
# start-to-ready ~2.5 s -> ~1.5 s and half the CPU on 2 cores. Made in $DEST, not the
# stage dir, because the archive records the class path it was made with.
# KAFKA_CDS=0 skips it.
if [[ "${KAFKA_CDS:-1}" == 1 ]]; then
  train="$(mktemp -d)"
  p1=$(free_port); p2=$(free_port)
  while [[ "$p2" == "$p1" ]]; do p2=$(free_port); done
  sed -e "s#127.0.0.1:9093#127.0.0.1:$p2#g" -e "s#127.0.0.1:9092#127.0.0.1:$p1#g" \
      -e "s#^log.dirs=.*#log.dirs=$train/logs#" "$DEST/config/server.properties" > "$train/server.properties"
  KAFKA_HOME="$DEST" "$DEST/bin/kafka-storage.sh" format -t "$("$DEST/bin/kafka-storage.sh" random-uuid)" \
    -c "$train/server.properties" >/dev/null
  KAFKA_CDS=0 KAFKA_OPTS="-XX:ArchiveClassesAtExit=$DEST/kafka.jsa.tmp" \
    "$DEST/bin/kafka-server-start.sh" "$train/server.properties" >"$train/broker.log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do
    grep -q 'Kafka Server started' "$train/broker.log" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" || true   # 143 after SIGTERM is the normal exit
  if [[ -s "$DEST/kafka.jsa.tmp" ]] && grep -q 'Kafka Server started' "$train/broker.log"; then
    mv "$DEST/kafka.jsa.tmp" "$DEST/kafka.jsa"
  else
    log "warning: no CDS archive (training start failed); brokers start ~1 s slower. Log tail:"
    tail -20 "$train/broker.log" >&2 || true
    rm -f "$DEST/kafka.jsa.tmp"
  fi
  rm -rf "$train"
fi

echo "$KAFKA_VERSION" > "$DEST/.complete"
trap - EXIT
log "ready in $(( $(date +%s) - start ))s: $njars jars, libs $(du -sh "$DEST/libs" | cut -f1), CDS archive $(du -sh "$DEST/kafka.jsa" 2>/dev/null | cut -f1 || echo none)"
echo "$DEST"
