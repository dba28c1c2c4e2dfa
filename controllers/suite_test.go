package controllers

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
	"github.com/eventpipe/eventpipe/internal/kafka"
	_ "github.com/eventpipe/eventpipe/workers/processors/all"
)

const (
	// testResyncInterval is the drift resync of the suite's manager: short, so
	// drift tests wait seconds, not minutes.
	testResyncInterval = 2 * time.Second

	// eventually is how long a spec waits for the operator to act.
	eventually = 30 * time.Second
	// poll is how often it looks.
	poll = 200 * time.Millisecond

	// testWorkerImage is the worker image the suite's manager renders.
	testWorkerImage = "registry.test/eventpipe/worker:test"

	// offlineNamespace holds the streams reconciled by a second manager whose
	// Kafka address is a closed port; the suite's main manager ignores it.
	offlineNamespace = "kafka-down"
)

var (
	testEnv    *envtest.Environment
	restConfig *rest.Config
	k8sClient  client.Client
	scheme     = runtime.NewScheme()
	kafkaAdmin sarama.ClusterAdmin
	kafkaCfg   kafka.Config
	suiteCtx   context.Context
	cancel     context.CancelFunc
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controller Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	suiteCtx, cancel = context.WithCancel(context.Background())

	bootstrap := os.Getenv("KAFKA_BOOTSTRAP")
	Expect(bootstrap).NotTo(BeEmpty(),
		"KAFKA_BOOTSTRAP names no broker: run `make test-integration`, which starts one")
	Expect(os.Getenv("KUBEBUILDER_ASSETS")).NotTo(BeEmpty(),
		"KUBEBUILDER_ASSETS is not set: run `make test-integration`, or point it at hack/envtest-assets.sh's output")

	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(eventpipev1alpha1.AddToScheme(scheme)).To(Succeed())

	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	restConfig, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(restConfig, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	kafkaCfg = kafka.Config{BootstrapServers: kafka.ParseBootstrapServers(bootstrap), ClientID: "eventpipe-test"}
	kafkaAdmin, err = kafka.NewClusterAdmin(kafkaCfg)
	Expect(err).NotTo(HaveOccurred())

	// The main manager reconciles every namespace but the offline one.
	startManager(kafkaCfg, cache.Options{
		DefaultFieldSelector: fields.OneTermNotEqualSelector("metadata.namespace", offlineNamespace),
	})
	// The offline manager sees only its namespace and a broker address where
	// nothing listens, as when Kafka is down.
	startManager(kafka.Config{BootstrapServers: []string{closedPort()}, ClientID: "eventpipe-offline"},
		cache.Options{DefaultNamespaces: map[string]cache.Config{offlineNamespace: {}}})
})

var _ = AfterSuite(func() {
	cancel()
	if kafkaAdmin != nil {
		_ = kafkaAdmin.Close()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// startManager runs a manager with the reconcilers under test until the suite ends.
func startManager(kafkaConfig kafka.Config, cacheOptions cache.Options) {
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:     scheme,
		Cache:      cacheOptions,
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	Expect(err).NotTo(HaveOccurred())

	Expect(SetupIndexes(suiteCtx, mgr)).To(Succeed())
	admin := NewKafkaAdmin(kafkaConfig, 4)
	topics := kafka.NewTopicCreator(kafkaConfig)
	Expect(mgr.Add(topics)).To(Succeed())
	Expect((&EventStreamReconciler{
		Client:         mgr.GetClient(),
		Kafka:          admin,
		Topics:         topics,
		Recorder:       mgr.GetEventRecorder("eventpipe-eventstream"),
		ResyncInterval: testResyncInterval,
	}).SetupWithManager(mgr)).To(Succeed())
	Expect((&RulePackReconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("eventpipe-rulepack"),
	}).SetupWithManager(mgr)).To(Succeed())
	Expect((&ConsumerReconciler{
		Client:             mgr.GetClient(),
		Kafka:              admin,
		Recorder:           mgr.GetEventRecorder("eventpipe-consumer"),
		WorkerImage:        testWorkerImage,
		WorkerKafka:        kafkaConfig,
		LagRefreshInterval: time.Second,
	}).SetupWithManager(mgr)).To(Succeed())

	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(suiteCtx)).To(Succeed())
		_ = admin.Close()
	}()
}

// closedPort returns a loopback address where nothing listens.
func closedPort() string {
	// Port 1 is reserved (tcpmux) and never served on a test machine.
	return "127.0.0.1:1"
}

// uniqueName returns a DNS-label name that no other spec uses.
func uniqueName(prefix string) string {
	suffix := strings.ToLower(strings.ReplaceAll(time.Now().Format("150405.000000"), ".", ""))
	return prefix + "-" + suffix
}
