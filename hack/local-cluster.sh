#!/usr/bin/env bash
# A local Kubernetes control plane on loopback, without Docker or a kubelet:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, and kwok
# keeping one fake node (kwok-node-0) Ready and moving the pods bound to it to
# Running and Ready. Deployments, ReplicaSets, garbage collection, the HPA
# controller, ServiceAccounts and the TokenRequest API are all real; no
# container ever runs.
#
#   hack/local-cluster.sh up       start (or find running) and print KUBECONFIG=<path> last
#   hack/local-cluster.sh down     stop exactly the processes `up` started, remove the data
#   hack/local-cluster.sh status   each component, its pid and its health
#
# Environment:
#   LOCAL_CLUSTER_DIR   state directory (default: bin/.local-cluster in the clone)
#   SERVICE_CIDR        service cluster IP range (default: 10.96.0.0/16)
#   POD_CIDR            pod IPs kwok hands out (default: 10.244.0.0/16)
#   LOCAL_CLUSTER_KEEP_ON_FAILURE=1  leave the processes running when `up` fails
#
# The state directory holds, for tests and tools:
#   admin.kubeconfig    cluster-admin (O=system:masters); the path `up` prints
#   apiserver-url       https://127.0.0.1:<port>
#   ca.crt              the cluster CA (it signs the API server's serving cert)
#   service-cidr        e.g. 10.96.0.0/16
#   pki/ kubeconfigs for each component, pids/, logs/<component>.log
#   data-dir            path of the temporary directory with etcd's data
#
# Progress goes to stderr; stdout carries only the KUBECONFIG= line.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="$(realpath -m "${LOCAL_CLUSTER_DIR:-$ROOT/bin/.local-cluster}")"
SERVICE_CIDR="${SERVICE_CIDR:-10.96.0.0/16}"
POD_CIDR="${POD_CIDR:-10.244.0.0/16}"
NODE_NAME=kwok-node-0
SMOKE=local-cluster-smoke

PKI="$STATE/pki"
PIDS="$STATE/pids"
LOGS="$STATE/logs"
ADMIN_KUBECONFIG="$STATE/admin.kubeconfig"
# Started last to first, stopped in this order.
COMPONENTS=(kwok kube-scheduler kube-controller-manager kube-apiserver etcd)

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

# --- processes ---------------------------------------------------------------

pid_of() { [[ -f "$PIDS/$1.pid" ]] && cat "$PIDS/$1.pid"; }

data_dir() { [[ -f "$STATE/data-dir" ]] && cat "$STATE/data-dir"; }

# ours PID: the process is alive (not a zombie) and its command line names the
# state or the data directory, so a recycled pid is never mistaken for ours.
ours() {
  local pid="$1" cmd state data
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" || return 1
  [[ "$state" != Z ]] || return 1
  cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  data="$(data_dir || true)"
  [[ "$cmd" == *"$STATE/"* ]] || { [[ -n "$data" && "$cmd" == *"$data/"* ]]; }
}

running() { ours "$(pid_of "$1" || true)"; }

# start NAME BINARY ARGS...: run detached in its own session, output to its
# log, the lock's descriptor closed so the daemon does not hold it.
start() {
  local name="$1"; shift
  log "starting $name"
  setsid "$@" </dev/null >"$LOGS/$name.log" 2>&1 9>&- &
  echo $! >"$PIDS/$name.pid"
}

# fail COMPONENT MESSAGE: print the tail of the component's log, stop
# everything (unless LOCAL_CLUSTER_KEEP_ON_FAILURE=1), exit 1.
fail() {
  local name="$1"; shift
  log "error: $*"
  if [[ -f "$LOGS/$name.log" ]]; then
    echo "----- last lines of $LOGS/$name.log -----" >&2
    tail -n 40 "$LOGS/$name.log" >&2
    echo "-----" >&2
  fi
  if [[ "${LOCAL_CLUSTER_KEEP_ON_FAILURE:-}" == 1 ]]; then
    log "leaving the processes running (LOCAL_CLUSTER_KEEP_ON_FAILURE=1); '$0 down' stops them"
  else
    stop_all
  fi
  exit 1
}

# wait_until COMPONENT SECONDS DESCRIPTION CMD...: poll CMD until it succeeds;
# fail fast with COMPONENT's log when it exits, or when time runs out.
wait_until() {
  local name="$1" timeout="$2" what="$3"; shift 3
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    local c
    for c in "${COMPONENTS[@]}"; do
      if [[ -f "$PIDS/$c.pid" ]] && ! running "$c"; then fail "$c" "$c exited while waiting for $what"; fi
    done
    ((SECONDS < deadline)) || fail "$name" "timed out after ${timeout}s waiting for $what"
    sleep 0.2
  done
}

stop_all() {
  local c pid i
  for c in "${COMPONENTS[@]}"; do
    pid="$(pid_of "$c" || true)"
    [[ -n "$pid" ]] || continue
    if ours "$pid"; then
      log "stopping $c (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      for ((i = 0; i < 100; i++)); do ours "$pid" || break; sleep 0.1; done
      if ours "$pid"; then
        log "$c (pid $pid) did not stop in 10s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do ours "$pid" || break; sleep 0.1; done
      fi
    fi
    rm -f "$PIDS/$c.pid"
  done
  local data; data="$(data_dir || true)"
  if [[ -n "$data" && "$data" == */eventpipe-local-cluster.* && -d "$data" ]]; then
    rm -rf "$data"
  fi
  # Keep logs/ for a post-mortem; everything else is regenerated by `up`.
  rm -rf "$PKI" "$PIDS" "$STATE"/*.kubeconfig "$STATE/data-dir" "$STATE/apiserver-url" \
    "$STATE/ca.crt" "$STATE/service-cidr" "$STATE/ports" "$STATE/kwok.yaml" "$STATE/manifests"
}

# --- certificates and kubeconfigs ---------------------------------------------

# first_ip CIDR: the first host address of an IPv4 CIDR (the kubernetes Service's IP).
first_ip() {
  local ip="${1%/*}" bits="${1#*/}" a b c d n
  IFS=. read -r a b c d <<<"$ip"
  n=$(((a << 24 | b << 16 | c << 8 | d) & (0xffffffff << (32 - bits)) & 0xffffffff))
  n=$((n + 1))
  echo "$((n >> 24 & 255)).$((n >> 16 & 255)).$((n >> 8 & 255)).$((n & 255))"
}

# TLS keys are ECDSA P-256 (fast to make); the ServiceAccount signing key is RSA (RS256).
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
rsa_key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; }

# ca NAME CN: a self-signed CA.
ca() {
  key "$PKI/$1.key"
  openssl req -x509 -new -key "$PKI/$1.key" -out "$PKI/$1.crt" -days 3650 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
}

# cert CA NAME SUBJECT USAGE [SANS]: a leaf certificate signed by CA.
cert() {
  local ca="$1" name="$2" subj="$3" usage="$4" sans="${5:-}"
  key "$PKI/$name.key"
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature"
    echo "extendedKeyUsage=$usage"
    echo "subjectKeyIdentifier=hash"
    echo "authorityKeyIdentifier=keyid"
    [[ -z "$sans" ]] || echo "subjectAltName=$sans"
  } >"$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 365 -extfile "$PKI/$name.ext" \
    -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

# kubeconfig NAME USER: a kubeconfig with NAME's client cert, embedded.
kubeconfig() {
  local name="$1" user="$2"
  cat >"$STATE/$name.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: $APISERVER_URL
    certificate-authority-data: $(base64 -w0 <"$PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 <"$PKI/$name.crt")
    client-key-data: $(base64 -w0 <"$PKI/$name.key")
contexts:
- name: local
  context:
    cluster: local
    user: $user
current-context: local
EOF
  chmod 600 "$STATE/$name.kubeconfig"
}

gen_pki() {
  log "generating certificates in $PKI"
  mkdir -p "$PKI"
  chmod 700 "$PKI"
  local svc_ip; svc_ip="$(first_ip "$SERVICE_CIDR")"
  ca ca eventpipe-local-ca
  cert ca kube-apiserver "/CN=kube-apiserver" serverAuth \
    "IP:127.0.0.1,IP:$svc_ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  # The API server's client cert towards kubelets (here: kwok's server).
  cert ca kube-apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
  cert ca admin "/O=system:masters/CN=eventpipe-admin" clientAuth
  cert ca kube-controller-manager "/CN=system:kube-controller-manager" clientAuth
  cert ca kube-scheduler "/CN=system:kube-scheduler" clientAuth
  # kwok patches node and pod status and manages node leases; it gets
  # cluster-admin (system:masters) for simplicity rather than a tailored role.
  cert ca kwok "/O=system:masters/CN=kwok" clientAuth
  cert ca kwok-serving "/CN=$NODE_NAME" serverAuth "IP:127.0.0.1,DNS:localhost,DNS:$NODE_NAME"
  # Aggregation layer (front proxy), so an extension API server (a metrics
  # adapter, say) can be registered.
  ca front-proxy-ca eventpipe-local-front-proxy-ca
  cert front-proxy-ca front-proxy-client "/CN=front-proxy-client" clientAuth
  # ServiceAccount token signing key pair.
  rsa_key "$PKI/sa.key"
  openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  chmod 600 "$PKI"/*.key
  cp "$PKI/ca.crt" "$STATE/ca.crt"

  kubeconfig admin eventpipe-admin
  kubeconfig kube-controller-manager system:kube-controller-manager
  kubeconfig kube-scheduler system:kube-scheduler
  kubeconfig kwok kwok
}

# --- health ------------------------------------------------------------------

health_etcd() { curl -sf --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" | grep -q '"health":"true"'; }
health_apiserver() {
  curl -sf --max-time 3 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "$APISERVER_URL/readyz" | grep -qx ok
}
health_kcm() { curl -skf --max-time 2 "https://127.0.0.1:$KCM_PORT/healthz" | grep -qx ok; }
health_scheduler() { curl -skf --max-time 2 "https://127.0.0.1:$SCHEDULER_PORT/healthz" | grep -qx ok; }
health_kwok() { curl -sf --max-time 2 "http://127.0.0.1:$KWOK_PORT/healthz" | grep -qx ok; }

health() {
  case "$1" in
    etcd) health_etcd ;;
    kube-apiserver) health_apiserver ;;
    kube-controller-manager) health_kcm ;;
    kube-scheduler) health_scheduler ;;
    kwok) health_kwok ;;
  esac
}

endpoint() {
  case "$1" in
    etcd) echo "http://127.0.0.1:$ETCD_PORT" ;;
    kube-apiserver) echo "$APISERVER_URL" ;;
    kube-controller-manager) echo "https://127.0.0.1:$KCM_PORT" ;;
    kube-scheduler) echo "https://127.0.0.1:$SCHEDULER_PORT" ;;
    kwok) echo "http://127.0.0.1:$KWOK_PORT" ;;
  esac
}

load_ports() {
  [[ -f "$STATE/ports" ]] || return 1
  # shellcheck disable=SC1091
  source "$STATE/ports"
  APISERVER_URL="https://127.0.0.1:$APISERVER_PORT"
}

all_up() {
  load_ports || return 1
  local c
  for c in "${COMPONENTS[@]}"; do running "$c" && health "$c" || return 1; done
}

k() { "$KUBECTL" --kubeconfig="$ADMIN_KUBECONFIG" "$@"; }

print_result() {
  echo "# kube-apiserver: $APISERVER_URL (CA: $STATE/ca.crt, service CIDR: $SERVICE_CIDR)" >&2
  echo "KUBECONFIG=$ADMIN_KUBECONFIG"
}

# --- commands ----------------------------------------------------------------

cmd_up() {
  mkdir -p "$STATE"
  if all_up; then
    log "the local cluster in $STATE is already up"
    SERVICE_CIDR="$(cat "$STATE/service-cidr")"
    print_result
    return
  fi
  if compgen -G "$PIDS/*.pid" >/dev/null || [[ -f "$STATE/data-dir" ]]; then
    log "found a partial or stopped cluster in $STATE; cleaning it up first"
    stop_all
  fi

  local bin_dir kwok kwok_src
  bin_dir="$("$ROOT/hack/build-kubernetes.sh" kube-apiserver kubectl kube-controller-manager kube-scheduler etcd)"
  kwok="$(kwok_bin)"
  kwok_src="$(kwok_source_dir)"
  KUBECTL="$bin_dir/kubectl"

  rm -rf "$LOGS"
  mkdir -p "$PIDS" "$LOGS"
  trap 'log "interrupted"; stop_all; exit 130' INT TERM
  local data; data="$(mktemp -d "${TMPDIR:-/tmp}/eventpipe-local-cluster.XXXXXX")"
  echo "$data" >"$STATE/data-dir"
  echo "$SERVICE_CIDR" >"$STATE/service-cidr"

  # Six distinct free loopback ports.
  local ports=() p
  while ((${#ports[@]} < 6)); do
    p="$(free_port)"
    [[ " ${ports[*]} " == *" $p "* ]] || ports+=("$p")
  done
  ETCD_PORT=${ports[0]} ETCD_PEER_PORT=${ports[1]} APISERVER_PORT=${ports[2]}
  KCM_PORT=${ports[3]} SCHEDULER_PORT=${ports[4]} KWOK_PORT=${ports[5]}
  APISERVER_URL="https://127.0.0.1:$APISERVER_PORT"
  cat >"$STATE/ports" <<EOF
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
APISERVER_PORT=$APISERVER_PORT
KCM_PORT=$KCM_PORT
SCHEDULER_PORT=$SCHEDULER_PORT
KWOK_PORT=$KWOK_PORT
EOF
  echo "$APISERVER_URL" >"$STATE/apiserver-url"

  gen_pki

  start etcd "$bin_dir/etcd" \
    --name=local \
    --data-dir="$data/etcd" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="local=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync
  wait_until etcd 30 "etcd to be healthy" health_etcd

  start kube-apiserver "$bin_dir/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 \
    --advertise-address=127.0.0.1 \
    --secure-port="$APISERVER_PORT" \
    --cert-dir="$data/kube-apiserver" \
    --endpoint-reconciler-type=none \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --client-ca-file="$PKI/ca.crt" \
    --tls-cert-file="$PKI/kube-apiserver.crt" \
    --tls-private-key-file="$PKI/kube-apiserver.key" \
    --kubelet-client-certificate="$PKI/kube-apiserver-kubelet-client.crt" \
    --kubelet-client-key="$PKI/kube-apiserver-kubelet-client.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" \
    --service-account-signing-key-file="$PKI/sa.key" \
    --authorization-mode=Node,RBAC \
    --enable-admission-plugins=NodeRestriction \
    --allow-privileged=true \
    --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" \
    --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User \
    --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$PKI/front-proxy-client.crt" \
    --proxy-client-key-file="$PKI/front-proxy-client.key" \
    --enable-aggregator-routing=true \
    --profiling=false
  wait_until kube-apiserver 90 "kube-apiserver /readyz" health_apiserver

  start kube-controller-manager "$bin_dir/kube-controller-manager" \
    --kubeconfig="$STATE/kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig="$STATE/kube-controller-manager.kubeconfig" \
    --authorization-kubeconfig="$STATE/kube-controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 \
    --secure-port="$KCM_PORT" \
    --cert-dir="$data/kube-controller-manager" \
    --controllers='*' \
    --use-service-account-credentials=true \
    --service-account-private-key-file="$PKI/sa.key" \
    --root-ca-file="$PKI/ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" \
    --cluster-signing-key-file="$PKI/ca.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --horizontal-pod-autoscaler-sync-period=5s \
    --leader-elect=false \
    --profiling=false
  start kube-scheduler "$bin_dir/kube-scheduler" \
    --kubeconfig="$STATE/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig="$STATE/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig="$STATE/kube-scheduler.kubeconfig" \
    --bind-address=127.0.0.1 \
    --secure-port="$SCHEDULER_PORT" \
    --cert-dir="$data/kube-scheduler" \
    --leader-elect=false \
    --profiling=false

  # kwok's node and pod lifecycles come from Stage objects (the fast node
  # and pod stages of its own module, with lease heartbeats), applied through
  # its Stage CRD so tests can inspect or add stages with kubectl.
  log "applying kwok's Stage CRD and its node and pod stages"
  local st="$kwok_src/kustomize/stage"
  k apply --server-side -f "$kwok_src/kustomize/crd/bases/kwok.x-k8s.io_stages.yaml" >/dev/null ||
    fail kube-apiserver "could not apply kwok's Stage CRD"
  wait_until kube-apiserver 30 "the Stage CRD to be established" \
    k wait --for=condition=Established --timeout=5s crd/stages.kwok.x-k8s.io
  k apply --server-side \
    -f "$st/node/fast/node-initialize.yaml" \
    -f "$st/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" \
    -f "$st/pod/fast/pod-ready.yaml" \
    -f "$st/pod/fast/pod-complete.yaml" \
    -f "$st/pod/fast/pod-delete.yaml" >/dev/null || fail kube-apiserver "could not apply kwok's stages"

  # An explicit, empty configuration file, so a ~/.kwok/kwok.yaml is never
  # read. It must not hold a KwokConfiguration: kwok v0.8.0 applies its
  # defaults (parallelism and the like) only when none is given.
  echo "# kwok takes its options from flags and its stages from Stage objects." >"$STATE/kwok.yaml"
  start kwok "$kwok" \
    --config="$STATE/kwok.yaml" \
    --kubeconfig="$STATE/kwok.kubeconfig" \
    --enable-crds=Stage \
    --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --manage-nodes-with-label-selector= \
    --node-ip=127.0.0.1 \
    --node-port="$KWOK_PORT" \
    --server-address="127.0.0.1:$KWOK_PORT" \
    --tls-cert-file="$PKI/kwok-serving.crt" \
    --tls-private-key-file="$PKI/kwok-serving.key" \
    --cidr="$POD_CIDR" \
    --node-lease-duration-seconds=40

  wait_until kube-controller-manager 60 "kube-controller-manager /healthz" health_kcm
  wait_until kube-scheduler 60 "kube-scheduler /healthz" health_scheduler
  wait_until kwok 60 "kwok /healthz" health_kwok

  # One fake node, no taint, so pods schedule without tolerations.
  log "creating node $NODE_NAME"
  mkdir -p "$STATE/manifests"
  cat >"$STATE/manifests/node.yaml" <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $NODE_NAME
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    type: kwok
    kubernetes.io/arch: amd64
    kubernetes.io/os: linux
    kubernetes.io/hostname: $NODE_NAME
    node-role.kubernetes.io/agent: ""
status:
  addresses:
  - type: InternalIP
    address: 127.0.0.1
  - type: Hostname
    address: $NODE_NAME
  allocatable:
    cpu: "32"
    memory: 256Gi
    pods: "110"
  capacity:
    cpu: "32"
    memory: 256Gi
    pods: "110"
EOF
  k create -f "$STATE/manifests/node.yaml" >/dev/null || fail kube-apiserver "could not create node $NODE_NAME"
  wait_until kwok 60 "node $NODE_NAME to be Ready" \
    k wait --for=condition=Ready --timeout=5s "node/$NODE_NAME"
  # The node lifecycle controller lifts the not-ready taint that admission put on the new node.
  wait_until kube-controller-manager 60 "node $NODE_NAME to lose its not-ready taint" node_untainted

  smoke_test
  print_result
}

node_untainted() {
  [[ -z "$(k get node "$NODE_NAME" -o jsonpath='{.spec.taints}')" ]]
}

serviceaccount_ready() { k -n default get serviceaccount default; }

smoke_pods_ready() {
  local out
  out="$(k -n default get pods -l app="$SMOKE" -o \
    jsonpath='{range .items[*]}{.status.phase}/{.status.conditions[?(@.type=="Ready")].status}/{.spec.volumes[*].projected.sources[*].serviceAccountToken.path}{"\n"}{end}')"
  [[ "$(grep -c '^Running/True/token$' <<<"$out")" == 2 ]]
}

smoke_pods_gone() { [[ -z "$(k -n default get pods -l app="$SMOKE" -o name)" ]]; }

# A Deployment of two pods must reach Running and Ready (scheduler, the
# ReplicaSet controller, ServiceAccount admission and kwok together); then it
# is deleted in the foreground (the garbage collector and kwok's pod-delete stage).
smoke_test() {
  log "smoke test: a Deployment of 2 pods must reach Running and Ready"
  wait_until kube-controller-manager 60 "the default ServiceAccount" serviceaccount_ready
  k -n default create deployment "$SMOKE" --image=registry.local/pause:1 --replicas=2 >/dev/null ||
    fail kube-apiserver "could not create the smoke-test Deployment"
  wait_until kwok 90 "2 Running and Ready pods of Deployment $SMOKE" smoke_pods_ready
  k -n default delete deployment "$SMOKE" --cascade=foreground --wait=true --timeout=60s >/dev/null ||
    fail kube-controller-manager "could not delete the smoke-test Deployment"
  wait_until kwok 60 "the smoke-test pods to go" smoke_pods_gone
}

cmd_down() {
  if [[ ! -d "$STATE" ]]; then
    log "no local cluster in $STATE"
    return
  fi
  stop_all
  log "the local cluster in $STATE is down (logs kept in $LOGS)"
}

cmd_status() {
  if ! load_ports; then
    echo "no local cluster in $STATE"
    return 3
  fi
  local c pid st h rc=0
  printf '%-24s %-8s %-8s %-8s %s\n' COMPONENT PID PROCESS HEALTH ENDPOINT
  for c in etcd kube-apiserver kube-controller-manager kube-scheduler kwok; do
    pid="$(pid_of "$c" || true)"
    if running "$c"; then st=running; else st=stopped; rc=1; fi
    if [[ $st == running ]] && health "$c"; then h=ok; else h=failing; rc=1; fi
    printf '%-24s %-8s %-8s %-8s %s\n' "$c" "${pid:--}" "$st" "$h" "$(endpoint "$c")"
  done
  echo "state dir:  $STATE"
  echo "data dir:   $(data_dir || echo -)"
  echo "kubeconfig: $ADMIN_KUBECONFIG"
  if [[ $rc == 0 ]]; then
    local bin_dir; bin_dir="$EVENTPIPE_CACHE_DIR/kubernetes-v$KUBERNETES_VERSION-etcd-v$ETCD_VERSION/bin"
    KUBECTL="$bin_dir/kubectl"
    echo "node:       $NODE_NAME $(k get node "$NODE_NAME" \
      -o jsonpath='{.status.conditions[?(@.type=="Ready")].type}={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || echo unknown)"
  fi
  return $rc
}

case "${1:-}" in
  up) mkdir -p "$STATE"; with_lock "$STATE/.lock" cmd_up ;;
  down) mkdir -p "$STATE"; with_lock "$STATE/.lock" cmd_down ;;
  status) cmd_status ;;
  *) usage ;;
esac
