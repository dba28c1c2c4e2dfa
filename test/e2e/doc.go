// Package e2e is eventpipe's end-to-end suite (build tag e2e). It installs the
// operator into the cluster of KUBECONFIG with Helm and, in a second ordered
// container, with `kubectl apply -k config/default`, applies pipelines, produces
// CloudEvents to a real Kafka broker (KAFKA_BOOTSTRAP) and checks what comes out,
// and scales workers through an AutoscalePolicy and the cluster's real HPA
// controller.
//
// On a cluster without a kubelet (hack/local-cluster.sh, `make test-e2e`) the
// suite starts test/e2e/podrunner, which runs one local process for each
// Running pod of eventpipe's images from that pod's own spec. With
// E2E_REAL_PODS=true (kind, `make test-e2e-kind`) the pods are real and the
// runner is not started.
//
// Environment:
//
//	KUBECONFIG                       the cluster (required)
//	KAFKA_BOOTSTRAP                  the brokers, as the suite reaches them (required)
//	E2E_KAFKA_BOOTSTRAP_IN_CLUSTER   the brokers, as pods reach them (default KAFKA_BOOTSTRAP)
//	E2E_REAL_PODS                    true when a kubelet runs the pods (kind)
//	E2E_IMAGE_TAG                    tag of the manager and worker images (default e2e)
//	E2E_MANAGER_BINARY, E2E_WORKER_BINARY  stand-ins for the images (default bin/manager, bin/worker)
//	E2E_WORK_DIR                     podrunner volumes, logs and staged binaries (default ~/.cache/eventpipe/e2e)
//	HELM, KUBECTL                    the tools (default bin/helm, bin/kubectl)
package e2e
