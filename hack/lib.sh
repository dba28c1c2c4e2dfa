# Shared helpers for the hack/ scripts. Source it; do not run it.
#
# Everything built or fetched here is cached outside the clone, in
# EVENTPIPE_CACHE_DIR (default ~/.cache/eventpipe), so a second clone and CI
# reuse it. Versions are pinned here and nowhere else.

KUBERNETES_VERSION="${KUBERNETES_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.7.3}"
KAFKA_VERSION="${KAFKA_VERSION:-4.2.1}"
LOG4J_VERSION="${LOG4J_VERSION:-2.25.3}"
KWOK_VERSION="${KWOK_VERSION:-0.8.0}"
KWOK_VERSION="${KWOK_VERSION#v}" # the Makefile passes it as v0.8.0

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

# kwok_bin: path of the kwok binary at KWOK_VERSION, built from the Go module
# proxy into the same cache layout as the Makefile's go-install-tool
# ($TOOLS_DIR/kwok-vX.Y.Z/kwok) when it is not there yet.
kwok_bin() {
  local dir="$EVENTPIPE_CACHE_DIR/tools/kwok-v$KWOK_VERSION"
  if [[ ! -x "$dir/kwok" ]]; then
    with_lock "$EVENTPIPE_CACHE_DIR/locks/kwok.lock" bash -c '
      [[ -x "$1/kwok" ]] && exit 0
      echo "building sigs.k8s.io/kwok/cmd/kwok@v$2" >&2
      mkdir -p "$1" && GOBIN="$1" GOFLAGS= go install -trimpath "sigs.k8s.io/kwok/cmd/kwok@v$2" >&2
    ' _ "$dir" "$KWOK_VERSION" || die "could not build kwok v$KWOK_VERSION"
  fi
  echo "$dir/kwok"
}

# kwok_source_dir: the sigs.k8s.io/kwok module source at KWOK_VERSION in the Go
# module cache (downloaded if missing); its kustomize/ holds the Stage CRD and
# the node and pod stages.
kwok_source_dir() {
  local dir
  dir="$(go env GOMODCACHE)/sigs.k8s.io/kwok@v$KWOK_VERSION"
  if [[ ! -d "$dir/kustomize" ]]; then
    dir="$(cd / && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kwok@v$KWOK_VERSION" |
      sed -n 's/.*"Dir": "\(.*\)",/\1/p')"
  fi
  [[ -d "$dir/kustomize" ]] || die "could not find the sigs.k8s.io/kwok v$KWOK_VERSION module source"
  echo "$dir"
}
