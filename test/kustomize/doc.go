// Package kustomize holds the tests of the kustomize install in config/. They
// build config/default, the example overlays under config/overlays and
// overlays written on the fly with `kubectl kustomize` (the binary named by
// $KUBECTL; `make test-kustomize` sets it to bin/kubectl), decode the output
// into typed Kubernetes objects and assert what a cluster would receive:
// config/default asks for no CRDs beyond Kubernetes' own, and each opt-in
// component (webhook, certmanager, prometheus) wires its objects to the
// manager, in whatever namespace the base sets.
package kustomize
