#!/usr/bin/env bash
# A small stand-in for the official image's /etc/kafka/docker/run: the configuration
# from KAFKA_* variables (or the single-node default), storage formatted once with
# CLUSTER_ID, then the broker in the foreground. With KAFKA_CDS_TRAIN=FILE (image build
# only) it starts the broker once, writes a class-data-sharing archive and stops.
set -Eeuo pipefail
CONFIG=/opt/kafka/config/docker.properties

# The official image runs as appuser from the start. Podman (4.3) ignores the mode of a
# tmpfs mount (Docker makes it 1777), so the log directory of compose's tmpfs would be
# root's: start as root, make the data directories appuser's, then drop to appuser.
if [ "$(id -u)" = 0 ] && [ -z "${KAFKA_CDS_TRAIN:-}" ]; then
	chown appuser:appuser /tmp/kraft-combined-logs /var/lib/kafka/data /opt/kafka/config
	exec setpriv --reuid=appuser --regid=appuser --init-groups "$0" "$@"
fi
# Variables that configure the JVM or this script, not the broker.
not_props='^KAFKA_(HEAP_OPTS|JVM_PERFORMANCE_OPTS|LOG4J_OPTS|OPTS|LOG_LEVEL|CDS|CDS_TRAIN|HOME|VERSION)='

if env | grep -E '^KAFKA_' | grep -Evq "$not_props"; then
	: > "$CONFIG"
	while IFS='=' read -r name value; do
		prop=${name#KAFKA_}
		prop=${prop//___/-}
		prop=${prop//__/@}
		prop=${prop//_/.}
		prop=${prop//@/_}
		printf '%s=%s\n' "${prop,,}" "$value" >> "$CONFIG"
	done < <(env | grep -E '^KAFKA_' | grep -Ev "$not_props" | sort)
else
	# The official image's default: one combined broker and controller on 9092/9093.
	cat > "$CONFIG" <<'PROPS'
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
advertised.listeners=PLAINTEXT://localhost:9092
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=/tmp/kraft-combined-logs
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
PROPS
fi

: "${CLUSTER_ID:=5L6g3nShT-eMCtK--X86sw}"  # the official image's default
/opt/kafka/bin/kafka-storage.sh format --ignore-formatted -t "$CLUSTER_ID" -c "$CONFIG" >/dev/null

if [ -n "${KAFKA_CDS_TRAIN:-}" ]; then
	# A build container's name is in no /etc/hosts, and the broker looks itself up.
	grep -qw "$(hostname)" /etc/hosts || echo "127.0.0.1 $(hostname)" >>/etc/hosts
	log=$(mktemp)
	KAFKA_CDS=0 KAFKA_OPTS="-XX:ArchiveClassesAtExit=$KAFKA_CDS_TRAIN" \
		/opt/kafka/bin/kafka-server-start.sh "$CONFIG" >"$log" 2>&1 &
	pid=$!
	for _ in $(seq 900); do
		grep -q 'Kafka Server started' "$log" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" || true
	grep -q 'Kafka Server started' "$log" || { cat "$log" >&2; exit 1; }
	rm -rf "$log" /tmp/kraft-combined-logs/* "$CONFIG"
	exit 0
fi
exec /opt/kafka/bin/kafka-server-start.sh "$CONFIG"
