package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeletionPolicy says what happens to a topic when its EventStream is deleted.
// +kubebuilder:validation:Enum=Retain;Delete
type DeletionPolicy string

const (
	// DeletionPolicyRetain keeps the topic and its data.
	DeletionPolicyRetain DeletionPolicy = "Retain"
	// DeletionPolicyDelete deletes the topic and its data.
	DeletionPolicyDelete DeletionPolicy = "Delete"
)

// DriftPolicy says what happens when a topic is changed behind the operator's back.
// +kubebuilder:validation:Enum=Revert;Report
type DriftPolicy string

const (
	// DriftPolicyRevert puts the topic back as the spec says.
	DriftPolicyRevert DriftPolicy = "Revert"
	// DriftPolicyReport sets the Drifted condition and changes nothing.
	DriftPolicyReport DriftPolicy = "Report"
)

// AllowedTopicConfigKeys are the Kafka topic configs an EventStream may set in
// spec.config. The list in the CEL rule on EventStreamSpec.Config must match it;
// a unit test checks that they do. retention.ms is not here: spec.retention
// sets it.
var AllowedTopicConfigKeys = []string{
	"cleanup.policy",
	"compression.type",
	"delete.retention.ms",
	"max.compaction.lag.ms",
	"max.message.bytes",
	"message.timestamp.type",
	"min.cleanable.dirty.ratio",
	"min.compaction.lag.ms",
	"min.insync.replicas",
	"retention.bytes",
	"segment.bytes",
	"segment.ms",
}

// EventType is a CloudEvents type that a stream carries, with the schema
// versions producers may write.
type EventType struct {
	// type is the CloudEvents type attribute, for example
	// com.example.payment.attempted.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Type string `json:"type"`

	// versions are the schema versions of this type that may appear on the
	// stream, oldest first. Workers upcast older versions to the newest.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	Versions []string `json:"versions,omitempty"`
}

// EventStreamSpec is the desired state of an EventStream: a Kafka topic and the
// contract of the events on it.
// +kubebuilder:validation:XValidation:rule="has(oldSelf.topicName) ? (has(self.topicName) && self.topicName == oldSelf.topicName) : !has(self.topicName)",message="topicName is immutable: it cannot be set, changed or removed after the EventStream is created"
// +kubebuilder:validation:XValidation:rule="has(oldSelf.replicationFactor) ? (has(self.replicationFactor) && self.replicationFactor == oldSelf.replicationFactor) : !has(self.replicationFactor)",message="replicationFactor is fixed after creation: it cannot be set, changed or removed"
type EventStreamSpec struct {
	// topicName is the name of the Kafka topic. Default: <namespace>.<name>.
	// Immutable.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=249
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-zA-Z0-9._-]+$')",message="topicName may contain only letters, digits, '.', '_' and '-'"
	// +kubebuilder:validation:XValidation:rule="self != '.' && self != '..'",message="topicName cannot be '.' or '..'"
	TopicName string `json:"topicName,omitempty"`

	// partitions is the number of partitions of the topic. It may only grow:
	// Kafka cannot remove partitions. Default: 1.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	// +kubebuilder:validation:XValidation:rule="self >= oldSelf",message="partitions may only grow: Kafka cannot remove partitions from a topic"
	// +optional
	Partitions int32 `json:"partitions,omitempty"`

	// replicationFactor is the number of replicas of each partition. Fixed after
	// creation. Default: the brokers' default.replication.factor.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=32
	ReplicationFactor *int32 `json:"replicationFactor,omitempty"`

	// retention is how long Kafka keeps events, as a duration such as 168h. It
	// becomes the topic's retention.ms. Default: the brokers' log.retention.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="retention must be a positive duration such as 168h, 30m or 90s"
	Retention *metav1.Duration `json:"retention,omitempty"`

	// config holds further Kafka topic configs, by their Kafka names. Only the
	// keys in the operator's allow-list are accepted.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, k in ['cleanup.policy', 'compression.type', 'delete.retention.ms', 'max.compaction.lag.ms', 'max.message.bytes', 'message.timestamp.type', 'min.cleanable.dirty.ratio', 'min.compaction.lag.ms', 'min.insync.replicas', 'retention.bytes', 'segment.bytes', 'segment.ms'])",messageExpression="'config key ' + (self.exists(k, k == 'retention.ms') ? 'retention.ms is not allowed: use spec.retention' : self.filter(k, !(k in ['cleanup.policy', 'compression.type', 'delete.retention.ms', 'max.compaction.lag.ms', 'max.message.bytes', 'message.timestamp.type', 'min.cleanable.dirty.ratio', 'min.compaction.lag.ms', 'min.insync.replicas', 'retention.bytes', 'segment.bytes', 'segment.ms']))[0] + ' is not allowed; allowed keys are cleanup.policy, compression.type, delete.retention.ms, max.compaction.lag.ms, max.message.bytes, message.timestamp.type, min.cleanable.dirty.ratio, min.compaction.lag.ms, min.insync.replicas, retention.bytes, segment.bytes, segment.ms')"
	Config map[string]string `json:"config,omitempty"`

	// deletionPolicy says what deleting the EventStream does to the topic:
	// Retain keeps it and its data, Delete deletes it. Default: Retain.
	// +kubebuilder:default=Retain
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// driftPolicy says what the operator does when the topic's config is changed
	// outside it: Revert puts it back, Report sets the Drifted condition and
	// changes nothing. Default: Revert.
	// +kubebuilder:default=Revert
	// +optional
	DriftPolicy DriftPolicy `json:"driftPolicy,omitempty"`

	// events are the CloudEvents types the stream carries and their schema
	// versions.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=128
	Events []EventType `json:"events,omitempty"`
}

// EventStreamStatus is what the operator last saw of the topic in Kafka.
type EventStreamStatus struct {
	// observedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// topicName is the Kafka topic this EventStream manages. Set before the
	// operator creates the topic, so a topic of this name is known to be its own.
	// +optional
	TopicName string `json:"topicName,omitempty"`

	// partitions is the topic's partition count in Kafka.
	// +optional
	Partitions int32 `json:"partitions,omitempty"`

	// replicationFactor is the topic's replication factor in Kafka.
	// +optional
	ReplicationFactor int32 `json:"replicationFactor,omitempty"`

	// config is the value Kafka has for each config the spec manages
	// (spec.config and retention.ms).
	// +optional
	Config map[string]string `json:"config,omitempty"`

	// driftedKeys lists the configs whose value in Kafka differs from the spec,
	// as seen at the last resync. Empty when nothing differs.
	// +optional
	// +listType=set
	DriftedKeys []string `json:"driftedKeys,omitempty"`

	// lastSyncTime is when the operator last compared the topic with the spec.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`

	// conditions are Ready (the topic matches the spec and can be used) and
	// Drifted (the topic differs from the spec and was left as it is).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// EventStream is a Kafka topic and the contract of the events on it.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=es;stream,categories=eventpipe
// +kubebuilder:printcolumn:name="Topic",type=string,JSONPath=`.status.topicName`
// +kubebuilder:printcolumn:name="Partitions",type=integer,JSONPath=`.status.partitions`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type EventStream struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired topic.
	Spec EventStreamSpec `json:"spec"`

	// status is the topic as Kafka has it.
	// +optional
	Status EventStreamStatus `json:"status,omitempty"`
}

// EventStreamList is a list of EventStreams.
// +kubebuilder:object:root=true
type EventStreamList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the EventStreams.
	Items []EventStream `json:"items"`
}

// EffectiveTopicName is the Kafka topic of the stream: spec.topicName, or
// <namespace>.<name> when it is not set.
func (s *EventStream) EffectiveTopicName() string {
	if s.Spec.TopicName != "" {
		return s.Spec.TopicName
	}
	return s.Namespace + "." + s.Name
}
