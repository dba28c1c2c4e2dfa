#!/usr/bin/env bash
# Prints a directory usable as KUBEBUILDER_ASSETS (etcd, kube-apiserver, kubectl).
#
# Where setup-envtest can download its release archives (a developer's laptop),
# it is used. Where it cannot, or when ENVTEST_FROM_SOURCE=1, the binaries are
# built from source through the Go module proxy by hack/build-kubernetes.sh.
# Both results are cached outside the clone.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SETUP_ENVTEST_VERSION="${SETUP_ENVTEST_VERSION:-release-0.23}"
built="$EVENTPIPE_CACHE_DIR/kubernetes-v$KUBERNETES_VERSION-etcd-v$ETCD_VERSION/bin"

have_assets() {
  [[ -x "$1/etcd" && -x "$1/kube-apiserver" && -x "$1/kubectl" ]]
}

if have_assets "$built"; then
  echo "$built"
  exit 0
fi

if [[ "${ENVTEST_FROM_SOURCE:-0}" != 1 ]]; then
  downloaded="$EVENTPIPE_CACHE_DIR/setup-envtest"
  # setup-envtest answers quickly with an error where its download site is
  # unreachable; the timeout only guards against a network that hangs.
  if dir="$(timeout 120 go run "sigs.k8s.io/controller-runtime/tools/setup-envtest@$SETUP_ENVTEST_VERSION" \
    use "${KUBERNETES_VERSION%.*}.x" --bin-dir "$downloaded" -p path 2>/dev/null)" &&
    have_assets "$dir"; then
    echo "$dir"
    exit 0
  fi
  log "setup-envtest could not download Kubernetes $KUBERNETES_VERSION; building it from source"
fi

"$(dirname "$0")/build-kubernetes.sh" kube-apiserver kubectl etcd
