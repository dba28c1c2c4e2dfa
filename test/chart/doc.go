// Package chart holds the template tests of the Helm chart in charts/eventpipe.
// They render the chart with `helm template` (bin/helm, built by `make helm`,
// or the binary named by $HELM), decode the output into typed Kubernetes
// objects and assert what a cluster would receive: the manager's arguments,
// its security context, the optional objects each value switches on, the
// values the schema refuses, and RBAC and webhooks equal to the generated
// ones in config/. `make test-chart` runs them.
package chart
