#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft, combined broker and
# controller) on loopback, for tests and local runs.
#
#   hack/kafka.sh start    start it, wait until it answers, print KAFKA_BOOTSTRAP=...
#   hack/kafka.sh stop     stop the broker this script started, remove its data
#   hack/kafka.sh status   say whether it runs, and where
#   hack/kafka.sh kill     kill the broker abruptly and keep its data; `start`
#                          then brings it back on the same port (fault tests)
#
# The jars come from Maven (hack/kafka/pom.xml) and are cached outside the clone.
# The broker's data lives in a temporary directory. The pid, port and data
# directory are kept in KAFKA_STATE_DIR (default bin/.kafka in this clone), so
# `stop` ends exactly the process that `start` started.
#
# When KAFKA_BOOTSTRAP is already set, that broker is used: start prints it and
# starts nothing, stop stops nothing. KAFKA_JAVA_OPTS adds options to the
# broker's JVM, for example "-Xlog:gc:file=/tmp/gc.log" to log its collections.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

repo_root="$(cd "$(dirname "$0")/.." && pwd)"
state_dir="${KAFKA_STATE_DIR:-$repo_root/bin/.kafka}"
jar_dir="$EVENTPIPE_CACHE_DIR/kafka-$KAFKA_VERSION-log4j-$LOG4J_VERSION/libs"
start_timeout="${KAFKA_START_TIMEOUT:-120}"

fetch_jars() {
  [[ -f "$jar_dir/.ready" ]] && return 0
  log "fetching Apache Kafka $KAFKA_VERSION through Maven"
  rm -rf "$jar_dir"
  mvn -q -B -f "$repo_root/hack/kafka/pom.xml" dependency:copy-dependencies \
    -Dkafka.version="$KAFKA_VERSION" -Dlog4j.version="$LOG4J_VERSION" \
    -DincludeScope=runtime -DoutputDirectory="$jar_dir" >&2
  touch "$jar_dir/.ready"
}

running_pid() {
  [[ -f "$state_dir/pid" ]] || return 1
  local pid; pid="$(cat "$state_dir/pid")"
  # The pid must still be our broker, not a process that reused the number.
  if [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$(cat "$state_dir/data")"; then
    echo "$pid"
    return 0
  fi
  return 1
}

write_config() {
  local data="$1" port="$2" controller_port="$3"
  cat >"$data/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$data/log
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
delete.topic.enable=true
EOF
  cat >"$data/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $data/broker.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.file.ref = file
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = info
EOF
}

start() {
  if [[ -n "${KAFKA_BOOTSTRAP:-}" ]]; then
    log "using the broker at $KAFKA_BOOTSTRAP (KAFKA_BOOTSTRAP is set); starting nothing"
    echo "KAFKA_BOOTSTRAP=$KAFKA_BOOTSTRAP"
    return 0
  fi
  if pid="$(running_pid)"; then
    log "broker already running (pid $pid)"
    echo "KAFKA_BOOTSTRAP=127.0.0.1:$(cat "$state_dir/port")"
    return 0
  fi

  fetch_jars
  mkdir -p "$state_dir"
  local data port
  # G1 as Kafka's own start script sets it, on a fixed heap with 4 MiB
  # regions. A heap this small would otherwise get 1 MiB regions, and every
  # request or fetched batch of half a MiB or more would be a humongous
  # allocation starting a concurrent cycle: at a few tens of MB/s that was one
  # every few hundred milliseconds, taking a core from the clients under test.
  local java_opts=(-Xms768m -Xmx768m -XX:+UseG1GC -XX:G1HeapRegionSize=4m -XX:MaxGCPauseMillis=20
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true)
  # shellcheck disable=SC2206 # options are words, as in Kafka's KAFKA_OPTS
  java_opts+=(${KAFKA_JAVA_OPTS:-})
  if [[ -f "$state_dir/data" && -f "$state_dir/port" && -d "$(cat "$state_dir/data")/log" ]]; then
    # Killed by `kill`: come back with the same data on the same port.
    data="$(cat "$state_dir/data")"
    port="$(cat "$state_dir/port")"
    java_opts+=("-Dlog4j2.configurationFile=$data/log4j2.properties")
    log "restarting the Kafka broker on port $port with its data"
    : >"$data/broker.log"
  else
    data="$(mktemp -d "${TMPDIR:-/tmp}/eventpipe-kafka.XXXXXX")"
    port="$(free_port)"
    write_config "$data" "$port" "$(free_port)"
    java_opts+=("-Dlog4j2.configurationFile=$data/log4j2.properties")
    local cluster_id
    cluster_id="$(java "${java_opts[@]}" -cp "$jar_dir/*" kafka.tools.StorageTool random-uuid)"
    java "${java_opts[@]}" -cp "$jar_dir/*" kafka.tools.StorageTool format --standalone \
      -t "$cluster_id" -c "$data/server.properties" >"$data/format.log" 2>&1 ||
      { cat "$data/format.log" >&2; die "formatting the Kafka log directory failed"; }
  fi

  nohup java "${java_opts[@]}" -cp "$jar_dir/*" kafka.Kafka "$data/server.properties" \
    >"$data/stdout.log" 2>&1 </dev/null &
  echo $! >"$state_dir/pid"
  echo "$port" >"$state_dir/port"
  echo "$data" >"$state_dir/data"

  local deadline=$((SECONDS + start_timeout))
  until grep -q "Kafka Server started" "$data/broker.log" 2>/dev/null; do
    if ! running_pid >/dev/null; then
      tail -n 40 "$data/stdout.log" "$data/broker.log" >&2 2>/dev/null || true
      die "the Kafka broker exited during start-up"
    fi
    ((SECONDS < deadline)) || { stop; die "the Kafka broker did not start within ${start_timeout}s"; }
    sleep 0.5
  done
  log "Kafka $KAFKA_VERSION is up (pid $(cat "$state_dir/pid"), data in $data)"
  echo "KAFKA_BOOTSTRAP=127.0.0.1:$port"
}

stop() {
  if [[ ! -f "$state_dir/pid" ]]; then
    [[ -n "${KAFKA_BOOTSTRAP:-}" ]] && log "KAFKA_BOOTSTRAP is set; this script started no broker"
    return 0
  fi
  local pid data
  data="$(cat "$state_dir/data")"
  if pid="$(running_pid)"; then
    kill "$pid"
    for _ in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -9 "$pid" 2>/dev/null || true
    log "stopped the Kafka broker (pid $pid)"
  fi
  [[ "$data" == */eventpipe-kafka.* ]] && rm -rf "$data"
  rm -f "$state_dir/pid" "$state_dir/port" "$state_dir/data"
}

# kill ends the broker with SIGKILL, as a crash would, and keeps its data and
# state so that `start` restarts it on the same port.
kill_broker() {
  local pid
  if pid="$(running_pid)"; then
    kill -9 "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    log "killed the Kafka broker (pid $pid); its data is kept"
  fi
}

status() {
  if [[ -n "${KAFKA_BOOTSTRAP:-}" ]]; then
    echo "external broker at $KAFKA_BOOTSTRAP"
  elif pid="$(running_pid)"; then
    echo "running: pid $pid, KAFKA_BOOTSTRAP=127.0.0.1:$(cat "$state_dir/port"), data in $(cat "$state_dir/data")"
  else
    echo "not running"
    return 3
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  kill) kill_broker ;;
  *) echo "usage: $0 start|stop|status|kill" >&2; exit 2 ;;
esac
