package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Severity ranks what a matching rule means.
// +kubebuilder:validation:Enum=info;low;medium;high;critical
type Severity string

// RuleEmit is the event a rule emits when its condition matches.
type RuleEmit struct {
	// type is the CloudEvents type of the emitted event.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Type string `json:"type"`

	// output is the Consumer output the event goes to. Default: the processor's
	// first output.
	// +optional
	Output string `json:"output,omitempty"`
}

// Rule is one CEL condition over an event.
type Rule struct {
	// name identifies the rule within the pack; names are unique.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="rule names are lowercase letters, digits and '-', starting and ending with a letter or digit"
	Name string `json:"name"`

	// condition is a CEL expression that yields a bool. It sees the event's
	// attributes (type, source, id, subject, time, and extensions), its data as
	// `data`, and the pack's parameters as `params`.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Condition string `json:"condition"`

	// severity is info, low, medium, high or critical. Default: medium.
	// +kubebuilder:default=medium
	// +optional
	Severity Severity `json:"severity,omitempty"`

	// emit is the event emitted when the condition matches. Without it, a match
	// only feeds the processor's own decision.
	// +optional
	Emit *RuleEmit `json:"emit,omitempty"`
}

// RulePackSpec is the desired state of a RulePack: CEL rules that workers
// hot-load.
type RulePackSpec struct {
	// params are named values the rules read as `params.<name>`.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Params *apiextensionsv1.JSON `json:"params,omitempty"`

	// rules are evaluated in order. Names are unique.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=256
	// +listType=atomic
	// +kubebuilder:validation:XValidation:rule="self.all(r, self.exists_one(o, o.name == r.name))",message="rule names must be unique within a RulePack"
	Rules []Rule `json:"rules"`
}

// RuleVersion is the RulePack version one Consumer's workers run.
type RuleVersion struct {
	// consumer is the Consumer's name.
	Consumer string `json:"consumer"`
	// version is the RulePack version its workers reported.
	Version string `json:"version"`
}

// RulePackStatus is the compiled state of a RulePack.
type RulePackStatus struct {
	// observedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// version is a short hash of the compiled rules and params; workers report
	// the version they run.
	// +optional
	Version string `json:"version,omitempty"`

	// ruleCount is the number of rules that compiled.
	// +optional
	RuleCount int32 `json:"ruleCount,omitempty"`

	// consumers lists the version each Consumer that uses this pack runs.
	// +optional
	// +listType=map
	// +listMapKey=consumer
	Consumers []RuleVersion `json:"consumers,omitempty"`

	// conditions describe the pack; Ready is True when every rule compiled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// RulePack is a set of CEL rules that workers evaluate and load without restart.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rp,categories=eventpipe
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.status.version`
// +kubebuilder:printcolumn:name="Rules",type=integer,JSONPath=`.status.ruleCount`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RulePack struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the rules.
	Spec RulePackSpec `json:"spec"`

	// status is the compiled state.
	// +optional
	Status RulePackStatus `json:"status,omitempty"`
}

// RulePackList is a list of RulePacks.
// +kubebuilder:object:root=true
type RulePackList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the RulePacks.
	Items []RulePack `json:"items"`
}
