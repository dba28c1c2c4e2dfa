package autoscale

import (
	"fmt"
	"math"
	"time"
)

// desire is what the triggers want, with the words that explain it.
type desire struct {
	// value is the largest desire, clamped to [Min, Max].
	value int32
	// active says a trigger is active.
	active bool
	// parts are clauses of the decision's reason.
	parts []string
}

// Desired returns the floor the triggers want before the rate limit and the
// breaker: the larger of the lag desire and the command desire, clamped to
// [Min, Max], or Min when no trigger is active. The lag desire is
// ceil(lag / LagPerReplica), never more than the partitions with lag, and
// nothing below ActivationLag; while lag cannot be read it holds the current
// floor. The command desire is that of the newest command still in force.
func Desired(p Policy, s State, o Observation) int32 {
	return desireOf(p, prepare(p, s, o), o).value
}

// prepare returns a copy of s ready for a pass: the breaker state defaulted,
// the floor inside [Min, Max], the changes trimmed to the window, and the
// newest command in force. It never writes to memory s shares with the caller.
func prepare(p Policy, s State, o Observation) State {
	if s.Breaker == "" {
		s.Breaker = BreakerClosed
	}
	s.Floor = bound(p, int64(s.Floor))
	s.Changes = inWindow(p.Breaker, s.Changes, o.Now)
	s.LastCommand = commandInForce(p, s, o)
	return s
}

// inWindow returns a new slice of the changes inside the window ending at now.
// With flapping detection off there is nothing to count.
func inWindow(c BreakerConfig, changes []time.Time, now time.Time) []time.Time {
	if c.MaxChanges <= 0 {
		return nil
	}
	var kept []time.Time
	for _, t := range changes {
		if now.Sub(t) < c.Window {
			kept = append(kept, t)
		}
	}
	return kept
}

// commandInForce picks the newest usable command among the one in force and
// the new ones. A new command must be newer than the one in force: one no newer
// is a repeat of it (the caller may pass the latest command on every pass) or
// arrived out of order, and a repeated step must not apply twice. Among the
// new commands the later one wins a tie. Steps resolve against s.Floor.
func commandInForce(p Policy, s State, o Observation) *Command {
	var best, inForce *Command
	if s.LastCommand != nil && usable(p, *s.LastCommand, o.Now) {
		c := clone(*s.LastCommand)
		if c.Desired == nil {
			c = resolve(c, s.Floor)
		}
		best, inForce = &c, &c
	}
	for _, c := range o.Commands {
		switch {
		case !usable(p, c, o.Now):
			continue
		case inForce != nil && !c.Time.After(inForce.Time):
			continue
		case best != nil && c.Time.Before(best.Time):
			continue
		}
		r := resolve(c, s.Floor)
		best = &r
	}
	return best
}

// usable says a command asks for something and is not stale.
func usable(p Policy, c Command, now time.Time) bool {
	if c.Desired == nil && c.Step == nil {
		return false
	}
	return p.CommandMaxAge <= 0 || now.Sub(c.Time) <= p.CommandMaxAge
}

// clone returns a copy of c that shares no memory with it.
func clone(c Command) Command {
	if c.Desired != nil {
		v := *c.Desired
		c.Desired = &v
	}
	if c.Step != nil {
		v := *c.Step
		c.Step = &v
	}
	return c
}

// resolve returns a copy of c, sharing no memory with it, whose Desired is set.
// Step stays set only when Desired came from it.
func resolve(c Command, floor int32) Command {
	if c.Desired != nil {
		v := *c.Desired
		c.Desired, c.Step = &v, nil
		return c
	}
	step := *c.Step
	v := toInt32(int64(floor) + int64(step))
	c.Desired, c.Step = &v, &step
	return c
}

// desireOf computes the desire from a prepared state.
func desireOf(p Policy, s State, o Observation) desire {
	var d desire
	var raw int64
	if p.LagPerReplica > 0 {
		n, active, part := lagDesire(p, s, o)
		raw, d.active = n, active
		d.parts = append(d.parts, part)
	}
	if c := s.LastCommand; c != nil {
		raw = max(raw, int64(*c.Desired))
		d.active = true
		d.parts = append(d.parts, commandPhrase(*c))
	}
	d.value = bound(p, raw)
	switch {
	case !d.active:
		d.parts = append(d.parts, fmt.Sprintf("no trigger is active, so the desire rests at %d",
			d.value))
	case raw < int64(d.value):
		d.parts = append(d.parts, fmt.Sprintf("minReplicas raises the desire to %d", d.value))
	case raw > int64(d.value):
		d.parts = append(d.parts, fmt.Sprintf("maxReplicas caps the desire at %d", d.value))
	}
	return d
}

// lagDesire is the ConsumerLag trigger's desire, whether it is active, and a
// clause that explains it.
func lagDesire(p Policy, s State, o Observation) (int64, bool, string) {
	l := o.Lag
	switch {
	case !o.LagOK:
		return int64(s.Floor), true,
			fmt.Sprintf("lag cannot be read, so the lag trigger holds the floor at %d", s.Floor)
	case l.Total <= 0:
		return 0, false, "there is no lag"
	case l.Total < p.ActivationLag:
		return 0, false, fmt.Sprintf("lag %d is below the activation lag %d",
			l.Total, p.ActivationLag)
	}
	n := l.Total / p.LagPerReplica
	if l.Total%p.LagPerReplica != 0 {
		n++
	}
	part := fmt.Sprintf("lag %d at %d per replica wants %s", l.Total, p.LagPerReplica, replicas(n))
	if n <= int64(l.Lagging) {
		return n, true, part
	}
	return int64(l.Lagging), true,
		fmt.Sprintf("%s, capped at %d (the partitions with lag)", part, l.Lagging)
}

// commandPhrase explains a resolved command's desire.
func commandPhrase(c Command) string {
	who := "a command"
	if c.Reason != "" {
		who = fmt.Sprintf("the command %q", c.Reason)
	}
	if c.Step != nil {
		return fmt.Sprintf("%s (step %+d) wants %s", who, *c.Step, replicas(int64(*c.Desired)))
	}
	return fmt.Sprintf("%s wants %s", who, replicas(int64(*c.Desired)))
}

// bound clamps v to [Min, Max]; Max wins when the two cross.
func bound(p Policy, v int64) int32 {
	return int32(min(max(v, int64(p.Min)), int64(p.Max)))
}

// toInt32 clamps v to the int32 range.
func toInt32(v int64) int32 {
	return int32(min(max(v, math.MinInt32), math.MaxInt32))
}

// replicas says "1 replica" or "n replicas".
func replicas(n int64) string {
	if n == 1 {
		return "1 replica"
	}
	return fmt.Sprintf("%d replicas", n)
}
