package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Processor names the use-case logic a worker runs.
// +kubebuilder:validation:Enum=passthrough;fraud-detection;order-fulfillment;activity-analytics;predictive-maintenance;ledger;recommendations;logistics;patient-monitoring;campaign-optimization;infra-monitoring
type Processor string

// DeliveryGuarantee says how often an input event's effects reach the outputs.
// +kubebuilder:validation:Enum=AtLeastOnce;Idempotent;ExactlyOnce
type DeliveryGuarantee string

const (
	// DeliveryAtLeastOnce commits input offsets after the outputs are
	// acknowledged; a crash may repeat events.
	DeliveryAtLeastOnce DeliveryGuarantee = "AtLeastOnce"
	// DeliveryIdempotent drops repeated inputs by CloudEvents source and id
	// within the dedup TTL.
	DeliveryIdempotent DeliveryGuarantee = "Idempotent"
	// DeliveryExactlyOnce reads, processes, writes and commits offsets in one
	// Kafka transaction.
	DeliveryExactlyOnce DeliveryGuarantee = "ExactlyOnce"
)

// InitialOffset says where a consumer group without a committed offset starts.
// +kubebuilder:validation:Enum=Earliest;Latest
type InitialOffset string

const (
	// InitialOffsetEarliest starts at the oldest event Kafka keeps.
	InitialOffsetEarliest InitialOffset = "Earliest"
	// InitialOffsetLatest starts at the next event written.
	InitialOffsetLatest InitialOffset = "Latest"
)

// Backoff is an exponential backoff between attempts.
// +kubebuilder:validation:XValidation:rule="!has(self.initial) || !has(self.max) || duration(self.initial) <= duration(self.max)",message="backoff.initial must not be longer than backoff.max"
type Backoff struct {
	// initial is the wait before the second attempt. Default: 200ms.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$')",message="backoff.initial must be a duration such as 200ms or 1s"
	Initial *metav1.Duration `json:"initial,omitempty"`

	// max is the longest wait between attempts. Default: 10s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$')",message="backoff.max must be a duration such as 10s or 1m"
	Max *metav1.Duration `json:"max,omitempty"`
}

// Delivery is how a Consumer delivers its outputs and what it does with events
// it cannot process.
type Delivery struct {
	// guarantee is AtLeastOnce, Idempotent or ExactlyOnce. Default: AtLeastOnce.
	// +kubebuilder:default=AtLeastOnce
	// +optional
	Guarantee DeliveryGuarantee `json:"guarantee,omitempty"`

	// maxAttempts is how many times a retryable failure is tried before the
	// event goes to the dead-letter stream. Default: 5.
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxAttempts int32 `json:"maxAttempts,omitempty"`

	// backoff is the wait between attempts.
	// +optional
	Backoff *Backoff `json:"backoff,omitempty"`

	// deadLetterStream is the EventStream, in the same namespace, that receives
	// events that cannot be processed, with the reason in their headers. Without
	// one, a worker stops consuming the partition rather than skip the event.
	// +optional
	DeadLetterStream string `json:"deadLetterStream,omitempty"`

	// dedupTTL is how long an event id is remembered with the Idempotent
	// guarantee. Default: 24h.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="dedupTTL must be a positive duration such as 24h"
	DedupTTL *metav1.Duration `json:"dedupTTL,omitempty"`

	// dedupMaxKeys bounds how many event ids a worker remembers with the
	// Idempotent guarantee, about 35 bytes each. When the bound is reached the
	// ids nearest their expiry are forgotten first: the dedup window becomes
	// shorter than dedupTTL, and the worker says so in its log and metrics,
	// rather than run out of memory. Default: as many as a quarter of the
	// worker container's memory limit holds; no bound without a memory limit.
	// +kubebuilder:validation:Minimum=1000
	// +optional
	DedupMaxKeys *int64 `json:"dedupMaxKeys,omitempty"`
}

// ConsumerSpec is the desired state of a Consumer: a worker Deployment that
// reads one EventStream with one processor.
// +kubebuilder:validation:XValidation:rule="has(oldSelf.consumerGroup) ? (has(self.consumerGroup) && self.consumerGroup == oldSelf.consumerGroup) : !has(self.consumerGroup)",message="consumerGroup is immutable: changing it would lose the committed offsets"
type ConsumerSpec struct {
	// stream is the input EventStream, in the same namespace.
	// +kubebuilder:validation:MinLength=1
	Stream string `json:"stream"`

	// processor is the use-case logic the workers run.
	Processor Processor `json:"processor"`

	// settings are the processor's own settings; each processor documents and
	// validates its keys.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Settings *apiextensionsv1.JSON `json:"settings,omitempty"`

	// outputs maps the processor's output names to EventStreams in the same
	// namespace.
	// +optional
	Outputs map[string]string `json:"outputs,omitempty"`

	// rulePack is a RulePack, in the same namespace, that the workers evaluate.
	// +optional
	RulePack string `json:"rulePack,omitempty"`

	// consumerGroup is the Kafka consumer group of the workers. Default:
	// <namespace>.<name>. Immutable.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=249
	ConsumerGroup string `json:"consumerGroup,omitempty"`

	// initialOffset is where the consumer group starts when it has no committed
	// offset: Earliest or Latest. Default: Earliest.
	// +kubebuilder:default=Earliest
	// +optional
	InitialOffset InitialOffset `json:"initialOffset,omitempty"`

	// replicas is the number of worker pods. Ignored while an AutoscalePolicy
	// targets this Consumer: the HorizontalPodAutoscaler owns it then. Default: 1.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// resources are the worker container's compute resources. Default: requests
	// of 50m CPU and 64Mi memory.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// image overrides the worker image the operator was started with.
	// +optional
	Image string `json:"image,omitempty"`

	// delivery is the delivery guarantee, retries and dead letters.
	// +kubebuilder:default={}
	// +optional
	Delivery Delivery `json:"delivery,omitempty"`

	// deleteConsumerGroup, when true, deletes the consumer group and its
	// committed offsets from Kafka when the Consumer is deleted. Default: false.
	// +optional
	DeleteConsumerGroup bool `json:"deleteConsumerGroup,omitempty"`
}

// PartitionLag is the lag of one partition of the input stream.
type PartitionLag struct {
	// partition is the partition number.
	Partition int32 `json:"partition"`
	// lag is the number of events between the committed offset and the end of
	// the partition.
	Lag int64 `json:"lag"`
}

// ConsumerStatus is what the operator last saw of the workers and their group.
type ConsumerStatus struct {
	// observedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// replicas is the number of worker pods the Deployment has.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// readyReplicas is the number of worker pods that are ready.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`

	// lag is the consumer group's total lag on the input stream, in events.
	// +optional
	Lag int64 `json:"lag,omitempty"`

	// maxPartitionLag is the lag of the partition that is furthest behind.
	// +optional
	MaxPartitionLag int64 `json:"maxPartitionLag,omitempty"`

	// partitionLag is the lag of each partition.
	// +optional
	// +listType=map
	// +listMapKey=partition
	PartitionLag []PartitionLag `json:"partitionLag,omitempty"`

	// lagTime is when the lag was read.
	// +optional
	LagTime *metav1.Time `json:"lagTime,omitempty"`

	// rulePackVersion is the RulePack version the workers report they run.
	// +optional
	RulePackVersion string `json:"rulePackVersion,omitempty"`

	// conditions describe the Consumer; Ready summarises them.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Consumer is a worker Deployment that processes the CloudEvents of one stream.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=cons,categories=eventpipe
// +kubebuilder:printcolumn:name="Stream",type=string,JSONPath=`.spec.stream`
// +kubebuilder:printcolumn:name="Processor",type=string,JSONPath=`.spec.processor`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Lag",type=integer,JSONPath=`.status.lag`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Consumer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired workers.
	Spec ConsumerSpec `json:"spec"`

	// status is what the operator last saw.
	// +optional
	Status ConsumerStatus `json:"status,omitempty"`
}

// ConsumerList is a list of Consumers.
// +kubebuilder:object:root=true
type ConsumerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the Consumers.
	Items []Consumer `json:"items"`
}

// EffectiveConsumerGroup is the Kafka consumer group of the Consumer:
// spec.consumerGroup, or <namespace>.<name> when it is not set.
func (c *Consumer) EffectiveConsumerGroup() string {
	if c.Spec.ConsumerGroup != "" {
		return c.Spec.ConsumerGroup
	}
	return c.Namespace + "." + c.Name
}
