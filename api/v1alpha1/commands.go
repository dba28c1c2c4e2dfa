package v1alpha1

// ScaleCommandType is the CloudEvents type of a scale command: an event on an
// AutoscalePolicy's command stream asking for a number of replicas. The
// infra-monitoring processor emits them; anything else may too.
const ScaleCommandType = "io.eventpipe.autoscale.command"

// ScaleCommand is the data of a scale command event, as JSON. It names its
// target Consumer, in the namespace of the command stream, and either the
// replicas it wants or a step from the current floor.
type ScaleCommand struct {
	// Target is the Consumer to scale.
	Target string `json:"target"`
	// DesiredReplicas is the replica count wanted.
	DesiredReplicas *int32 `json:"desiredReplicas,omitempty"`
	// Step is a change of the current floor, such as +2 or -1.
	Step *int32 `json:"step,omitempty"`
	// Reason says why, for status and events.
	Reason string `json:"reason,omitempty"`
}
