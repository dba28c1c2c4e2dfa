#!/usr/bin/env bash
# Runs a command with a real Kafka broker: starts one with hack/kafka.sh (or uses
# KAFKA_BOOTSTRAP when it is set), exports KAFKA_BOOTSTRAP, runs the command,
# and stops the broker it started however the command ends.
#
#   hack/with-kafka.sh go test ./controllers/...
set -euo pipefail
hack="$(cd "$(dirname "$0")" && pwd)"

if [[ -z "${KAFKA_BOOTSTRAP:-}" ]]; then
  # A broker of our own, in a state directory of its own, so this run never
  # stops a broker that someone started by hand with hack/kafka.sh.
  export KAFKA_STATE_DIR
  KAFKA_STATE_DIR="$(mktemp -d "${TMPDIR:-/tmp}/eventpipe-kafka-state.XXXXXX")"
  trap '"$hack/kafka.sh" stop; rm -rf "$KAFKA_STATE_DIR"' EXIT
  line="$("$hack/kafka.sh" start | tail -n 1)"
  export KAFKA_BOOTSTRAP="${line#KAFKA_BOOTSTRAP=}"
fi

"$@"
