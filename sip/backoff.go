package sip

import (
	"math/rand/v2"
	"time"
)

// Backoff is the wait before retrying a failed registration, after
// libre's sipreg: min(Cap, Base·2^min(n,6)) × random 0.5–1.0 for the n-th
// consecutive failure. A line that never registered retries sooner
// (Initial·2^min(n-1,6)): a typo in the settings should show quickly.
// A 403 waits Forbidden (Grandstream: 1200 s): hammering a registrar that
// refuses us only gets us blocked.
type Backoff struct {
	Initial   time.Duration // first wait while never registered (5 s)
	Base      time.Duration // base once registered (30 s)
	Cap       time.Duration // longest wait (1800 s)
	Forbidden time.Duration // wait after a 403 (1200 s)
	// Rand returns a number in [0,1); nil uses math/rand/v2.
	Rand func() float64
}

// DefaultBackoff is the production schedule.
var DefaultBackoff = Backoff{Initial: 5 * time.Second, Base: 30 * time.Second, Cap: 1800 * time.Second, Forbidden: 1200 * time.Second}

// Wait is the delay before the retry after the n-th (1-based) consecutive
// failure.
func (b Backoff) Wait(n int, everRegistered, forbidden bool) time.Duration {
	if forbidden {
		return b.Forbidden
	}
	n = max(n, 1)
	d := b.Base << min(n, 6)
	if !everRegistered {
		d = b.Initial << min(n-1, 6)
	}
	d = min(d, b.Cap)
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	return time.Duration(float64(d) * (0.5 + 0.5*r()))
}
