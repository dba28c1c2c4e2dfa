package runtime

import (
	"hash/maphash"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"
)

// dedupStore remembers the events one changelog partition has seen, each
// until its expiry. It is safe for concurrent use, though in practice only
// the goroutine of one input partition uses it.
//
// It holds a 128-bit hash of each key rather than the key: an entry costs
// about 40 bytes instead of twice that plus the key, which matters because
// the store holds every event of the dedup TTL. Two keys share a hash with a
// chance near n²/2¹²⁹ for n keys (about 10⁻²² for a billion), and the seeds
// are random per process, so no input can be crafted to collide. The
// changelog keeps the keys themselves.
type dedupStore struct {
	mu      sync.Mutex
	seeds   [2]maphash.Seed
	expiry  map[keyHash]int64 // Unix nanoseconds
	lastGC  time.Time
	gcEvery time.Duration
	// max bounds the keys held; 0 leaves them unbounded.
	max int
}

// keyHash is the hash a dedupStore files a key under.
type keyHash [2]uint64

// newDedupStore returns an empty store holding at most maxKeys keys, or
// any number with maxKeys 0.
func newDedupStore(maxKeys int) *dedupStore {
	return &dedupStore{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		expiry: map[keyHash]int64{}, gcEvery: time.Minute, max: maxKeys}
}

func (s *dedupStore) hash(key string) keyHash {
	return keyHash{maphash.String(s.seeds[0], key), maphash.String(s.seeds[1], key)}
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
	exp, ok := s.expiry[s.hash(key)]
	return ok && now.UnixNano() < exp
}

// eviction is what a store at its bound forgot to make room: how many keys,
// all of them expiring no later than before.
type eviction struct {
	keys   int
	before time.Time
}

// record remembers key until expiry, keeping the later expiry of two. A
// store over its bound then forgets the keys nearest their expiry (the
// oldest, as every key gets the same TTL) and reports them.
func (s *dedupStore) record(key string, expiry, now time.Time) eviction {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, exp := s.hash(key), expiry.UnixNano()
	if old, ok := s.expiry[h]; !ok || exp > old {
		s.expiry[h] = exp
	}
	if s.max > 0 && len(s.expiry) > s.max {
		return s.evict(now)
	}
	if now.Sub(s.lastGC) >= s.gcEvery {
		s.collect(now)
	}
	return eviction{}
}

// evictionSample is how many expiries evict looks at to estimate the one
// below which it forgets keys.
const evictionSample = 1024

// evict brings a store over its bound down to nine tenths of it, so that
// evictions come in rounds a tenth of the bound apart rather than on every
// record: expired keys first, then those nearest their expiry. The expiry
// to forget below is estimated from a sample of the store (Go starts every
// walk over a map at a random place) rather than by sorting it; the caller
// holds mu.
func (s *dedupStore) evict(now time.Time) eviction {
	before := len(s.expiry)
	s.collect(now)
	target := s.max - s.max/10
	var below, latest int64
	for round := 0; len(s.expiry) > target; round++ {
		if round < 4 {
			below = max(below, s.expiryQuantile(float64(len(s.expiry)-target)/float64(len(s.expiry))))
		} else {
			// Samples kept missing; any key will do to keep the bound.
			below = math.MaxInt64
		}
		for k, exp := range s.expiry {
			if len(s.expiry) <= target {
				break
			}
			if exp <= below {
				delete(s.expiry, k)
				latest = max(latest, exp)
			}
		}
	}
	return eviction{keys: before - len(s.expiry), before: time.Unix(0, max(latest, now.UnixNano()))}
}

// expiryQuantile estimates the expiry that a share q of the keys do not
// pass, from a sample of evictionSample keys; the caller holds mu.
func (s *dedupStore) expiryQuantile(q float64) int64 {
	sample := make([]int64, 0, min(evictionSample, len(s.expiry)))
	for _, exp := range s.expiry {
		if len(sample) == cap(sample) {
			break
		}
		sample = append(sample, exp)
	}
	slices.Sort(sample)
	return sample[min(len(sample)-1, int(q*float64(len(sample))))]
}

// forget removes key, as a changelog tombstone does.
func (s *dedupStore) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.expiry, s.hash(key))
}

// len is the number of keys held, expired ones not yet collected included.
func (s *dedupStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.expiry)
}

// collect drops expired keys; the caller holds mu.
func (s *dedupStore) collect(now time.Time) {
	t := now.UnixNano()
	for k, exp := range s.expiry {
		if exp <= t {
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
