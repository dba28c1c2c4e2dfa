package runtime

import (
	"testing"
	"time"
)

func TestBackoffCeiling(t *testing.T) {
	b := backoff{initial: 100 * time.Millisecond, max: time.Second}
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{attempt: 0, want: 100 * time.Millisecond},
		{attempt: 1, want: 100 * time.Millisecond},
		{attempt: 2, want: 200 * time.Millisecond},
		{attempt: 3, want: 400 * time.Millisecond},
		{attempt: 4, want: 800 * time.Millisecond},
		{attempt: 5, want: time.Second},
		{attempt: 500, want: time.Second},
	}
	for _, tt := range tests {
		if got := b.ceiling(tt.attempt); got != tt.want {
			t.Errorf("ceiling(%d) = %v, want %v", tt.attempt, got, tt.want)
		}
	}
}

func TestBackoffWaitIsJitteredWithinCeiling(t *testing.T) {
	tests := []struct {
		name string
		rand float64
		want time.Duration
	}{
		{name: "lowest draw", rand: 0, want: 0},
		{name: "middle draw", rand: 0.5, want: 200 * time.Millisecond},
		{name: "highest draw", rand: 0.999999999, want: 400 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := backoff{initial: 100 * time.Millisecond, max: time.Second,
				rand: func() float64 { return tt.rand }}
			got := b.wait(3)
			if d := got - tt.want; d < -time.Millisecond || d > time.Millisecond {
				t.Errorf("wait(3) = %v, want about %v", got, tt.want)
			}
		})
	}
}

func TestTxnRetryBackoff(t *testing.T) {
	want := []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond,
		8 * time.Millisecond, 16 * time.Millisecond, 32 * time.Millisecond, 64 * time.Millisecond,
		100 * time.Millisecond, 100 * time.Millisecond}
	for retries, w := range want {
		if got := txnRetryBackoff(retries, 50); got != w {
			t.Errorf("txnRetryBackoff(%d) = %v, want %v", retries, got, w)
		}
	}
	if got := txnRetryBackoff(1000, 50); got != txnRetryBackoffCap {
		t.Errorf("txnRetryBackoff(1000) = %v, want the cap %v", got, txnRetryBackoffCap)
	}
}
