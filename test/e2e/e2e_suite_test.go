//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
	"github.com/eventpipe/eventpipe/internal/kafka"
	"github.com/eventpipe/eventpipe/test/e2e/podrunner"
)

// Named waits. The HPA controller of the local control plane syncs every 5s;
// a worker joins its consumer group within a few seconds of starting.
const (
	installTimeout  = 2 * time.Minute
	readyTimeout    = 2 * time.Minute
	deliveryTimeout = 90 * time.Second
	scaleTimeout    = 2 * time.Minute
	cleanupTimeout  = 3 * time.Minute
	poll            = 250 * time.Millisecond
	// quietPeriod is how long a count must stay put to be called exact.
	quietPeriod = 3 * time.Second
)

// Images of eventpipe, as the chart and config/ name them.
const (
	managerRepository = "ghcr.io/eventpipe/manager"
	workerRepository  = "ghcr.io/eventpipe/worker"
	// imageUser is the USER of both Dockerfiles (distroless nonroot).
	imageUser = 65532
)

// settings are the suite's inputs, from the environment.
type settings struct {
	root            string
	kubeconfig      string
	kafkaBootstrap  string
	clusterKafka    string
	realPods        bool
	imageTag        string
	managerBinary   string
	workerBinary    string
	workDir         string
	helm, kubectl   string
	runID           string
	releaseNS       string
	releaseName     string
	kafkaConfig     kafka.Config
	apiServerHost   string
	apiServerPort   string
	scheme          *runtime.Scheme
	k8s             client.Client
	clientset       kubernetes.Interface
	runner          *podrunner.Runner
	workloads       workloads
	kafkaClientID   string
	managerSelector map[string]string
}

var env settings

// suiteCtx lives as long as the suite; the podrunner watches pods with it.
var suiteCtx, cancelSuite = context.WithCancel(context.Background())

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "eventpipe end-to-end suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	loadSettings()

	restConfig, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		clientcmd.NewDefaultClientConfigLoadingRules(), nil).ClientConfig()
	Expect(err).NotTo(HaveOccurred(), "read KUBECONFIG %s", env.kubeconfig)
	env.scheme = runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(env.scheme)).To(Succeed())
	Expect(eventpipev1alpha1.AddToScheme(env.scheme)).To(Succeed())
	Expect(apiextensionsv1.AddToScheme(env.scheme)).To(Succeed())
	env.k8s, err = client.New(restConfig, client.Options{Scheme: env.scheme})
	Expect(err).NotTo(HaveOccurred())
	env.clientset, err = kubernetes.NewForConfig(restConfig)
	Expect(err).NotTo(HaveOccurred())
	env.apiServerHost, env.apiServerPort, err = podrunner.APIServerAddress(restConfig)
	if !env.realPods {
		Expect(err).NotTo(HaveOccurred())
	}

	if env.realPods {
		env.workloads = kubeletWorkloads{}
		return
	}
	startPodRunner()
	env.workloads = runnerWorkloads{runner: env.runner}
})

var _ = AfterSuite(func() {
	if env.runner != nil {
		By("stopping the pod runner's processes")
		env.runner.Stop()
	}
	cancelSuite()
})

// loadSettings reads the environment, failing with what to do when
// something is missing.
func loadSettings() {
	var err error
	env.root, err = filepath.Abs(filepath.Join("..", ".."))
	Expect(err).NotTo(HaveOccurred())
	Expect(filepath.Join(env.root, "go.mod")).To(BeAnExistingFile())

	env.kubeconfig = os.Getenv("KUBECONFIG")
	Expect(env.kubeconfig).NotTo(BeEmpty(), "KUBECONFIG is not set: the suite needs a cluster. "+
		"Run `make test-e2e` (local control plane) or `make test-e2e-kind`, or point KUBECONFIG at a cluster")
	env.kafkaBootstrap = os.Getenv("KAFKA_BOOTSTRAP")
	Expect(env.kafkaBootstrap).NotTo(BeEmpty(), "KAFKA_BOOTSTRAP is not set: the suite needs a Kafka "+
		"broker; run it under hack/with-kafka.sh, as `make test-e2e` does")
	env.clusterKafka = orEnv("E2E_KAFKA_BOOTSTRAP_IN_CLUSTER", env.kafkaBootstrap)
	env.realPods = os.Getenv("E2E_REAL_PODS") == "true"
	env.imageTag = orEnv("E2E_IMAGE_TAG", "e2e")
	env.managerBinary = orEnv("E2E_MANAGER_BINARY", filepath.Join(env.root, "bin", "manager"))
	env.workerBinary = orEnv("E2E_WORKER_BINARY", filepath.Join(env.root, "bin", "worker"))
	env.workDir = orEnv("E2E_WORK_DIR", filepath.Join(cacheDir(), "e2e"))
	env.helm = orEnv("HELM", filepath.Join(env.root, "bin", "helm"))
	env.kubectl = orEnv("KUBECTL", filepath.Join(env.root, "bin", "kubectl"))
	Expect(env.helm).To(BeAnExistingFile(), "helm not found: run `make helm` or set HELM")
	Expect(env.kubectl).To(BeAnExistingFile(), "kubectl not found: run `make kubectl` or set KUBECTL")

	env.runID = randomSuffix()
	env.releaseNS = "eventpipe-system"
	env.releaseName = "eventpipe"
	env.kafkaClientID = "eventpipe-e2e"
	env.kafkaConfig = kafka.Config{
		BootstrapServers: kafka.ParseBootstrapServers(env.kafkaBootstrap),
		ClientID:         env.kafkaClientID,
	}
	env.managerSelector = map[string]string{
		"app.kubernetes.io/name":      "eventpipe",
		"app.kubernetes.io/component": "manager",
	}
	GinkgoWriter.Printf("Run %s against %s with Kafka at %s (in the cluster: %s); real pods: %v\n",
		env.runID, env.kubeconfig, env.kafkaBootstrap, env.clusterKafka, env.realPods)
}

// startPodRunner starts the processes of eventpipe's pods, from a clean
// directory that is kept after the run for a post-mortem.
func startPodRunner() {
	for _, b := range []string{env.managerBinary, env.workerBinary} {
		Expect(b).To(BeAnExistingFile(), "%s is missing: run `make build`, or `make test-e2e`", b)
	}
	dir := filepath.Join(env.workDir, "podrunner")
	Expect(os.RemoveAll(dir)).To(Succeed())
	// The binaries stand in for the images from a directory no pod mounts
	// over: a clone under /tmp would be hidden by the pods' /tmp emptyDir.
	image := func(binary string) podrunner.Image {
		staged, err := podrunner.Stage(binary, filepath.Join(dir, "images"))
		Expect(err).NotTo(HaveOccurred())
		return podrunner.Image{Binary: staged, User: imageUser, Group: imageUser}
	}
	var err error
	env.runner, err = podrunner.New(podrunner.Config{
		Client:        env.clientset,
		APIServerHost: env.apiServerHost,
		APIServerPort: env.apiServerPort,
		Images: map[string]podrunner.Image{
			managerRepository: image(env.managerBinary),
			workerRepository:  image(env.workerBinary),
		},
		Dir: dir,
		Log: logf.Log.WithName("podrunner"),
	})
	Expect(err).NotTo(HaveOccurred())
	Expect(env.runner.Start(suiteCtx)).To(Succeed())
}

// cacheDir is where eventpipe keeps what it builds and runs outside the clone.
func cacheDir() string {
	if d := os.Getenv("EVENTPIPE_CACHE_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	Expect(err).NotTo(HaveOccurred())
	return filepath.Join(home, ".cache", "eventpipe")
}

func orEnv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// randomSuffix names this run, so namespaces, topics and consumer groups of
// an earlier run against the same broker never get in the way.
func randomSuffix() string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 5)
	_, err := rand.Read(b)
	Expect(err).NotTo(HaveOccurred())
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}

// nsName is a namespace of this run.
func nsName(prefix string) string {
	return fmt.Sprintf("%s-%s", prefix, env.runID)
}
