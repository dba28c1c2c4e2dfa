package autoscale

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
)

// pipeline is one namespace with an input stream, a Consumer reading it and
// an AutoscalePolicy scaling the Consumer.
type pipeline struct {
	ns       string
	consumer string
	topic    string
	group    string
}

// newPipeline creates the streams, four partitions each, and the Consumer.
func newPipeline(prefix string, extraStreams ...string) pipeline {
	const partitions = 4
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	Expect(k8sClient.Create(suiteCtx, ns)).To(Succeed())
	p := pipeline{ns: ns.Name, consumer: "workers", topic: ns.Name + ".input", group: ns.Name + ".workers"}
	for _, name := range append([]string{"input"}, extraStreams...) {
		s := &eventpipev1alpha1.EventStream{
			ObjectMeta: metav1.ObjectMeta{Namespace: p.ns, Name: name},
			Spec: eventpipev1alpha1.EventStreamSpec{Partitions: partitions,
				DeletionPolicy: eventpipev1alpha1.DeletionPolicyDelete},
		}
		Expect(k8sClient.Create(suiteCtx, s)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(suiteCtx, client.ObjectKeyFromObject(s), s)).To(Succeed())
			g.Expect(meta.IsStatusConditionTrue(s.Status.Conditions, eventpipev1alpha1.ConditionReady)).To(BeTrue())
		}, eventually, poll).Should(Succeed())
	}
	Expect(k8sClient.Create(suiteCtx, &eventpipev1alpha1.Consumer{
		ObjectMeta: metav1.ObjectMeta{Namespace: p.ns, Name: p.consumer},
		Spec: eventpipev1alpha1.ConsumerSpec{Stream: "input", Processor: "passthrough",
			Replicas: ptr.To[int32](1)},
	})).To(Succeed())
	Eventually(func(g Gomega) { p.deployment(g) }, eventually, poll).Should(Succeed())
	return p
}

func (p pipeline) deployment(g Gomega) *appsv1.Deployment {
	d := &appsv1.Deployment{}
	g.Expect(k8sClient.Get(suiteCtx, client.ObjectKey{Namespace: p.ns, Name: p.consumer}, d)).To(Succeed())
	return d
}

func (p pipeline) createPolicy(mutate func(*eventpipev1alpha1.AutoscalePolicySpec)) {
	policy := &eventpipev1alpha1.AutoscalePolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: p.ns, Name: p.consumer},
		Spec: eventpipev1alpha1.AutoscalePolicySpec{
			Target:      p.consumer,
			MinReplicas: 1,
			MaxReplicas: 8,
			SyncPeriod:  &metav1.Duration{Duration: time.Second},
			ScaleUp:     &eventpipev1alpha1.ScalingRules{MaxStep: ptr.To[int32](4), Stabilization: &metav1.Duration{}},
			ScaleDown: &eventpipev1alpha1.ScalingRules{MaxStep: ptr.To[int32](1),
				Stabilization: &metav1.Duration{Duration: 3 * time.Second}},
		},
	}
	mutate(&policy.Spec)
	Expect(k8sClient.Create(suiteCtx, policy)).To(Succeed())
}

func (p pipeline) policy(g Gomega) *eventpipev1alpha1.AutoscalePolicy {
	out := &eventpipev1alpha1.AutoscalePolicy{}
	g.Expect(k8sClient.Get(suiteCtx, client.ObjectKey{Namespace: p.ns, Name: p.consumer}, out)).To(Succeed())
	return out
}

// expectReplicas waits for the HPA's floor and the Deployment's replicas.
func (p pipeline) expectReplicas(floor int32) {
	Eventually(func(g Gomega) {
		hpa := &autoscalingv2.HorizontalPodAutoscaler{}
		g.Expect(k8sClient.Get(suiteCtx, client.ObjectKey{Namespace: p.ns, Name: p.consumer}, hpa)).To(Succeed())
		g.Expect(hpa.Spec.MinReplicas).To(HaveValue(Equal(floor)))
		g.Expect(p.deployment(g).Spec.Replicas).To(HaveValue(Equal(floor)), "the HPA controller scales the Deployment")
	}, eventually, poll).Should(Succeed())
}

func (p pipeline) condition(g Gomega, t string) metav1.Condition {
	c := meta.FindStatusCondition(p.policy(g).Status.Conditions, t)
	g.Expect(c).NotTo(BeNil(), "condition %s", t)
	return *c
}

func (p pipeline) expectEvent(eventType, reason string) {
	Eventually(func(g Gomega) {
		var list eventsv1.EventList
		g.Expect(k8sClient.List(suiteCtx, &list, client.InNamespace(p.ns))).To(Succeed())
		var reasons []string
		for _, e := range list.Items {
			if e.Regarding.Kind == "AutoscalePolicy" && e.Type == eventType {
				reasons = append(reasons, e.Reason)
			}
		}
		g.Expect(reasons).To(ContainElement(reason))
	}, eventually, poll).Should(Succeed())
}

func produce(topic string, n int) {
	cfg, err := kafkaCfg.Sarama()
	Expect(err).NotTo(HaveOccurred())
	producer, err := sarama.NewSyncProducer(kafkaCfg.BootstrapServers, cfg)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = producer.Close() }()
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprint(i)),
			Value: sarama.StringEncoder("{}")}
	}
	Expect(producer.SendMessages(msgs)).To(Succeed())
}

// sendCommand writes a scale command CloudEvent in binary mode.
func sendCommand(topic, target string, desired int32) {
	ev := cloudevents.NewEvent()
	ev.SetID(fmt.Sprintf("cmd-%d", time.Now().UnixNano()))
	ev.SetSource("test/autoscale")
	ev.SetType(eventpipev1alpha1.ScaleCommandType)
	ev.SetTime(time.Now())
	Expect(ev.SetData(cloudevents.ApplicationJSON, eventpipev1alpha1.ScaleCommand{
		Target: target, DesiredReplicas: ptr.To(desired), Reason: "test burst",
	})).To(Succeed())
	msg := &sarama.ProducerMessage{Topic: topic}
	Expect(kafka_sarama.WriteProducerMessage(context.Background(), binding.ToMessage(&ev), msg)).To(Succeed())
	cfg, err := kafkaCfg.Sarama()
	Expect(err).NotTo(HaveOccurred())
	producer, err := sarama.NewSyncProducer(kafkaCfg.BootstrapServers, cfg)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = producer.Close() }()
	_, _, err = producer.SendMessage(msg)
	Expect(err).NotTo(HaveOccurred())
}

// commitToEnd commits the group's offsets at the end of every partition, as a
// consumer that caught up would.
func commitToEnd(group, topic string) {
	cfg, err := kafkaCfg.Sarama()
	Expect(err).NotTo(HaveOccurred())
	c, err := sarama.NewClient(kafkaCfg.BootstrapServers, cfg)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = c.Close() }()
	om, err := sarama.NewOffsetManagerFromClient(group, c)
	Expect(err).NotTo(HaveOccurred())
	partitions, err := c.Partitions(topic)
	Expect(err).NotTo(HaveOccurred())
	for _, part := range partitions {
		end, err := c.GetOffset(topic, part, sarama.OffsetNewest)
		Expect(err).NotTo(HaveOccurred())
		pom, err := om.ManagePartition(topic, part)
		Expect(err).NotTo(HaveOccurred())
		pom.MarkOffset(end, "")
		defer func() { _ = pom.Close() }()
	}
	om.Commit()
	Expect(om.Close()).To(Succeed())
}

var _ = Describe("AutoscalePolicy", Ordered, func() {
	Context("when lag builds up and drains", Ordered, func() {
		var p pipeline
		BeforeAll(func() {
			p = newPipeline("lag")
			p.createPolicy(func(s *eventpipev1alpha1.AutoscalePolicySpec) {
				s.Triggers = []eventpipev1alpha1.Trigger{{Type: eventpipev1alpha1.TriggerConsumerLag,
					LagPerReplica: ptr.To[int64](10), ActivationLag: 5}}
			})
			p.expectReplicas(1)
		})

		It("should raise the floor and the Deployment with it, no higher than the partitions", func() {
			start := time.Now()
			produce(p.topic, 200)
			p.expectReplicas(4)
			GinkgoWriter.Printf("lag spike to 4 replicas in %s\n", time.Since(start))
			got := p.policy(Default)
			Expect(got.Status.MaxReplicas).To(BeEquivalentTo(4), "8 asked for, 4 partitions")
			Expect(got.Status.Lag).To(BeEquivalentTo(200))
			Expect(p.condition(Default, eventpipev1alpha1.ConditionActive).Status).To(Equal(metav1.ConditionTrue))
			p.expectEvent(corev1.EventTypeNormal, eventpipev1alpha1.ReasonFloorChanged)
			Expect(metricValue("eventpipe_autoscale_floor_replicas", p.ns)).To(Equal(4.0))
			Expect(metricValue("eventpipe_autoscale_changes_total", p.ns)).To(BeNumerically(">=", 1))

			// The Consumer reconciler leaves the HPA's replica count alone.
			Consistently(func(g Gomega) {
				g.Expect(p.deployment(g).Spec.Replicas).To(HaveValue(BeEquivalentTo(4)))
			}, 3*time.Second, poll).Should(Succeed())
		})

		It("should lower the floor by at most maxStep per stabilization window as lag drains", func() {
			commitToEnd(p.group, p.topic)
			p.expectReplicas(1)
			var downs []eventpipev1alpha1.ScaleDecision
			for _, d := range p.policy(Default).Status.Decisions {
				if d.To < d.From {
					downs = append(downs, d)
				}
			}
			Expect(downs).To(HaveLen(3), "4 -> 3 -> 2 -> 1, one replica a step")
			for i, d := range downs {
				Expect(d.From - d.To).To(BeEquivalentTo(1))
				if i > 0 {
					Expect(d.Time.Sub(downs[i-1].Time.Time)).To(BeNumerically(">=", 3*time.Second-10*time.Millisecond))
				}
			}
		})
	})

	Context("when scale commands flap", func() {
		It("should open the breaker, hold the Deployment, then half-open and let one change through", func() {
			p := newPipeline("flap", "commands")
			p.createPolicy(func(s *eventpipev1alpha1.AutoscalePolicySpec) {
				s.Triggers = []eventpipev1alpha1.Trigger{{Type: eventpipev1alpha1.TriggerCommands, Stream: "commands"}}
				s.ScaleDown.Stabilization = &metav1.Duration{}
				s.ScaleDown.MaxStep = ptr.To[int32](4)
				s.CircuitBreaker = &eventpipev1alpha1.CircuitBreaker{MaxChanges: ptr.To[int32](2),
					Window: &metav1.Duration{Duration: time.Minute}, OpenFor: &metav1.Duration{Duration: 5 * time.Second}}
			})
			p.expectReplicas(1)
			commands := p.ns + ".commands"

			sendCommand(commands, p.consumer, 3)
			p.expectReplicas(3)
			sendCommand(commands, p.consumer, 1)
			p.expectReplicas(1)
			sendCommand(commands, p.consumer, 3)

			Eventually(func(g Gomega) {
				c := p.condition(g, eventpipev1alpha1.ConditionBreakerOpen)
				g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
				g.Expect(c.Reason).To(Equal(eventpipev1alpha1.ReasonFlapping))
			}, eventually, poll).Should(Succeed())
			p.expectEvent(corev1.EventTypeWarning, eventpipev1alpha1.ReasonFlapping)
			Expect(p.policy(Default).Status.Breaker.State).To(Equal(eventpipev1alpha1.BreakerOpen))
			Consistently(func(g Gomega) {
				g.Expect(p.deployment(g).Spec.Replicas).To(HaveValue(BeEquivalentTo(1)))
			}, 3*time.Second, poll).Should(Succeed(), "the breaker holds the floor")

			// After openFor the breaker half-opens and lets the command through.
			p.expectReplicas(3)
			Expect(p.policy(Default).Status.Breaker.State).To(Equal(eventpipev1alpha1.BreakerHalfOpen))
			p.expectEvent(corev1.EventTypeNormal, eventpipev1alpha1.ReasonBreakerHalfOpen)
			Expect(metricValue("eventpipe_autoscale_refused_total", p.ns)).To(BeNumerically(">=", 1))
		})
	})

	Context("when the policy is paused", func() {
		It("should change nothing while lag grows", func() {
			p := newPipeline("paused")
			p.createPolicy(func(s *eventpipev1alpha1.AutoscalePolicySpec) {
				s.Paused = true
				s.Triggers = []eventpipev1alpha1.Trigger{{Type: eventpipev1alpha1.TriggerConsumerLag,
					LagPerReplica: ptr.To[int64](10)}}
			})
			p.expectReplicas(1)
			produce(p.topic, 200)
			Eventually(func(g Gomega) {
				g.Expect(p.policy(g).Status.Lag).To(BeEquivalentTo(200))
				g.Expect(p.condition(g, eventpipev1alpha1.ConditionPaused).Status).To(Equal(metav1.ConditionTrue))
			}, eventually, poll).Should(Succeed())
			Consistently(func(g Gomega) {
				g.Expect(p.policy(g).Status.Floor).To(BeEquivalentTo(1))
				g.Expect(p.deployment(g).Spec.Replicas).To(HaveValue(BeEquivalentTo(1)))
			}, 3*time.Second, poll).Should(Succeed())
		})
	})

	// Last: it stops the suite's broker.
	Context("when the broker stops", func() {
		It("should fall back after failureThreshold failures and resume when it is back", func() {
			stateDir := os.Getenv("KAFKA_STATE_DIR")
			if stateDir == "" {
				Skip("KAFKA_STATE_DIR is not set: this spec stops and restarts the broker, " +
					"so it runs only with a broker hack/with-kafka.sh started (make test-integration)")
			}
			p := newPipeline("down")
			p.createPolicy(func(s *eventpipev1alpha1.AutoscalePolicySpec) {
				s.Triggers = []eventpipev1alpha1.Trigger{{Type: eventpipev1alpha1.TriggerConsumerLag,
					LagPerReplica: ptr.To[int64](10)}}
				s.FallbackReplicas = ptr.To[int32](2)
				s.CircuitBreaker = &eventpipev1alpha1.CircuitBreaker{FailureThreshold: ptr.To[int32](2),
					OpenFor: &metav1.Duration{Duration: 3 * time.Second}}
			})
			p.expectReplicas(1)

			kafkaScript("kill")
			DeferCleanup(func() { kafkaScript("start") })
			p.expectReplicas(2)
			Expect(metricValue("eventpipe_autoscale_breaker_state", p.ns)).To(Equal(2.0), "Open")
			Expect(metricValue("eventpipe_autoscale_lag_read_errors_total", p.ns)).To(BeNumerically(">=", 2))
			Eventually(func(g Gomega) {
				c := p.condition(g, eventpipev1alpha1.ConditionFallback)
				g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
				g.Expect(c.Message).To(ContainSubstring("cannot be read"))
				g.Expect(p.condition(g, eventpipev1alpha1.ConditionBreakerOpen).Reason).
					To(Equal(eventpipev1alpha1.ReasonLagUnreadable))
			}, eventually, poll).Should(Succeed())

			kafkaScript("start")
			p.expectReplicas(1)
			Eventually(func(g Gomega) {
				g.Expect(p.condition(g, eventpipev1alpha1.ConditionFallback).Status).To(Equal(metav1.ConditionFalse))
			}, eventually, poll).Should(Succeed())
		})
	})
})

// kafkaScript runs hack/kafka.sh against the broker of this test run.
func kafkaScript(verb string) {
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	Expect(err).NotTo(HaveOccurred())
	cmd := exec.Command(filepath.Join(root, "hack", "kafka.sh"), verb)
	cmd.Env = append(os.Environ(), "KAFKA_BOOTSTRAP=")
	out, err := cmd.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), string(out))
	GinkgoWriter.Println(strings.TrimSpace(string(out)))
}

// metricValue sums the manager's metric name over the series of namespace,
// from the registry the in-process manager serves.
func metricValue(name, namespace string) float64 {
	families, err := crmetrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "namespace" && l.GetValue() == namespace {
					sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}
