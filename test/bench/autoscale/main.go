// Command autoscale measures how fast an AutoscalePolicy acts, end to end,
// against a real kube-apiserver and etcd (envtest), a real
// kube-controller-manager whose HPA controller syncs every 5 seconds (as a
// cluster's would be tuned for), and a real Kafka broker:
//
//   - lag spike to scale: from producing a burst nobody consumes to the
//     Deployment's new replica count, with the policy's default 5 s sync;
//
//   - command to scale: from writing a scale command event to the HPA's new
//     minReplicas.
//
//     make bench-autoscale
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
	"github.com/eventpipe/eventpipe/controllers"
	"github.com/eventpipe/eventpipe/internal/kafka"
	_ "github.com/eventpipe/eventpipe/workers/processors/all"
)

const (
	hpaSyncPeriod = 5 * time.Second
	waitLimit     = 2 * time.Minute
	poll          = 50 * time.Millisecond
	// kedaPolling is KEDA's default polling interval, for comparison.
	kedaPolling = 30 * time.Second
	// syncPeriod is the policies' sync period, the default.
	syncPeriod = 5 * time.Second
	// settle is how long a new pipeline is left alone before a spike.
	settle = 6 * time.Second
	// idleWindow is how long reconciles are counted while nothing happens.
	idleWindow = 10 * time.Second
)

type bench struct {
	c     client.Client
	kafka kafka.Config
}

func main() {
	trials := flag.Int("trials", 5, "measurements of each kind")
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	if err := run(*trials); err != nil {
		fmt.Fprintln(os.Stderr, "bench-autoscale:", err)
		os.Exit(1)
	}
}

func run(trials int) error {
	bootstrap, kcmBinary := os.Getenv("KAFKA_BOOTSTRAP"), os.Getenv("KUBE_CONTROLLER_MANAGER")
	if bootstrap == "" || kcmBinary == "" {
		return errors.New("KAFKA_BOOTSTRAP or KUBE_CONTROLLER_MANAGER is not set: run `make bench-autoscale`")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("config", "crd", "bases")},
		ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("start envtest: %w", err)
	}
	defer func() { _ = env.Stop() }()
	kcm, err := startControllerManager(env, kcmBinary)
	if err != nil {
		return err
	}
	defer func() { _ = kcm.Process.Kill(); _ = kcm.Wait() }()

	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = eventpipev1alpha1.AddToScheme(scheme)
	b := bench{kafka: kafka.Config{BootstrapServers: kafka.ParseBootstrapServers(bootstrap), ClientID: "bench"}}
	if b.c, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	if err := startManager(ctx, cfg, scheme, b.kafka); err != nil {
		return err
	}

	fmt.Printf("HPA sync period %s, policy sync period 5s (default), %d trials each\n\n", hpaSyncPeriod, trials)
	var spikes, commands []time.Duration
	for i := range trials {
		d, err := b.lagSpike(ctx, i)
		if err != nil {
			return err
		}
		fmt.Printf("  lag spike %d: Deployment scaled after %s\n", i+1, d.Round(time.Millisecond))
		spikes = append(spikes, d)
	}
	if commands, err = b.commandsToScale(ctx, trials); err != nil {
		return err
	}
	before := reconcileCounts()
	time.Sleep(idleWindow)
	after := reconcileCounts()
	fmt.Printf("\nreconciles while idle for %s, with %d policies:", idleWindow, trials+1)
	for _, k := range []string{"eventstream", "consumer", "autoscalepolicy"} {
		fmt.Printf(" %s %.0f", k, after[k]-before[k])
	}
	fmt.Println()
	report("lag spike -> Deployment replicas", spikes, 10*time.Second)
	report("scale command -> HPA minReplicas", commands, 3*time.Second)
	return nil
}

// lagSpike sets up a fresh pipeline, bursts events into it and times how
// long the Deployment takes to reach the new replica count.
func (b bench) lagSpike(ctx context.Context, i int) (time.Duration, error) {
	ns, err := b.pipeline(ctx, fmt.Sprintf("spike-%d", i), nil, eventpipev1alpha1.Trigger{
		Type: eventpipev1alpha1.TriggerConsumerLag, LagPerReplica: ptr.To[int64](10)})
	if err != nil {
		return 0, err
	}
	if err := b.waitReplicas(ctx, ns, 1); err != nil {
		return 0, err
	}
	// Let the set-up settle, so the spike lands at a random point of the
	// policy's sync period, as a real one would, not right after a reconcile
	// that the set-up itself triggered.
	time.Sleep(settle + time.Duration(i)*syncPeriod/time.Duration(7))
	start := time.Now()
	if err := b.produce(ns+".input", 200); err != nil {
		return 0, err
	}
	if err := b.waitReplicas(ctx, ns, 4); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// commandsToScale times scale commands alternating between two counts.
func (b bench) commandsToScale(ctx context.Context, trials int) ([]time.Duration, error) {
	ns, err := b.pipeline(ctx, "commands", []string{"commands"}, eventpipev1alpha1.Trigger{
		Type: eventpipev1alpha1.TriggerCommands, Stream: "commands"})
	if err != nil {
		return nil, err
	}
	if err := b.waitReplicas(ctx, ns, 1); err != nil {
		return nil, err
	}
	var out []time.Duration
	for i := range trials {
		want := int32(2 + i%2)
		start := time.Now()
		if err := b.sendCommand(ns+".commands", want); err != nil {
			return nil, err
		}
		if err := b.waitFloor(ctx, ns, want); err != nil {
			return nil, err
		}
		d := time.Since(start)
		fmt.Printf("  command %d: HPA minReplicas %d after %s\n", i+1, want, d.Round(time.Millisecond))
		out = append(out, d)
	}
	return out, nil
}

// pipeline creates a namespace with a 4-partition input stream, extra
// streams, a Consumer and its AutoscalePolicy, and returns the namespace.
func (b bench) pipeline(
	ctx context.Context,
	prefix string,
	extra []string,
	t eventpipev1alpha1.Trigger,
) (string, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := b.c.Create(ctx, ns); err != nil {
		return "", fmt.Errorf("create namespace: %w", err)
	}
	for _, name := range append([]string{"input"}, extra...) {
		s := &eventpipev1alpha1.EventStream{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: name},
			Spec: eventpipev1alpha1.EventStreamSpec{Partitions: 4}}
		if err := b.c.Create(ctx, s); err != nil {
			return "", fmt.Errorf("create EventStream %s: %w", name, err)
		}
		if err := wait(ctx, func() (bool, error) {
			err := b.c.Get(ctx, client.ObjectKeyFromObject(s), s)
			return err == nil && meta.IsStatusConditionTrue(s.Status.Conditions, eventpipev1alpha1.ConditionReady), nil
		}); err != nil {
			return "", fmt.Errorf("wait for EventStream %s: %w", name, err)
		}
	}
	objs := []client.Object{
		&eventpipev1alpha1.Consumer{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "workers"},
			Spec: eventpipev1alpha1.ConsumerSpec{Stream: "input", Processor: "passthrough"}},
		&eventpipev1alpha1.AutoscalePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "workers"},
			Spec: eventpipev1alpha1.AutoscalePolicySpec{Target: "workers", MinReplicas: 1, MaxReplicas: 4,
				Triggers:       []eventpipev1alpha1.Trigger{t},
				ScaleDown:      &eventpipev1alpha1.ScalingRules{Stabilization: &metav1.Duration{}},
				CircuitBreaker: &eventpipev1alpha1.CircuitBreaker{MaxChanges: ptr.To[int32](50)},
			}},
	}
	for _, o := range objs {
		if err := b.c.Create(ctx, o); err != nil {
			return "", fmt.Errorf("create %T: %w", o, err)
		}
	}
	return ns.Name, nil
}

func (b bench) waitReplicas(ctx context.Context, ns string, n int32) error {
	return wait(ctx, func() (bool, error) {
		d := &appsv1.Deployment{}
		err := b.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "workers"}, d)
		return err == nil && d.Spec.Replicas != nil && *d.Spec.Replicas == n, nil
	})
}

func (b bench) waitFloor(ctx context.Context, ns string, n int32) error {
	return wait(ctx, func() (bool, error) {
		h := &autoscalingv2.HorizontalPodAutoscaler{}
		err := b.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "workers"}, h)
		return err == nil && h.Spec.MinReplicas != nil && *h.Spec.MinReplicas == n, nil
	})
}

func (b bench) produce(topic string, n int) error {
	cfg, err := b.kafka.Sarama()
	if err != nil {
		return err
	}
	p, err := sarama.NewSyncProducer(b.kafka.BootstrapServers, cfg)
	if err != nil {
		return fmt.Errorf("create producer: %w", err)
	}
	defer func() { _ = p.Close() }()
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprint(i)),
			Value: sarama.StringEncoder("{}")}
	}
	return p.SendMessages(msgs)
}

func (b bench) sendCommand(topic string, desired int32) error {
	ev := cloudevents.NewEvent()
	ev.SetID(fmt.Sprintf("bench-%d", time.Now().UnixNano()))
	ev.SetSource("bench/autoscale")
	ev.SetType(eventpipev1alpha1.ScaleCommandType)
	ev.SetTime(time.Now())
	if err := ev.SetData(cloudevents.ApplicationJSON,
		eventpipev1alpha1.ScaleCommand{Target: "workers", DesiredReplicas: &desired, Reason: "bench"}); err != nil {
		return err
	}
	msg := &sarama.ProducerMessage{Topic: topic}
	if err := kafka_sarama.WriteProducerMessage(context.Background(), binding.ToMessage(&ev), msg); err != nil {
		return err
	}
	cfg, err := b.kafka.Sarama()
	if err != nil {
		return err
	}
	p, err := sarama.NewSyncProducer(b.kafka.BootstrapServers, cfg)
	if err != nil {
		return fmt.Errorf("create producer: %w", err)
	}
	defer func() { _ = p.Close() }()
	_, _, err = p.SendMessage(msg)
	return err
}

func reconcileCounts() map[string]float64 {
	out := map[string]float64{}
	mfs, _ := crmetrics.Registry.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" {
					out[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

func wait(ctx context.Context, done func() (bool, error)) error {
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
	return fmt.Errorf("not done after %s", waitLimit)
}

func report(what string, ds []time.Duration, goal time.Duration) {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	median := ds[len(ds)/2]
	fmt.Printf("\n%s: median %s, min %s, max %s (goal: median under %s; KEDA polls every %s)\n",
		what, median.Round(time.Millisecond), ds[0].Round(time.Millisecond),
		ds[len(ds)-1].Round(time.Millisecond), goal, kedaPolling)
}

// startManager runs the reconcilers in this process until ctx ends.
func startManager(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme, kc kafka.Config) error {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	if err := controllers.SetupIndexes(ctx, mgr); err != nil {
		return err
	}
	admin := controllers.NewKafkaAdmin(kc, 4)
	topics := kafka.NewTopicCreator(kc)
	if err := mgr.Add(topics); err != nil {
		return err
	}
	setups := []interface{ SetupWithManager(ctrl.Manager) error }{
		&controllers.EventStreamReconciler{Client: mgr.GetClient(), Kafka: admin, Topics: topics,
			Recorder: mgr.GetEventRecorder("eventpipe-eventstream")},
		&controllers.ConsumerReconciler{Client: mgr.GetClient(), Kafka: admin, WorkerKafka: kc,
			WorkerImage: "bench/worker", Recorder: mgr.GetEventRecorder("eventpipe-consumer")},
		&controllers.AutoscalePolicyReconciler{Client: mgr.GetClient(), Kafka: admin,
			Commands: controllers.NewCommandListener(kc), Recorder: mgr.GetEventRecorder("eventpipe-autoscalepolicy")},
	}
	for _, s := range setups {
		if err := s.SetupWithManager(mgr); err != nil {
			return err
		}
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager stopped:", err)
		}
	}()
	return nil
}

// startControllerManager runs kube-controller-manager against envtest with
// the HPA controller's sync period of the benchmark.
func startControllerManager(env *envtest.Environment, binary string) (*exec.Cmd, error) {
	user, err := env.AddUser(envtest.User{Name: "kube-controller-manager", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("add envtest user: %w", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return nil, fmt.Errorf("render kubeconfig: %w", err)
	}
	dir, err := os.MkdirTemp("", "eventpipe-bench-kcm-")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, "--kubeconfig="+path, "--controllers=*,-serviceaccount-token",
		"--horizontal-pod-autoscaler-sync-period="+hpaSyncPeriod.String(), "--leader-elect=false",
		"--secure-port=0", "--use-service-account-credentials=false")
	log, err := os.Create(filepath.Join(dir, "kube-controller-manager.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start kube-controller-manager: %w", err)
	}
	return cmd, nil
}
