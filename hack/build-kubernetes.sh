#!/usr/bin/env bash
# Builds Kubernetes and etcd binaries from source through the Go module proxy
# and prints the directory that holds them.
#
#   hack/build-kubernetes.sh [component...]
#
# Components: kube-apiserver kubectl kube-controller-manager kube-scheduler etcd
# (default: kube-apiserver kubectl etcd, what envtest needs).
#
# k8s.io/kubernetes cannot be required as a module by itself: its go.mod points
# every staging module (k8s.io/api, k8s.io/client-go, ...) at a local path. A
# small wrapper module replaces each of them with its published v0.x release,
# which is the same code. The list of staging modules is read from the
# kubernetes go.mod itself, so a version bump needs no edit here. etcd gets a
# wrapper of its own with a three-line main around etcdmain.
#
# About 18 minutes cold on 2 cores, seconds when cached.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

components=("$@")
[[ ${#components[@]} -gt 0 ]] || components=(kube-apiserver kubectl etcd)

bin_dir="$EVENTPIPE_CACHE_DIR/kubernetes-v$KUBERNETES_VERSION-etcd-v$ETCD_VERSION/bin"
src_dir="$EVENTPIPE_CACHE_DIR/src"

k8s_ldflags() {
  local minor="${KUBERNETES_VERSION#*.}"; minor="${minor%%.*}"
  local v
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    v+=" -X $pkg.gitVersion=v$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    v+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "-s -w$v"
}

k8s_wrapper() {
  local dir="$src_dir/kubernetes-v$KUBERNETES_VERSION"
  if [[ -f "$dir/.ready" ]]; then echo "$dir"; return; fi
  mkdir -p "$dir"
  log "preparing wrapper module for k8s.io/kubernetes v$KUBERNETES_VERSION"
  local modfile
  modfile="$(cd "$dir" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@v$KUBERNETES_VERSION" |
    sed -n 's/.*"GoMod": "\(.*\)",/\1/p')"
  [[ -f "$modfile" ]] || die "could not download k8s.io/kubernetes v$KUBERNETES_VERSION"
  local staging_version="v0.${KUBERNETES_VERSION#*.}"
  {
    echo "module eventpipe.local/kubernetes-build"
    echo
    echo "go 1.26.0"
    echo
    echo "require k8s.io/kubernetes v$KUBERNETES_VERSION"
    echo
    grep -E '=> \./staging/' "$modfile" | awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
  } >"$dir/go.mod"
  cat >"$dir/tools.go" <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
EOF
  (cd "$dir" && go mod tidy -e >&2)
  touch "$dir/.ready"
  echo "$dir"
}

etcd_wrapper() {
  local dir="$src_dir/etcd-v$ETCD_VERSION"
  if [[ -f "$dir/.ready" ]]; then echo "$dir"; return; fi
  mkdir -p "$dir"
  log "preparing wrapper module for go.etcd.io/etcd/server/v3 v$ETCD_VERSION"
  cat >"$dir/go.mod" <<EOF
module eventpipe.local/etcd-build

go 1.26.0

require go.etcd.io/etcd/server/v3 v$ETCD_VERSION
EOF
  cat >"$dir/main.go" <<'EOF'
// Command etcd is the etcd server, built from its published module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
  (cd "$dir" && go mod tidy >&2)
  touch "$dir/.ready"
  echo "$dir"
}

build() {
  mkdir -p "$bin_dir"
  local missing=()
  for c in "${components[@]}"; do
    [[ -x "$bin_dir/$c" ]] || missing+=("$c")
  done
  [[ ${#missing[@]} -gt 0 ]] || return 0

  local k8s=()
  for c in "${missing[@]}"; do
    case "$c" in
      etcd)
        local dir; dir="$(etcd_wrapper)"
        log "building etcd v$ETCD_VERSION"
        (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin_dir/etcd.tmp" . &&
          mv "$bin_dir/etcd.tmp" "$bin_dir/etcd")
        ;;
      kube-apiserver | kubectl | kube-controller-manager | kube-scheduler) k8s+=("$c") ;;
      *) die "unknown component $c" ;;
    esac
  done
  if [[ ${#k8s[@]} -gt 0 ]]; then
    local dir; dir="$(k8s_wrapper)"
    local pkgs=() c
    for c in "${k8s[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
    log "building ${k8s[*]} v$KUBERNETES_VERSION (about 18 minutes the first time)"
    mkdir -p "$bin_dir/.tmp"
    (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "$(k8s_ldflags)" -o "$bin_dir/.tmp/" "${pkgs[@]}")
    for c in "${k8s[@]}"; do mv "$bin_dir/.tmp/$c" "$bin_dir/$c"; done
  fi
}

with_lock "$EVENTPIPE_CACHE_DIR/locks/kubernetes.lock" build >&2
echo "$bin_dir"
