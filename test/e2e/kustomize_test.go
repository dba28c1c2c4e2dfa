//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
)

const ordersManifest = "test/e2e/testdata/orders.yaml"

var _ = Describe("eventpipe installed with kubectl apply -k config/default", Ordered, func() {
	var ns, overlay string
	dumpOnFailure(func() string { return ns })

	BeforeAll(func() {
		ns = nsName("e2e-kustomize")
		overlay = kustomizeOverlay(GinkgoT().TempDir())
		DeferCleanup(func() {
			By("deleting everything config/default installed")
			_, err := kubectl("delete", "-k", overlay, "--ignore-not-found", "--wait=true", "--timeout=3m")
			Expect(err).NotTo(HaveOccurred())
			expectManagerGone()
			expectCRDsGone()
		})
		By("applying config/default with the e2e images and this run's brokers")
		_, err := kubectl("apply", "--server-side", "--force-conflicts", "-k", overlay)
		Expect(err).NotTo(HaveOccurred())
		createNamespace(ns)
		DeferCleanup(func() {
			By("deleting namespace " + ns)
			deleteNamespace(ns)
		})
	})

	It("should run the manager on its in-cluster credentials and the kustomize RBAC", func() {
		m := expectManager()
		expectLeader(m.pod)
	})

	It("should make the EventStreams Ready and start the Consumer's worker", func() {
		applyFiles(ns, ordersManifest)
		for _, name := range []string{"orders", "orders-audit"} {
			expectReady(&eventStream{}, types.NamespacedName{Namespace: ns, Name: name})
		}
		expectReady(&consumer{}, types.NamespacedName{Namespace: ns, Name: "orders-audit"})
		expectMembers(ns, workerSelector("orders-audit"), 1)
	})

	It("should copy the orders to the audit stream", func() {
		orders := orderEvents(12)
		produceEvents(topicOf(ns, "orders"), orders)
		expectOutput(topicOf(ns, "orders-audit"), orders)
	})

	It("should stop the worker when its Consumer is deleted", func() {
		c := &eventpipev1alpha1.Consumer{}
		c.Namespace, c.Name = ns, "orders-audit"
		Expect(env.k8s.Delete(context.Background(), c)).To(Succeed())
		expectMembers(ns, workerSelector("orders-audit"), 0)
		Eventually(func(g Gomega) {
			err := env.k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "orders-audit"},
				&appsv1.Deployment{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the worker Deployment outlives its Consumer")
		}).WithTimeout(cleanupTimeout).WithPolling(poll).Should(Succeed())
	})
})

// kustomizeOverlay copies config/ into dir and writes an overlay beside it
// that sets the manager image to the e2e tag, the worker image flag to the
// same tag, and the eventpipe-kafka ConfigMap to the brokers of this run; it
// returns the overlay's directory. config/ itself is never edited.
func kustomizeOverlay(dir string) string {
	GinkgoHelper()
	config := os.DirFS(filepath.Join(env.root, "config"))
	Expect(os.CopyFS(filepath.Join(dir, "config"), config)).To(Succeed())
	index, old := workerImageArg()
	overlay := fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- ../config/default
images:
- name: %[1]s
  newName: %[1]s
  newTag: %[2]s
patches:
- target:
    kind: ConfigMap
    name: eventpipe-kafka
  patch: |-
    - op: replace
      path: /data/bootstrapServers
      value: %[3]q
- target:
    kind: Deployment
    name: eventpipe-manager
  patch: |-
    - op: test
      path: /spec/template/spec/containers/0/args/%[4]d
      value: %[5]q
    - op: replace
      path: /spec/template/spec/containers/0/args/%[4]d
      value: %[6]q
`, managerRepository, env.imageTag, env.clusterKafka, index, old,
		"--worker-image="+workerRepository+":"+env.imageTag)
	out := filepath.Join(dir, "e2e")
	Expect(os.MkdirAll(out, 0o755)).To(Succeed())
	Expect(os.WriteFile(filepath.Join(out, "kustomization.yaml"), []byte(overlay), 0o644)).To(Succeed())
	return out
}

// workerImageArg finds the --worker-image argument of the manager in
// config/manager/manager.yaml: its index and its value.
func workerImageArg() (int, string) {
	GinkgoHelper()
	b, err := os.ReadFile(filepath.Join(env.root, "config", "manager", "manager.yaml"))
	Expect(err).NotTo(HaveOccurred())
	for _, doc := range strings.Split(string(b), "\n---") {
		var d appsv1.Deployment
		if yaml.Unmarshal([]byte(doc), &d) != nil || d.Kind != "Deployment" {
			continue
		}
		for i, arg := range d.Spec.Template.Spec.Containers[0].Args {
			if strings.HasPrefix(arg, "--worker-image=") {
				return i, arg
			}
		}
	}
	Fail("config/manager/manager.yaml has no manager Deployment with a --worker-image argument")
	return 0, ""
}

// expectCRDsGone waits until the eventpipe CRDs are deleted, so an install
// that follows never meets a CRD that is still terminating.
func expectCRDsGone() {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		var crds apiextensionsv1.CustomResourceDefinitionList
		g.Expect(env.k8s.List(context.Background(), &crds)).To(Succeed())
		for _, crd := range crds.Items {
			g.Expect(crd.Spec.Group).NotTo(Equal(eventpipev1alpha1.GroupVersion.Group),
				"CRD %s remains", crd.Name)
		}
	}).WithTimeout(cleanupTimeout).WithPolling(poll).Should(Succeed())
}
