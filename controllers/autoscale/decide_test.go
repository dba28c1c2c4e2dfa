package autoscale

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"
)

// decideCase is one pass of Decide with the state and decision it must give.
type decideCase struct {
	name string
	p    Policy
	s    State
	o    Observation
	want State
	// d is the decision wanted, without its Reason.
	d Decision
	// reason is a part the decision's reason must contain.
	reason string
}

func runDecide(t *testing.T, tests []decideCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, d := Decide(tt.p, tt.s, tt.o)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("state\n got %+v\nwant %+v", got, tt.want)
			}
			checkReason(t, d.Reason)
			if !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("reason %q does not contain %q", d.Reason, tt.reason)
			}
			if d.Changed() != (tt.d.To != tt.d.From) {
				t.Errorf("Changed() = %t for a floor from %d to %d", d.Changed(), d.From, d.To)
			}
			d.Reason = ""
			if d != tt.d {
				t.Errorf("decision\n got %+v\nwant %+v", d, tt.d)
			}
		})
	}
}

// checkReason asserts the reason is made of sentences.
func checkReason(t *testing.T, r string) {
	t.Helper()
	if r == "" || !unicode.IsUpper([]rune(r)[0]) || !strings.HasSuffix(r, ".") {
		t.Errorf("reason %q is not a sentence", r)
	}
}

// closed is d with the breaker closed before and after.
func closed(d Decision) Decision {
	d.BreakerFrom, d.BreakerTo = BreakerClosed, BreakerClosed
	return d
}

func TestDecideRateLimit(t *testing.T) {
	now := ts(10 * time.Minute)
	upStab := policy(func(p *Policy) { p.ScaleUp.Stabilization = time.Minute })
	runDecide(t, []decideCase{
		{
			name:   "a desire equal to the floor changes nothing",
			p:      policy(),
			s:      State{Floor: 3, Breaker: BreakerClosed},
			o:      lagged(now, 2500, 3),
			want:   State{Floor: 3, Breaker: BreakerClosed},
			d:      closed(Decision{From: 3, To: 3, Desired: 3, Active: true}),
			reason: "the floor stays at 3",
		},
		{
			name:   "a scale-up within maxStep goes all the way",
			p:      policy(),
			s:      State{Floor: 2, Breaker: BreakerClosed},
			o:      lagged(now, 4000, 6),
			want:   State{Floor: 4, Breaker: BreakerClosed, LastUp: now, Changes: []time.Time{now}},
			d:      closed(Decision{From: 2, To: 4, Desired: 4, Active: true}),
			reason: "the floor moves from 2 to 4",
		},
		{
			name: "a scale-up beyond maxStep moves by maxStep",
			p:    policy(),
			s:    State{Floor: 1, Breaker: BreakerClosed},
			o:    lagged(now, 12000, 6),
			want: State{Floor: 5, Breaker: BreakerClosed, LastUp: now, Changes: []time.Time{now}},
			d: closed(Decision{
				From: 1, To: 5, Desired: 6, Active: true, HeldBy: GuardMaxStep,
			}),
			reason: "scale-up limited to +4, so the floor moves from 1 to 5",
		},
		{
			name: "a scale-down beyond maxStep moves by maxStep",
			p:    policy(),
			s:    State{Floor: 6, Breaker: BreakerClosed},
			o:    lagged(now, 0, 0),
			want: State{Floor: 5, Breaker: BreakerClosed, LastDown: now, Changes: []time.Time{now}},
			d: closed(Decision{
				From: 6, To: 5, Desired: 1, HeldBy: GuardMaxStep,
			}),
			reason: "scale-down limited to -1, so the floor moves from 6 to 5",
		},
		{
			name:   "maxStep 0 leaves the step unlimited",
			p:      policy(func(p *Policy) { p.ScaleDown.MaxStep = 0 }),
			s:      State{Floor: 6, Breaker: BreakerClosed},
			o:      lagged(now, 0, 0),
			want:   State{Floor: 1, Breaker: BreakerClosed, LastDown: now, Changes: []time.Time{now}},
			d:      closed(Decision{From: 6, To: 1, Desired: 1}),
			reason: "the floor moves from 6 to 1",
		},
		{
			name: "a scale-down inside its stabilization window is refused",
			p:    policy(),
			s:    State{Floor: 4, Breaker: BreakerClosed, LastDown: ts(8 * time.Minute)},
			o:    lagged(now, 0, 0),
			want: State{Floor: 4, Breaker: BreakerClosed, LastDown: ts(8 * time.Minute)},
			d: closed(Decision{
				From: 4, To: 4, Desired: 1, Refused: true, HeldBy: GuardStabilization,
			}),
			reason: "scale-down waits for its stabilization window until 12:13:00 UTC",
		},
		{
			name: "a scale-down at the end of its stabilization window goes through",
			p:    policy(),
			s:    State{Floor: 4, Breaker: BreakerClosed, LastDown: ts(5 * time.Minute)},
			o:    lagged(now, 0, 0),
			want: State{Floor: 3, Breaker: BreakerClosed, LastDown: now, Changes: []time.Time{now}},
			d: closed(Decision{
				From: 4, To: 3, Desired: 1, HeldBy: GuardMaxStep,
			}),
			reason: "the floor moves from 4 to 3",
		},
		{
			name: "a scale-up counts from the last scale-up, not the last scale-down",
			p:    upStab,
			s: State{
				Floor: 3, Breaker: BreakerClosed,
				LastUp: ts(8 * time.Minute), LastDown: ts(9*time.Minute + 59*time.Second),
			},
			o: lagged(now, 5000, 6),
			want: State{
				Floor: 5, Breaker: BreakerClosed, Changes: []time.Time{now},
				LastUp: now, LastDown: ts(9*time.Minute + 59*time.Second),
			},
			d:      closed(Decision{From: 3, To: 5, Desired: 5, Active: true}),
			reason: "the floor moves from 3 to 5",
		},
		{
			name: "a scale-up inside its stabilization window is refused",
			p:    upStab,
			s:    State{Floor: 3, Breaker: BreakerClosed, LastUp: ts(9*time.Minute + 30*time.Second)},
			o:    lagged(now, 5000, 6),
			want: State{Floor: 3, Breaker: BreakerClosed, LastUp: ts(9*time.Minute + 30*time.Second)},
			d: closed(Decision{
				From: 3, To: 3, Desired: 5, Active: true, Refused: true, HeldBy: GuardStabilization,
			}),
			reason: "scale-up waits for its stabilization window until 12:10:30 UTC",
		},
		{
			name:   "the first pass starts the floor at min",
			p:      policy(),
			o:      lagged(now, 0, 0),
			want:   State{Floor: 1, Breaker: BreakerClosed},
			d:      closed(Decision{From: 0, To: 1, Desired: 1}),
			reason: "The floor starts at 1.",
		},
		{
			name: "the first pass starts at min and moves on from there",
			p:    policy(),
			o:    lagged(now, 12000, 6),
			want: State{Floor: 5, Breaker: BreakerClosed, LastUp: now, Changes: []time.Time{now}},
			d: closed(Decision{
				From: 0, To: 5, Desired: 6, Active: true, HeldBy: GuardMaxStep,
			}),
			reason: "The floor starts at 1. Lag 12000",
		},
		{
			name:   "a floor above a lowered max follows it at once, as no change",
			p:      policy(func(p *Policy) { p.Max = 4 }),
			s:      State{Floor: 6, Breaker: BreakerClosed, LastDown: ts(9 * time.Minute)},
			o:      lagged(now, 12000, 6),
			want:   State{Floor: 4, Breaker: BreakerClosed, LastDown: ts(9 * time.Minute)},
			d:      closed(Decision{From: 6, To: 4, Desired: 4, Active: true}),
			reason: "The floor follows maxReplicas down to 4.",
		},
		{
			name:   "a floor below a raised min follows it at once, as no change",
			p:      policy(func(p *Policy) { p.Min = 3 }),
			s:      State{Floor: 2, Breaker: BreakerClosed},
			o:      lagged(now, 0, 0),
			want:   State{Floor: 3, Breaker: BreakerClosed},
			d:      closed(Decision{From: 2, To: 3, Desired: 3}),
			reason: "The floor rises to minReplicas 3.",
		},
		{
			name: "changes that have left the window are forgotten",
			p:    policy(),
			s: State{Floor: 3, Breaker: BreakerClosed, Changes: []time.Time{
				ts(-time.Minute), ts(0), ts(time.Minute),
			}},
			o:      lagged(now, 2500, 3),
			want:   State{Floor: 3, Breaker: BreakerClosed, Changes: []time.Time{ts(time.Minute)}},
			d:      closed(Decision{From: 3, To: 3, Desired: 3, Active: true}),
			reason: "the floor stays at 3",
		},
		{
			name: "a step command resolves against the floor it arrives at",
			p:    policy(),
			s:    State{Floor: 3, Breaker: BreakerClosed},
			o:    with(lagged(now, 0, 0), step(now, 2)),
			want: State{
				Floor: 5, Breaker: BreakerClosed, LastUp: now, Changes: []time.Time{now},
				LastCommand: &Command{Time: now, Desired: i32(5), Step: i32(2)},
			},
			d:      closed(Decision{From: 3, To: 5, Desired: 5, Active: true}),
			reason: "a command (step +2) wants 5 replicas",
		},
	})
}

func TestDecideReason(t *testing.T) {
	now := ts(10 * time.Minute)
	tests := []struct {
		name string
		s    State
		o    Observation
		want string
	}{
		{
			name: "a spike capped at the partitions with lag",
			s:    State{Floor: 1},
			o:    lagged(now, 12000, 6),
			want: "Lag 12000 at 1000 per replica wants 12 replicas, capped at 6 (the partitions " +
				"with lag); scale-up limited to +4, so the floor moves from 1 to 5.",
		},
		{
			name: "a command and lag together",
			s:    State{Floor: 3},
			o:    with(lagged(now, 2500, 3), Command{Time: now, Desired: i32(4), Reason: "cpu hot"}),
			want: "Lag 2500 at 1000 per replica wants 3 replicas; the command \"cpu hot\" wants " +
				"4 replicas; the floor moves from 3 to 4.",
		},
		{
			name: "nothing active",
			s:    State{Floor: 1},
			o:    lagged(now, 5, 1),
			want: "Lag 5 is below the activation lag 10; no trigger is active, so the desire " +
				"rests at 1; the floor stays at 1.",
		},
		{
			name: "held to max",
			s:    State{Floor: 6},
			o:    lagged(now, 9000, 9),
			want: "Lag 9000 at 1000 per replica wants 9 replicas; maxReplicas caps the desire " +
				"at 6; the floor stays at 6.",
		},
		{
			name: "lag unreadable",
			s:    State{Floor: 3, ConsecutiveFailures: 1},
			o:    unread(now),
			want: "Lag cannot be read (failure 2 of 3); the floor stays at 3.",
		},
		{
			name: "paused",
			s:    State{Floor: 2},
			o:    Observation{Now: now, LagOK: true, Lag: lagged(now, 4000, 6).Lag, Paused: true},
			want: "Paused: the floor stays at 2 although the triggers want 4.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, d := Decide(policy(), tt.s, tt.o); d.Reason != tt.want {
				t.Errorf("Reason\n got %q\nwant %q", d.Reason, tt.want)
			}
		})
	}
}

func TestSpan(t *testing.T) {
	tests := map[time.Duration]string{
		90 * time.Second: "1m30s",
		10 * time.Minute: "10m",
		time.Hour:        "1h",
		90 * time.Minute: "1h30m",
		45 * time.Second: "45s",
	}
	for d, want := range tests {
		if got := span(d); got != want {
			t.Errorf("span(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestDecideSharesNoMemoryWithItsInput(t *testing.T) {
	now := ts(10 * time.Minute)
	changes := make([]time.Time, 1, 4)
	changes[0] = ts(5 * time.Minute)
	in := State{Floor: 2, Changes: changes, LastCommand: &Command{Time: now, Desired: i32(4)}}

	out, _ := Decide(policy(), in, lagged(now, 0, 0))
	*out.LastCommand.Desired = 1

	if got := changes[:2][1]; !got.IsZero() {
		t.Errorf("Decide wrote %v into the caller's Changes", got)
	}
	if got := *in.LastCommand.Desired; got != 4 {
		t.Errorf("the caller's command now wants %d, want 4", got)
	}
	if out.Floor != 4 || len(out.Changes) != 2 {
		t.Errorf("Decide() = floor %d with %d changes, want 4 with 2", out.Floor, len(out.Changes))
	}
}
