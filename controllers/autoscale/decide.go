package autoscale

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// pass is one run of Decide: the state it builds and the words that explain it.
type pass struct {
	p    Policy
	o    Observation
	s    State
	want desire
	// notes are whole sentences that come before the main one.
	notes []string
	// main are the clauses of the main sentence.
	main    []string
	refused bool
	heldBy  Guard
	// opened says the breaker opened on this pass.
	opened bool
}

// Decide runs one pass of the policy. It works out what the triggers want,
// lets the change through the rate limit and the circuit breaker as far as
// they allow, and returns the state to keep with the decision to apply.
//
// The order of a pass: the floor is put inside [Min, Max] (bounds are not a
// change the limit or the breaker guards, as the HorizontalPodAutoscaler
// refuses a floor outside them); a paused policy stops there; the breaker's
// timers run (Open half-opens after OpenFor, HalfOpen closes after
// StablePeriod); a failing pass is counted, and without a lag reading the
// floor stays; then the change passes the breaker, the stabilization window,
// the maximum step and the flapping check, in that order.
func Decide(p Policy, s State, o Observation) (State, Decision) {
	from, openedAt := s.Floor, s.OpenedAt
	breakerFrom := s.Breaker
	if breakerFrom == "" {
		breakerFrom = BreakerClosed
	}

	ps := &pass{p: p, o: o, s: prepare(p, s, o)}
	ps.want = desireOf(p, ps.s, o)
	ps.run(from)

	return ps.s, Decision{
		From:           from,
		To:             ps.s.Floor,
		Desired:        ps.want.value,
		Active:         ps.want.active,
		Reason:         ps.reason(),
		Refused:        ps.refused,
		HeldBy:         ps.heldBy,
		BreakerChanged: ps.s.Breaker != breakerFrom || !ps.s.OpenedAt.Equal(openedAt),
		BreakerFrom:    breakerFrom,
		BreakerTo:      ps.s.Breaker,
	}
}

// run takes the pass's steps in order.
func (ps *pass) run(from int32) {
	ps.boundsNote(from)
	if ps.o.Paused {
		ps.paused()
		return
	}
	ps.tick()
	if ps.fail() {
		return
	}
	ps.change()
}

// boundsNote explains a floor that prepare moved into [Min, Max].
func (ps *pass) boundsNote(from int32) {
	f := ps.s.Floor
	switch {
	case f == from:
	case from == 0:
		ps.note("The floor starts at %d.", f)
	case f > from:
		ps.note("The floor rises to minReplicas %d.", f)
	default:
		ps.note("The floor follows maxReplicas down to %d.", f)
	}
}

// paused leaves everything as it is: no change and no breaker transition.
// Failures are not counted either; commands are still remembered.
func (ps *pass) paused() {
	c := fmt.Sprintf("paused: the floor stays at %d", ps.s.Floor)
	if ps.want.value != ps.s.Floor {
		c += fmt.Sprintf(" although the triggers want %d", ps.want.value)
	}
	ps.say(c)
}

// fail counts a failing pass (lag unreadable, or the previous update failed)
// and opens the breaker when the failures say so. It reports whether the pass
// ends here: without a lag reading the floor stays where it is, except for the
// fallback the breaker sets when it opens; after a failed update the pass goes
// on, unless the breaker has just opened.
func (ps *pass) fail() bool {
	s := &ps.s
	lagDown := ps.p.LagPerReplica > 0 && !ps.o.LagOK
	if !lagDown && !ps.o.UpdateFailed {
		s.ConsecutiveFailures = 0
		return false
	}

	s.ConsecutiveFailures++
	n, threshold := s.ConsecutiveFailures, ps.p.Breaker.FailureThreshold
	trip, what := TripUpdateFailed, "the last HPA update failed"
	if lagDown {
		trip, what = TripLagUnreadable, "lag cannot be read"
	}
	if lagDown && ps.o.UpdateFailed {
		what += " and the last HPA update failed"
	}
	switch {
	case s.Breaker == BreakerHalfOpen:
		ps.open(trip, halfOpenTrouble(trip))
		what += fmt.Sprintf(" while the breaker is half-open, so it opens again until %s",
			clock(ps.halfOpensAt()))
	case s.Breaker == BreakerOpen:
		what += fmt.Sprintf(" (failure %d) and the breaker is open until %s",
			n, clock(ps.halfOpensAt()))
	case threshold <= 0:
		what += fmt.Sprintf(" (failure %d)", n)
	case n < threshold:
		what += fmt.Sprintf(" (failure %d of %d)", n, threshold)
	default:
		ps.open(trip, repeatedTrouble(trip, n))
		what += fmt.Sprintf(" (failure %d of %d), so the breaker opens until %s",
			n, threshold, clock(ps.halfOpensAt()))
	}

	if !lagDown && !ps.opened {
		ps.note("%s.", capitalize(what))
		return false
	}
	ps.say(what)
	ps.say(ps.freeze(lagDown && ps.opened))
	if !lagDown && ps.want.value != s.Floor {
		ps.refused, ps.heldBy = true, GuardBreaker
	}
	return true
}

// freeze keeps the floor, or sets the fallback when the breaker has just
// opened for lack of a lag reading, and says which.
func (ps *pass) freeze(fallback bool) string {
	s := &ps.s
	if fallback && ps.p.Fallback != nil {
		fb := bound(ps.p, int64(*ps.p.Fallback))
		s.Fallback = true
		if fb == s.Floor {
			return fmt.Sprintf("the floor stays at the fallback of %s", replicas(int64(fb)))
		}
		s.Floor = fb
		return fmt.Sprintf("the floor goes to the fallback of %s", replicas(int64(fb)))
	}
	if ps.opened {
		return fmt.Sprintf("the floor stays at the last good value %d", s.Floor)
	}
	return fmt.Sprintf("the floor stays at %d", s.Floor)
}

// change moves the floor towards the desire as far as the breaker and the
// rate limit let it.
func (ps *pass) change() {
	s := &ps.s
	target := ps.want.value
	ps.main = append(ps.main, ps.want.parts...)
	if target == s.Floor {
		ps.say(fmt.Sprintf("the floor stays at %d", s.Floor))
		return
	}
	if ps.breakerHolds(target > s.Floor) {
		return
	}

	next, held, clause := ps.limit(target)
	if held == GuardStabilization {
		ps.refuse(held, clause)
		return
	}
	if ps.flapping() {
		return
	}
	ps.apply(next, held, clause)
}

// limit applies the rate limit of the change's direction: it returns the
// floor the change may reach, what held it back, and a clause that says so.
func (ps *pass) limit(target int32) (int32, Guard, string) {
	s, now := ps.s, ps.o.Now
	lim, last, dir := ps.p.ScaleUp, s.LastUp, "scale-up"
	if target < s.Floor {
		lim, last, dir = ps.p.ScaleDown, s.LastDown, "scale-down"
	}
	until := last.Add(lim.Stabilization)
	if lim.Stabilization > 0 && !last.IsZero() && now.Before(until) {
		return s.Floor, GuardStabilization, fmt.Sprintf(
			"%s waits for its stabilization window until %s, so the floor stays at %d",
			dir, clock(until), s.Floor)
	}

	step := target - s.Floor
	if lim.MaxStep <= 0 || (step <= lim.MaxStep && -step <= lim.MaxStep) {
		return target, GuardNone, fmt.Sprintf("the floor moves from %d to %d", s.Floor, target)
	}
	next := s.Floor + lim.MaxStep
	if step < 0 {
		next = s.Floor - lim.MaxStep
	}
	return next, GuardMaxStep, fmt.Sprintf("%s limited to %+d, so the floor moves from %d to %d",
		dir, next-s.Floor, s.Floor, next)
}

// apply moves the floor and records the change.
func (ps *pass) apply(next int32, held Guard, clause string) {
	s := &ps.s
	if s.Breaker == BreakerHalfOpen {
		ps.say("the breaker is half-open and lets this one change through")
	}
	ps.say(clause)
	ps.heldBy = held

	if next > s.Floor {
		s.LastUp = ps.o.Now
	}
	if next < s.Floor {
		s.LastDown = ps.o.Now
	}
	if ps.p.Breaker.MaxChanges > 0 {
		s.Changes = append(s.Changes, ps.o.Now)
	}
	s.Floor, s.Fallback = next, false
}

// refuse leaves the floor where it is because g held the change back.
func (ps *pass) refuse(g Guard, clause string) {
	ps.refused, ps.heldBy = true, g
	ps.say(clause)
}

// note adds a whole sentence before the main one.
func (ps *pass) note(format string, args ...any) {
	ps.notes = append(ps.notes, fmt.Sprintf(format, args...))
}

// say adds a clause to the main sentence.
func (ps *pass) say(clause string) {
	ps.main = append(ps.main, clause)
}

// reason joins the notes and the main sentence.
func (ps *pass) reason() string {
	sentences := append([]string(nil), ps.notes...)
	sentences = append(sentences, capitalize(strings.Join(ps.main, "; "))+".")
	return strings.Join(sentences, " ")
}

// capitalize upper-cases the first letter of s.
func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// clock formats a time for a reason sentence.
func clock(t time.Time) string {
	return t.UTC().Format("15:04:05 MST")
}

// span formats a duration for a reason sentence: 10m rather than 10m0s.
func span(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
