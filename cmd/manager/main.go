// Command manager is the eventpipe controller manager: it runs the reconcilers
// that turn EventStreams, Consumers, RulePacks and AutoscalePolicies into Kafka
// topics, worker Deployments and HorizontalPodAutoscalers.
package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
	"github.com/eventpipe/eventpipe/controllers"
	"github.com/eventpipe/eventpipe/internal/kafka"
	"github.com/eventpipe/eventpipe/internal/webhook"

	// Every processor, so the manager validates Consumer settings with their own code.
	_ "github.com/eventpipe/eventpipe/workers/processors/all"
)

// options are the manager's command-line settings.
type options struct {
	kafka              kafka.Config
	metricsAddr        string
	metricsSecure      bool
	probeAddr          string
	leaderElect        bool
	enableWebhooks     bool
	webhookCertDir     string
	topicResync        time.Duration
	streamConcurrency  int
	workerImage        string
	workerKafkaSecret  string
	lagRefresh         time.Duration
	leaderElectionNS   string
	leaderElectionName string
}

func parseFlags() options {
	var o options
	o.kafka.BindFlags(flag.CommandLine)
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", ":8443",
		"Address the Prometheus metrics endpoint listens on; 0 turns metrics off.")
	flag.BoolVar(&o.metricsSecure, "metrics-secure", true,
		"Serve metrics over HTTPS, to callers the API server authenticates and authorizes.")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081",
		"Address the /healthz and /readyz probes listen on.")
	flag.BoolVar(&o.leaderElect, "leader-elect", false,
		"Elect a leader, so only one of several manager replicas reconciles at a time.")
	flag.StringVar(&o.leaderElectionNS, "leader-election-namespace", "",
		"Namespace of the leader election lease; default: the manager's own namespace.")
	flag.StringVar(&o.leaderElectionName, "leader-election-id", "eventpipe-manager.eventpipe.io",
		"Name of the leader election lease.")
	flag.BoolVar(&o.enableWebhooks, "enable-webhooks", false,
		"Serve admission webhooks; needs a serving certificate in --webhook-cert-dir.")
	flag.StringVar(&o.webhookCertDir, "webhook-cert-dir", "",
		"Directory with tls.crt and tls.key for the webhook server; default: controller-runtime's.")
	flag.DurationVar(&o.topicResync, "topic-resync-interval", controllers.DefaultTopicResyncInterval,
		"How often each topic is compared with its EventStream to find drift.")
	flag.IntVar(&o.streamConcurrency, "eventstream-concurrency", 8,
		"How many EventStreams are reconciled at once.")
	flag.StringVar(&o.workerImage, "worker-image", "ghcr.io/eventpipe/worker:dev",
		"Image of the worker Deployments rendered for Consumers that set no spec.image.")
	flag.StringVar(&o.workerKafkaSecret, "worker-kafka-secret", "",
		"Secret, in each Consumer's namespace, with the Kafka connection files workers mount; "+
			"empty for a cluster without TLS or SASL.")
	flag.DurationVar(&o.lagRefresh, "lag-refresh-interval", controllers.DefaultLagRefreshInterval,
		"How often each Consumer's consumer-group lag is read from Kafka.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	return o
}

func main() {
	if err := run(parseFlags()); err != nil {
		ctrl.Log.WithName("setup").Error(err, "Manager stopped")
		os.Exit(1)
	}
}

func run(o options) error {
	setupLog := ctrl.Log.WithName("setup")
	if err := o.kafka.Validate(); err != nil {
		return err
	}
	if o.workerImage == "" {
		return errors.New("--worker-image is empty: name the image of the worker Deployments")
	}

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(eventpipev1alpha1.AddToScheme(scheme))

	// HTTP/2 is off on the servers: it has had denial-of-service flaws
	// (CVE-2023-44487, CVE-2023-39325) and nothing here needs it.
	noHTTP2 := func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }
	metricsOpts := metricsserver.Options{
		BindAddress:   o.metricsAddr,
		SecureServing: o.metricsSecure,
		TLSOpts:       []func(*tls.Config){noHTTP2},
	}
	if o.metricsSecure {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	mgrOpts := ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsOpts,
		HealthProbeBindAddress:  o.probeAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        o.leaderElectionName,
		LeaderElectionNamespace: o.leaderElectionNS,
	}
	if o.enableWebhooks {
		mgrOpts.WebhookServer = crwebhook.NewServer(crwebhook.Options{CertDir: o.webhookCertDir,
			TLSOpts: []func(*tls.Config){noHTTP2}})
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), mgrOpts)
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}

	ctx := ctrl.SetupSignalHandler()
	if err := controllers.SetupIndexes(ctx, mgr); err != nil {
		return err
	}
	admin := controllers.NewKafkaAdmin(o.kafka, o.streamConcurrency)
	defer func() { _ = admin.Close() }()
	if err := setupReconcilers(mgr, o, admin); err != nil {
		return err
	}
	if o.enableWebhooks {
		if err := webhook.SetupEventStreamWebhook(mgr); err != nil {
			return fmt.Errorf("set up the EventStream webhook: %w", err)
		}
		if err := webhook.SetupRulePackWebhook(mgr); err != nil {
			return fmt.Errorf("set up the RulePack webhook: %w", err)
		}
	}

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("add ready check: %w", err)
	}

	setupLog.Info("Starting manager", "kafkaBootstrapServers", o.kafka.BootstrapServers,
		"leaderElect", o.leaderElect, "webhooks", o.enableWebhooks, "workerImage", o.workerImage)
	return mgr.Start(ctx)
}

// setupReconcilers registers the four reconcilers and the topic creator.
func setupReconcilers(mgr ctrl.Manager, o options, admin *controllers.KafkaAdmin) error {
	topics := kafka.NewTopicCreator(o.kafka)
	if err := mgr.Add(topics); err != nil {
		return fmt.Errorf("add the topic creator: %w", err)
	}
	if err := (&controllers.EventStreamReconciler{
		Client:                  mgr.GetClient(),
		Kafka:                   admin,
		Topics:                  topics,
		Recorder:                mgr.GetEventRecorder("eventpipe-eventstream"),
		ResyncInterval:          o.topicResync,
		MaxConcurrentReconciles: o.streamConcurrency,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up the EventStream controller: %w", err)
	}
	if err := (&controllers.ConsumerReconciler{
		Client:             mgr.GetClient(),
		Kafka:              admin,
		Recorder:           mgr.GetEventRecorder("eventpipe-consumer"),
		WorkerImage:        o.workerImage,
		WorkerKafka:        o.kafka,
		WorkerKafkaSecret:  o.workerKafkaSecret,
		LagRefreshInterval: o.lagRefresh,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up the Consumer controller: %w", err)
	}
	if err := (&controllers.AutoscalePolicyReconciler{
		Client:   mgr.GetClient(),
		Kafka:    admin,
		Commands: controllers.NewCommandListener(o.kafka),
		Recorder: mgr.GetEventRecorder("eventpipe-autoscalepolicy"),
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up the AutoscalePolicy controller: %w", err)
	}
	if err := (&controllers.RulePackReconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("eventpipe-rulepack"),
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up the RulePack controller: %w", err)
	}
	return nil
}
