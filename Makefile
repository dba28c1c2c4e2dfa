# eventpipe: a Kubernetes operator for event-driven pipelines on Apache Kafka.
#
# `make help` lists the targets. Tools are built from the Go module proxy into
# a cache outside the clone (EVENTPIPE_CACHE_DIR, default ~/.cache/eventpipe)
# and linked into bin/.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

EVENTPIPE_CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/eventpipe
export EVENTPIPE_CACHE_DIR

IMG_MANAGER ?= ghcr.io/eventpipe/manager:dev
IMG_WORKER ?= ghcr.io/eventpipe/worker:dev

LOCALBIN := $(CURDIR)/bin
TOOLS_DIR := $(EVENTPIPE_CACHE_DIR)/tools

CONTROLLER_TOOLS_VERSION ?= v0.23.0
HELM_VERSION ?= v4.3.2
GOLANGCI_LINT_VERSION ?= v2.15.0

CONTROLLER_GEN := $(LOCALBIN)/controller-gen
HELM := $(LOCALBIN)/helm
GOLANGCI_LINT := $(LOCALBIN)/golangci-lint
KUBECTL := $(LOCALBIN)/kubectl

GO_TEST_FLAGS ?= -count=1
# Packages whose tests need a real kube-apiserver (envtest) and a real Kafka
# broker; every other package's tests need nothing but Go.
INTEGRATION_PKGS = ./api/v1alpha1 ./controllers ./test/integration/... $(WORKER_INTEGRATION_PKGS)
UNIT_PKGS = $(shell go list ./... | grep -v -e /test/ -e /api/v1alpha1$$ -e /controllers$$ -e /workers/integration$$) \
	./test/e2e/podrunner
# The worker runtime's integration suite: worker processes against a real broker.
WORKER_INTEGRATION_PKGS = ./workers/integration

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} \
		/^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } \
		/^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRDs and the RBAC role from the code markers.
	$(CONTROLLER_GEN) rbac:roleName=eventpipe-manager crd webhook paths="./..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac \
		output:webhook:artifacts:config=config/webhook

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate the DeepCopy methods of the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: verify
verify: generate manifests ## Fail when generated files are stale.
	@if ! git diff --quiet -- api config || [ -n "$$(git ls-files --others --exclude-standard -- api config)" ]; then \
		echo "Generated files are stale. Run 'make generate manifests' and commit the result:"; \
		git status --short -- api config; git diff --stat -- api config; exit 1; \
	fi

.PHONY: fmt
fmt: ## Run go fmt.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet, the e2e suite included.
	go vet ./...
	go vet -tags e2e ./test/...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint.
	$(GOLANGCI_LINT) run ./...

##@ Test

.PHONY: test
# The description and the prerequisites are two rules of one target, so
# neither line passes 120 characters; make joins them in this order.
test: ## Everything: generated files, image builds, vet, lint, chart, kustomize, unit, integration and e2e.
test: verify verify-chart-crds verify-images vet lint helm-lint \
	test-unit test-chart test-kustomize test-integration test-e2e

.PHONY: test-unit
test-unit: ## Unit tests: pure logic, no cluster, no broker.
	go test $(GO_TEST_FLAGS) $(UNIT_PKGS)

.PHONY: test-integration
test-integration: ## envtest (real kube-apiserver, etcd, kube-controller-manager) with a real Kafka broker.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" \
	KUBE_CONTROLLER_MANAGER="$$(hack/build-kubernetes.sh kube-controller-manager)/kube-controller-manager" \
	hack/with-kafka.sh \
		go test $(GO_TEST_FLAGS) -p 1 -timeout 30m $(INTEGRATION_PKGS) -ginkgo.v

.PHONY: bench-reconcile
bench-reconcile: ## Create 1,000 EventStreams against the real broker; print time, rate, memory.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" hack/with-kafka.sh \
		go run ./test/bench/reconcile -streams $${STREAMS:-1000}

.PHONY: bench-worker
bench-worker: ## Worker throughput, latency and memory per guarantee against a raw sarama pipe.
	hack/with-kafka.sh go run ./test/bench/worker $${BENCH_WORKER_ARGS:-}

.PHONY: bench-autoscale
bench-autoscale: ## Time lag spike -> replicas and scale command -> HPA floor, with a real HPA controller.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" \
	KUBE_CONTROLLER_MANAGER="$$(hack/build-kubernetes.sh kube-controller-manager)/kube-controller-manager" \
	hack/with-kafka.sh go run ./test/bench/autoscale -trials $${TRIALS:-5}

##@ Build

.PHONY: build
build: ## Build the manager and the worker into bin/.
	go build -o $(LOCALBIN)/manager ./cmd/manager
	go build -o $(LOCALBIN)/worker ./cmd/worker

.PHONY: run
run: ## Run the manager against the cluster of KUBECONFIG (KAFKA_BOOTSTRAP names the brokers).
	go run ./cmd/manager --kafka-bootstrap-servers="$${KAFKA_BOOTSTRAP:-127.0.0.1:9092}" \
		--enable-webhooks=false --metrics-bind-address=0

.PHONY: install
install: manifests $(KUBECTL) ## Install the CRDs into the cluster of KUBECONFIG.
	$(KUBECTL) apply --server-side -f config/crd/bases

.PHONY: uninstall
uninstall: $(KUBECTL) ## Remove the CRDs (and every object of their kinds).
	$(KUBECTL) delete --ignore-not-found -f config/crd/bases

##@ Install

CHART_DIR := charts/eventpipe
# docker, or any CLI with the same build flags (podman).
CONTAINER_TOOL ?= docker

.PHONY: docker-build
docker-build: ## Build the manager and worker images, tagged IMG_MANAGER and IMG_WORKER.
	$(CONTAINER_TOOL) build -f Dockerfile.manager -t $(IMG_MANAGER) .
	$(CONTAINER_TOOL) build -f Dockerfile.worker -t $(IMG_WORKER) .

.PHONY: verify-images
verify-images: ## Build both images' binaries from their Dockerfiles' COPY lines and .dockerignore, without Docker.
	hack/verify-images.sh

# build-installer renders config/default through an overlay in a temporary
# directory, so config/ is never edited. IMG_MANAGER may end in :tag or
# @sha256:digest; the worker image is a flag of the manager, not a container
# image, so it is replaced in the rendered --worker-image argument.
.PHONY: build-installer
build-installer: $(KUBECTL) ## Write dist/install.yaml (config/default with IMG_MANAGER and IMG_WORKER).
	@tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	img='$(IMG_MANAGER)'; \
	case "$$img" in \
	*@*) name="$${img%@*}"; ref="digest: $${img#*@}" ;; \
	*) last="$${img##*/}"; \
		if [[ "$$last" == *:* ]]; then name="$${img%:*}"; ref="newTag: $${img##*:}"; \
		else name="$$img"; ref="newTag: latest"; fi ;; \
	esac; \
	cp -R config "$$tmp/config"; mkdir "$$tmp/installer"; \
	printf '%s\n' 'apiVersion: kustomize.config.k8s.io/v1beta1' 'kind: Kustomization' \
		'resources:' '- ../config/default' 'images:' '- name: ghcr.io/eventpipe/manager' \
		"  newName: $$name" "  $$ref" > "$$tmp/installer/kustomization.yaml"; \
	$(KUBECTL) kustomize "$$tmp/installer" \
		| sed -E 's|--worker-image=[^[:space:]"]+|--worker-image=$(IMG_WORKER)|' > "$$tmp/install.yaml"; \
	mkdir -p dist; mv "$$tmp/install.yaml" dist/install.yaml; \
	echo "Wrote dist/install.yaml (manager $(IMG_MANAGER), worker $(IMG_WORKER))"

.PHONY: chart-crds
chart-crds: ## Copy the generated CRDs and manager role (config/) into the Helm chart.
	mkdir -p $(CHART_DIR)/crds
	rm -f $(CHART_DIR)/crds/*.yaml
	cp config/crd/bases/*.yaml $(CHART_DIR)/crds/
	mkdir -p $(CHART_DIR)/files
	cp config/rbac/role.yaml $(CHART_DIR)/files/manager-role.yaml

.PHONY: verify-chart-crds
verify-chart-crds: ## Fail when the chart's CRDs or manager role differ from config/.
	@if ! diff -r config/crd/bases $(CHART_DIR)/crds >/dev/null || \
		! diff config/rbac/role.yaml $(CHART_DIR)/files/manager-role.yaml >/dev/null; then \
		echo "The chart's CRDs or manager role differ from config/. Run 'make chart-crds' and commit the result:"; \
		diff -r --brief config/crd/bases $(CHART_DIR)/crds; \
		diff --brief config/rbac/role.yaml $(CHART_DIR)/files/manager-role.yaml; exit 1; \
	fi

.PHONY: helm-lint
helm-lint: $(HELM) ## Lint the chart strictly, with its defaults and with every option set.
	$(HELM) lint --strict $(CHART_DIR) --values $(CHART_DIR)/ci/default-values.yaml
	$(HELM) lint --strict $(CHART_DIR) --values $(CHART_DIR)/ci/all-options-values.yaml

.PHONY: test-chart
test-chart: $(HELM) ## Render the chart with helm template and assert the objects (test/chart).
	HELM=$(HELM) go test $(GO_TEST_FLAGS) ./test/chart/...

.PHONY: test-kustomize
test-kustomize: $(KUBECTL) ## kubectl kustomize config/default and the overlays; assert the objects (test/kustomize).
	KUBECTL=$(KUBECTL) go test $(GO_TEST_FLAGS) ./test/kustomize/...

##@ Tools

.PHONY: tools controller-gen helm golangci-lint kubectl
tools: controller-gen helm golangci-lint kubectl ## Build every tool into bin/.
controller-gen: $(CONTROLLER_GEN) ## Build controller-gen into bin/.
helm: $(HELM) ## Build helm v4 into bin/.
golangci-lint: $(GOLANGCI_LINT) ## Build golangci-lint into bin/.
kubectl: $(KUBECTL) ## Build kubectl (with Kubernetes, see hack/build-kubernetes.sh) into bin/.

# go-install-tool builds a Go tool at a pinned version into the cache and links
# it into bin/. $(1): link, $(2): package, $(3): version.
define go-install-tool
@set -e; dir="$(TOOLS_DIR)/$(notdir $(1))-$(3)"; \
if [ ! -x "$$dir/$(notdir $(1))" ]; then \
	echo "Building $(2)@$(3)"; mkdir -p "$$dir"; \
	GOBIN="$$dir" GOFLAGS= go install -trimpath $(2)@$(3); \
fi; \
mkdir -p $(LOCALBIN); ln -sf "$$dir/$(notdir $(1))" $(1)
endef

$(CONTROLLER_GEN): Makefile
	$(call go-install-tool,$@,sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

$(HELM): Makefile
	$(call go-install-tool,$@,helm.sh/helm/v4/cmd/helm,$(HELM_VERSION))

$(GOLANGCI_LINT): Makefile
	$(call go-install-tool,$@,github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

$(KUBECTL): Makefile
	@mkdir -p $(LOCALBIN)
	ln -sf "$$(hack/build-kubernetes.sh kubectl)/kubectl" $@

# kwok gives the local control plane's fake node and its pods their lifecycle.
# Its version is pinned in hack/lib.sh, which hack/local-cluster.sh shares.
KWOK_VERSION := v$(shell source hack/lib.sh && echo "$$KWOK_VERSION")
KWOK := $(LOCALBIN)/kwok

.PHONY: kwok
tools: kwok
kwok: $(KWOK) ## Build kwok into bin/.

$(KWOK): Makefile
	$(call go-install-tool,$@,sigs.k8s.io/kwok/cmd/kwok,$(KWOK_VERSION))

##@ Local cluster

.PHONY: cluster-up cluster-down
cluster-up: $(KWOK) $(KUBECTL) ## Start the local control plane (etcd, API server, controller-manager, scheduler, kwok); last line KUBECONFIG=...
	hack/local-cluster.sh up

cluster-down: ## Stop exactly the local control plane's processes and remove its data.
	hack/local-cluster.sh down

##@ Demo

# The demo's control plane and broker get state directories of their own, so
# a cluster from `make cluster-up` or a broker of the tests is left alone.
DEMO_CLUSTER_DIR ?= $(LOCALBIN)/.demo-cluster
DEMO_KAFKA_DIR ?= $(LOCALBIN)/.demo-kafka

.PHONY: demo
demo: build $(HELM) $(KUBECTL) $(KWOK) ## Kafka, the local control plane, the operator and a showcase pipeline with a live view until Ctrl-C (needs root; DEMO_DURATION=60s ends it).
	go build -o $(LOCALBIN)/demo ./hack/demo
	$(LOCALBIN)/demo --cluster-dir="$(DEMO_CLUSTER_DIR)" --kafka-state-dir="$(DEMO_KAFKA_DIR)"

##@ End-to-end

# The e2e suite (test/e2e) installs the operator with Helm and with kustomize,
# runs pipelines against a real Kafka broker and scales workers through the
# HPA. E2E_FLAGS adds go test flags, e.g. E2E_FLAGS='-ginkgo.focus=Helm'.
E2E_IMAGE_TAG ?= e2e
E2E_FLAGS ?=
# The local control plane of test-e2e gets a state directory of its own, so
# a cluster started with `make cluster-up` is left alone.
E2E_CLUSTER_DIR ?= $(LOCALBIN)/.e2e-cluster
KIND_VERSION ?= v0.33.0
KIND := $(LOCALBIN)/kind
KIND_CLUSTER ?= eventpipe-e2e
KAFKA_VERSION := $(shell source hack/lib.sh && echo "$$KAFKA_VERSION")
E2E_KAFKA_IMAGE ?= apache/kafka:$(KAFKA_VERSION)

.PHONY: test-e2e
test-e2e: build $(HELM) $(KUBECTL) $(KWOK) ## End-to-end suite on the local control plane with a real broker (needs root); always stops both.
	@set -e; export LOCAL_CLUSTER_DIR="$(E2E_CLUSTER_DIR)"; \
	trap 'hack/local-cluster.sh down' EXIT; trap 'exit 130' INT TERM; \
	line="$$(hack/local-cluster.sh up | tail -n 1)"; \
	export KUBECONFIG="$${line#KUBECONFIG=}"; \
	E2E_IMAGE_TAG=$(E2E_IMAGE_TAG) hack/with-kafka.sh \
		go test -tags e2e ./test/e2e/ -count=1 -v -timeout 20m -ginkgo.v $(E2E_FLAGS)

# test-e2e-kind runs the same suite where a kubelet runs the pods: the images
# are built (docker-build, tagged E2E_IMAGE_TAG) and loaded into kind, the
# broker runs in the cluster (test/e2e/kind/kafka.yaml) and the suite reaches
# it through a node port.
.PHONY: test-e2e-kind
test-e2e-kind: IMG_MANAGER = ghcr.io/eventpipe/manager:$(E2E_IMAGE_TAG)
test-e2e-kind: IMG_WORKER = ghcr.io/eventpipe/worker:$(E2E_IMAGE_TAG)
test-e2e-kind: docker-build $(KIND) $(HELM) $(KUBECTL) ## The end-to-end suite on a kind cluster with real pods (needs Docker); always deletes the cluster.
	@set -e; kubeconfig="$$(mktemp)"; \
	trap '$(KIND) delete cluster --name $(KIND_CLUSTER) --kubeconfig "$$kubeconfig"; rm -f "$$kubeconfig"' EXIT; \
	trap 'exit 130' INT TERM; \
	$(KIND) create cluster --name $(KIND_CLUSTER) --kubeconfig "$$kubeconfig" \
		--config test/e2e/kind/cluster.yaml --wait 180s; \
	$(KIND) load docker-image --name $(KIND_CLUSTER) $(IMG_MANAGER) $(IMG_WORKER); \
	export KUBECONFIG="$$kubeconfig"; \
	sed 's|@KAFKA_IMAGE@|$(E2E_KAFKA_IMAGE)|' test/e2e/kind/kafka.yaml | $(KUBECTL) apply -f -; \
	$(KUBECTL) -n kafka rollout status statefulset/kafka --timeout=300s; \
	KAFKA_BOOTSTRAP=127.0.0.1:30092 E2E_KAFKA_BOOTSTRAP_IN_CLUSTER=kafka.kafka.svc:9092 \
	E2E_REAL_PODS=true E2E_IMAGE_TAG=$(E2E_IMAGE_TAG) \
		go test -tags e2e ./test/e2e/ -count=1 -v -timeout 30m -ginkgo.v $(E2E_FLAGS)

.PHONY: kind
kind: $(KIND) ## Build kind into bin/ (for test-e2e-kind).

$(KIND): Makefile
	$(call go-install-tool,$@,sigs.k8s.io/kind,$(KIND_VERSION))
