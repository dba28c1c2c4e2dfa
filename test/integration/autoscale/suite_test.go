// Package autoscale tests the AutoscalePolicy reconciler against a real
// kube-apiserver and etcd (envtest), a real kube-controller-manager, so the
// HorizontalPodAutoscaler controller really scales Deployments, and a real
// Kafka broker.
package autoscale

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	ctrl "sigs.k8s.io/controller-runtime"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
	"github.com/eventpipe/eventpipe/controllers"
	"github.com/eventpipe/eventpipe/internal/kafka"
	_ "github.com/eventpipe/eventpipe/workers/processors/all"
)

const (
	// hpaSyncPeriod is the HPA controller's sync period in this suite.
	hpaSyncPeriod = 2 * time.Second

	eventually = 60 * time.Second
	poll       = 250 * time.Millisecond
)

var (
	testEnv    *envtest.Environment
	restConfig *rest.Config
	k8sClient  client.Client
	scheme     = runtime.NewScheme()
	suiteCtx   context.Context
	cancel     context.CancelFunc
	kcm        *exec.Cmd
	kafkaCfg   kafka.Config
)

func TestAutoscale(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "AutoscalePolicy Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	suiteCtx, cancel = context.WithCancel(context.Background())

	kcmBinary := os.Getenv("KUBE_CONTROLLER_MANAGER")
	Expect(kcmBinary).NotTo(BeEmpty(),
		"KUBE_CONTROLLER_MANAGER names no binary: run `make test-integration`, which builds it")
	Expect(os.Getenv("KUBEBUILDER_ASSETS")).NotTo(BeEmpty(),
		"KUBEBUILDER_ASSETS is not set: run `make test-integration`")

	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(eventpipev1alpha1.AddToScheme(scheme)).To(Succeed())
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	restConfig, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(restConfig, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	kcm = startControllerManager(kcmBinary)

	bootstrap := os.Getenv("KAFKA_BOOTSTRAP")
	Expect(bootstrap).NotTo(BeEmpty(), "KAFKA_BOOTSTRAP names no broker: run `make test-integration`")
	// Short timeouts, so a stopped broker is noticed in seconds.
	kafkaCfg = kafka.Config{
		BootstrapServers: kafka.ParseBootstrapServers(bootstrap),
		ClientID:         "eventpipe-autoscale-test",
		DialTimeout:      2 * time.Second,
		ReadTimeout:      3 * time.Second,
		WriteTimeout:     3 * time.Second,
	}
	startManager()
})

var _ = AfterSuite(func() {
	cancel()
	if kcm != nil && kcm.Process != nil {
		_ = kcm.Process.Kill()
		_ = kcm.Wait()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// startManager runs the reconcilers under test until the suite ends.
func startManager() {
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
	})
	Expect(err).NotTo(HaveOccurred())
	Expect(controllers.SetupIndexes(suiteCtx, mgr)).To(Succeed())
	admin := controllers.NewKafkaAdmin(kafkaCfg, 4)
	topics := kafka.NewTopicCreator(kafkaCfg)
	Expect(mgr.Add(topics)).To(Succeed())
	Expect((&controllers.EventStreamReconciler{
		Client: mgr.GetClient(), Kafka: admin, Topics: topics,
		Recorder: mgr.GetEventRecorder("eventpipe-eventstream"), ResyncInterval: time.Minute,
	}).SetupWithManager(mgr)).To(Succeed())
	Expect((&controllers.ConsumerReconciler{
		Client: mgr.GetClient(), Kafka: admin, Recorder: mgr.GetEventRecorder("eventpipe-consumer"),
		WorkerImage: "registry.test/eventpipe/worker:test", WorkerKafka: kafkaCfg,
	}).SetupWithManager(mgr)).To(Succeed())
	Expect((&controllers.AutoscalePolicyReconciler{
		Client: mgr.GetClient(), Kafka: admin, Commands: controllers.NewCommandListener(kafkaCfg),
		Recorder: mgr.GetEventRecorder("eventpipe-autoscalepolicy"),
	}).SetupWithManager(mgr)).To(Succeed())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(suiteCtx)).To(Succeed())
	}()
}

// startControllerManager runs kube-controller-manager against the suite's API
// server with a system:masters identity, every controller but the service
// account token one (envtest has no signing key for it), and a short HPA sync.
func startControllerManager(binary string) *exec.Cmd {
	user, err := testEnv.AddUser(envtest.User{Name: "kube-controller-manager", Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	kubeconfig, err := user.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	dir := GinkgoT().TempDir()
	path := filepath.Join(dir, "kubeconfig")
	Expect(os.WriteFile(path, kubeconfig, 0o600)).To(Succeed())

	cmd := exec.Command(binary,
		"--kubeconfig="+path,
		"--controllers=*,-serviceaccount-token",
		"--horizontal-pod-autoscaler-sync-period="+hpaSyncPeriod.String(),
		"--leader-elect=false",
		"--secure-port=0",
		"--use-service-account-credentials=false",
	)
	cmd.Stdout, cmd.Stderr = GinkgoWriter, GinkgoWriter
	Expect(cmd.Start()).To(Succeed())
	return cmd
}
