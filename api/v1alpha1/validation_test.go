package v1alpha1_test

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
)

// The messages the CEL rules of the API types give, as a person reads them.
const (
	topicNameImmutable = "topicName is immutable: it cannot be set, changed or removed " +
		"after the EventStream is created"
	topicNameCharacters  = "topicName may contain only letters, digits, '.', '_' and '-'"
	topicNameDots        = "topicName cannot be '.' or '..'"
	partitionsOnlyGrow   = "partitions may only grow: Kafka cannot remove partitions from a topic"
	replicationFactorSet = "replicationFactor is fixed after creation: " +
		"it cannot be set, changed or removed"
	retentionPositive    = "retention must be a positive duration such as 168h, 30m or 90s"
	consumerGroupFixed   = "consumerGroup is immutable: changing it would lose the committed offsets"
	backoffOrder         = "backoff.initial must not be longer than backoff.max"
	backoffInitialFormat = "backoff.initial must be a duration such as 200ms or 1s"
	backoffMaxFormat     = "backoff.max must be a duration such as 10s or 1m"
	dedupTTLPositive     = "dedupTTL must be a positive duration such as 24h"
	ruleNamesUnique      = "rule names must be unique within a RulePack"
	ruleNameFormat       = "rule names are lowercase letters, digits and '-', " +
		"starting and ending with a letter or digit"
	minNotAboveMax       = "minReplicas must not be greater than maxReplicas"
	fallbackInRange      = "fallbackReplicas must lie between minReplicas and maxReplicas"
	lagTriggerNeeds      = "a ConsumerLag trigger needs lagPerReplica"
	cpuTriggerNeeds      = "a CPU trigger needs targetUtilization"
	commandsTriggerNeeds = "a Commands trigger needs stream"
	windowPositive       = "window must be a positive duration such as 10m"
	openForPositive      = "openFor must be a positive duration such as 5m"
	stabilizationFormat  = "stabilization must be a duration such as 0s or 300s"
	syncPeriodAtLeast1s  = "syncPeriod must be a duration of at least 1s"
	commandMaxAgePos     = "commandMaxAge must be a positive duration such as 2m"

	// OpenAPI schema checks, which name the field themselves.
	unsupportedValue = "Unsupported value"
	atLeast1         = "should be greater than or equal to 1"
)

var _ = Describe("EventStream validation", func() {
	var ns string

	BeforeEach(func(ctx SpecContext) {
		ns = newNamespace(ctx)
	})

	// stream returns a valid EventStream of three partitions, changed by mutate.
	stream := func(mutate func(*eventpipev1alpha1.EventStreamSpec)) *eventpipev1alpha1.EventStream {
		s := &eventpipev1alpha1.EventStream{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orders"},
			Spec:       eventpipev1alpha1.EventStreamSpec{Partitions: 3},
		}
		if mutate != nil {
			mutate(&s.Spec)
		}
		return s
	}

	Context("when a minimal EventStream is created", func() {
		It("should accept it and apply the defaults", func(ctx SpecContext) {
			Expect(k8sClient.Create(ctx, withoutField(stream(nil), "spec", "partitions"))).To(Succeed())

			got := &eventpipev1alpha1.EventStream{}
			Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "orders"}, got)).To(Succeed())
			Expect(got.Spec.Partitions).To(BeEquivalentTo(1))
			Expect(got.Spec.DeletionPolicy).To(Equal(eventpipev1alpha1.DeletionPolicyRetain))
			Expect(got.Spec.DriftPolicy).To(Equal(eventpipev1alpha1.DriftPolicyRevert))
		})
	})

	Context("when topicName is updated", func() {
		DescribeTable("should refuse the update",
			func(ctx SpecContext, from, to string) {
				s := stream(func(spec *eventpipev1alpha1.EventStreamSpec) { spec.TopicName = from })
				Expect(k8sClient.Create(ctx, s)).To(Succeed())

				s.Spec.TopicName = to
				expectInvalid(k8sClient.Update(ctx, s), topicNameImmutable)
			},
			Entry("when it is changed", "orders", "orders-v2"),
			Entry("when it is removed", "orders", ""),
			Entry("when it is set after creation", "", "orders"),
		)

		It("should accept an update that keeps it", func(ctx SpecContext) {
			s := stream(func(spec *eventpipev1alpha1.EventStreamSpec) { spec.TopicName = "orders" })
			Expect(k8sClient.Create(ctx, s)).To(Succeed())

			s.Spec.DriftPolicy = eventpipev1alpha1.DriftPolicyReport
			Expect(k8sClient.Update(ctx, s)).To(Succeed())
		})
	})

	Context("when topicName is not a Kafka topic name", func() {
		DescribeTable("should refuse the EventStream",
			func(ctx SpecContext, topicName, message string) {
				s := stream(func(spec *eventpipev1alpha1.EventStreamSpec) { spec.TopicName = topicName })
				expectInvalid(k8sClient.Create(ctx, s), message)
			},
			Entry("when it contains a space", "my orders", topicNameCharacters),
			Entry("when it contains a slash", "orders/v2", topicNameCharacters),
			Entry("when it is '.'", ".", topicNameDots),
			Entry("when it is '..'", "..", topicNameDots),
		)
	})

	Context("when partitions is updated", func() {
		It("should refuse fewer partitions", func(ctx SpecContext) {
			s := stream(func(spec *eventpipev1alpha1.EventStreamSpec) { spec.Partitions = 6 })
			Expect(k8sClient.Create(ctx, s)).To(Succeed())

			s.Spec.Partitions = 3
			expectInvalid(k8sClient.Update(ctx, s), partitionsOnlyGrow)
		})

		It("should accept more partitions", func(ctx SpecContext) {
			s := stream(func(spec *eventpipev1alpha1.EventStreamSpec) { spec.Partitions = 3 })
			Expect(k8sClient.Create(ctx, s)).To(Succeed())

			s.Spec.Partitions = 6
			Expect(k8sClient.Update(ctx, s)).To(Succeed())
		})
	})

	Context("when partitions is below 1", func() {
		DescribeTable("should refuse the EventStream",
			func(ctx SpecContext, partitions int) {
				// The typed client leaves out a zero; send the number as written.
				s := withField(stream(nil), int64(partitions), "spec", "partitions")
				expectInvalid(k8sClient.Create(ctx, s), "spec.partitions", atLeast1)
			},
			Entry("when it is 0", 0),
			Entry("when it is negative", -1),
		)
	})

	Context("when replicationFactor is updated", func() {
		DescribeTable("should refuse the update",
			func(ctx SpecContext, from, to *int32) {
				s := stream(func(spec *eventpipev1alpha1.EventStreamSpec) { spec.ReplicationFactor = from })
				Expect(k8sClient.Create(ctx, s)).To(Succeed())

				s.Spec.ReplicationFactor = to
				expectInvalid(k8sClient.Update(ctx, s), replicationFactorSet)
			},
			Entry("when it is changed", ptr.To[int32](3), ptr.To[int32](1)),
			Entry("when it is removed", ptr.To[int32](3), nil),
			Entry("when it is set after creation", nil, ptr.To[int32](3)),
		)
	})

	Context("when retention is given", func() {
		DescribeTable("should refuse a value that is not a positive duration",
			func(ctx SpecContext, retention string) {
				s := withField(stream(nil), retention, "spec", "retention")
				expectInvalid(k8sClient.Create(ctx, s), "spec.retention", retentionPositive)
			},
			Entry("when it is in words", "1 week"),
			Entry("when it is zero", "0s"),
			Entry("when it is negative", "-1h"),
			Entry("when it has no unit", "3600"),
		)

		DescribeTable("should accept a positive duration",
			func(ctx SpecContext, retention string) {
				Expect(k8sClient.Create(ctx, withField(stream(nil), retention, "spec", "retention"))).
					To(Succeed())
			},
			Entry("in hours", "168h"),
			Entry("in several units", "1h30m"),
			Entry("with a fraction", "1.5h"),
		)
	})

	Context("when config is given", func() {
		DescribeTable("should refuse a key that is not allowed, naming it",
			func(ctx SpecContext, config map[string]string, message string) {
				s := stream(func(spec *eventpipev1alpha1.EventStreamSpec) { spec.Config = config })
				expectInvalid(k8sClient.Create(ctx, s), "spec.config", message)
			},
			Entry("when the key is outside the allow-list",
				map[string]string{"unclean.leader.election.enable": "true"},
				"config key unclean.leader.election.enable is not allowed; allowed keys are "+
					"cleanup.policy, compression.type, delete.retention.ms"),
			Entry("when the key is retention.ms",
				map[string]string{"retention.ms": "604800000"},
				"config key retention.ms is not allowed: use spec.retention"),
		)

		It("should name retention.ms whatever other refused keys come with it", func(ctx SpecContext) {
			// The API server walks a map in random order; one create could
			// name retention.ms by luck, twenty in a row do not.
			for i := range 20 {
				s := stream(func(spec *eventpipev1alpha1.EventStreamSpec) {
					spec.Config = map[string]string{
						"retention.ms":                   "604800000",
						"unclean.leader.election.enable": "true",
						"preallocate":                    "true",
					}
				})
				s.Name = fmt.Sprintf("orders-%d", i)
				expectInvalid(k8sClient.Create(ctx, s),
					"spec.config", "config key retention.ms is not allowed: use spec.retention")
			}
		})

		It("should accept every key of the allow-list", func(ctx SpecContext) {
			config := map[string]string{}
			for _, key := range eventpipev1alpha1.AllowedTopicConfigKeys {
				config[key] = "1"
			}
			s := stream(func(spec *eventpipev1alpha1.EventStreamSpec) { spec.Config = config })
			Expect(k8sClient.Create(ctx, s)).To(Succeed())
		})
	})

	Context("when a policy is not one of its values", func() {
		DescribeTable("should refuse the EventStream, naming the field",
			func(ctx SpecContext, mutate func(*eventpipev1alpha1.EventStreamSpec), field, value string) {
				expectInvalid(k8sClient.Create(ctx, stream(mutate)),
					field, unsupportedValue, `"`+value+`"`)
			},
			Entry("when deletionPolicy is unknown", func(spec *eventpipev1alpha1.EventStreamSpec) {
				spec.DeletionPolicy = "Forever"
			}, "spec.deletionPolicy", "Forever"),
			Entry("when driftPolicy is unknown", func(spec *eventpipev1alpha1.EventStreamSpec) {
				spec.DriftPolicy = "Ignore"
			}, "spec.driftPolicy", "Ignore"),
		)
	})
})

var _ = Describe("Consumer validation", func() {
	var ns string

	BeforeEach(func(ctx SpecContext) {
		ns = newNamespace(ctx)
	})

	// consumer returns a valid passthrough Consumer, changed by mutate.
	consumer := func(mutate func(*eventpipev1alpha1.ConsumerSpec)) *eventpipev1alpha1.Consumer {
		c := &eventpipev1alpha1.Consumer{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orders-worker"},
			Spec:       eventpipev1alpha1.ConsumerSpec{Stream: "orders", Processor: "passthrough"},
		}
		if mutate != nil {
			mutate(&c.Spec)
		}
		return c
	}

	Context("when a minimal Consumer is created", func() {
		It("should accept it and apply the defaults", func(ctx SpecContext) {
			Expect(k8sClient.Create(ctx, consumer(nil))).To(Succeed())

			got := &eventpipev1alpha1.Consumer{}
			key := client.ObjectKey{Namespace: ns, Name: "orders-worker"}
			Expect(k8sClient.Get(ctx, key, got)).To(Succeed())
			Expect(got.Spec.Delivery.Guarantee).To(Equal(eventpipev1alpha1.DeliveryAtLeastOnce))
			Expect(got.Spec.Delivery.MaxAttempts).To(BeEquivalentTo(5))
			Expect(got.Spec.Replicas).To(HaveValue(BeEquivalentTo(1)))
			Expect(got.Spec.InitialOffset).To(Equal(eventpipev1alpha1.InitialOffsetEarliest))
		})
	})

	Context("when processor is unknown", func() {
		It("should refuse the Consumer, naming the field", func(ctx SpecContext) {
			c := consumer(func(spec *eventpipev1alpha1.ConsumerSpec) { spec.Processor = "fraud-detector" })
			expectInvalid(k8sClient.Create(ctx, c), "spec.processor", unsupportedValue, `"fraud-detector"`)
		})
	})

	Context("when consumerGroup is updated", func() {
		DescribeTable("should refuse the update",
			func(ctx SpecContext, from, to string) {
				c := consumer(func(spec *eventpipev1alpha1.ConsumerSpec) { spec.ConsumerGroup = from })
				Expect(k8sClient.Create(ctx, c)).To(Succeed())

				c.Spec.ConsumerGroup = to
				expectInvalid(k8sClient.Update(ctx, c), consumerGroupFixed)
			},
			Entry("when it is changed", "orders-workers", "orders-workers-v2"),
			Entry("when it is removed", "orders-workers", ""),
			Entry("when it is set after creation", "", "orders-workers"),
		)
	})

	Context("when delivery.backoff is given", func() {
		It("should refuse an initial wait longer than the longest", func(ctx SpecContext) {
			c := consumer(func(spec *eventpipev1alpha1.ConsumerSpec) {
				spec.Delivery.Backoff = &eventpipev1alpha1.Backoff{
					Initial: &metav1.Duration{Duration: 10 * time.Second},
					Max:     &metav1.Duration{Duration: time.Second},
				}
			})
			expectInvalid(k8sClient.Create(ctx, c), "spec.delivery.backoff", backoffOrder)
		})

		It("should accept an initial wait equal to the longest", func(ctx SpecContext) {
			c := consumer(func(spec *eventpipev1alpha1.ConsumerSpec) {
				spec.Delivery.Backoff = &eventpipev1alpha1.Backoff{
					Initial: &metav1.Duration{Duration: time.Second},
					Max:     &metav1.Duration{Duration: time.Second},
				}
			})
			Expect(k8sClient.Create(ctx, c)).To(Succeed())
		})

		DescribeTable("should refuse a malformed duration, naming the field",
			func(ctx SpecContext, field, value, message string) {
				c := withField(consumer(nil), value, "spec", "delivery", "backoff", field)
				expectInvalid(k8sClient.Create(ctx, c), "spec.delivery.backoff."+field, message)
			},
			Entry("when initial is in words", "initial", "soon", backoffInitialFormat),
			Entry("when max is in words", "max", "1 minute", backoffMaxFormat),
			Entry("when max has no unit", "max", "10", backoffMaxFormat),
		)
	})

	Context("when delivery.dedupTTL is not a positive duration", func() {
		DescribeTable("should refuse the Consumer",
			func(ctx SpecContext, ttl string) {
				c := withField(consumer(nil), ttl, "spec", "delivery", "dedupTTL")
				expectInvalid(k8sClient.Create(ctx, c), "spec.delivery.dedupTTL", dedupTTLPositive)
			},
			Entry("when it is zero", "0s"),
			Entry("when it is in words", "a day"),
		)
	})

	Context("when delivery.dedupMaxKeys is below 1000", func() {
		It("should refuse the Consumer, naming the field", func(ctx SpecContext) {
			c := withField(consumer(nil), int64(999), "spec", "delivery", "dedupMaxKeys")
			expectInvalid(k8sClient.Create(ctx, c), "spec.delivery.dedupMaxKeys",
				"should be greater than or equal to 1000")
		})
	})

	Context("when delivery.guarantee is unknown", func() {
		It("should refuse the Consumer, naming the field", func(ctx SpecContext) {
			c := consumer(func(spec *eventpipev1alpha1.ConsumerSpec) {
				spec.Delivery.Guarantee = "AtMostOnce"
			})
			expectInvalid(k8sClient.Create(ctx, c),
				"spec.delivery.guarantee", unsupportedValue, `"AtMostOnce"`)
		})
	})

	Context("when delivery.maxAttempts is out of bounds", func() {
		DescribeTable("should refuse the Consumer, naming the field",
			func(ctx SpecContext, attempts int64, message string) {
				// Through unstructured, because omitempty would drop a 0.
				c := withField(consumer(nil), attempts, "spec", "delivery", "maxAttempts")
				expectInvalid(k8sClient.Create(ctx, c), "spec.delivery.maxAttempts", message)
			},
			Entry("when it is 0", int64(0), atLeast1),
			Entry("when it is above 100", int64(101), "should be less than or equal to 100"),
		)
	})
})

var _ = Describe("RulePack validation", func() {
	var ns string

	BeforeEach(func(ctx SpecContext) {
		ns = newNamespace(ctx)
	})

	rule := func(name string) eventpipev1alpha1.Rule {
		return eventpipev1alpha1.Rule{Name: name, Condition: "data.amount > params.limit"}
	}

	// rulePack returns a RulePack with the given rules.
	rulePack := func(rules ...eventpipev1alpha1.Rule) *eventpipev1alpha1.RulePack {
		return &eventpipev1alpha1.RulePack{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "fraud"},
			Spec:       eventpipev1alpha1.RulePackSpec{Rules: rules},
		}
	}

	Context("when a valid RulePack is created", func() {
		It("should accept it and apply the defaults", func(ctx SpecContext) {
			Expect(k8sClient.Create(ctx, rulePack(rule("large-amount"), rule("new-device")))).To(Succeed())

			got := &eventpipev1alpha1.RulePack{}
			Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "fraud"}, got)).To(Succeed())
			Expect(got.Spec.Rules).To(HaveLen(2))
			for _, r := range got.Spec.Rules {
				Expect(r.Severity).To(BeEquivalentTo("medium"), "severity of rule %s", r.Name)
			}
		})
	})

	Context("when two rules have the same name", func() {
		It("should refuse the RulePack", func(ctx SpecContext) {
			rp := rulePack(rule("large-amount"), rule("new-device"), rule("large-amount"))
			expectInvalid(k8sClient.Create(ctx, rp), "spec.rules", ruleNamesUnique)
		})
	})

	Context("when a rule name is not a DNS label", func() {
		DescribeTable("should refuse the RulePack",
			func(ctx SpecContext, name string) {
				expectInvalid(k8sClient.Create(ctx, rulePack(rule(name))), "spec.rules[0].name", ruleNameFormat)
			},
			Entry("when it has capitals and an underscore", "Large_Amount"),
			Entry("when it starts with '-'", "-large-amount"),
			Entry("when it ends with '-'", "large-amount-"),
		)
	})

	Context("when there are no rules", func() {
		It("should refuse the RulePack, naming the field", func(ctx SpecContext) {
			expectInvalid(k8sClient.Create(ctx, rulePack([]eventpipev1alpha1.Rule{}...)),
				"spec.rules", "should have at least 1 items")
		})
	})

	Context("when a rule's severity is unknown", func() {
		It("should refuse the RulePack, naming the field", func(ctx SpecContext) {
			r := rule("large-amount")
			r.Severity = "urgent"
			expectInvalid(k8sClient.Create(ctx, rulePack(r)),
				"spec.rules[0].severity", unsupportedValue, `"urgent"`)
		})
	})
})

var _ = Describe("AutoscalePolicy validation", func() {
	var ns string

	BeforeEach(func(ctx SpecContext) {
		ns = newNamespace(ctx)
	})

	// policy returns a valid AutoscalePolicy of one to four replicas on lag,
	// changed by mutate.
	policy := func(
		mutate func(*eventpipev1alpha1.AutoscalePolicySpec),
	) *eventpipev1alpha1.AutoscalePolicy {
		p := &eventpipev1alpha1.AutoscalePolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orders-worker"},
			Spec: eventpipev1alpha1.AutoscalePolicySpec{
				Target:      "orders-worker",
				MinReplicas: 1,
				MaxReplicas: 4,
				Triggers: []eventpipev1alpha1.Trigger{{
					Type:          eventpipev1alpha1.TriggerConsumerLag,
					LagPerReplica: ptr.To[int64](100),
				}},
			},
		}
		if mutate != nil {
			mutate(&p.Spec)
		}
		return p
	}

	Context("when a minimal AutoscalePolicy is created", func() {
		It("should accept it and apply the defaults", func(ctx SpecContext) {
			Expect(k8sClient.Create(ctx, withoutField(policy(nil), "spec", "minReplicas"))).To(Succeed())

			got := &eventpipev1alpha1.AutoscalePolicy{}
			key := client.ObjectKey{Namespace: ns, Name: "orders-worker"}
			Expect(k8sClient.Get(ctx, key, got)).To(Succeed())
			Expect(got.Spec.MinReplicas).To(BeEquivalentTo(1))
		})
	})

	Context("when minReplicas is greater than maxReplicas", func() {
		It("should refuse the AutoscalePolicy", func(ctx SpecContext) {
			p := policy(func(spec *eventpipev1alpha1.AutoscalePolicySpec) {
				spec.MinReplicas, spec.MaxReplicas = 5, 2
			})
			expectInvalid(k8sClient.Create(ctx, p), minNotAboveMax)
		})
	})

	Context("when fallbackReplicas is outside minReplicas and maxReplicas", func() {
		DescribeTable("should refuse the AutoscalePolicy",
			func(ctx SpecContext, fallback int) {
				p := policy(func(spec *eventpipev1alpha1.AutoscalePolicySpec) {
					spec.MinReplicas, spec.MaxReplicas = 2, 4
					spec.FallbackReplicas = ptr.To(int32(fallback))
				})
				expectInvalid(k8sClient.Create(ctx, p), fallbackInRange)
			},
			Entry("when it is below minReplicas", 1),
			Entry("when it is above maxReplicas", 5),
		)
	})

	Context("when a trigger lacks what its type needs", func() {
		DescribeTable("should refuse the AutoscalePolicy",
			func(ctx SpecContext, trigger eventpipev1alpha1.Trigger, message string) {
				p := policy(func(spec *eventpipev1alpha1.AutoscalePolicySpec) {
					spec.Triggers = []eventpipev1alpha1.Trigger{trigger}
				})
				expectInvalid(k8sClient.Create(ctx, p), "spec.triggers[0]", message)
			},
			Entry("when a ConsumerLag trigger has no lagPerReplica",
				eventpipev1alpha1.Trigger{Type: eventpipev1alpha1.TriggerConsumerLag}, lagTriggerNeeds),
			Entry("when a CPU trigger has no targetUtilization",
				eventpipev1alpha1.Trigger{Type: eventpipev1alpha1.TriggerCPU}, cpuTriggerNeeds),
			Entry("when a Commands trigger has no stream",
				eventpipev1alpha1.Trigger{Type: eventpipev1alpha1.TriggerCommands}, commandsTriggerNeeds),
		)
	})

	Context("when a trigger type is unknown", func() {
		It("should refuse the AutoscalePolicy, naming the field", func(ctx SpecContext) {
			p := policy(func(spec *eventpipev1alpha1.AutoscalePolicySpec) {
				spec.Triggers = []eventpipev1alpha1.Trigger{{Type: "Memory"}}
			})
			expectInvalid(k8sClient.Create(ctx, p), "spec.triggers[0].type", unsupportedValue, `"Memory"`)
		})
	})

	Context("when a duration is malformed or out of range", func() {
		DescribeTable("should refuse the AutoscalePolicy, naming the field",
			func(ctx SpecContext, field, value, message string) {
				path := strings.Split(field, ".")
				expectInvalid(k8sClient.Create(ctx, withField(policy(nil), value, path...)), field, message)
			},
			Entry("when circuitBreaker.window is in words",
				"spec.circuitBreaker.window", "10 minutes", windowPositive),
			Entry("when circuitBreaker.window is zero",
				"spec.circuitBreaker.window", "0s", windowPositive),
			Entry("when circuitBreaker.openFor is zero",
				"spec.circuitBreaker.openFor", "0s", openForPositive),
			Entry("when circuitBreaker.openFor is in words",
				"spec.circuitBreaker.openFor", "five minutes", openForPositive),
			Entry("when scaleUp.stabilization is in words",
				"spec.scaleUp.stabilization", "soon", stabilizationFormat),
			Entry("when scaleDown.stabilization has no unit",
				"spec.scaleDown.stabilization", "300", stabilizationFormat),
			Entry("when syncPeriod is below 1s",
				"spec.syncPeriod", "500ms", syncPeriodAtLeast1s),
			Entry("when syncPeriod is in words",
				"spec.syncPeriod", "fast", syncPeriodAtLeast1s),
			Entry("when commandMaxAge is zero",
				"spec.commandMaxAge", "0s", commandMaxAgePos),
			Entry("when commandMaxAge is in words",
				"spec.commandMaxAge", "2 minutes", commandMaxAgePos),
		)

		It("should accept well-formed durations", func(ctx SpecContext) {
			p := policy(func(spec *eventpipev1alpha1.AutoscalePolicySpec) {
				spec.SyncPeriod = &metav1.Duration{Duration: time.Second}
				spec.CommandMaxAge = &metav1.Duration{Duration: 2 * time.Minute}
				spec.ScaleUp = &eventpipev1alpha1.ScalingRules{Stabilization: &metav1.Duration{}}
				spec.ScaleDown = &eventpipev1alpha1.ScalingRules{
					Stabilization: &metav1.Duration{Duration: 300 * time.Second},
				}
				spec.CircuitBreaker = &eventpipev1alpha1.CircuitBreaker{
					Window:  &metav1.Duration{Duration: 10 * time.Minute},
					OpenFor: &metav1.Duration{Duration: 5 * time.Minute},
				}
			})
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
		})
	})
})
