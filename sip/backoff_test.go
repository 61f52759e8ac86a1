package sip

import (
	"math/rand/v2"
	"testing"
	"time"
)

// The retry schedule by cause: a timeout probes every keep-alive interval
// (jittered to half), refusals keep the long back-off, Retry-After wins.
func TestRetryScheduleByCause(t *testing.T) {
	b := DefaultBackoff
	b.Rand = func() float64 { return 0 }
	if lo := b.Probe(30 * time.Second); lo != 15*time.Second {
		t.Errorf("probe with the lowest jitter %v, want 15 s", lo)
	}
	for _, r := range []float64{0, 0.999999} {
		b.Rand = func() float64 { return r }
		if d := b.Probe(30 * time.Second); d < 15*time.Second || d > 30*time.Second {
			t.Errorf("probe %v, want 15-30 s", d)
		}
		if d := b.Retry(FailForbidden, 1, true, 0); d != 1200*time.Second {
			t.Errorf("403: %v, want 1200 s", d)
		}
		if d := b.Retry(FailServer, 3, true, 0); d < 120*time.Second || d > 240*time.Second {
			t.Errorf("third 5xx: %v, want 120-240 s", d)
		}
		if d := b.Retry(FailServer, 1, true, 600*time.Second); d < 600*time.Second || d > 610*time.Second {
			t.Errorf("503 Retry-After 600: %v, want 600-610 s", d)
		}
		if d := b.Retry(FailForbidden, 1, true, 60*time.Second); d < 60*time.Second || d > 70*time.Second {
			t.Errorf("403 Retry-After 60: %v, want 60-70 s", d)
		}
	}
}

// simulateFleet runs n boxes with keep-alive interval ka against a
// provider that dies at 0 and returns at back, on a simulated clock: each
// box's keep-alives have their own phase; keepalive_misses (2) misses fail
// its flow; it then probes (Backoff.Probe) and registers ReturnDelay after
// the first probe the returned provider answers. It returns the times of
// the REGISTERs and the shortest gap between two probes of one box.
// With samePhase every box keeps alive in step (they all booted after the
// same power cut): only the probes' jitter spreads them.
func simulateFleet(n int, ka, back time.Duration, seed uint64, samePhase bool) (regs []time.Duration, minGap time.Duration) {
	rnd := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := DefaultBackoff
	b.Rand = rnd.Float64
	minGap = time.Hour
	for range n {
		t := time.Duration(rnd.Int64N(int64(ka))) // the first keep-alive after the provider died
		if samePhase {
			t = ka / 3
		}
		for misses := 1; misses < 2; misses++ {
			t += ka
		}
		for last := time.Duration(-1); ; {
			if last >= 0 {
				minGap = min(minGap, t-last)
			}
			if t >= back { // answered
				regs = append(regs, t+b.ReturnDelay(ka))
				break
			}
			last = t
			t += b.Probe(ka)
		}
	}
	return regs, minGap
}

// A fleet that lost its provider comes back spread over at least 10 s
// (Backoff.Spread), however short the keep-alive interval, and no box
// probes more often than every half interval.
func TestFleetReturnSpread(t *testing.T) {
	for i, ka := range []time.Duration{time.Second, 5 * time.Second, 15 * time.Second, 30 * time.Second, 120 * time.Second, 30 * time.Second, 5 * time.Second} {
		back := 10 * time.Minute
		samePhase := i >= 5
		regs, minGap := simulateFleet(1000, ka, back, uint64(ka)+uint64(i), samePhase)
		lo, hi := regs[0], regs[0]
		for _, r := range regs {
			lo, hi = min(lo, r), max(hi, r)
		}
		t.Logf("keep-alive %v (same phase %v): 1000 boxes register %v to %v after the return (spread %v); closest probes %v",
			ka, samePhase, lo-back, hi-back, hi-lo, minGap)
		if lo < back {
			t.Errorf("keep-alive %v: a box registered before the provider returned", ka)
		}
		if hi-lo < 10*time.Second {
			t.Errorf("keep-alive %v: spread %v, want at least 10 s", ka, hi-lo)
		}
		if hi-back > ka+DefaultBackoff.Spread {
			t.Errorf("keep-alive %v: the last box registered %v after the return, want within %v", ka, hi-back, ka+DefaultBackoff.Spread)
		}
		if minGap < ka/2 {
			t.Errorf("keep-alive %v: probes %v apart, want at least half the interval", ka, minGap)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"120": 120 * time.Second, " 30 (maintenance)": 30 * time.Second, "5;duration=60": 5 * time.Second,
		"": 0, "abc": 0, "12abc": 0, "999999999999": 0, "-5": 0,
	} {
		if got := parseRetryAfter(in); got != want {
			t.Errorf("%q: %v, want %v", in, got, want)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "30 (x)", "5;duration=1", "", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if d := parseRetryAfter(v); d < 0 || d > 24*time.Hour {
			t.Fatalf("%q gave %v", v, d)
		}
	})
}
