package v1alpha1_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
)

// These specs need only a kube-apiserver and etcd: the validation under test is
// the CRDs' own (OpenAPI schema and CEL rules), enforced by the API server.
var (
	testEnv   *envtest.Environment
	k8sClient client.Client
	scheme    = runtime.NewScheme()
)

func TestAPI(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "API Validation Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))

	Expect(os.Getenv("KUBEBUILDER_ASSETS")).NotTo(BeEmpty(),
		"KUBEBUILDER_ASSETS is not set: run `make test-integration`")

	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(eventpipev1alpha1.AddToScheme(scheme)).To(Succeed())

	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	restConfig, err := testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(restConfig, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// newNamespace creates a namespace for the current spec and deletes it when the
// spec ends. Envtest runs no namespace controller, so the namespace stays
// Terminating; a fresh name per spec keeps the specs apart all the same.
func newNamespace(ctx context.Context) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "validation-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, ns))).To(Succeed())
	})
	return ns.Name
}

// expectInvalid asserts that the API server refused a request as invalid and
// that its answer contains every one of fragments.
func expectInvalid(err error, fragments ...string) {
	GinkgoHelper()
	Expect(err).To(HaveOccurred(), "the API server accepted an object it should refuse")
	Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got: %v", err)
	for _, f := range fragments {
		Expect(err.Error()).To(ContainSubstring(f))
	}
}

// unstructuredOf converts a typed object into an unstructured one, so a spec
// can send what the Go types cannot hold: a malformed duration, a zero that
// omitempty would drop, or no value at all where the field is not omitempty.
func unstructuredOf(obj client.Object) *unstructured.Unstructured {
	GinkgoHelper()
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	Expect(err).NotTo(HaveOccurred())
	u := &unstructured.Unstructured{Object: content}
	gvk, err := apiutil.GVKForObject(obj, scheme)
	Expect(err).NotTo(HaveOccurred())
	u.SetGroupVersionKind(gvk)
	return u
}

// withField returns obj as an unstructured object with the field at path set
// to value (a string, int64, bool, map[string]any or []any).
func withField(obj client.Object, value any, path ...string) *unstructured.Unstructured {
	GinkgoHelper()
	u := unstructuredOf(obj)
	Expect(unstructured.SetNestedField(u.Object, value, path...)).To(Succeed())
	return u
}

// withoutField returns obj as an unstructured object without the field at path.
func withoutField(obj client.Object, path ...string) *unstructured.Unstructured {
	GinkgoHelper()
	u := unstructuredOf(obj)
	unstructured.RemoveNestedField(u.Object, path...)
	return u
}
