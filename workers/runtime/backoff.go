package runtime

import (
	"math/rand/v2"
	"time"
)

// backoff is exponential backoff with full jitter: the wait before attempt n+1
// is drawn uniformly from [0, min(max, initial*2^(n-1))], so workers retrying
// the same failing dependency spread out instead of retrying in step.
type backoff struct {
	initial, max time.Duration
	// rand returns a float in [0, 1); nil uses math/rand/v2.
	rand func() float64
}

// ceiling is the upper bound of the wait after the given failed attempt (1-based).
func (b backoff) ceiling(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := b.initial
	for i := 1; i < attempt; i++ {
		if d >= b.max/2 {
			return b.max
		}
		d *= 2
	}
	return min(d, b.max)
}

// wait is the jittered wait after the given failed attempt (1-based).
func (b backoff) wait(attempt int) time.Duration {
	r := b.rand
	if r == nil {
		r = rand.Float64
	}
	return time.Duration(r() * float64(b.ceiling(attempt)+1))
}
