package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TriggerType names what drives a replica floor.
// +kubebuilder:validation:Enum=ConsumerLag;CPU;Commands
type TriggerType string

const (
	// TriggerConsumerLag scales on the consumer group's lag.
	TriggerConsumerLag TriggerType = "ConsumerLag"
	// TriggerCPU lets the HorizontalPodAutoscaler scale on CPU above the floor.
	TriggerCPU TriggerType = "CPU"
	// TriggerCommands scales on scale commands read from a stream.
	TriggerCommands TriggerType = "Commands"
)

// BreakerState is the state of a circuit breaker.
// +kubebuilder:validation:Enum=Closed;Open;HalfOpen
type BreakerState string

const (
	// BreakerClosed lets changes through.
	BreakerClosed BreakerState = "Closed"
	// BreakerOpen freezes the floor.
	BreakerOpen BreakerState = "Open"
	// BreakerHalfOpen lets one change through to probe.
	BreakerHalfOpen BreakerState = "HalfOpen"
)

// Trigger is one source of desired replicas.
// +kubebuilder:validation:XValidation:rule="self.type != 'ConsumerLag' || has(self.lagPerReplica)",message="a ConsumerLag trigger needs lagPerReplica"
// +kubebuilder:validation:XValidation:rule="self.type != 'CPU' || has(self.targetUtilization)",message="a CPU trigger needs targetUtilization"
// +kubebuilder:validation:XValidation:rule="self.type != 'Commands' || has(self.stream)",message="a Commands trigger needs stream"
type Trigger struct {
	// type is ConsumerLag, CPU or Commands.
	Type TriggerType `json:"type"`

	// lagPerReplica is the lag, in events, one replica is expected to work off
	// (ConsumerLag). Desired replicas = ceil(lag / lagPerReplica).
	// +optional
	// +kubebuilder:validation:Minimum=1
	LagPerReplica *int64 `json:"lagPerReplica,omitempty"`

	// activationLag is the lag, in events, below which the ConsumerLag trigger
	// is inactive. Default: 0.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ActivationLag int64 `json:"activationLag,omitempty"`

	// excludePersistentLag leaves out partitions whose lag has not moved while
	// the group is not consuming them (ConsumerLag). Default: false.
	// +optional
	ExcludePersistentLag bool `json:"excludePersistentLag,omitempty"`

	// targetUtilization is the average CPU utilisation, in percent of requests,
	// the HorizontalPodAutoscaler aims for (CPU).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	TargetUtilization *int32 `json:"targetUtilization,omitempty"`

	// stream is the EventStream, in the same namespace, that carries scale
	// commands (Commands).
	// +optional
	Stream string `json:"stream,omitempty"`
}

// ScalingRules limit how fast the floor moves in one direction.
type ScalingRules struct {
	// maxStep is the most replicas one change may add or remove. Default: 4.
	// +optional
	// +kubebuilder:validation:Minimum=1
	MaxStep *int32 `json:"maxStep,omitempty"`

	// stabilization is the least time between two changes in this direction.
	// Default: 0s up, 300s down.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$')",message="stabilization must be a duration such as 0s or 300s"
	Stabilization *metav1.Duration `json:"stabilization,omitempty"`
}

// CircuitBreaker guards every change of the floor.
type CircuitBreaker struct {
	// maxChanges is the most floor changes allowed within window; one more
	// opens the breaker (flapping). Default: 6.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=50
	MaxChanges *int32 `json:"maxChanges,omitempty"`

	// window is the period maxChanges counts over. Default: 10m.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="window must be a positive duration such as 10m"
	Window *metav1.Duration `json:"window,omitempty"`

	// failureThreshold is how many consecutive failures to read lag or update
	// the HorizontalPodAutoscaler open the breaker. Default: 3.
	// +optional
	// +kubebuilder:validation:Minimum=1
	FailureThreshold *int32 `json:"failureThreshold,omitempty"`

	// openFor is how long the breaker stays open before it half-opens.
	// Default: 5m.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="openFor must be a positive duration such as 5m"
	OpenFor *metav1.Duration `json:"openFor,omitempty"`
}

// AutoscalePolicySpec is the desired scaling of one Consumer.
// +kubebuilder:validation:XValidation:rule="self.minReplicas <= self.maxReplicas",message="minReplicas must not be greater than maxReplicas"
// +kubebuilder:validation:XValidation:rule="!has(self.fallbackReplicas) || (self.fallbackReplicas >= self.minReplicas && self.fallbackReplicas <= self.maxReplicas)",message="fallbackReplicas must lie between minReplicas and maxReplicas"
type AutoscalePolicySpec struct {
	// target is the Consumer, in the same namespace, whose workers scale.
	// +kubebuilder:validation:MinLength=1
	Target string `json:"target"`

	// minReplicas is the lowest replica count. Default: 1.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +optional
	MinReplicas int32 `json:"minReplicas,omitempty"`

	// maxReplicas is the highest replica count. It is capped at the input
	// stream's partitions: more consumers than partitions would sit idle.
	// +kubebuilder:validation:Minimum=1
	MaxReplicas int32 `json:"maxReplicas"`

	// triggers are what drive the floor; the largest desire wins.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +listType=atomic
	Triggers []Trigger `json:"triggers"`

	// scaleUp limits changes that add replicas.
	// +optional
	ScaleUp *ScalingRules `json:"scaleUp,omitempty"`

	// scaleDown limits changes that remove replicas.
	// +optional
	ScaleDown *ScalingRules `json:"scaleDown,omitempty"`

	// circuitBreaker stops the floor from flapping or following bad readings.
	// +optional
	CircuitBreaker *CircuitBreaker `json:"circuitBreaker,omitempty"`

	// fallbackReplicas is the floor while lag cannot be read at all and the
	// breaker is open. Default: the last good floor.
	// +optional
	FallbackReplicas *int32 `json:"fallbackReplicas,omitempty"`

	// syncPeriod is how often lag is read. Default: 5s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('1s')",message="syncPeriod must be a duration of at least 1s"
	SyncPeriod *metav1.Duration `json:"syncPeriod,omitempty"`

	// commandMaxAge is the age past which a scale command is ignored as stale.
	// Default: 2m.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="commandMaxAge must be a positive duration such as 2m"
	CommandMaxAge *metav1.Duration `json:"commandMaxAge,omitempty"`

	// paused, when true, stops every change; the annotation
	// eventpipe.io/paused: "true" does the same. Default: false.
	// +optional
	Paused bool `json:"paused,omitempty"`
}

// BreakerStatus is the state of the policy's circuit breaker.
type BreakerStatus struct {
	// state is Closed, Open or HalfOpen.
	// +optional
	State BreakerState `json:"state,omitempty"`
	// reason says, as a sentence, why the breaker last opened; empty while closed.
	// +optional
	Reason string `json:"reason,omitempty"`
	// trip names why the breaker last opened: Flapping, LagUnreadable or
	// UpdateFailed; empty while closed.
	// +optional
	Trip string `json:"trip,omitempty"`
	// openedAt is when the breaker last opened.
	// +optional
	OpenedAt *metav1.Time `json:"openedAt,omitempty"`
	// halfOpenedAt is when the breaker last half-opened.
	// +optional
	HalfOpenedAt *metav1.Time `json:"halfOpenedAt,omitempty"`
	// consecutiveFailures counts the syncs in a row that could not read lag or
	// update the HorizontalPodAutoscaler.
	// +optional
	ConsecutiveFailures int32 `json:"consecutiveFailures,omitempty"`
	// fallback is true while the floor is fallbackReplicas because lag cannot
	// be read.
	// +optional
	Fallback bool `json:"fallback,omitempty"`
	// changes are the times of the floor changes still inside the window.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	Changes []metav1.Time `json:"changes,omitempty"`
}

// CommandStatus is the scale command in force.
type CommandStatus struct {
	// time is the command's event time.
	Time metav1.Time `json:"time"`
	// desiredReplicas is what the command asks for; a step is resolved against
	// the floor when the command arrives.
	DesiredReplicas int32 `json:"desiredReplicas"`
	// reason is the command's own reason.
	// +optional
	Reason string `json:"reason,omitempty"`
}

// ScaleDecision is one decision about the floor.
type ScaleDecision struct {
	// time is when the decision was made.
	Time metav1.Time `json:"time"`
	// from is the floor before.
	From int32 `json:"from"`
	// to is the floor after; equal to from when the change was refused.
	To int32 `json:"to"`
	// reason says why.
	Reason string `json:"reason"`
}

// AutoscalePolicyStatus is what the policy last decided.
type AutoscalePolicyStatus struct {
	// observedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// hpaName is the HorizontalPodAutoscaler the policy owns.
	// +optional
	HPAName string `json:"hpaName,omitempty"`
	// floor is the replica floor set on the HorizontalPodAutoscaler.
	// +optional
	Floor int32 `json:"floor,omitempty"`
	// desiredReplicas is what the triggers wanted at the last sync, before the
	// rate limit and the breaker.
	// +optional
	DesiredReplicas int32 `json:"desiredReplicas,omitempty"`
	// maxReplicas is the cap in force: spec.maxReplicas or the input stream's
	// partitions, whichever is lower.
	// +optional
	MaxReplicas int32 `json:"maxReplicas,omitempty"`
	// lag is the consumer group's lag at the last sync, in events.
	// +optional
	Lag int64 `json:"lag,omitempty"`
	// lastScaleUp is when the floor last rose.
	// +optional
	LastScaleUp *metav1.Time `json:"lastScaleUp,omitempty"`
	// lastScaleDown is when the floor last fell.
	// +optional
	LastScaleDown *metav1.Time `json:"lastScaleDown,omitempty"`
	// lastCommand is the scale command in force.
	// +optional
	LastCommand *CommandStatus `json:"lastCommand,omitempty"`
	// breaker is the circuit breaker's state.
	// +optional
	Breaker BreakerStatus `json:"breaker,omitempty"`
	// decisions are the most recent decisions, newest last.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	Decisions []ScaleDecision `json:"decisions,omitempty"`
	// conditions are Ready, Active, BreakerOpen, Fallback and Paused.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// AutoscalePolicy scales a Consumer's workers with a HorizontalPodAutoscaler
// whose floor follows consumer lag and scale commands.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=asp,categories=eventpipe
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.target`
// +kubebuilder:printcolumn:name="Floor",type=integer,JSONPath=`.status.floor`
// +kubebuilder:printcolumn:name="Breaker",type=string,JSONPath=`.status.breaker.state`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AutoscalePolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired scaling.
	Spec AutoscalePolicySpec `json:"spec"`

	// status is what the policy last decided.
	// +optional
	Status AutoscalePolicyStatus `json:"status,omitempty"`
}

// AutoscalePolicyList is a list of AutoscalePolicies.
// +kubebuilder:object:root=true
type AutoscalePolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the AutoscalePolicies.
	Items []AutoscalePolicy `json:"items"`
}
