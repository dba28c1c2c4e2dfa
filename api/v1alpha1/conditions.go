package v1alpha1

// Condition types shared by every kind.
const (
	// ConditionReady summarises the other conditions of an object. It is
	// recomputed on every reconcile.
	ConditionReady = "Ready"
)

// Condition types of an EventStream.
const (
	// ConditionDrifted is True when the topic in Kafka differs from the spec and
	// the drift policy is Report, so the operator left it as it is.
	ConditionDrifted = "Drifted"
)

// Reasons of EventStream conditions. Events about an EventStream reuse them.
const (
	// ReasonTopicReady means the topic exists in Kafka with the partitions,
	// replication factor and configs of the spec.
	ReasonTopicReady = "TopicReady"

	// ReasonTopicCreated means the operator created the topic in this reconcile.
	ReasonTopicCreated = "TopicCreated"

	// ReasonTopicUpdated means the operator changed the topic's partitions or
	// configs in this reconcile.
	ReasonTopicUpdated = "TopicUpdated"

	// ReasonTopicAdopted means an existing topic was taken over because of the
	// eventpipe.io/adopt annotation.
	ReasonTopicAdopted = "TopicAdopted"

	// ReasonTopicDeleted means the topic was deleted with its EventStream
	// (deletion policy Delete).
	ReasonTopicDeleted = "TopicDeleted"

	// ReasonTopicRetained means the EventStream was deleted and its topic kept
	// (deletion policy Retain, or the eventpipe.io/orphan annotation).
	ReasonTopicRetained = "TopicRetained"

	// ReasonPartitionDecreaseRefused means the spec asks for fewer partitions
	// than the topic has; Kafka cannot remove partitions.
	ReasonPartitionDecreaseRefused = "PartitionDecreaseRefused"

	// ReasonReplicationFactorChangeRefused means the spec asks for a replication
	// factor other than the topic's; the operator never reassigns replicas.
	ReasonReplicationFactorChangeRefused = "ReplicationFactorChangeRefused"

	// ReasonTopicConflict means another EventStream claims the same topic, or
	// the topic exists in Kafka and was not created by eventpipe.
	ReasonTopicConflict = "TopicConflict"

	// ReasonInvalidConfig means a topic config key is not allowed or Kafka
	// refused a value.
	ReasonInvalidConfig = "InvalidConfig"

	// ReasonKafkaUnreachable means the operator could not talk to the brokers.
	ReasonKafkaUnreachable = "KafkaUnreachable"

	// ReasonKafkaError means Kafka answered a request with an error that is
	// neither a connection failure nor a refusal of the spec.
	ReasonKafkaError = "KafkaError"

	// ReasonDriftDetected means the topic differs from the spec.
	ReasonDriftDetected = "DriftDetected"

	// ReasonDriftReverted means the topic differed from the spec and the
	// operator put it back (drift policy Revert).
	ReasonDriftReverted = "DriftReverted"

	// ReasonNoDrift means the topic matched the spec at the last resync.
	ReasonNoDrift = "NoDrift"
)

// Annotations that change how the operator treats an object.
const (
	// AnnotationAdopt, set to "true" on an EventStream, lets the operator take
	// over a topic that already exists in Kafka and that eventpipe did not create.
	AnnotationAdopt = "eventpipe.io/adopt"

	// AnnotationOrphan, set to "true" on an EventStream, releases its finalizer
	// without touching the topic, whatever the deletion policy, even while Kafka
	// is unreachable.
	AnnotationOrphan = "eventpipe.io/orphan"

	// AnnotationPaused, set to "true" on an AutoscalePolicy, stops every change
	// it would make, like spec.paused.
	AnnotationPaused = "eventpipe.io/paused"
)

// Finalizers the operator puts on objects it must clean up after.
const (
	// FinalizerTopic keeps an EventStream until its topic has been deleted or
	// deliberately retained.
	FinalizerTopic = "eventpipe.io/topic"
)

// Condition types of a Consumer.
const (
	// ConditionStreamsReady is True when the input, output and dead-letter
	// streams exist and are Ready.
	ConditionStreamsReady = "StreamsReady"

	// ConditionSettingsValid is True when the processor accepts its settings
	// and outputs.
	ConditionSettingsValid = "SettingsValid"

	// ConditionWorkersReady is True when every desired worker pod is ready.
	ConditionWorkersReady = "WorkersReady"

	// ConditionLagKnown is True when the consumer group's lag was read at the
	// last refresh.
	ConditionLagKnown = "LagKnown"
)

// Reasons of Consumer conditions. Events about a Consumer reuse them.
const (
	// ReasonConsumerReady means the workers run and every stream is Ready.
	ReasonConsumerReady = "ConsumerReady"

	// ReasonStreamsReady means every referenced stream is Ready.
	ReasonStreamsReady = "StreamsReady"

	// ReasonStreamNotFound means a referenced EventStream does not exist.
	ReasonStreamNotFound = "StreamNotFound"

	// ReasonStreamNotReady means a referenced EventStream exists but its topic
	// is not Ready.
	ReasonStreamNotReady = "StreamNotReady"

	// ReasonSettingsValid means the processor accepted its settings.
	ReasonSettingsValid = "SettingsValid"

	// ReasonInvalidSettings means the processor refused a setting or an output.
	ReasonInvalidSettings = "InvalidSettings"

	// ReasonWorkersReady means every desired worker pod is ready.
	ReasonWorkersReady = "WorkersReady"

	// ReasonWorkersProgressing means worker pods are starting or rolling out.
	ReasonWorkersProgressing = "WorkersProgressing"

	// ReasonScaledToZero means the Consumer asks for no workers.
	ReasonScaledToZero = "ScaledToZero"

	// ReasonLagRead means the lag was read from Kafka.
	ReasonLagRead = "LagRead"

	// ReasonConsumerGroupDeleted means the consumer group was deleted with its
	// Consumer (deleteConsumerGroup: true).
	ReasonConsumerGroupDeleted = "ConsumerGroupDeleted"
)

// Finalizers of a Consumer.
const (
	// FinalizerConsumerGroup keeps a Consumer with deleteConsumerGroup: true
	// until its consumer group has been deleted from Kafka.
	FinalizerConsumerGroup = "eventpipe.io/consumer-group"
)

// Condition types of an AutoscalePolicy.
const (
	// ConditionActive is True when a trigger wants more than minReplicas.
	ConditionActive = "Active"

	// ConditionBreakerOpen is True while the circuit breaker holds the floor.
	ConditionBreakerOpen = "BreakerOpen"

	// ConditionFallback is True while the floor is fallbackReplicas because
	// lag cannot be read.
	ConditionFallback = "Fallback"

	// ConditionPaused is True while the policy changes nothing.
	ConditionPaused = "Paused"
)

// Reasons of AutoscalePolicy conditions. Events about a policy reuse them; the
// breaker's trip reasons (Flapping, LagUnreadable, UpdateFailed) are reasons
// of BreakerOpen too.
const (
	// ReasonPolicyReady means the HorizontalPodAutoscaler carries the floor.
	ReasonPolicyReady = "PolicyReady"

	// ReasonTargetNotFound means the target Consumer does not exist.
	ReasonTargetNotFound = "TargetNotFound"

	// ReasonHPAUpdateFailed means the HorizontalPodAutoscaler could not be written.
	ReasonHPAUpdateFailed = "HPAUpdateFailed"

	// ReasonTriggerActive means a trigger wants more than minReplicas.
	ReasonTriggerActive = "TriggerActive"

	// ReasonTriggersInactive means no trigger wants more than minReplicas.
	ReasonTriggersInactive = "TriggersInactive"

	// ReasonBreakerClosed means the breaker lets changes through.
	ReasonBreakerClosed = "BreakerClosed"

	// ReasonBreakerHalfOpen means the breaker lets one change through to probe.
	ReasonBreakerHalfOpen = "BreakerHalfOpen"

	// ReasonFlapping means the floor changed too often inside the window.
	ReasonFlapping = "Flapping"

	// ReasonLagUnreadable means lag could not be read too many times in a row.
	ReasonLagUnreadable = "LagUnreadable"

	// ReasonUpdateFailed means the HorizontalPodAutoscaler could not be updated
	// too many times in a row.
	ReasonUpdateFailed = "UpdateFailed"

	// ReasonFallbackActive means the floor is fallbackReplicas.
	ReasonFallbackActive = "FallbackActive"

	// ReasonNoFallback means the floor follows the triggers.
	ReasonNoFallback = "NoFallback"

	// ReasonPaused means spec.paused or the eventpipe.io/paused annotation stops
	// every change.
	ReasonPaused = "Paused"

	// ReasonNotPaused means the policy acts.
	ReasonNotPaused = "NotPaused"

	// ReasonFloorChanged means the policy moved the floor.
	ReasonFloorChanged = "FloorChanged"

	// ReasonChangeRefused means the rate limit or the breaker held a change back.
	ReasonChangeRefused = "ChangeRefused"
)

// Reasons of RulePack conditions. Events about a RulePack reuse them.
const (
	// ReasonRulesCompiled means every rule of the pack compiled.
	ReasonRulesCompiled = "RulesCompiled"

	// ReasonCompileFailed means a rule did not compile; the pack reaches no worker.
	ReasonCompileFailed = "CompileFailed"
)
