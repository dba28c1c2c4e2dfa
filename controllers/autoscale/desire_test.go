package autoscale

import (
	"testing"
	"time"

	"github.com/eventpipe/eventpipe/controllers/lag"
)

// t0 is 12:00:00 UTC, the start of every test's clock.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// ts is the time d after t0.
func ts(d time.Duration) time.Time { return t0.Add(d) }

func i32(v int32) *int32 { return &v }

// policy is the example policy of the architecture, changed by mutate.
func policy(mutate ...func(*Policy)) Policy {
	p := Policy{
		Min:       1,
		Max:       6,
		ScaleUp:   Limits{MaxStep: 4},
		ScaleDown: Limits{MaxStep: 1, Stabilization: 5 * time.Minute},
		Breaker: BreakerConfig{
			MaxChanges:       6,
			Window:           10 * time.Minute,
			FailureThreshold: 3,
			OpenFor:          5 * time.Minute,
		},
		Fallback:      i32(2),
		LagPerReplica: 1000,
		ActivationLag: 10,
		CommandMaxAge: 2 * time.Minute,
	}
	for _, m := range mutate {
		m(&p)
	}
	return p
}

// lagged is an observation at now whose lag was read.
func lagged(now time.Time, total int64, lagging int) Observation {
	return Observation{Now: now, LagOK: true, Lag: lag.Lag{Total: total, Lagging: lagging}}
}

// unread is an observation at now whose lag could not be read.
func unread(now time.Time) Observation {
	return Observation{Now: now}
}

// with returns o with the commands added.
func with(o Observation, cs ...Command) Observation {
	o.Commands = append(o.Commands, cs...)
	return o
}

// to is an absolute command issued at t.
func to(t time.Time, desired int32) Command {
	return Command{Time: t, Desired: i32(desired)}
}

// step is a relative command issued at t.
func step(t time.Time, s int32) Command {
	return Command{Time: t, Step: i32(s)}
}

func TestDesired(t *testing.T) {
	now := ts(10 * time.Minute)
	tests := []struct {
		name string
		p    Policy
		s    State
		o    Observation
		want int32
	}{
		{name: "no trigger active rests at min", p: policy(), o: lagged(now, 0, 0), want: 1},
		{
			name: "no trigger active rests at a higher min",
			p:    policy(func(p *Policy) { p.Min = 2 }),
			o:    lagged(now, 0, 0),
			want: 2,
		},
		{
			name: "lag below the activation lag is inactive",
			p:    policy(func(p *Policy) { p.LagPerReplica = 4 }),
			o:    lagged(now, 9, 3),
			want: 1,
		},
		{
			name: "lag at the activation lag is active",
			p:    policy(func(p *Policy) { p.LagPerReplica = 4 }),
			o:    lagged(now, 10, 3),
			want: 3,
		},
		{name: "lag desire rounds up", p: policy(), o: lagged(now, 2001, 3), want: 3},
		{name: "lag desire on an exact multiple", p: policy(), o: lagged(now, 3000, 4), want: 3},
		{
			name: "lag desire is capped at the partitions with lag",
			p:    policy(),
			o:    lagged(now, 12000, 2),
			want: 2,
		},
		{name: "lag desire is clamped to max", p: policy(), o: lagged(now, 12000, 12), want: 6},
		{
			name: "lag desire is raised to min",
			p:    policy(func(p *Policy) { p.Min = 2 }),
			o:    lagged(now, 500, 1),
			want: 2,
		},
		{
			name: "without a lag trigger lag is ignored",
			p:    policy(func(p *Policy) { p.LagPerReplica = 0 }),
			o:    lagged(now, 12000, 6),
			want: 1,
		},
		{
			name: "unreadable lag holds the floor",
			p:    policy(),
			s:    State{Floor: 4},
			o:    unread(now),
			want: 4,
		},
		{
			name: "an absolute command",
			p:    policy(),
			o:    with(lagged(now, 0, 0), to(now, 5)),
			want: 5,
		},
		{
			name: "a step command counts from the floor",
			p:    policy(),
			s:    State{Floor: 3},
			o:    with(lagged(now, 0, 0), step(now, 2)),
			want: 5,
		},
		{
			name: "a negative step stops at min",
			p:    policy(),
			s:    State{Floor: 2},
			o:    with(lagged(now, 0, 0), step(now, -5)),
			want: 1,
		},
		{
			name: "a command above max is clamped",
			p:    policy(),
			o:    with(lagged(now, 0, 0), to(now, 60)),
			want: 6,
		},
		{
			name: "a command with both desired and step takes desired",
			p:    policy(),
			s:    State{Floor: 3},
			o:    with(lagged(now, 0, 0), Command{Time: now, Desired: i32(2), Step: i32(2)}),
			want: 2,
		},
		{
			name: "a command asking for nothing is ignored",
			p:    policy(),
			o:    with(lagged(now, 0, 0), Command{Time: now, Reason: "empty"}),
			want: 1,
		},
		{
			name: "lag wins over a smaller command",
			p:    policy(),
			o:    with(lagged(now, 4000, 6), to(now, 2)),
			want: 4,
		},
		{
			name: "a command wins over a smaller lag desire",
			p:    policy(),
			o:    with(lagged(now, 4000, 6), to(now, 5)),
			want: 5,
		},
		{
			name: "a command wins over unreadable lag holding a lower floor",
			p:    policy(),
			s:    State{Floor: 2},
			o:    with(unread(now), to(now, 5)),
			want: 5,
		},
		{
			name: "a stale command is ignored",
			p:    policy(),
			o:    with(lagged(now, 0, 0), to(now.Add(-2*time.Minute-time.Second), 5)),
			want: 1,
		},
		{
			name: "a command exactly max age old still counts",
			p:    policy(),
			o:    with(lagged(now, 0, 0), to(now.Add(-2*time.Minute), 5)),
			want: 5,
		},
		{
			name: "without a max age a command never goes stale",
			p:    policy(func(p *Policy) { p.CommandMaxAge = 0 }),
			o:    with(lagged(now, 0, 0), to(now.Add(-24*time.Hour), 5)),
			want: 5,
		},
		{
			name: "the newest new command wins, whatever its place",
			p:    policy(),
			o:    with(lagged(now, 0, 0), to(now, 3), to(now.Add(-time.Second), 5)),
			want: 3,
		},
		{
			name: "the command in force lasts while it is fresh",
			p:    policy(),
			s:    State{Floor: 5, LastCommand: &Command{Time: now.Add(-time.Minute), Desired: i32(5)}},
			o:    lagged(now, 0, 0),
			want: 5,
		},
		{
			name: "a resolved step in force does not apply again",
			p:    policy(),
			s: State{Floor: 5, LastCommand: &Command{
				Time: now.Add(-time.Minute), Desired: i32(5), Step: i32(2),
			}},
			o:    lagged(now, 0, 0),
			want: 5,
		},
		{
			name: "a step command passed again does not apply twice",
			p:    policy(),
			s: State{Floor: 5, LastCommand: &Command{
				Time: now.Add(-time.Minute), Desired: i32(5), Step: i32(2),
			}},
			o:    with(lagged(now, 0, 0), step(now.Add(-time.Minute), 2)),
			want: 5,
		},
		{
			name: "a new command as old as the one in force is a repeat",
			p:    policy(),
			s:    State{Floor: 5, LastCommand: &Command{Time: now, Desired: i32(5)}},
			o:    with(lagged(now, 0, 0), to(now, 3)),
			want: 5,
		},
		{
			name: "among new commands of the same time the later one wins",
			p:    policy(),
			o:    with(lagged(now, 0, 0), to(now, 5), to(now, 3)),
			want: 3,
		},
		{
			name: "an unresolved step in force counts from the floor",
			p:    policy(),
			s:    State{Floor: 3, LastCommand: &Command{Time: now, Step: i32(1)}},
			o:    lagged(now, 0, 0),
			want: 4,
		},
		{
			name: "the command in force goes stale",
			p:    policy(),
			s:    State{Floor: 5, LastCommand: &Command{Time: now.Add(-3 * time.Minute), Desired: i32(5)}},
			o:    lagged(now, 0, 0),
			want: 1,
		},
		{
			name: "a new command older than the one in force is ignored",
			p:    policy(),
			s:    State{Floor: 5, LastCommand: &Command{Time: now.Add(-time.Minute), Desired: i32(5)}},
			o:    with(lagged(now, 0, 0), to(now.Add(-90*time.Second), 2)),
			want: 5,
		},
		{
			name: "a newer command replaces the one in force",
			p:    policy(),
			s:    State{Floor: 5, LastCommand: &Command{Time: now.Add(-time.Minute), Desired: i32(5)}},
			o:    with(lagged(now, 0, 0), to(now, 2)),
			want: 2,
		},
		{
			name: "max wins when max is below min",
			p:    policy(func(p *Policy) { p.Min, p.Max = 4, 3 }),
			o:    lagged(now, 0, 0),
			want: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Desired(tt.p, tt.s, tt.o); got != tt.want {
				t.Errorf("Desired() = %d, want %d", got, tt.want)
			}
		})
	}
}
