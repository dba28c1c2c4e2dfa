package controllers

import (
	"encoding/json"
	"fmt"

	"github.com/IBM/sarama"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
	workerconfig "github.com/eventpipe/eventpipe/workers/config"
)

func newConsumer(ns, name string, mutate func(*eventpipev1alpha1.Consumer)) *eventpipev1alpha1.Consumer {
	c := &eventpipev1alpha1.Consumer{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: eventpipev1alpha1.ConsumerSpec{
			Stream:    "orders",
			Processor: "passthrough",
			Outputs:   map[string]string{"out": "orders-routed"},
			Delivery:  eventpipev1alpha1.Delivery{DeadLetterStream: "orders-dlq"},
		},
	}
	if mutate != nil {
		mutate(c)
	}
	Expect(k8sClient.Create(suiteCtx, c)).To(Succeed())
	return c
}

func getConsumer(g Gomega, c *eventpipev1alpha1.Consumer) *eventpipev1alpha1.Consumer {
	out := &eventpipev1alpha1.Consumer{}
	g.Expect(k8sClient.Get(suiteCtx, client.ObjectKeyFromObject(c), out)).To(Succeed())
	return out
}

// consumerCondition waits for condition t to have status and reason.
func consumerCondition(
	c *eventpipev1alpha1.Consumer,
	t string,
	status metav1.ConditionStatus,
	reason string,
) metav1.Condition {
	var found metav1.Condition
	Eventually(func(g Gomega) {
		got := getConsumer(g, c)
		cond := meta.FindStatusCondition(got.Status.Conditions, t)
		g.Expect(cond).NotTo(BeNil())
		g.Expect(cond.Reason).To(Equal(reason), cond.Message)
		g.Expect(cond.Status).To(Equal(status))
		g.Expect(cond.ObservedGeneration).To(Equal(got.Generation))
		found = *cond
	}, eventually, poll).Should(Succeed())
	return found
}

func getDeployment(g Gomega, c *eventpipev1alpha1.Consumer) *appsv1.Deployment {
	d := &appsv1.Deployment{}
	g.Expect(k8sClient.Get(suiteCtx, client.ObjectKeyFromObject(c), d)).To(Succeed())
	return d
}

// readyStreams creates EventStreams and waits until each is Ready.
func readyStreams(ns string, names ...string) {
	for _, n := range names {
		s := newStream(ns, n, nil)
		readyCondition(s, metav1.ConditionTrue, eventpipev1alpha1.ReasonTopicReady)
	}
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
			Value: sarama.StringEncoder(`{"n":` + fmt.Sprint(i) + `}`)}
	}
	Expect(producer.SendMessages(msgs)).To(Succeed())
}

// expectConsumerEvent waits for an event about c with reason and type.
func expectConsumerEvent(c *eventpipev1alpha1.Consumer, eventType, reason string) {
	expectEvent(&eventpipev1alpha1.EventStream{ObjectMeta: c.ObjectMeta}, eventType, reason)
}

var _ = Describe("Consumer", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace("cons") })

	Context("when its streams are Ready", func() {
		It("should render the worker Deployment, ConfigMap, Service and PodDisruptionBudget", func() {
			readyStreams(ns, "orders", "orders-routed", "orders-dlq")
			c := newConsumer(ns, "router", func(c *eventpipev1alpha1.Consumer) {
				c.Spec.Replicas = ptr.To[int32](2)
				c.Spec.Delivery.Guarantee = eventpipev1alpha1.DeliveryIdempotent
				c.Spec.Delivery.DedupMaxKeys = ptr.To[int64](200000)
				c.Spec.Settings = &apiextensionsv1.JSON{Raw: []byte(`{"routes":{"com.example.order.*":"out"}}`)}
				c.Spec.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}
			})
			consumerCondition(c, eventpipev1alpha1.ConditionStreamsReady, metav1.ConditionTrue,
				eventpipev1alpha1.ReasonStreamsReady)

			var d *appsv1.Deployment
			Eventually(func(g Gomega) { d = getDeployment(g, c) }, eventually, poll).Should(Succeed())
			Expect(d.Spec.Replicas).To(HaveValue(BeEquivalentTo(2)))
			Expect(metav1.IsControlledBy(d, getConsumer(Default, c))).To(BeTrue())
			pod := d.Spec.Template.Spec
			Expect(pod.SecurityContext.RunAsNonRoot).To(HaveValue(BeTrue()))
			Expect(pod.AutomountServiceAccountToken).To(HaveValue(BeFalse()))
			Expect(pod.Containers).To(HaveLen(1))
			w := pod.Containers[0]
			Expect(w.Image).To(Equal(testWorkerImage))
			Expect(w.Args).To(ContainElements(
				"--processor=passthrough",
				"--config="+workerconfig.MountPath+"/"+workerconfig.FileName,
				"--kafka-bootstrap-servers="+kafkaCfg.BootstrapServers[0],
			))
			Expect(w.SecurityContext.ReadOnlyRootFilesystem).To(HaveValue(BeTrue()))
			Expect(w.SecurityContext.AllowPrivilegeEscalation).To(HaveValue(BeFalse()))
			Expect(w.LivenessProbe.HTTPGet.Path).To(Equal("/healthz"))
			Expect(w.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
			Expect(w.Resources.Requests.Cpu().String()).To(Equal("50m"))
			Expect(w.Resources.Limits.Memory().String()).To(Equal("128Mi"))
			Expect(w.Env).To(HaveLen(1))
			Expect(w.Env[0].Name).To(Equal(workerconfig.MemoryLimitEnv))
			Expect(w.Env[0].ValueFrom.ResourceFieldRef).NotTo(BeNil())
			Expect(w.Env[0].ValueFrom.ResourceFieldRef.ContainerName).To(Equal(w.Name))
			Expect(w.Env[0].ValueFrom.ResourceFieldRef.Resource).To(Equal("limits.memory"))
			Expect(d.Spec.Template.Annotations).To(HaveKey(annotationConfigHash))

			cm := &corev1.ConfigMap{}
			Expect(k8sClient.Get(suiteCtx, client.ObjectKeyFromObject(c), cm)).To(Succeed())
			var wc workerconfig.Worker
			Expect(json.Unmarshal([]byte(cm.Data[workerconfig.FileName]), &wc)).To(Succeed())
			Expect(wc.InputTopic).To(Equal(ns + ".orders"))
			Expect(wc.Outputs).To(Equal(map[string]string{"out": ns + ".orders-routed"}))
			Expect(wc.DeadLetterTopic).To(Equal(ns + ".orders-dlq"))
			Expect(wc.ConsumerGroup).To(Equal(ns + ".router"))
			Expect(wc.Delivery.Guarantee).To(Equal(workerconfig.Idempotent))
			Expect(wc.Delivery.MaxAttempts).To(Equal(5))
			Expect(wc.DedupTopic).To(Equal(ns + ".router.dedup"))
			Expect(wc.Delivery.DedupMaxKeys).To(BeEquivalentTo(200000))
			Expect(string(wc.Settings)).To(MatchJSON(`{"routes":{"com.example.order.*":"out"}}`))
			Expect(wc.Validate()).To(Succeed())

			svc := &corev1.Service{}
			Expect(k8sClient.Get(suiteCtx, client.ObjectKey{Namespace: ns, Name: "router-metrics"}, svc)).To(Succeed())
			Expect(svc.Spec.Ports).To(HaveLen(1))
			Expect(svc.Spec.Ports[0].Port).To(BeEquivalentTo(workerconfig.MetricsPort))
			Expect(svc.Spec.Selector).To(Equal(map[string]string{LabelConsumer: "router"}))

			pdb := &policyv1.PodDisruptionBudget{}
			Expect(k8sClient.Get(suiteCtx, client.ObjectKeyFromObject(c), pdb)).To(Succeed())
			Expect(pdb.Spec.MaxUnavailable.IntValue()).To(Equal(1))

			// No kubelet runs here: the workers are not ready until the
			// Deployment says so.
			ready := consumerCondition(c, eventpipev1alpha1.ConditionReady, metav1.ConditionFalse,
				eventpipev1alpha1.ReasonWorkersProgressing)
			Expect(ready.Message).To(Equal("0 of 2 worker pods are ready."))

			d = getDeployment(Default, c)
			d.Status.Replicas, d.Status.ReadyReplicas, d.Status.ObservedGeneration = 2, 2, d.Generation
			Expect(k8sClient.Status().Update(suiteCtx, d)).To(Succeed())
			consumerCondition(c, eventpipev1alpha1.ConditionReady, metav1.ConditionTrue,
				eventpipev1alpha1.ReasonConsumerReady)
			Expect(getConsumer(Default, c).Status.ReadyReplicas).To(BeEquivalentTo(2))
		})

		It("should roll the workers when the configuration changes", func() {
			readyStreams(ns, "orders", "orders-routed", "orders-dlq")
			c := newConsumer(ns, "roller", nil)
			var hash string
			Eventually(func(g Gomega) {
				hash = getDeployment(g, c).Spec.Template.Annotations[annotationConfigHash]
				g.Expect(hash).NotTo(BeEmpty())
			}, eventually, poll).Should(Succeed())

			got := getConsumer(Default, c)
			base := got.DeepCopy()
			got.Spec.Delivery.MaxAttempts = 9
			Expect(k8sClient.Patch(suiteCtx, got, client.MergeFrom(base))).To(Succeed())
			Eventually(func(g Gomega) {
				g.Expect(getDeployment(g, c).Spec.Template.Annotations[annotationConfigHash]).NotTo(Equal(hash))
			}, eventually, poll).Should(Succeed())
		})
	})

	Context("when a stream it names is missing", func() {
		It("should wait, saying which, and render nothing until the stream is Ready", func() {
			readyStreams(ns, "orders", "orders-dlq")
			c := newConsumer(ns, "waiting", nil)

			cond := consumerCondition(c, eventpipev1alpha1.ConditionStreamsReady, metav1.ConditionFalse,
				eventpipev1alpha1.ReasonStreamNotFound)
			Expect(cond.Message).To(ContainSubstring("Waiting for EventStream orders-routed"))
			consumerCondition(c, eventpipev1alpha1.ConditionReady, metav1.ConditionFalse,
				eventpipev1alpha1.ReasonStreamNotFound)
			Consistently(func() bool {
				return apierrors.IsNotFound(k8sClient.Get(suiteCtx, client.ObjectKeyFromObject(c), &appsv1.Deployment{}))
			}, testResyncInterval, poll).Should(BeTrue(), "no Deployment may point at a missing topic")

			readyStreams(ns, "orders-routed")
			Eventually(func(g Gomega) { getDeployment(g, c) }, eventually, poll).Should(Succeed())
		})
	})

	Context("when the processor refuses its settings", func() {
		It("should report the bad setting and render nothing", func() {
			readyStreams(ns, "orders", "orders-routed", "orders-dlq")
			c := newConsumer(ns, "badsettings", func(c *eventpipev1alpha1.Consumer) {
				c.Spec.Settings = &apiextensionsv1.JSON{Raw: []byte(`{"failTypes":{"com.example.*":"sometimes"}}`)}
			})
			cond := consumerCondition(c, eventpipev1alpha1.ConditionSettingsValid, metav1.ConditionFalse,
				eventpipev1alpha1.ReasonInvalidSettings)
			Expect(cond.Message).To(ContainSubstring(`failTypes["com.example.*"]`))
			expectConsumerEvent(c, corev1.EventTypeWarning, eventpipev1alpha1.ReasonInvalidSettings)
			Expect(apierrors.IsNotFound(k8sClient.Get(suiteCtx, client.ObjectKeyFromObject(c),
				&appsv1.Deployment{}))).To(BeTrue())
		})
	})

	Context("when an AutoscalePolicy targets it", func() {
		It("should leave the Deployment's replicas to the HorizontalPodAutoscaler", func() {
			readyStreams(ns, "orders", "orders-routed", "orders-dlq")
			c := newConsumer(ns, "scaled", func(c *eventpipev1alpha1.Consumer) { c.Spec.Replicas = ptr.To[int32](1) })
			Eventually(func(g Gomega) { getDeployment(g, c) }, eventually, poll).Should(Succeed())

			Expect(k8sClient.Create(suiteCtx, &eventpipev1alpha1.AutoscalePolicy{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "scaled"},
				Spec: eventpipev1alpha1.AutoscalePolicySpec{
					Target: "scaled", MinReplicas: 1, MaxReplicas: 3,
					Triggers: []eventpipev1alpha1.Trigger{{Type: eventpipev1alpha1.TriggerCPU,
						TargetUtilization: ptr.To[int32](70)}},
				},
			})).To(Succeed())

			// What the HPA controller would do.
			d := getDeployment(Default, c)
			Expect(d.Spec.Template.Spec.Containers[0].Env).To(BeEmpty(),
				"worker env of a Consumer without a memory limit")
			base := d.DeepCopy()
			d.Spec.Replicas = ptr.To[int32](3)
			Expect(k8sClient.Patch(suiteCtx, d, client.MergeFrom(base))).To(Succeed())

			// Edit the Consumer so it is reconciled again, several times.
			for i := range 3 {
				got := getConsumer(Default, c)
				base := got.DeepCopy()
				got.Spec.Delivery.MaxAttempts = int32(6 + i)
				Expect(k8sClient.Patch(suiteCtx, got, client.MergeFrom(base))).To(Succeed())
			}
			Consistently(func(g Gomega) {
				g.Expect(getDeployment(g, c).Spec.Replicas).To(HaveValue(BeEquivalentTo(3)))
			}, 2*testResyncInterval, poll).Should(Succeed())
		})

		It("should apply spec.replicas when no policy targets it", func() {
			readyStreams(ns, "orders", "orders-routed", "orders-dlq")
			c := newConsumer(ns, "manual", func(c *eventpipev1alpha1.Consumer) { c.Spec.Replicas = ptr.To[int32](1) })
			Eventually(func(g Gomega) { getDeployment(g, c) }, eventually, poll).Should(Succeed())
			d := getDeployment(Default, c)
			base := d.DeepCopy()
			d.Spec.Replicas = ptr.To[int32](4)
			Expect(k8sClient.Patch(suiteCtx, d, client.MergeFrom(base))).To(Succeed())
			Eventually(func(g Gomega) {
				g.Expect(getDeployment(g, c).Spec.Replicas).To(HaveValue(BeEquivalentTo(1)))
			}, eventually, poll).Should(Succeed())
		})
	})

	Context("when events wait on its stream", func() {
		It("should report the consumer group's lag per partition", func() {
			readyStreams(ns, "orders", "orders-routed", "orders-dlq")
			produce(ns+".orders", 30)
			c := newConsumer(ns, "lagging", nil)

			Eventually(func(g Gomega) {
				got := getConsumer(g, c)
				g.Expect(got.Status.Lag).To(BeEquivalentTo(30))
				g.Expect(got.Status.PartitionLag).To(HaveLen(3))
				var sum int64
				for _, p := range got.Status.PartitionLag {
					sum += p.Lag
					g.Expect(p.Lag).To(BeNumerically("<=", got.Status.MaxPartitionLag))
				}
				g.Expect(sum).To(BeEquivalentTo(30))
				g.Expect(got.Status.LagTime).NotTo(BeNil())
			}, eventually, poll).Should(Succeed())
			consumerCondition(c, eventpipev1alpha1.ConditionLagKnown, metav1.ConditionTrue,
				eventpipev1alpha1.ReasonLagRead)

			produce(ns+".orders", 10)
			Eventually(func(g Gomega) {
				g.Expect(getConsumer(g, c).Status.Lag).To(BeEquivalentTo(40))
			}, eventually, poll).Should(Succeed())
		})
	})

	Context("when it is deleted with deleteConsumerGroup", func() {
		It("should delete the consumer group from Kafka", func() {
			readyStreams(ns, "orders", "orders-routed", "orders-dlq")
			c := newConsumer(ns, "ephemeral", func(c *eventpipev1alpha1.Consumer) { c.Spec.DeleteConsumerGroup = true })
			group := ns + ".ephemeral"
			Eventually(func(g Gomega) {
				g.Expect(getConsumer(g, c).Finalizers).To(ContainElement(eventpipev1alpha1.FinalizerConsumerGroup))
			}, eventually, poll).Should(Succeed())

			commitOffset(group, ns+".orders")
			Eventually(func(g Gomega) {
				groups, err := kafkaAdmin.ListConsumerGroups()
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(groups).To(HaveKey(group))
			}, eventually, poll).Should(Succeed())

			Expect(k8sClient.Delete(suiteCtx, c)).To(Succeed())
			Eventually(func() bool {
				return apierrors.IsNotFound(k8sClient.Get(suiteCtx, client.ObjectKeyFromObject(c), c))
			}, eventually, poll).Should(BeTrue())
			groups, err := kafkaAdmin.ListConsumerGroups()
			Expect(err).NotTo(HaveOccurred())
			Expect(groups).NotTo(HaveKey(group))
		})
	})
})

// commitOffset commits offset 0 of partition 0 for group, so the group exists
// in Kafka without a member.
func commitOffset(group, topic string) {
	cfg, err := kafkaCfg.Sarama()
	Expect(err).NotTo(HaveOccurred())
	c, err := sarama.NewClient(kafkaCfg.BootstrapServers, cfg)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = c.Close() }()
	om, err := sarama.NewOffsetManagerFromClient(group, c)
	Expect(err).NotTo(HaveOccurred())
	pom, err := om.ManagePartition(topic, 0)
	Expect(err).NotTo(HaveOccurred())
	pom.MarkOffset(0, "")
	om.Commit()
	Expect(pom.Close()).To(Succeed())
	Expect(om.Close()).To(Succeed())
}
