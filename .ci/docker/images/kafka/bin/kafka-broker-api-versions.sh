#!/usr/bin/env bash
: "${KAFKA_HEAP_OPTS:=-Xms32m -Xmx256m}"
export KAFKA_HEAP_OPTS KAFKA_CDS=0 KAFKA_LOG_LEVEL="${KAFKA_LOG_LEVEL:-WARN}"
exec "$(dirname "${BASH_SOURCE[0]}")/kafka-run-class.sh" org.apache.kafka.tools.BrokerApiVersionsCommand "$@"
