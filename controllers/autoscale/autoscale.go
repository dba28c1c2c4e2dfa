// Package autoscale holds the pure decisions of the AutoscalePolicy reconciler:
// the replica floor that consumer lag and scale commands ask for, and how far
// the rate limit and the circuit breaker let the floor move towards it.
// Nothing here reads a clock or talks to Kafka or Kubernetes: the caller passes
// the time in and keeps State between passes, so every pass can be replayed.
package autoscale

import (
	"time"

	"github.com/eventpipe/eventpipe/controllers/lag"
)

// BreakerState is the state of the circuit breaker. Its values are those of
// the API's BreakerState, so the reconciler converts one into the other.
type BreakerState string

const (
	// BreakerClosed lets changes through, within the rate limit.
	BreakerClosed BreakerState = "Closed"
	// BreakerOpen freezes the floor.
	BreakerOpen BreakerState = "Open"
	// BreakerHalfOpen lets one change through, then closes after a stable period.
	BreakerHalfOpen BreakerState = "HalfOpen"
)

// Trip says why the breaker last opened. The values are UpperCamel so that
// they can serve as condition and event reasons.
type Trip string

const (
	// TripFlapping says the floor changed too often inside the window.
	TripFlapping Trip = "Flapping"
	// TripLagUnreadable says lag could not be read, so the floor may fall back.
	TripLagUnreadable Trip = "LagUnreadable"
	// TripUpdateFailed says the HorizontalPodAutoscaler could not be updated.
	TripUpdateFailed Trip = "UpdateFailed"
)

// Guard names what held a wanted change back, entirely or in part.
type Guard string

const (
	// GuardNone says nothing held the change back.
	GuardNone Guard = ""
	// GuardMaxStep says the change was cut to the direction's maximum step.
	GuardMaxStep Guard = "MaxStep"
	// GuardStabilization says the direction's stabilization window refused it.
	GuardStabilization Guard = "Stabilization"
	// GuardBreaker says the circuit breaker refused it.
	GuardBreaker Guard = "Breaker"
)

// Limits bound how fast the floor moves in one direction.
type Limits struct {
	// MaxStep is the most replicas one change may move the floor; 0 is no limit.
	MaxStep int32
	// Stabilization is the least time between two changes in this direction;
	// 0 lets a change through on every pass.
	Stabilization time.Duration
}

// BreakerConfig configures the circuit breaker.
type BreakerConfig struct {
	// MaxChanges is the most applied changes inside Window; the change that
	// would make one more opens the breaker (flapping). 0 turns this off.
	MaxChanges int
	// Window is the period MaxChanges counts over.
	Window time.Duration
	// FailureThreshold is how many failing passes in a row (lag unreadable, or
	// the previous HorizontalPodAutoscaler update failed) open the breaker.
	// 0 turns this off.
	FailureThreshold int
	// OpenFor is how long the breaker stays open before it half-opens.
	OpenFor time.Duration
	// StablePeriod is how long the breaker stays half-open without trouble
	// before it closes. 0 means Window: by then the changes that tripped it
	// have left the window, so closing cannot trip it again at once.
	StablePeriod time.Duration
}

// stablePeriod is StablePeriod with its default applied.
func (c BreakerConfig) stablePeriod() time.Duration {
	if c.StablePeriod > 0 {
		return c.StablePeriod
	}
	return c.Window
}

// Policy is an AutoscalePolicy's spec, with its defaults applied by the caller.
type Policy struct {
	// Min is the lowest floor.
	Min int32
	// Max is the highest floor, already capped by the caller at the input
	// stream's partitions. When Max is below Min, Max wins.
	Max int32
	// ScaleUp limits changes that raise the floor.
	ScaleUp Limits
	// ScaleDown limits changes that lower the floor.
	ScaleDown Limits
	// Breaker configures the circuit breaker.
	Breaker BreakerConfig
	// Fallback is the floor the breaker sets when it opens because lag cannot
	// be read; nil keeps the last good floor.
	Fallback *int32
	// LagPerReplica is the lag one replica is expected to work off; 0 means
	// there is no ConsumerLag trigger, and Observation.LagOK is ignored.
	LagPerReplica int64
	// ActivationLag is the lag below which the ConsumerLag trigger is inactive.
	ActivationLag int64
	// CommandMaxAge is the age past which a scale command is stale and ignored;
	// 0 lets a command last until a newer one replaces it.
	CommandMaxAge time.Duration
}

// Command is a scale command from the command stream.
type Command struct {
	// Time is when the command was issued; its age is measured from it.
	Time time.Time
	// Desired is the floor the command asks for. It wins when Step is set too.
	Desired *int32
	// Step is a change relative to the floor the command arrives at. Decide
	// resolves it once, into Desired, so that a step applies once and not on
	// every pass while the command is in force.
	Step *int32
	// Reason is why the command was issued.
	Reason string
}

// Observation is what the reconciler saw on this pass.
type Observation struct {
	// Now is the time of the pass.
	Now time.Time
	// LagOK says the lag was read on this pass; when false, Lag is ignored.
	LagOK bool
	// Lag is the consumer group's lag on the input stream.
	Lag lag.Lag
	// Commands are the commands received, in any order. Passing the latest
	// command again on later passes is harmless: only a command newer than the
	// one in force replaces it.
	Commands []Command
	// Paused stops every change and every breaker transition.
	Paused bool
	// UpdateFailed says the previous pass failed to update the
	// HorizontalPodAutoscaler; it counts as a failure.
	UpdateFailed bool
}

// State is what Decide remembers between passes; the reconciler keeps it in
// the AutoscalePolicy's status. The zero State is a policy seen for the first
// time: its floor starts at Min and its breaker is closed.
type State struct {
	// Floor is the replica floor for the HorizontalPodAutoscaler's minReplicas.
	// The reconciler writes it on every pass, so a failed update is retried.
	Floor int32
	// Breaker is the circuit breaker's state; empty means Closed.
	Breaker BreakerState
	// Trip says why the breaker last opened; empty while it is closed.
	Trip Trip
	// BreakerReason is a sentence saying why the breaker last opened; empty
	// while it is closed.
	BreakerReason string
	// OpenedAt is when the breaker last opened.
	OpenedAt time.Time
	// HalfOpenedAt is when the breaker last half-opened.
	HalfOpenedAt time.Time
	// ConsecutiveFailures counts the failing passes in a row.
	ConsecutiveFailures int
	// Fallback says the floor is the fallback the breaker set when lag could not
	// be read; it clears with the next applied change or when the breaker closes.
	Fallback bool
	// Changes are the times of the applied changes still inside the window. The
	// breaker forgets them when it opens: it has already acted on them.
	Changes []time.Time
	// LastUp is when the floor was last raised.
	LastUp time.Time
	// LastDown is when the floor was last lowered.
	LastDown time.Time
	// LastCommand is the newest command still in force, its step resolved.
	LastCommand *Command
}

// Decision is the outcome of one pass.
type Decision struct {
	// From is the floor before the pass.
	From int32
	// To is the floor after it; equal to From when nothing changes.
	To int32
	// Desired is what the triggers want, clamped to [Min, Max] but before the
	// rate limit and the breaker.
	Desired int32
	// Active says a trigger is active: lag at or above the activation lag, a
	// command in force, or unreadable lag holding the floor.
	Active bool
	// Reason says in sentences what drove the pass or why a change was refused.
	Reason string
	// Refused says a change was wanted but the rate limit or the breaker held
	// the floor where it was.
	Refused bool
	// HeldBy names what refused the change or cut it short.
	HeldBy Guard
	// BreakerChanged says the breaker changed state on this pass, or half-opened
	// and opened again.
	BreakerChanged bool
	// BreakerFrom is the breaker's state before the pass.
	BreakerFrom BreakerState
	// BreakerTo is the breaker's state after it.
	BreakerTo BreakerState
}

// Changed says the floor moved.
func (d Decision) Changed() bool {
	return d.To != d.From
}
