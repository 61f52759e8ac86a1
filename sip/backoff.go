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
//
// That long schedule is for refusals. A provider that does not answer at
// all (FailTimeout) is probed cheaply instead, every keep-alive interval
// (Probe), and the line registers once it answers, after ReturnDelay:
// a fleet that lost its provider comes back spread over Spread or more.
type Backoff struct {
	Initial   time.Duration // first wait while never registered (5 s)
	Base      time.Duration // base once registered (30 s)
	Cap       time.Duration // longest wait (1800 s)
	Forbidden time.Duration // wait after a 403 (1200 s)
	// Spread is the least time over which a fleet's re-registrations
	// after a provider's return are spread (10 s).
	Spread time.Duration
	// Rand returns a number in [0,1); nil uses math/rand/v2.
	Rand func() float64
}

// DefaultBackoff is the production schedule.
var DefaultBackoff = Backoff{Initial: 5 * time.Second, Base: 30 * time.Second, Cap: 1800 * time.Second,
	Forbidden: 1200 * time.Second, Spread: 10 * time.Second}

// FailCause classifies a failed registration for its retry schedule and
// for the re-registration metrics.
type FailCause string

// The causes of a failed registration.
const (
	FailTimeout   FailCause = "timeout"   // no answer: the provider is unreachable
	FailForbidden FailCause = "forbidden" // 403
	FailServer    FailCause = "server"    // 5xx
	FailOther     FailCause = "other"     // any other refusal (rejected credentials, 404, ...)
)

func (b Backoff) rnd() float64 {
	if b.Rand != nil {
		return b.Rand()
	}
	return rand.Float64()
}

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
	return time.Duration(float64(d) * (0.5 + 0.5*b.rnd()))
}

// Retry is the delay before the next REGISTER after the n-th consecutive
// refusal of cause; retryAfter (a 503's or 403's Retry-After, 0 if none)
// is honoured: the wait is at least that, spread by up to Spread.
// FailTimeout is not retried by this schedule but probed (Probe); its
// REGISTER fallback waits as a refusal would.
func (b Backoff) Retry(cause FailCause, n int, everRegistered bool, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return retryAfter + time.Duration(float64(b.Spread)*b.rnd())
	}
	return b.Wait(n, everRegistered, cause == FailForbidden)
}

// Probe is the wait before the next liveness probe of a provider that
// does not answer: the keep-alive interval, jittered down to half of it,
// so boxes that lost the provider together drift apart.
func (b Backoff) Probe(interval time.Duration) time.Duration {
	return time.Duration(float64(interval) * (0.5 + 0.5*b.rnd()))
}

// ReturnDelay is the wait between the provider's first answer and the
// REGISTER: random in [0, Spread) while the probes' own jitter (about one
// interval) spreads a fleet less than twice Spread; none with a longer
// interval. Either way a fleet's REGISTERs spread over Spread or more.
func (b Backoff) ReturnDelay(interval time.Duration) time.Duration {
	if interval >= 2*b.Spread {
		return 0
	}
	return time.Duration(float64(b.Spread) * b.rnd())
}

// callRetryMax is the longest Retry-After an outgoing call waits out
// (the caller hears ringback meanwhile); a longer one fails the call.
const callRetryMax = 10 * time.Second

// CallRetry is the wait before an outgoing INVITE refused 503, 500 or 480
// with Retry-After is sent again, for its n-th (1-based) resend: the
// Retry-After plus up to a tenth more, so calls refused together do not
// come back together. ok is false (no resend) without a Retry-After, for
// one over callRetryMax, or after the first resend.
func (b Backoff) CallRetry(retryAfter time.Duration, n int) (wait time.Duration, ok bool) {
	if retryAfter <= 0 || retryAfter > callRetryMax || n > 1 {
		return 0, false
	}
	return retryAfter + time.Duration(float64(retryAfter/10)*b.rnd()), true
}
