package runtime

import (
	"strconv"
	"sync"
	"time"
)

// dedupStore remembers the events one changelog partition has seen, each
// until its expiry. It is safe for concurrent use, though in practice only
// the goroutine of one input partition uses it.
type dedupStore struct {
	mu      sync.Mutex
	expiry  map[string]time.Time
	lastGC  time.Time
	gcEvery time.Duration
}

func newDedupStore() *dedupStore {
	return &dedupStore{expiry: map[string]time.Time{}, gcEvery: time.Minute}
}

// dedupKey is the store and changelog key of an event of a consumer group.
// The group is part of it so that groups sharing a changelog topic stay apart.
func dedupKey(group, source, id string) string {
	return strconv.Quote(group) + "|" + strconv.Quote(source) + "|" + strconv.Quote(id)
}

// seen reports whether key was recorded and has not expired at now.
func (s *dedupStore) seen(key string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.expiry[key]
	return ok && now.Before(exp)
}

// record remembers key until expiry, keeping the later expiry of two.
func (s *dedupStore) record(key string, expiry, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.expiry[key]; !ok || expiry.After(old) {
		s.expiry[key] = expiry
	}
	if now.Sub(s.lastGC) >= s.gcEvery {
		s.collect(now)
	}
}

// forget removes key, as a changelog tombstone does.
func (s *dedupStore) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.expiry, key)
}

// len is the number of keys held, expired ones not yet collected included.
func (s *dedupStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.expiry)
}

// collect drops expired keys; the caller holds mu.
func (s *dedupStore) collect(now time.Time) {
	for k, exp := range s.expiry {
		if !now.Before(exp) {
			delete(s.expiry, k)
		}
	}
	s.lastGC = now
}

// encodeExpiry and parseExpiry are the changelog value: the expiry in Unix
// milliseconds, as text so that the topic is readable with any Kafka tool.
func encodeExpiry(t time.Time) []byte { return []byte(strconv.FormatInt(t.UnixMilli(), 10)) }

func parseExpiry(b []byte) (time.Time, error) {
	ms, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(ms), nil
}
