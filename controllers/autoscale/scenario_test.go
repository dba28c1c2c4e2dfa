package autoscale

import (
	"strings"
	"testing"
	"time"
)

// scenarioStep is one pass of a scenario and what must come of it.
type scenarioStep struct {
	o       Observation
	floor   int32
	breaker BreakerState
	refused bool
	heldBy  Guard
	// reason is a part the decision's reason must contain; empty checks none.
	reason string
}

// runScenario runs the steps in order, each from the state the last one left.
func runScenario(t *testing.T, p Policy, s State, steps []scenarioStep) {
	t.Helper()
	for i, st := range steps {
		var d Decision
		s, d = Decide(p, s, st.o)
		at := st.o.Now.Sub(t0)
		checkReason(t, d.Reason)
		if s.Floor != st.floor || d.To != st.floor || s.Breaker != st.breaker {
			t.Fatalf("step %d at +%s: floor %d, breaker %s, want %d, %s (%s)",
				i, at, s.Floor, s.Breaker, st.floor, st.breaker, d.Reason)
		}
		if d.Refused != st.refused || d.HeldBy != st.heldBy {
			t.Fatalf("step %d at +%s: refused %t by %q, want %t by %q (%s)",
				i, at, d.Refused, d.HeldBy, st.refused, st.heldBy, d.Reason)
		}
		if !strings.Contains(d.Reason, st.reason) {
			t.Fatalf("step %d at +%s: reason %q does not contain %q", i, at, d.Reason, st.reason)
		}
	}
}

// sec is t0 plus n seconds.
func sec(n int) time.Time { return ts(time.Duration(n) * time.Second) }

func TestScenarioSpikeDrainFlapRecover(t *testing.T) {
	p := policy(func(p *Policy) {
		p.ScaleDown.Stabilization = time.Minute
		p.Breaker.MaxChanges = 4
	})
	cmd := func(n int, desired int32) Observation {
		return with(lagged(sec(n), 0, 0), to(sec(n), desired))
	}
	runScenario(t, p, State{}, []scenarioStep{
		// The policy appears: the floor starts at min.
		{o: lagged(sec(0), 0, 0), floor: 1, breaker: BreakerClosed, reason: "starts at 1"},
		// A lag spike: the floor rises by maxStep, then the rest of the way.
		{o: lagged(sec(5), 12000, 6), floor: 5, breaker: BreakerClosed, heldBy: GuardMaxStep},
		{o: lagged(sec(10), 12000, 6), floor: 6, breaker: BreakerClosed},
		// The lag drains to 4 replicas' worth: one step per stabilization window.
		{o: lagged(sec(20), 3500, 4), floor: 5, breaker: BreakerClosed, heldBy: GuardMaxStep},
		{
			o: lagged(sec(30), 3500, 4), floor: 5, breaker: BreakerClosed,
			refused: true, heldBy: GuardStabilization, reason: "until 12:01:20 UTC",
		},
		{o: lagged(sec(80), 3500, 4), floor: 4, breaker: BreakerClosed},
		{o: lagged(sec(140), 3500, 4), floor: 4, breaker: BreakerClosed},
		// Ten quiet minutes later, alternating commands: four changes fit the window.
		{o: cmd(720, 6), floor: 6, breaker: BreakerClosed},
		// The listener hands over its latest command again: a repeat changes nothing.
		{
			o:     with(lagged(sec(725), 0, 0), to(sec(720), 6)),
			floor: 6, breaker: BreakerClosed, reason: "the floor stays at 6",
		},
		{o: cmd(730, 2), floor: 5, breaker: BreakerClosed, heldBy: GuardMaxStep},
		{o: cmd(740, 6), floor: 6, breaker: BreakerClosed},
		{
			o: cmd(750, 2), floor: 6, breaker: BreakerClosed,
			refused: true, heldBy: GuardStabilization,
		},
		{o: cmd(800, 2), floor: 5, breaker: BreakerClosed, heldBy: GuardMaxStep},
		// The fifth change inside the window is flapping: the breaker opens.
		{
			o: cmd(810, 6), floor: 5, breaker: BreakerOpen,
			refused: true, heldBy: GuardBreaker, reason: "change 5 within 10m",
		},
		{
			o: cmd(840, 2), floor: 5, breaker: BreakerOpen,
			refused: true, heldBy: GuardBreaker, reason: "open until 12:18:30 UTC",
		},
		// After openFor it half-opens and lets one change through (the commands are
		// stale by now, so the desire is min).
		{
			o: lagged(sec(1110), 0, 0), floor: 4, breaker: BreakerHalfOpen,
			heldBy: GuardMaxStep, reason: "lets this one change through",
		},
		{
			o: lagged(sec(1170), 0, 0), floor: 4, breaker: BreakerHalfOpen,
			refused: true, heldBy: GuardBreaker, reason: "closes at 12:28:30 UTC",
		},
		// A stable period without trouble closes it, and scaling goes on.
		{
			o: lagged(sec(1710), 0, 0), floor: 3, breaker: BreakerClosed,
			heldBy: GuardMaxStep, reason: "closed after 10m half-open",
		},
		{o: lagged(sec(1770), 0, 0), floor: 2, breaker: BreakerClosed, heldBy: GuardMaxStep},
	})
}

func TestScenarioBrokerDown(t *testing.T) {
	runScenario(t, policy(), State{Floor: 5}, []scenarioStep{
		{o: lagged(sec(0), 5000, 6), floor: 5, breaker: BreakerClosed},
		// The broker stops: failures count up while the floor stays.
		{o: unread(sec(5)), floor: 5, breaker: BreakerClosed, reason: "failure 1 of 3"},
		{o: unread(sec(10)), floor: 5, breaker: BreakerClosed, reason: "failure 2 of 3"},
		// The third failure opens the breaker and the floor goes to the fallback.
		{
			o: unread(sec(15)), floor: 2, breaker: BreakerOpen,
			reason: "the floor goes to the fallback of 2 replicas",
		},
		{o: unread(sec(20)), floor: 2, breaker: BreakerOpen, reason: "failure 4"},
		// The broker is back, but the breaker holds the fallback until openFor.
		{
			o: lagged(sec(25), 5000, 6), floor: 2, breaker: BreakerOpen,
			refused: true, heldBy: GuardBreaker, reason: "because lag could not be read",
		},
		// Half-open: one change, then a stable period closes it.
		{o: lagged(sec(315), 5000, 6), floor: 5, breaker: BreakerHalfOpen},
		{o: lagged(sec(600), 5000, 6), floor: 5, breaker: BreakerHalfOpen},
		{o: lagged(sec(915), 6000, 6), floor: 6, breaker: BreakerClosed},
	})
}

func TestScenarioBrokerDownKeepsFallbackState(t *testing.T) {
	p := policy()
	s := State{Floor: 5, ConsecutiveFailures: 2}
	s, _ = Decide(p, s, unread(sec(0)))
	if !s.Fallback || s.Trip != TripLagUnreadable {
		t.Fatalf("after the threshold: fallback %t, trip %q; want true, %q",
			s.Fallback, s.Trip, TripLagUnreadable)
	}
	s, _ = Decide(p, s, lagged(sec(300), 5000, 6))
	if s.Fallback || s.Breaker != BreakerHalfOpen || s.Floor != 5 {
		t.Fatalf("after the half-open change: fallback %t, breaker %s, floor %d; "+
			"want false, HalfOpen, 5", s.Fallback, s.Breaker, s.Floor)
	}
}
