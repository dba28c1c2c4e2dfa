package autoscale

import (
	"testing"
	"time"
)

// minutes are the times t0 plus each of ms minutes.
func minutes(ms ...int) []time.Time {
	out := make([]time.Time, 0, len(ms))
	for _, m := range ms {
		out = append(out, ts(time.Duration(m)*time.Minute))
	}
	return out
}

// breaker is d with the breaker going from one state to another.
func breaker(d Decision, from, to BreakerState) Decision {
	d.BreakerFrom, d.BreakerTo, d.BreakerChanged = from, to, from != to
	return d
}

const (
	flapReason = "Change 7 within 10m would be more than maxChanges 6: the floor is flapping."
	lagReason  = "Lag could not be read on 3 passes in a row."
)

func TestDecideBreakerClosed(t *testing.T) {
	now := ts(10 * time.Minute)
	runDecide(t, []decideCase{
		{
			name: "a change that would exceed maxChanges in the window opens the breaker",
			p:    policy(),
			s:    State{Floor: 3, Breaker: BreakerClosed, Changes: minutes(1, 2, 3, 4, 5, 6)},
			o:    lagged(now, 5000, 6),
			want: State{
				Floor: 3, Breaker: BreakerOpen, Trip: TripFlapping, BreakerReason: flapReason,
				OpenedAt: now,
			},
			d: breaker(Decision{
				From: 3, To: 3, Desired: 5, Active: true, Refused: true, HeldBy: GuardBreaker,
			}, BreakerClosed, BreakerOpen),
			reason: "(flapping), so the breaker opens until 12:15:00 UTC and the floor stays at 3",
		},
		{
			name: "the change that reaches maxChanges goes through",
			p:    policy(),
			s:    State{Floor: 3, Breaker: BreakerClosed, Changes: minutes(1, 2, 3, 4, 5)},
			o:    lagged(now, 5000, 6),
			want: State{
				Floor: 5, Breaker: BreakerClosed, LastUp: now,
				Changes: append(minutes(1, 2, 3, 4, 5), now),
			},
			d:      closed(Decision{From: 3, To: 5, Desired: 5, Active: true}),
			reason: "the floor moves from 3 to 5",
		},
		{
			name:   "maxChanges 0 counts no changes",
			p:      policy(func(p *Policy) { p.Breaker.MaxChanges = 0 }),
			s:      State{Floor: 3, Breaker: BreakerClosed, Changes: minutes(1, 2, 3, 4, 5, 6)},
			o:      lagged(now, 5000, 6),
			want:   State{Floor: 5, Breaker: BreakerClosed, LastUp: now},
			d:      closed(Decision{From: 3, To: 5, Desired: 5, Active: true}),
			reason: "the floor moves from 3 to 5",
		},
		{
			name:   "unreadable lag below the threshold keeps the floor and counts a failure",
			p:      policy(),
			s:      State{Floor: 3, Breaker: BreakerClosed, ConsecutiveFailures: 1},
			o:      unread(now),
			want:   State{Floor: 3, Breaker: BreakerClosed, ConsecutiveFailures: 2},
			d:      closed(Decision{From: 3, To: 3, Desired: 3, Active: true}),
			reason: "Lag cannot be read (failure 2 of 3); the floor stays at 3.",
		},
		{
			name: "unreadable lag keeps the floor even when a command wants more",
			p:    policy(),
			s:    State{Floor: 3, Breaker: BreakerClosed},
			o:    with(unread(now), to(now, 5)),
			want: State{
				Floor: 3, Breaker: BreakerClosed, ConsecutiveFailures: 1,
				LastCommand: &Command{Time: now, Desired: i32(5)},
			},
			d:      closed(Decision{From: 3, To: 3, Desired: 5, Active: true}),
			reason: "the floor stays at 3",
		},
		{
			name: "unreadable lag at the threshold opens the breaker and sets the fallback",
			p:    policy(),
			s:    State{Floor: 4, Breaker: BreakerClosed, ConsecutiveFailures: 2},
			o:    unread(now),
			want: State{
				Floor: 2, Breaker: BreakerOpen, Trip: TripLagUnreadable, BreakerReason: lagReason,
				OpenedAt: now, ConsecutiveFailures: 3, Fallback: true,
			},
			d: breaker(Decision{From: 4, To: 2, Desired: 4, Active: true},
				BreakerClosed, BreakerOpen),
			reason: "(failure 3 of 3), so the breaker opens until 12:15:00 UTC; " +
				"the floor goes to the fallback of 2 replicas",
		},
		{
			name: "unreadable lag at the threshold without a fallback keeps the last good floor",
			p:    policy(func(p *Policy) { p.Fallback = nil }),
			s:    State{Floor: 4, Breaker: BreakerClosed, ConsecutiveFailures: 2},
			o:    unread(now),
			want: State{
				Floor: 4, Breaker: BreakerOpen, Trip: TripLagUnreadable, BreakerReason: lagReason,
				OpenedAt: now, ConsecutiveFailures: 3,
			},
			d: breaker(Decision{From: 4, To: 4, Desired: 4, Active: true},
				BreakerClosed, BreakerOpen),
			reason: "the floor stays at the last good value 4",
		},
		{
			name: "a failed update below the threshold still lets the change through",
			p:    policy(),
			s:    State{Floor: 3, Breaker: BreakerClosed},
			o:    Observation{Now: now, LagOK: true, Lag: lagged(now, 5000, 6).Lag, UpdateFailed: true},
			want: State{
				Floor: 5, Breaker: BreakerClosed, ConsecutiveFailures: 1,
				LastUp: now, Changes: []time.Time{now},
			},
			d:      closed(Decision{From: 3, To: 5, Desired: 5, Active: true}),
			reason: "The last HPA update failed (failure 1 of 3). Lag 5000",
		},
		{
			name: "failed updates at the threshold open the breaker without the fallback",
			p:    policy(),
			s:    State{Floor: 3, Breaker: BreakerClosed, ConsecutiveFailures: 2},
			o:    Observation{Now: now, LagOK: true, Lag: lagged(now, 5000, 6).Lag, UpdateFailed: true},
			want: State{
				Floor: 3, Breaker: BreakerOpen, Trip: TripUpdateFailed,
				BreakerReason: "The HPA update failed on 3 passes in a row.",
				OpenedAt:      now, ConsecutiveFailures: 3,
			},
			d: breaker(Decision{
				From: 3, To: 3, Desired: 5, Active: true, Refused: true, HeldBy: GuardBreaker,
			}, BreakerClosed, BreakerOpen),
			reason: "the floor stays at the last good value 3",
		},
		{
			name: "unreadable lag and a failed update on one pass count one failure",
			p:    policy(),
			s:    State{Floor: 3, Breaker: BreakerClosed},
			o:    Observation{Now: now, UpdateFailed: true},
			want: State{Floor: 3, Breaker: BreakerClosed, ConsecutiveFailures: 1},
			d:    closed(Decision{From: 3, To: 3, Desired: 3, Active: true}),
			reason: "Lag cannot be read and the last HPA update failed (failure 1 of 3); " +
				"the floor stays at 3.",
		},
		{
			name:   "a lag reading resets the failures",
			p:      policy(),
			s:      State{Floor: 3, Breaker: BreakerClosed, ConsecutiveFailures: 2},
			o:      lagged(now, 2500, 3),
			want:   State{Floor: 3, Breaker: BreakerClosed},
			d:      closed(Decision{From: 3, To: 3, Desired: 3, Active: true}),
			reason: "the floor stays at 3",
		},
		{
			name:   "without a lag trigger unread lag is no failure",
			p:      policy(func(p *Policy) { p.LagPerReplica = 0 }),
			s:      State{Floor: 1, Breaker: BreakerClosed, ConsecutiveFailures: 2},
			o:      unread(now),
			want:   State{Floor: 1, Breaker: BreakerClosed},
			d:      closed(Decision{From: 1, To: 1, Desired: 1}),
			reason: "No trigger is active",
		},
		{
			name:   "failureThreshold 0 never opens the breaker on failures",
			p:      policy(func(p *Policy) { p.Breaker.FailureThreshold = 0 }),
			s:      State{Floor: 3, Breaker: BreakerClosed, ConsecutiveFailures: 9},
			o:      unread(now),
			want:   State{Floor: 3, Breaker: BreakerClosed, ConsecutiveFailures: 10},
			d:      closed(Decision{From: 3, To: 3, Desired: 3, Active: true}),
			reason: "Lag cannot be read (failure 10); the floor stays at 3.",
		},
		{
			name:   "an empty breaker state is closed",
			p:      policy(),
			s:      State{Floor: 3},
			o:      lagged(now, 2500, 3),
			want:   State{Floor: 3, Breaker: BreakerClosed},
			d:      closed(Decision{From: 3, To: 3, Desired: 3, Active: true}),
			reason: "the floor stays at 3",
		},
	})
}

func TestDecidePaused(t *testing.T) {
	now := ts(10 * time.Minute)
	paused := func(o Observation) Observation { o.Paused = true; return o }
	open := State{
		Floor: 3, Breaker: BreakerOpen, Trip: TripFlapping, BreakerReason: flapReason,
		OpenedAt: ts(0),
	}
	runDecide(t, []decideCase{
		{
			name:   "paused leaves the floor although the triggers want more",
			p:      policy(),
			s:      State{Floor: 2, Breaker: BreakerClosed},
			o:      paused(lagged(now, 12000, 6)),
			want:   State{Floor: 2, Breaker: BreakerClosed},
			d:      closed(Decision{From: 2, To: 2, Desired: 6, Active: true}),
			reason: "Paused: the floor stays at 2 although the triggers want 6.",
		},
		{
			name:   "paused makes no breaker transition after openFor",
			p:      policy(),
			s:      open,
			o:      paused(lagged(now, 0, 0)),
			want:   open,
			d:      breaker(Decision{From: 3, To: 3, Desired: 1}, BreakerOpen, BreakerOpen),
			reason: "Paused: the floor stays at 3 although the triggers want 1.",
		},
		{
			name:   "paused counts no failure and opens nothing",
			p:      policy(),
			s:      State{Floor: 3, Breaker: BreakerClosed, ConsecutiveFailures: 2},
			o:      paused(unread(now)),
			want:   State{Floor: 3, Breaker: BreakerClosed, ConsecutiveFailures: 2},
			d:      closed(Decision{From: 3, To: 3, Desired: 3, Active: true}),
			reason: "Paused: the floor stays at 3.",
		},
		{
			name: "paused still remembers a new command",
			p:    policy(),
			s:    State{Floor: 3, Breaker: BreakerClosed},
			o:    paused(with(lagged(now, 0, 0), to(now, 5))),
			want: State{
				Floor: 3, Breaker: BreakerClosed, LastCommand: &Command{Time: now, Desired: i32(5)},
			},
			d:      closed(Decision{From: 3, To: 3, Desired: 5, Active: true}),
			reason: "Paused",
		},
	})
}
