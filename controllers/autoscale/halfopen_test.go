package autoscale

import (
	"testing"
	"time"
)

func TestDecideBreakerOpen(t *testing.T) {
	now := ts(10 * time.Minute)
	// flapped is a breaker opened for flapping at opened.
	flapped := func(floor int32, opened time.Time) State {
		return State{
			Floor: floor, Breaker: BreakerOpen, Trip: TripFlapping, BreakerReason: flapReason,
			OpenedAt: opened,
		}
	}
	runDecide(t, []decideCase{
		{
			name: "an open breaker freezes the floor until openFor has passed",
			p:    policy(),
			s:    flapped(3, ts(8*time.Minute)),
			o:    lagged(now, 5000, 6),
			want: flapped(3, ts(8*time.Minute)),
			d: breaker(Decision{
				From: 3, To: 3, Desired: 5, Active: true, Refused: true, HeldBy: GuardBreaker,
			}, BreakerOpen, BreakerOpen),
			reason: "the breaker is open until 12:13:00 UTC because the floor was flapping, " +
				"so the floor stays at 3",
		},
		{
			name: "an open breaker says it opened on failed updates",
			p:    policy(),
			s: State{
				Floor: 3, Breaker: BreakerOpen, Trip: TripUpdateFailed, OpenedAt: ts(8 * time.Minute),
				BreakerReason: "The HPA update failed on 3 passes in a row.",
			},
			o: lagged(now, 5000, 6),
			want: State{
				Floor: 3, Breaker: BreakerOpen, Trip: TripUpdateFailed, OpenedAt: ts(8 * time.Minute),
				BreakerReason: "The HPA update failed on 3 passes in a row.",
			},
			d: breaker(Decision{
				From: 3, To: 3, Desired: 5, Active: true, Refused: true, HeldBy: GuardBreaker,
			}, BreakerOpen, BreakerOpen),
			reason: "because the HPA update kept failing",
		},
		{
			name: "an open breaker sets the fallback only on opening, not on later failures",
			p:    policy(),
			s: func() State {
				s := flapped(4, ts(8*time.Minute))
				s.ConsecutiveFailures = 3
				return s
			}(),
			o: unread(now),
			want: func() State {
				s := flapped(4, ts(8*time.Minute))
				s.ConsecutiveFailures = 4
				return s
			}(),
			d: breaker(Decision{From: 4, To: 4, Desired: 4, Active: true},
				BreakerOpen, BreakerOpen),
			reason: "Lag cannot be read (failure 4) and the breaker is open until 12:13:00 UTC; " +
				"the floor stays at 4.",
		},
		{
			name: "after openFor the breaker half-opens and lets one change through",
			p:    policy(),
			s:    flapped(1, ts(5*time.Minute)),
			o:    lagged(now, 12000, 6),
			want: State{
				Floor: 5, Breaker: BreakerHalfOpen, Trip: TripFlapping, BreakerReason: flapReason,
				OpenedAt: ts(5 * time.Minute), HalfOpenedAt: now,
				LastUp: now, Changes: []time.Time{now},
			},
			d: breaker(Decision{
				From: 1, To: 5, Desired: 6, Active: true, HeldBy: GuardMaxStep,
			}, BreakerOpen, BreakerHalfOpen),
			reason: "The breaker half-opened after 5m open. Lag 12000 at 1000 per replica wants " +
				"12 replicas, capped at 6 (the partitions with lag); the breaker is half-open " +
				"and lets this one change through; scale-up limited to +4",
		},
		{
			name: "after openFor with nothing to change the breaker only half-opens",
			p:    policy(),
			s:    flapped(3, ts(5*time.Minute)),
			o:    lagged(now, 2500, 3),
			want: State{
				Floor: 3, Breaker: BreakerHalfOpen, Trip: TripFlapping, BreakerReason: flapReason,
				OpenedAt: ts(5 * time.Minute), HalfOpenedAt: now,
			},
			d: breaker(Decision{From: 3, To: 3, Desired: 3, Active: true},
				BreakerOpen, BreakerHalfOpen),
			reason: "the floor stays at 3",
		},
		{
			name: "a breaker that half-opens into a lag failure opens again at once",
			p:    policy(),
			s: State{
				Floor: 2, Breaker: BreakerOpen, Trip: TripLagUnreadable, BreakerReason: lagReason,
				OpenedAt: ts(5 * time.Minute), ConsecutiveFailures: 3, Fallback: true,
			},
			o: unread(now),
			want: State{
				Floor: 2, Breaker: BreakerOpen, Trip: TripLagUnreadable,
				BreakerReason: "Lag could not be read while the breaker was half-open.",
				OpenedAt:      now, HalfOpenedAt: now, ConsecutiveFailures: 4, Fallback: true,
			},
			d: Decision{
				From: 2, To: 2, Desired: 2, Active: true,
				BreakerChanged: true, BreakerFrom: BreakerOpen, BreakerTo: BreakerOpen,
			},
			reason: "The breaker half-opened after 5m open. Lag cannot be read while the breaker " +
				"is half-open, so it opens again until 12:15:00 UTC; the floor stays at the " +
				"fallback of 2 replicas.",
		},
	})
}

func TestDecideBreakerHalfOpen(t *testing.T) {
	now := ts(10 * time.Minute)
	// probed is a breaker that half-opened at 12:05 and raised the floor then.
	probed := State{
		Floor: 5, Breaker: BreakerHalfOpen, Trip: TripFlapping, BreakerReason: flapReason,
		OpenedAt: ts(0), HalfOpenedAt: ts(5 * time.Minute), LastUp: ts(5 * time.Minute),
		Changes: minutes(5),
	}
	reopened := func(trip Trip, why string, floor int32, fallback bool, failures int) State {
		return State{
			Floor: floor, Breaker: BreakerOpen, Trip: trip, BreakerReason: why,
			OpenedAt: now, HalfOpenedAt: ts(5 * time.Minute), LastUp: ts(5 * time.Minute),
			Fallback: fallback, ConsecutiveFailures: failures,
		}
	}
	runDecide(t, []decideCase{
		{
			name: "after its one change a half-open breaker holds a change the same way",
			p:    policy(),
			s:    probed,
			o:    lagged(now, 12000, 6),
			want: probed,
			d: breaker(Decision{
				From: 5, To: 5, Desired: 6, Active: true, Refused: true, HeldBy: GuardBreaker,
			}, BreakerHalfOpen, BreakerHalfOpen),
			reason: "the half-open breaker has let its one change through and closes at " +
				"12:15:00 UTC, so the floor stays at 5",
		},
		{
			name: "a change that reverses the half-open change opens the breaker again",
			p:    policy(),
			s:    probed,
			o:    lagged(now, 0, 0),
			want: reopened(TripFlapping,
				"The floor reversed while the breaker was half-open: it is still flapping.",
				5, false, 0),
			d: breaker(Decision{From: 5, To: 5, Desired: 1, Refused: true, HeldBy: GuardBreaker},
				BreakerHalfOpen, BreakerOpen),
			reason: "reversing the half-open change is flapping, so the breaker opens again " +
				"until 12:15:00 UTC and the floor stays at 5",
		},
		{
			name: "a lag failure in half-open opens the breaker again and sets the fallback",
			p:    policy(),
			s:    probed,
			o:    unread(now),
			want: reopened(TripLagUnreadable,
				"Lag could not be read while the breaker was half-open.", 2, true, 1),
			d: breaker(Decision{From: 5, To: 2, Desired: 5, Active: true},
				BreakerHalfOpen, BreakerOpen),
			reason: "the floor goes to the fallback of 2 replicas",
		},
		{
			name: "a failed update in half-open opens the breaker again",
			p:    policy(),
			s:    probed,
			o:    Observation{Now: now, LagOK: true, Lag: lagged(now, 2500, 3).Lag, UpdateFailed: true},
			want: reopened(TripUpdateFailed,
				"The HPA update failed while the breaker was half-open.", 5, false, 1),
			d: breaker(Decision{
				From: 5, To: 5, Desired: 3, Active: true, Refused: true, HeldBy: GuardBreaker,
			}, BreakerHalfOpen, BreakerOpen),
			reason: "The last HPA update failed while the breaker is half-open, so it opens " +
				"again until 12:15:00 UTC; the floor stays at the last good value 5",
		},
		{
			name: "the stabilization window may hold a half-open breaker's change",
			p:    policy(),
			s: State{
				Floor: 4, Breaker: BreakerHalfOpen, Trip: TripFlapping, BreakerReason: flapReason,
				OpenedAt: ts(4 * time.Minute), HalfOpenedAt: ts(9 * time.Minute),
				LastDown: ts(7 * time.Minute),
			},
			o: lagged(now, 0, 0),
			want: State{
				Floor: 4, Breaker: BreakerHalfOpen, Trip: TripFlapping, BreakerReason: flapReason,
				OpenedAt: ts(4 * time.Minute), HalfOpenedAt: ts(9 * time.Minute),
				LastDown: ts(7 * time.Minute),
			},
			d: breaker(Decision{
				From: 4, To: 4, Desired: 1, Refused: true, HeldBy: GuardStabilization,
			}, BreakerHalfOpen, BreakerHalfOpen),
			reason: "scale-down waits for its stabilization window until 12:12:00 UTC",
		},
		{
			name: "a half-open breaker closes after the stable period, which defaults to the window",
			p:    policy(),
			s: State{
				Floor: 2, Breaker: BreakerHalfOpen, Trip: TripLagUnreadable, BreakerReason: lagReason,
				OpenedAt: ts(-5 * time.Minute), HalfOpenedAt: ts(0), Fallback: true,
			},
			o: lagged(now, 3500, 4),
			want: State{
				Floor: 4, Breaker: BreakerClosed, OpenedAt: ts(-5 * time.Minute),
				HalfOpenedAt: ts(0), LastUp: now, Changes: []time.Time{now},
			},
			d: breaker(Decision{From: 2, To: 4, Desired: 4, Active: true},
				BreakerHalfOpen, BreakerClosed),
			reason: "The breaker closed after 10m half-open without trouble. Lag 3500",
		},
		{
			name: "a half-open breaker stays half-open until the stable period ends",
			p:    policy(func(p *Policy) { p.Breaker.StablePeriod = 2 * time.Minute }),
			s: State{
				Floor: 3, Breaker: BreakerHalfOpen, Trip: TripFlapping, BreakerReason: flapReason,
				OpenedAt: ts(3 * time.Minute), HalfOpenedAt: ts(8*time.Minute + time.Second),
			},
			o: lagged(now, 2500, 3),
			want: State{
				Floor: 3, Breaker: BreakerHalfOpen, Trip: TripFlapping, BreakerReason: flapReason,
				OpenedAt: ts(3 * time.Minute), HalfOpenedAt: ts(8*time.Minute + time.Second),
			},
			d: breaker(Decision{From: 3, To: 3, Desired: 3, Active: true},
				BreakerHalfOpen, BreakerHalfOpen),
			reason: "the floor stays at 3",
		},
		{
			name: "an explicit stable period closes the breaker sooner than the window",
			p:    policy(func(p *Policy) { p.Breaker.StablePeriod = 2 * time.Minute }),
			s: State{
				Floor: 3, Breaker: BreakerHalfOpen, Trip: TripFlapping, BreakerReason: flapReason,
				OpenedAt: ts(3 * time.Minute), HalfOpenedAt: ts(8 * time.Minute),
			},
			o: lagged(now, 2500, 3),
			want: State{
				Floor: 3, Breaker: BreakerClosed, OpenedAt: ts(3 * time.Minute),
				HalfOpenedAt: ts(8 * time.Minute),
			},
			d: breaker(Decision{From: 3, To: 3, Desired: 3, Active: true},
				BreakerHalfOpen, BreakerClosed),
			reason: "The breaker closed after 2m half-open without trouble.",
		},
	})
}
