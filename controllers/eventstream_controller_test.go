package controllers

import (
	"errors"
	"fmt"

	"github.com/IBM/sarama"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
)

// kafkaTopic is a topic as the admin API describes it, read independently of
// the reconciler's own code.
type kafkaTopic struct {
	exists            bool
	partitions        int
	replicationFactor int
	// overrides are the configs set on the topic itself.
	overrides map[string]string
}

func describeKafkaTopic(g Gomega, name string) kafkaTopic {
	md, err := kafkaAdmin.DescribeTopics([]string{name})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(md).To(HaveLen(1))
	if errors.Is(md[0].Err, sarama.ErrUnknownTopicOrPartition) {
		return kafkaTopic{}
	}
	g.Expect(md[0].Err).To(Equal(sarama.ErrNoError))
	t := kafkaTopic{exists: true, partitions: len(md[0].Partitions), overrides: map[string]string{}}
	t.replicationFactor = len(md[0].Partitions[0].Replicas)
	results, err := kafkaAdmin.DescribeConfigs(
		[]*sarama.ConfigResource{{Type: sarama.TopicResource, Name: name}}, sarama.DescribeConfigsOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(results).To(HaveLen(1))
	g.Expect(results[0].ErrorCode).To(Equal(sarama.ErrNoError), results[0].ErrorMsg)
	for _, e := range results[0].Configs {
		if e.Source == sarama.SourceTopic {
			t.overrides[e.Name] = e.Value
		}
	}
	return t
}

func newNamespace(prefix string) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: uniqueName(prefix)}}
	Expect(k8sClient.Create(suiteCtx, ns)).To(Succeed())
	return ns.Name
}

func newStream(ns, name string, mutate func(*eventpipev1alpha1.EventStream)) *eventpipev1alpha1.EventStream {
	s := &eventpipev1alpha1.EventStream{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: eventpipev1alpha1.EventStreamSpec{
			Partitions: 3,
			Retention:  &metav1.Duration{Duration: 48 * 3600 * 1e9},
			Config:     map[string]string{"compression.type": "zstd"},
		},
	}
	if mutate != nil {
		mutate(s)
	}
	Expect(k8sClient.Create(suiteCtx, s)).To(Succeed())
	return s
}

func getStream(g Gomega, s *eventpipev1alpha1.EventStream) *eventpipev1alpha1.EventStream {
	out := &eventpipev1alpha1.EventStream{}
	g.Expect(k8sClient.Get(suiteCtx, client.ObjectKeyFromObject(s), out)).To(Succeed())
	return out
}

// readyCondition waits for the Ready condition to have status and reason, and
// returns it.
func readyCondition(s *eventpipev1alpha1.EventStream, status metav1.ConditionStatus, reason string) metav1.Condition {
	var c metav1.Condition
	Eventually(func(g Gomega) {
		got := getStream(g, s)
		ready := meta.FindStatusCondition(got.Status.Conditions, eventpipev1alpha1.ConditionReady)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Reason).To(Equal(reason), ready.Message)
		g.Expect(ready.Status).To(Equal(status))
		g.Expect(ready.ObservedGeneration).To(Equal(got.Generation))
		c = *ready
	}, eventually, poll).Should(Succeed())
	return c
}

// expectEvent waits for an event about s with reason and type.
func expectEvent(s *eventpipev1alpha1.EventStream, eventType, reason string) {
	Eventually(func(g Gomega) {
		var list eventsv1.EventList
		g.Expect(k8sClient.List(suiteCtx, &list, client.InNamespace(s.Namespace))).To(Succeed())
		var reasons []string
		for _, e := range list.Items {
			if e.Regarding.Name == s.Name && e.Type == eventType {
				reasons = append(reasons, e.Reason)
			}
		}
		g.Expect(reasons).To(ContainElement(reason))
	}, eventually, poll).Should(Succeed())
}

func deleteStream(s *eventpipev1alpha1.EventStream) {
	Expect(client.IgnoreNotFound(k8sClient.Delete(suiteCtx, s))).To(Succeed())
	Eventually(func() bool {
		err := k8sClient.Get(suiteCtx, client.ObjectKeyFromObject(s), &eventpipev1alpha1.EventStream{})
		return apierrors.IsNotFound(err)
	}, eventually, poll).Should(BeTrue(), "the EventStream should be gone")
}

func createTopicDirectly(name string, partitions int32, config map[string]string) {
	entries := map[string]*string{}
	for k, v := range config {
		entries[k] = ptr.To(v)
	}
	Expect(kafkaAdmin.CreateTopic(name, &sarama.TopicDetail{
		NumPartitions: partitions, ReplicationFactor: 1, ConfigEntries: entries,
	}, false)).To(Succeed())
}

func alterTopicConfigDirectly(name, key, value string) {
	Expect(kafkaAdmin.IncrementalAlterConfig(sarama.TopicResource, name,
		map[string]sarama.IncrementalAlterConfigsEntry{
			key: {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: ptr.To(value)},
		}, false)).To(Succeed())
}

var _ = Describe("EventStream", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace("es") })

	Context("when a stream is created", func() {
		It("should create the topic with its partitions, retention and configs and report Ready", func() {
			s := newStream(ns, "payments", func(s *eventpipev1alpha1.EventStream) {
				s.Spec.Config["cleanup.policy"] = "delete"
				s.Spec.ReplicationFactor = ptr.To[int32](1)
			})
			topicName := ns + ".payments"

			ready := readyCondition(s, metav1.ConditionTrue, eventpipev1alpha1.ReasonTopicReady)
			Expect(ready.Message).To(ContainSubstring(topicName))

			Eventually(func(g Gomega) {
				t := describeKafkaTopic(g, topicName)
				g.Expect(t.exists).To(BeTrue())
				g.Expect(t.partitions).To(Equal(3))
				g.Expect(t.replicationFactor).To(Equal(1))
				g.Expect(t.overrides).To(Equal(map[string]string{
					"retention.ms": "172800000", "compression.type": "zstd", "cleanup.policy": "delete",
				}))
			}, eventually, poll).Should(Succeed())

			got := getStream(Default, s)
			Expect(got.Status.TopicName).To(Equal(topicName))
			Expect(got.Status.Partitions).To(BeEquivalentTo(3))
			Expect(got.Status.ReplicationFactor).To(BeEquivalentTo(1))
			Expect(got.Status.Config).To(HaveKeyWithValue("compression.type", "zstd"))
			Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
			Expect(got.Finalizers).To(ContainElement(eventpipev1alpha1.FinalizerTopic))
			expectEvent(s, corev1.EventTypeNormal, eventpipev1alpha1.ReasonTopicCreated)
		})
	})

	Context("when the spec changes", func() {
		It("should grow partitions and apply config changes incrementally", func() {
			s := newStream(ns, "orders", func(s *eventpipev1alpha1.EventStream) {
				s.Spec.Config["segment.ms"] = "3600000"
			})
			topicName := ns + ".orders"
			readyCondition(s, metav1.ConditionTrue, eventpipev1alpha1.ReasonTopicReady)

			got := getStream(Default, s)
			got.Spec.Partitions = 6
			got.Spec.Config = map[string]string{"compression.type": "lz4", "max.message.bytes": "2097152"}
			Expect(k8sClient.Update(suiteCtx, got)).To(Succeed())

			Eventually(func(g Gomega) {
				t := describeKafkaTopic(g, topicName)
				g.Expect(t.partitions).To(Equal(6))
				g.Expect(t.overrides).To(Equal(map[string]string{
					"retention.ms": "172800000", "compression.type": "lz4", "max.message.bytes": "2097152",
				}), "segment.ms left the spec, so its override must be gone")
			}, eventually, poll).Should(Succeed())
			Eventually(func(g Gomega) {
				g.Expect(getStream(g, s).Status.Partitions).To(BeEquivalentTo(6))
			}, eventually, poll).Should(Succeed())
			readyCondition(s, metav1.ConditionTrue, eventpipev1alpha1.ReasonTopicReady)
			expectEvent(s, corev1.EventTypeNormal, eventpipev1alpha1.ReasonTopicUpdated)
		})
	})

	Context("when the topic in Kafka cannot be made to match", func() {
		It("should refuse a partition decrease and leave the topic untouched", func() {
			topicName := ns + ".wide"
			createTopicDirectly(topicName, 5, map[string]string{"compression.type": "gzip"})
			s := newStream(ns, "wide", func(s *eventpipev1alpha1.EventStream) {
				s.Annotations = map[string]string{eventpipev1alpha1.AnnotationAdopt: "true"}
			})

			ready := readyCondition(s, metav1.ConditionFalse, eventpipev1alpha1.ReasonPartitionDecreaseRefused)
			Expect(ready.Message).To(ContainSubstring("has 5 partitions and the spec asks for 3"))
			expectEvent(s, corev1.EventTypeWarning, eventpipev1alpha1.ReasonPartitionDecreaseRefused)

			Consistently(func(g Gomega) {
				t := describeKafkaTopic(g, topicName)
				g.Expect(t.partitions).To(Equal(5))
				g.Expect(t.overrides).To(Equal(map[string]string{"compression.type": "gzip"}))
			}, 2*testResyncInterval, poll).Should(Succeed())
		})

		It("should refuse a replication factor change", func() {
			topicName := ns + ".single"
			createTopicDirectly(topicName, 3, nil)
			s := newStream(ns, "single", func(s *eventpipev1alpha1.EventStream) {
				s.Annotations = map[string]string{eventpipev1alpha1.AnnotationAdopt: "true"}
				s.Spec.ReplicationFactor = ptr.To[int32](2)
			})

			ready := readyCondition(s, metav1.ConditionFalse, eventpipev1alpha1.ReasonReplicationFactorChangeRefused)
			Expect(ready.Message).To(ContainSubstring("has replication factor 1 and the spec asks for 2"))
			expectEvent(s, corev1.EventTypeWarning, eventpipev1alpha1.ReasonReplicationFactorChangeRefused)
			Consistently(func(g Gomega) {
				g.Expect(describeKafkaTopic(g, topicName).overrides).To(BeEmpty())
			}, testResyncInterval, poll).Should(Succeed())
		})

		It("should refuse a config value Kafka would refuse, naming the key", func() {
			s := newStream(ns, "badvalue", func(s *eventpipev1alpha1.EventStream) {
				s.Spec.Config["compression.type"] = "brotli"
			})
			ready := readyCondition(s, metav1.ConditionFalse, eventpipev1alpha1.ReasonInvalidConfig)
			Expect(ready.Message).To(ContainSubstring(`compression.type="brotli"`))
			Eventually(func(g Gomega) {
				g.Expect(describeKafkaTopic(g, ns+".badvalue").exists).To(BeFalse())
			}, eventually, poll).Should(Succeed())
		})
	})

	Context("when the topic is changed behind the operator's back", func() {
		It("should put it back with drift policy Revert", func() {
			s := newStream(ns, "revert", nil)
			topicName := ns + ".revert"
			readyCondition(s, metav1.ConditionTrue, eventpipev1alpha1.ReasonTopicReady)

			alterTopicConfigDirectly(topicName, "compression.type", "snappy")
			alterTopicConfigDirectly(topicName, "segment.ms", "600000")

			Eventually(func(g Gomega) {
				g.Expect(describeKafkaTopic(g, topicName).overrides).To(Equal(map[string]string{
					"retention.ms": "172800000", "compression.type": "zstd",
				}))
			}, eventually, poll).Should(Succeed())
			expectEvent(s, corev1.EventTypeNormal, eventpipev1alpha1.ReasonDriftReverted)
		})

		It("should only report it with drift policy Report", func() {
			s := newStream(ns, "report", func(s *eventpipev1alpha1.EventStream) {
				s.Spec.DriftPolicy = eventpipev1alpha1.DriftPolicyReport
			})
			topicName := ns + ".report"
			readyCondition(s, metav1.ConditionTrue, eventpipev1alpha1.ReasonTopicReady)

			alterTopicConfigDirectly(topicName, "compression.type", "snappy")
			alterTopicConfigDirectly(topicName, "segment.ms", "600000")

			Eventually(func(g Gomega) {
				got := getStream(g, s)
				drifted := meta.FindStatusCondition(got.Status.Conditions, eventpipev1alpha1.ConditionDrifted)
				g.Expect(drifted).NotTo(BeNil())
				g.Expect(drifted.Status).To(Equal(metav1.ConditionTrue))
				g.Expect(drifted.Reason).To(Equal(eventpipev1alpha1.ReasonDriftDetected))
				g.Expect(drifted.Message).To(ContainSubstring("compression.type, segment.ms"))
				g.Expect(got.Status.DriftedKeys).To(ConsistOf("compression.type", "segment.ms"))
			}, eventually, poll).Should(Succeed())
			expectEvent(s, corev1.EventTypeWarning, eventpipev1alpha1.ReasonDriftDetected)

			Consistently(func(g Gomega) {
				g.Expect(describeKafkaTopic(g, topicName).overrides).To(Equal(map[string]string{
					"retention.ms": "172800000", "compression.type": "snappy", "segment.ms": "600000",
				}))
			}, 2*testResyncInterval, poll).Should(Succeed())
		})
	})

	Context("when a stream is deleted", func() {
		It("should delete the topic with deletion policy Delete", func() {
			s := newStream(ns, "temp", func(s *eventpipev1alpha1.EventStream) {
				s.Spec.DeletionPolicy = eventpipev1alpha1.DeletionPolicyDelete
			})
			readyCondition(s, metav1.ConditionTrue, eventpipev1alpha1.ReasonTopicReady)
			deleteStream(s)
			Eventually(func(g Gomega) {
				g.Expect(describeKafkaTopic(g, ns+".temp").exists).To(BeFalse())
			}, eventually, poll).Should(Succeed())
		})

		It("should keep the topic with deletion policy Retain", func() {
			s := newStream(ns, "kept", nil)
			readyCondition(s, metav1.ConditionTrue, eventpipev1alpha1.ReasonTopicReady)
			deleteStream(s)
			Consistently(func(g Gomega) {
				g.Expect(describeKafkaTopic(g, ns+".kept").exists).To(BeTrue())
			}, testResyncInterval, poll).Should(Succeed())
		})

		It("should keep the topic when the orphan annotation is set, whatever the policy", func() {
			s := newStream(ns, "orphaned", func(s *eventpipev1alpha1.EventStream) {
				s.Spec.DeletionPolicy = eventpipev1alpha1.DeletionPolicyDelete
				s.Annotations = map[string]string{eventpipev1alpha1.AnnotationOrphan: "true"}
			})
			readyCondition(s, metav1.ConditionTrue, eventpipev1alpha1.ReasonTopicReady)
			deleteStream(s)
			Consistently(func(g Gomega) {
				g.Expect(describeKafkaTopic(g, ns+".orphaned").exists).To(BeTrue())
			}, testResyncInterval, poll).Should(Succeed())
		})
	})

	Context("when two streams name the same topic", func() {
		It("should give the topic to the first and a TopicConflict to the second", func() {
			shared := ns + ".shared"
			first := newStream(ns, "first", func(s *eventpipev1alpha1.EventStream) { s.Spec.TopicName = shared })
			readyCondition(first, metav1.ConditionTrue, eventpipev1alpha1.ReasonTopicReady)

			other := newNamespace("es-other")
			second := newStream(other, "second", func(s *eventpipev1alpha1.EventStream) {
				s.Spec.TopicName = shared
				s.Spec.Partitions = 9
			})
			ready := readyCondition(second, metav1.ConditionFalse, eventpipev1alpha1.ReasonTopicConflict)
			Expect(ready.Message).To(ContainSubstring(fmt.Sprintf("EventStream %s/first already manages topic %s",
				ns, shared)))
			expectEvent(second, corev1.EventTypeWarning, eventpipev1alpha1.ReasonTopicConflict)
			Consistently(func(g Gomega) {
				g.Expect(describeKafkaTopic(g, shared).partitions).To(Equal(3))
			}, testResyncInterval, poll).Should(Succeed())
		})
	})

	Context("when the topic exists in Kafka and eventpipe did not create it", func() {
		It("should refuse it without the adopt annotation and adopt it with", func() {
			topicName := ns + ".legacy"
			createTopicDirectly(topicName, 2, map[string]string{"segment.ms": "7200000"})
			s := newStream(ns, "legacy", nil)

			ready := readyCondition(s, metav1.ConditionFalse, eventpipev1alpha1.ReasonTopicConflict)
			Expect(ready.Message).To(ContainSubstring("was not created by eventpipe"))
			Expect(ready.Message).To(ContainSubstring(eventpipev1alpha1.AnnotationAdopt))
			Expect(getStream(Default, s).Status.TopicName).To(BeEmpty())

			got := getStream(Default, s)
			got.Annotations = map[string]string{eventpipev1alpha1.AnnotationAdopt: "true"}
			Expect(k8sClient.Update(suiteCtx, got)).To(Succeed())

			readyCondition(s, metav1.ConditionTrue, eventpipev1alpha1.ReasonTopicReady)
			expectEvent(s, corev1.EventTypeNormal, eventpipev1alpha1.ReasonTopicAdopted)
			Eventually(func(g Gomega) {
				t := describeKafkaTopic(g, topicName)
				g.Expect(t.partitions).To(Equal(3))
				g.Expect(t.overrides).To(Equal(map[string]string{
					"retention.ms": "172800000", "compression.type": "zstd",
				}))
			}, eventually, poll).Should(Succeed())
		})
	})

	Context("when Kafka cannot be reached", func() {
		BeforeEach(func() {
			ns = offlineNamespace
			err := k8sClient.Create(suiteCtx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
			Expect(client.IgnoreAlreadyExists(err)).To(Succeed())
		})

		It("should say so with the broker address and back off instead of spinning", func() {
			s := newStream(ns, uniqueName("down"), nil)
			ready := readyCondition(s, metav1.ConditionFalse, eventpipev1alpha1.ReasonKafkaUnreachable)
			Expect(ready.Message).To(ContainSubstring(closedPort()))
			expectEvent(s, corev1.EventTypeWarning, eventpipev1alpha1.ReasonKafkaUnreachable)

			// Backoff doubles from one second: over ten seconds a hot loop
			// would write the status many times, backoff only a few.
			first := getStream(Default, s).ResourceVersion
			Consistently(func(g Gomega) {
				got := getStream(g, s)
				g.Expect(got.Status.TopicName).To(BeEmpty())
				g.Expect(meta.FindStatusCondition(got.Status.Conditions, eventpipev1alpha1.ConditionReady).
					LastTransitionTime).To(Equal(ready.LastTransitionTime))
			}, 3*testResyncInterval, poll).Should(Succeed())
			Expect(getStream(Default, s).ResourceVersion).To(Equal(first),
				"retries must not rewrite an unchanged status")
		})

		It("should keep a deleted stream until it can act, and let the orphan annotation release it", func() {
			s := newStream(ns, uniqueName("gone"), func(s *eventpipev1alpha1.EventStream) {
				s.Spec.DeletionPolicy = eventpipev1alpha1.DeletionPolicyDelete
			})
			// Pretend the topic was created while Kafka was up.
			got := getStream(Default, s)
			base := got.DeepCopy()
			got.Status.TopicName = ns + "." + s.Name
			Expect(k8sClient.Status().Patch(suiteCtx, got, client.MergeFrom(base))).To(Succeed())
			Eventually(func(g Gomega) {
				g.Expect(getStream(g, s).Finalizers).To(ContainElement(eventpipev1alpha1.FinalizerTopic))
			}, eventually, poll).Should(Succeed())

			Expect(k8sClient.Delete(suiteCtx, s)).To(Succeed())
			Eventually(func(g Gomega) {
				ready := meta.FindStatusCondition(getStream(g, s).Status.Conditions, eventpipev1alpha1.ConditionReady)
				g.Expect(ready).NotTo(BeNil())
				g.Expect(ready.Message).To(ContainSubstring("Cannot delete topic"))
				g.Expect(ready.Message).To(ContainSubstring(eventpipev1alpha1.AnnotationOrphan))
			}, eventually, poll).Should(Succeed())
			Consistently(func(g Gomega) {
				g.Expect(getStream(g, s).Finalizers).To(ContainElement(eventpipev1alpha1.FinalizerTopic))
			}, testResyncInterval, poll).Should(Succeed())

			got = getStream(Default, s)
			got.Annotations = map[string]string{eventpipev1alpha1.AnnotationOrphan: "true"}
			Expect(k8sClient.Update(suiteCtx, got)).To(Succeed())
			Eventually(func() bool {
				return apierrors.IsNotFound(k8sClient.Get(suiteCtx, client.ObjectKeyFromObject(s), got))
			}, eventually, poll).Should(BeTrue())
		})
	})
})
