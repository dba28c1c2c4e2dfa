package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/log"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
	"github.com/eventpipe/eventpipe/controllers/autoscale"
	"github.com/eventpipe/eventpipe/controllers/conditions"
)

// maxDecisions is how many recent decisions the status keeps.
const maxDecisions = 20

// decisionPolicy turns a policy's spec, with defaults, into the decision
// logic's Policy. ceiling is the cap already lowered to the partitions.
func decisionPolicy(p *eventpipev1alpha1.AutoscalePolicy, ceiling int32) autoscale.Policy {
	out := autoscale.Policy{
		Min:           p.Spec.MinReplicas,
		Max:           ceiling,
		ScaleUp:       limits(p.Spec.ScaleUp, defaultScaleUpStable),
		ScaleDown:     limits(p.Spec.ScaleDown, defaultScaleDownStable),
		Fallback:      p.Spec.FallbackReplicas,
		CommandMaxAge: durationOr(p.Spec.CommandMaxAge, defaultCommandMaxAge),
		Breaker: autoscale.BreakerConfig{
			MaxChanges:       defaultMaxChanges,
			Window:           defaultBreakerWindow,
			FailureThreshold: defaultFailureThreshold,
			OpenFor:          defaultBreakerOpenFor,
		},
	}
	if cb := p.Spec.CircuitBreaker; cb != nil {
		if cb.MaxChanges != nil {
			out.Breaker.MaxChanges = int(*cb.MaxChanges)
		}
		out.Breaker.Window = durationOr(cb.Window, out.Breaker.Window)
		if cb.FailureThreshold != nil {
			out.Breaker.FailureThreshold = int(*cb.FailureThreshold)
		}
		out.Breaker.OpenFor = durationOr(cb.OpenFor, out.Breaker.OpenFor)
	}
	if t := trigger(p, eventpipev1alpha1.TriggerConsumerLag); t != nil && t.LagPerReplica != nil {
		out.LagPerReplica = *t.LagPerReplica
		out.ActivationLag = t.ActivationLag
	}
	return out
}

func limits(r *eventpipev1alpha1.ScalingRules, stable time.Duration) autoscale.Limits {
	l := autoscale.Limits{MaxStep: defaultMaxStep, Stabilization: stable}
	if r != nil && r.MaxStep != nil {
		l.MaxStep = *r.MaxStep
	}
	if r != nil && r.Stabilization != nil {
		l.Stabilization = r.Stabilization.Duration
	}
	return l
}

// stateFromStatus reads the decision state the last pass left in the status.
func stateFromStatus(s eventpipev1alpha1.AutoscalePolicyStatus) autoscale.State {
	st := autoscale.State{
		Floor:               s.Floor,
		Breaker:             autoscale.BreakerState(s.Breaker.State),
		Trip:                autoscale.Trip(s.Breaker.Trip),
		BreakerReason:       s.Breaker.Reason,
		ConsecutiveFailures: int(s.Breaker.ConsecutiveFailures),
		Fallback:            s.Breaker.Fallback,
		OpenedAt:            timeOf(s.Breaker.OpenedAt),
		HalfOpenedAt:        timeOf(s.Breaker.HalfOpenedAt),
		LastUp:              timeOf(s.LastScaleUp),
		LastDown:            timeOf(s.LastScaleDown),
	}
	if st.Breaker == "" {
		st.Breaker = autoscale.BreakerClosed
	}
	for _, c := range s.Breaker.Changes {
		st.Changes = append(st.Changes, c.Time)
	}
	if c := s.LastCommand; c != nil {
		st.LastCommand = &autoscale.Command{Time: c.Time.Time, Desired: ptr.To(c.DesiredReplicas), Reason: c.Reason}
	}
	return st
}

// record writes the pass into the status, conditions and metrics.
func (r *AutoscalePolicyReconciler) record(
	p *eventpipev1alpha1.AutoscalePolicy,
	st autoscale.State,
	d autoscale.Decision,
	obs autoscale.Observation,
	ceiling int32,
) {
	s := &p.Status
	s.HPAName = p.Name
	s.Floor, s.DesiredReplicas, s.MaxReplicas = st.Floor, d.Desired, ceiling
	if obs.LagOK {
		s.Lag = obs.Lag.Total
	}
	s.LastScaleUp, s.LastScaleDown = metaTime(st.LastUp), metaTime(st.LastDown)
	s.Breaker = eventpipev1alpha1.BreakerStatus{
		State:               eventpipev1alpha1.BreakerState(st.Breaker),
		Reason:              st.BreakerReason,
		Trip:                string(st.Trip),
		OpenedAt:            metaTime(st.OpenedAt),
		HalfOpenedAt:        metaTime(st.HalfOpenedAt),
		ConsecutiveFailures: int32(st.ConsecutiveFailures),
		Fallback:            st.Fallback,
	}
	for _, t := range st.Changes {
		s.Breaker.Changes = append(s.Breaker.Changes, metav1.NewTime(t))
	}
	s.LastCommand = nil
	if c := st.LastCommand; c != nil && c.Desired != nil {
		s.LastCommand = &eventpipev1alpha1.CommandStatus{Time: metav1.NewTime(c.Time), DesiredReplicas: *c.Desired,
			Reason: c.Reason}
	}
	// A refusal repeats every sync until the limit lifts: keep the first.
	repeated := false
	if n := len(s.Decisions); n > 0 && d.Refused && !d.BreakerChanged {
		last := s.Decisions[n-1]
		repeated = last.From == last.To && last.From == d.From
	}
	if d.Changed() || d.BreakerChanged || (d.Refused && !repeated) {
		s.Decisions = append(s.Decisions, eventpipev1alpha1.ScaleDecision{
			Time: metav1.NewTime(obs.Now), From: d.From, To: d.To, Reason: d.Reason,
		})
		if n := len(s.Decisions); n > maxDecisions {
			s.Decisions = s.Decisions[n-maxDecisions:]
		}
	}

	r.setConditions(p, st, d, obs)
	observePolicyMetrics(p, st, d, obs)
}

// announce emits an event for every applied change and breaker transition.
func (r *AutoscalePolicyReconciler) announce(
	ctx context.Context,
	p *eventpipev1alpha1.AutoscalePolicy,
	d autoscale.Decision,
) {
	logger := log.FromContext(ctx)
	if d.BreakerChanged {
		kind, reason := corev1.EventTypeNormal, eventpipev1alpha1.ReasonBreakerClosed
		switch d.BreakerTo {
		case autoscale.BreakerOpen:
			kind, reason = corev1.EventTypeWarning, p.Status.Breaker.Trip
		case autoscale.BreakerHalfOpen:
			reason = eventpipev1alpha1.ReasonBreakerHalfOpen
		}
		r.Recorder.Eventf(p, nil, kind, reason, "Breaker", "Circuit breaker %s -> %s: %s",
			d.BreakerFrom, d.BreakerTo, d.Reason)
		logger.Info("Circuit breaker changed", "from", d.BreakerFrom, "to", d.BreakerTo, "reason", d.Reason)
	}
	if d.Changed() {
		r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, eventpipev1alpha1.ReasonFloorChanged, "Scale",
			"Floor %d -> %d: %s", d.From, d.To, d.Reason)
		logger.Info("Changed replica floor", "from", d.From, "to", d.To, "reason", d.Reason)
	}
}

func (r *AutoscalePolicyReconciler) setConditions(
	p *eventpipev1alpha1.AutoscalePolicy,
	st autoscale.State,
	d autoscale.Decision,
	obs autoscale.Observation,
) {
	conds, gen := &p.Status.Conditions, p.Generation
	set := func(t string, ok bool, reason, msg string) {
		status := metav1.ConditionFalse
		if ok {
			status = metav1.ConditionTrue
		}
		conditions.Set(conds, gen, t, status, reason, msg)
	}

	if obs.Paused {
		set(eventpipev1alpha1.ConditionPaused, true, eventpipev1alpha1.ReasonPaused,
			"The policy is paused: the floor stays as it is until spec.paused and the eventpipe.io/paused "+
				"annotation are cleared.")
	} else {
		set(eventpipev1alpha1.ConditionPaused, false, eventpipev1alpha1.ReasonNotPaused, "The policy acts.")
	}

	if d.Active {
		set(eventpipev1alpha1.ConditionActive, true, eventpipev1alpha1.ReasonTriggerActive,
			fmt.Sprintf("The triggers want %d replicas.", d.Desired))
	} else {
		set(eventpipev1alpha1.ConditionActive, false, eventpipev1alpha1.ReasonTriggersInactive,
			fmt.Sprintf("No trigger wants more than minReplicas (%d).", p.Spec.MinReplicas))
	}

	switch st.Breaker {
	case autoscale.BreakerOpen:
		set(eventpipev1alpha1.ConditionBreakerOpen, true, string(st.Trip), st.BreakerReason)
	case autoscale.BreakerHalfOpen:
		set(eventpipev1alpha1.ConditionBreakerOpen, false, eventpipev1alpha1.ReasonBreakerHalfOpen,
			"The breaker is half-open: it lets one change through and closes after a stable period.")
	default:
		set(eventpipev1alpha1.ConditionBreakerOpen, false, eventpipev1alpha1.ReasonBreakerClosed,
			"The breaker lets changes through, within the rate limit.")
	}

	if st.Fallback {
		set(eventpipev1alpha1.ConditionFallback, true, eventpipev1alpha1.ReasonFallbackActive, fmt.Sprintf(
			"Lag cannot be read from the brokers at %s, so the floor is fallbackReplicas (%d).",
			r.Kafka.Brokers(), st.Floor))
	} else {
		set(eventpipev1alpha1.ConditionFallback, false, eventpipev1alpha1.ReasonNoFallback,
			"The floor follows the triggers.")
	}

	set(eventpipev1alpha1.ConditionReady, true, eventpipev1alpha1.ReasonPolicyReady, fmt.Sprintf(
		"HorizontalPodAutoscaler %s holds Consumer %s at a floor of %d (cap %d). %s",
		p.Name, p.Spec.Target, st.Floor, p.Status.MaxReplicas, d.Reason))
}

func (r *AutoscalePolicyReconciler) markNotReady(p *eventpipev1alpha1.AutoscalePolicy, reason, msg string) {
	if conditions.Set(&p.Status.Conditions, p.Generation, eventpipev1alpha1.ConditionReady,
		metav1.ConditionFalse, reason, msg) {
		r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, reason, "Reconcile", msg)
	}
}

func timeOf(t *metav1.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}

func metaTime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	return ptr.To(metav1.NewTime(t))
}
