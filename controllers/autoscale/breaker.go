package autoscale

import (
	"fmt"
	"time"
)

// tick runs the breaker's timers: Open half-opens once OpenFor has passed, and
// HalfOpen closes once StablePeriod has passed without trouble (trouble would
// have opened it again). One transition per pass, so that a breaker that
// half-opens is watched for at least one pass before it closes.
func (ps *pass) tick() {
	s, c, now := &ps.s, ps.p.Breaker, ps.o.Now
	switch {
	case s.Breaker == BreakerOpen && !now.Before(ps.halfOpensAt()):
		s.Breaker, s.HalfOpenedAt = BreakerHalfOpen, now
		ps.note("The breaker half-opened after %s open.", span(c.OpenFor))
	case s.Breaker == BreakerHalfOpen && !now.Before(ps.closesAt()):
		s.Breaker, s.Trip, s.BreakerReason, s.Fallback = BreakerClosed, "", "", false
		ps.note("The breaker closed after %s half-open without trouble.", span(c.stablePeriod()))
	}
}

// breakerHolds refuses a change the breaker does not let through and reports
// whether it did. Open lets nothing through. HalfOpen lets one change through;
// after it, a change the same way waits for the breaker to close, and a change
// that reverses it is flapping and opens the breaker again.
func (ps *pass) breakerHolds(up bool) bool {
	s := &ps.s
	switch s.Breaker {
	case BreakerOpen:
		ps.refuse(GuardBreaker, fmt.Sprintf(
			"the breaker is open until %s because %s, so the floor stays at %d",
			clock(ps.halfOpensAt()), tripPhrase(s.Trip), s.Floor))
		return true
	case BreakerHalfOpen:
		probedUp, probed := ps.probe()
		if !probed {
			return false
		}
		if probedUp == up {
			ps.refuse(GuardBreaker, fmt.Sprintf(
				"the half-open breaker has let its one change through and closes at %s, "+
					"so the floor stays at %d", clock(ps.closesAt()), s.Floor))
			return true
		}
		ps.open(TripFlapping, "The floor reversed while the breaker was half-open: "+
			"it is still flapping.")
		ps.refuse(GuardBreaker, fmt.Sprintf(
			"reversing the half-open change is flapping, so the breaker opens again until %s "+
				"and the floor stays at %d", clock(ps.halfOpensAt()), s.Floor))
		return true
	}
	return false
}

// probe reports whether the half-open breaker has let its one change through,
// and which way it went.
func (ps *pass) probe() (up, probed bool) {
	s := ps.s
	if since(s.LastUp, s.HalfOpenedAt) {
		return true, true
	}
	return false, since(s.LastDown, s.HalfOpenedAt)
}

// since says t is set and not before from.
func since(t, from time.Time) bool {
	return !t.IsZero() && !t.Before(from)
}

// flapping opens a closed breaker, refusing the change, when the change would
// make more than MaxChanges inside the window, and reports whether it did. A
// half-open breaker's one change is not counted against MaxChanges: the breaker
// already allows only one, and a reversal of it is what counts as flapping.
func (ps *pass) flapping() bool {
	s, c := &ps.s, ps.p.Breaker
	if s.Breaker != BreakerClosed || c.MaxChanges <= 0 || len(s.Changes) < c.MaxChanges {
		return false
	}
	n := len(s.Changes) + 1
	ps.open(TripFlapping, fmt.Sprintf(
		"Change %d within %s would be more than maxChanges %d: the floor is flapping.",
		n, span(c.Window), c.MaxChanges))
	ps.refuse(GuardBreaker, fmt.Sprintf(
		"change %d within %s would be more than maxChanges %d (flapping), "+
			"so the breaker opens until %s and the floor stays at %d",
		n, span(c.Window), c.MaxChanges, clock(ps.halfOpensAt()), s.Floor))
	return true
}

// open opens the breaker now. It forgets the changes in the window: they are
// what it acted on, and counting them again after it closes would trip it at
// once.
func (ps *pass) open(trip Trip, why string) {
	s := &ps.s
	s.Breaker, s.Trip, s.BreakerReason = BreakerOpen, trip, why
	s.OpenedAt = ps.o.Now
	s.Changes = nil
	ps.opened = true
}

// halfOpensAt is when an open breaker half-opens.
func (ps *pass) halfOpensAt() time.Time {
	return ps.s.OpenedAt.Add(ps.p.Breaker.OpenFor)
}

// closesAt is when a half-open breaker closes if nothing goes wrong.
func (ps *pass) closesAt() time.Time {
	return ps.s.HalfOpenedAt.Add(ps.p.Breaker.stablePeriod())
}

// repeatedTrouble is the breaker reason for failures that reached the threshold.
func repeatedTrouble(t Trip, n int) string {
	if t == TripLagUnreadable {
		return fmt.Sprintf("Lag could not be read on %d passes in a row.", n)
	}
	return fmt.Sprintf("The HPA update failed on %d passes in a row.", n)
}

// halfOpenTrouble is the breaker reason for a failure while half-open.
func halfOpenTrouble(t Trip) string {
	if t == TripLagUnreadable {
		return "Lag could not be read while the breaker was half-open."
	}
	return "The HPA update failed while the breaker was half-open."
}

// tripPhrase says in a few words why the breaker opened.
func tripPhrase(t Trip) string {
	switch t {
	case TripFlapping:
		return "the floor was flapping"
	case TripLagUnreadable:
		return "lag could not be read"
	case TripUpdateFailed:
		return "the HPA update kept failing"
	}
	return "of earlier trouble"
}
