package runtime

import (
	goruntime "runtime"
	"strconv"
	"testing"
	"time"
)

func TestDedupStore(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	tests := []struct {
		name   string
		record map[string]time.Duration // key -> expiry relative to t0
		forget []string
		key    string
		at     time.Duration
		want   bool
	}{
		{name: "unknown key", key: "a", want: false},
		{name: "recorded key before expiry", record: map[string]time.Duration{"a": time.Hour},
			key: "a", at: 59 * time.Minute, want: true},
		{name: "recorded key at expiry", record: map[string]time.Duration{"a": time.Hour},
			key: "a", at: time.Hour, want: false},
		{name: "other key", record: map[string]time.Duration{"a": time.Hour}, key: "b", want: false},
		{name: "forgotten key", record: map[string]time.Duration{"a": time.Hour},
			forget: []string{"a"}, key: "a", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newDedupStore(0)
			for k, d := range tt.record {
				s.record(k, t0.Add(d), t0)
			}
			for _, k := range tt.forget {
				s.forget(k)
			}
			if got := s.seen(tt.key, t0.Add(tt.at)); got != tt.want {
				t.Errorf("seen(%q) = %v, want %v", tt.key, got, tt.want)
			}
		})
	}
}

func TestDedupStoreKeepsLaterExpiryAndCollects(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	s := newDedupStore(0)
	s.record("a", t0.Add(2*time.Hour), t0)
	s.record("a", t0.Add(time.Hour), t0)
	if !s.seen("a", t0.Add(90*time.Minute)) {
		t.Fatal("an earlier expiry replaced a later one")
	}
	s.record("b", t0.Add(time.Minute), t0)
	s.record("c", t0.Add(5*time.Hour), t0.Add(3*time.Hour))
	if got := s.len(); got != 1 {
		t.Errorf("after collection len = %d, want 1 (only c unexpired)", got)
	}
}

// TestDedupStoreBound records keys, one a second with the same TTL, into a
// store bounded to 1,000 and checks that it never holds more, that what it
// forgets are the oldest keys, and that it reports them.
func TestDedupStoreBound(t *testing.T) {
	const bound, ttl = 1000, time.Hour
	t0 := time.Unix(1_000_000, 0)
	s := newDedupStore(bound)
	forgotten := 0
	var lastBefore time.Time
	const n = 5000
	for i := 0; i < n; i++ {
		now := t0.Add(time.Duration(i) * time.Second)
		ev := s.record("k"+strconv.Itoa(i), now.Add(ttl), now)
		if got := s.len(); got > bound {
			t.Fatalf("after %d records the store holds %d keys, over its bound of %d", i+1, got, bound)
		}
		if ev.keys > 0 {
			forgotten += ev.keys
			if !ev.before.After(lastBefore) {
				t.Errorf("eviction %v reports no later expiry than the one before (%v)", ev.before, lastBefore)
			}
			lastBefore = ev.before
		}
	}
	if want := n - s.len(); forgotten != want {
		t.Errorf("evictions report %d keys forgotten, the store lost %d", forgotten, want)
	}
	end := t0.Add(n * time.Second)
	// The newest nine tenths of the bound are always kept; the sample may
	// cut a little past the oldest, so the oldest kept may vary.
	for i := n - bound*9/10; i < n; i++ {
		if !s.seen("k"+strconv.Itoa(i), end) {
			t.Fatalf("key %d, one of the newest, was forgotten", i)
		}
	}
	if s.seen("k0", t0) || s.seen("k"+strconv.Itoa(n-bound-bound/10), end) {
		t.Errorf("the oldest keys are still held; eviction forgot newer ones instead")
	}
}

// TestDedupStoreBoundSameExpiry checks the bound holds when every key has
// the same expiry, so no sample can tell old from new.
func TestDedupStoreBoundSameExpiry(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	s := newDedupStore(1000)
	for i := 0; i < 3000; i++ {
		s.record("k"+strconv.Itoa(i), t0.Add(time.Hour), t0)
	}
	if got := s.len(); got > 1000 || got < 900 {
		t.Errorf("store holds %d keys, want between 900 and its bound of 1000", got)
	}
}

func TestDedupKeyIsUnambiguous(t *testing.T) {
	if dedupKey("g", "a|b", "c") == dedupKey("g", "a", "b|c") {
		t.Error("dedupKey collides when a source contains the separator")
	}
}

func TestExpiryRoundTrip(t *testing.T) {
	want := time.UnixMilli(1_700_000_000_123)
	got, err := parseExpiry(encodeExpiry(want))
	if err != nil || !got.Equal(want) {
		t.Errorf("parseExpiry(encodeExpiry(%v)) = %v, %v", want, got, err)
	}
	if _, err := parseExpiry([]byte("x")); err == nil {
		t.Error("parseExpiry accepted garbage")
	}
}

// BenchmarkDedupStoreBytesPerKey reports the heap a store holds per key
// recorded, for sizing the worker's memory against its dedup TTL.
func BenchmarkDedupStoreBytesPerKey(b *testing.B) {
	const keys = 200_000
	now := time.Now()
	for b.Loop() {
		var before, after goruntime.MemStats
		goruntime.GC()
		goruntime.ReadMemStats(&before)
		s := newDedupStore(0)
		for i := range keys {
			s.record(dedupKey("orders-fraud", "https://shop.example.com/checkout", "evt-"+strconv.Itoa(i)),
				now.Add(time.Hour), now)
		}
		goruntime.GC()
		goruntime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/keys, "B/key")
		goruntime.KeepAlive(s)
	}
}
