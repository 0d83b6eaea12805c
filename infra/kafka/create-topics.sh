#!/usr/bin/env bash
# Creates the topics Rollout ChatOps uses, idempotently (--if-not-exists), with kafka-topics.sh:
#   rollout.commands.<cluster>  one per cluster (bot -> that cluster's agents), keyed by rollout id
#   rollout.events              agents -> bot: state changes and heartbeats
#   rollout.health              agents -> bot: health sample batches, keyed by cluster
#   rollout.dlq                 messages that failed validation, for operators
#
# Usage: create-topics.sh <cluster> [<cluster>…]
# Environment (defaults in brackets):
#   KAFKA_BOOTSTRAP       bootstrap servers [localhost:9092]
#   KAFKA_TOPICS_BIN      kafka-topics.sh to run [kafka-topics.sh on PATH, else /opt/kafka/bin/kafka-topics.sh]
#   REPLICATION_FACTOR    [3]; 1 for a single broker
#   COMMAND_PARTITIONS    per command topic [6]: agents of a cluster share one consumer group,
#                         so this bounds that cluster's useful agent replicas
#   EVENT_PARTITIONS      [12]: bounds the bot replicas consuming events
#   HEALTH_PARTITIONS     [12]: keyed by cluster, so more than the clusters adds nothing
#   DLQ_PARTITIONS        [3]
#   COMMAND_RETENTION_MS  [604800000] 7 days: enough to replay to an agent that was down
#   EVENT_RETENTION_MS    [604800000] 7 days
#   HEALTH_RETENTION_MS   [3600000] 1 hour: an older sample is replaced by a newer one anyway
#   DLQ_RETENTION_MS      [2592000000] 30 days: time for a person to look
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 <cluster> [<cluster>…]   (the clusters of the policy file)" >&2
  exit 2
fi

BOOTSTRAP=${KAFKA_BOOTSTRAP:-localhost:9092}
if [ -n "${KAFKA_TOPICS_BIN:-}" ]; then
  TOPICS=$KAFKA_TOPICS_BIN
elif command -v kafka-topics.sh >/dev/null; then
  TOPICS=kafka-topics.sh
else
  TOPICS=/opt/kafka/bin/kafka-topics.sh
fi
RF=${REPLICATION_FACTOR:-3}
# With replication, a write must reach two replicas (the producers use acks=-1).
MIN_ISR=$(( RF > 1 ? 2 : 1 ))

create() { # topic partitions retention-ms
  echo "topic $1: $2 partitions, replication $RF, retention $3 ms"
  "$TOPICS" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
    --topic "$1" --partitions "$2" --replication-factor "$RF" \
    --config "retention.ms=$3" --config "min.insync.replicas=$MIN_ISR" \
    --config cleanup.policy=delete
}

for cluster in "$@"; do
  if ! [[ $cluster =~ ^[a-z0-9]([a-z0-9-]*[a-z0-9])?$ ]]; then
    echo "invalid cluster name: $cluster (lowercase letters, digits and dashes)" >&2
    exit 2
  fi
  create "rollout.commands.$cluster" "${COMMAND_PARTITIONS:-6}" "${COMMAND_RETENTION_MS:-604800000}"
done
create rollout.events "${EVENT_PARTITIONS:-12}" "${EVENT_RETENTION_MS:-604800000}"
create rollout.health "${HEALTH_PARTITIONS:-12}" "${HEALTH_RETENTION_MS:-3600000}"
create rollout.dlq "${DLQ_PARTITIONS:-3}" "${DLQ_RETENTION_MS:-2592000000}"
echo "topics ready"
