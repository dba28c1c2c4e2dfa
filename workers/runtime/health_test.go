package runtime

import (
	"strings"
	"testing"
)

// A partition whose claims keep failing must stay not ready across the
// rejoins in between, count its failures so the backoff grows, and become
// ready again, with the count reset, once one of its batches is safe.
func TestHealthFailedClaims(t *testing.T) {
	h := newHealth()
	h.setJoined(true)

	steps := []struct {
		name         string
		do           func() int // returns the failure count, or -1
		wantCount    int
		wantNotReady string
	}{
		{name: "first failure", do: func() int { return h.fail(0, "write outputs from offset 50: too large") },
			wantCount: 1, wantNotReady: "partition 0 stopped: write outputs from offset 50: too large"},
		{name: "second failure", do: func() int { return h.fail(0, "write outputs from offset 50: too large") },
			wantCount: 2, wantNotReady: "partition 0 stopped"},
		{name: "rejoin keeping the partition", do: func() int { h.keepOnly([]int32{0, 1}); return -1 },
			wantCount: -1, wantNotReady: "partition 0 stopped"},
		{name: "third failure", do: func() int { return h.fail(0, "write outputs from offset 50: too large") },
			wantCount: 3, wantNotReady: "partition 0 stopped"},
		{name: "a batch lands", do: func() int { h.resume(0); return -1 }, wantCount: -1},
		{name: "failure after the batch", do: func() int { return h.fail(0, "again") },
			wantCount: 1, wantNotReady: "partition 0 stopped: again"},
		{name: "partition lost in a rebalance", do: func() int { h.keepOnly([]int32{1}); return -1 },
			wantCount: -1},
		{name: "failure on its next claim", do: func() int { return h.fail(0, "again") },
			wantCount: 1, wantNotReady: "partition 0 stopped: again"},
	}
	for _, s := range steps {
		if got := s.do(); got != s.wantCount {
			t.Errorf("%s: failure count %d, want %d", s.name, got, s.wantCount)
		}
		got := h.notReady()
		if s.wantNotReady == "" && got != "" {
			t.Errorf("%s: not ready (%q), want ready", s.name, got)
		}
		if s.wantNotReady != "" && !strings.Contains(got, s.wantNotReady) {
			t.Errorf("%s: readiness %q, want it to contain %q", s.name, got, s.wantNotReady)
		}
	}
}
