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
			s := newDedupStore()
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
	s := newDedupStore()
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
		s := newDedupStore()
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
