# Shared helpers for the hack/ scripts. Source it; do not run it.
#
# Everything built or fetched here is cached outside the clone, in
# EVENTPIPE_CACHE_DIR (default ~/.cache/eventpipe), so a second clone and CI
# reuse it. Versions are pinned here and nowhere else.

KUBERNETES_VERSION="${KUBERNETES_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.7.3}"
KAFKA_VERSION="${KAFKA_VERSION:-4.2.1}"
LOG4J_VERSION="${LOG4J_VERSION:-2.25.3}"

EVENTPIPE_CACHE_DIR="${EVENTPIPE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/eventpipe}"

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# with_lock FILE CMD...: run CMD holding an exclusive lock on FILE, so two
# builds of the same tool (two clones, or make -j) never race.
with_lock() {
  local lock="$1"; shift
  mkdir -p "$(dirname "$lock")"
  (
    flock 9
    "$@"
  ) 9>"$lock"
}

# free_port: a TCP port on loopback that nothing listens on right now.
free_port() {
  python3 - <<'EOF' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}
