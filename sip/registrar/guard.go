package registrar

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// guard decides which sources may talk to the registrar: only addresses
// in the allowed networks, and of those none that is blocked for failing
// authentication too often (toll-fraud scanners guess passwords within
// minutes of a SIP port opening).
type guard struct {
	allow  []netip.Prefix
	limit  int
	window time.Duration
	block  time.Duration
	clock  Clock

	mu      sync.Mutex
	sources map[netip.Addr]*sourceRecord
	// blocked counts sources with a block set (expired ones included
	// until the next check), so that admit skips the lock while nobody is.
	blocked atomic.Int64

	failures       atomic.Uint64
	droppedOutside atomic.Uint64
	droppedBlocked atomic.Uint64
}

// sourceRecord is one address's recent failures and its block.
type sourceRecord struct {
	fails        []time.Time // within the window, oldest first, at most limit
	blockedUntil time.Time
}

// maxSources bounds the failure records kept: only allowed sources get
// one, but a LAN host can forge many addresses.
const maxSources = 4096

func newGuard(allow []netip.Prefix, limit int, window, block time.Duration, clock Clock) *guard {
	masked := make([]netip.Prefix, 0, len(allow))
	for _, p := range allow {
		masked = append(masked, p.Masked())
	}
	return &guard{allow: masked, limit: limit, window: window, block: block, clock: clock,
		sources: map[netip.Addr]*sourceRecord{}}
}

// allowed reports whether src is inside the allowed networks.
func (g *guard) allowed(src netip.Addr) bool {
	src = src.Unmap()
	for _, p := range g.allow {
		if p.Contains(src) {
			return true
		}
	}
	return false
}

// admit reports whether a packet from src may be served, counting it
// as dropped otherwise.
func (g *guard) admit(src netip.Addr) bool {
	if !g.allowed(src) {
		g.droppedOutside.Add(1)
		return false
	}
	if g.isBlocked(src) {
		g.droppedBlocked.Add(1)
		return false
	}
	return true
}

func (g *guard) isBlocked(src netip.Addr) bool {
	if g.blocked.Load() == 0 {
		return false
	}
	now := g.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	rec := g.sources[src]
	if rec == nil || rec.blockedUntil.IsZero() {
		return false
	}
	if now.Before(rec.blockedUntil) {
		return true
	}
	// The block is over: the source starts again with a clean record.
	delete(g.sources, src)
	g.blocked.Add(-1)
	return false
}

// fail records a failed authentication from src and reports whether the
// source is now blocked.
func (g *guard) fail(src netip.Addr) bool {
	g.failures.Add(1)
	now := g.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	rec := g.sources[src]
	if rec == nil {
		if len(g.sources) >= maxSources {
			g.sweepLocked(now)
		}
		if len(g.sources) >= maxSources {
			// Too many sources failing at once: a flood of forged
			// addresses. Count, but keep no record (no memory growth).
			return false
		}
		rec = &sourceRecord{}
		g.sources[src] = rec
	}
	if !rec.blockedUntil.IsZero() {
		return now.Before(rec.blockedUntil)
	}
	cut := 0
	for cut < len(rec.fails) && now.Sub(rec.fails[cut]) >= g.window {
		cut++
	}
	rec.fails = append(rec.fails[cut:], now)
	if len(rec.fails) >= g.limit {
		rec.fails = nil
		rec.blockedUntil = now.Add(g.block)
		g.blocked.Add(1)
		return true
	}
	return false
}

// blockedNow counts the sources blocked at this moment.
func (g *guard) blockedNow() int {
	now := g.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, rec := range g.sources {
		if now.Before(rec.blockedUntil) {
			n++
		}
	}
	return n
}

func (g *guard) sweep() {
	now := g.clock.Now()
	g.mu.Lock()
	g.sweepLocked(now)
	g.mu.Unlock()
}

// sweepLocked forgets records with neither a running block nor a failure
// inside the window.
func (g *guard) sweepLocked(now time.Time) {
	for src, rec := range g.sources {
		if !rec.blockedUntil.IsZero() {
			if !now.Before(rec.blockedUntil) {
				delete(g.sources, src)
				g.blocked.Add(-1)
			}
			continue
		}
		if len(rec.fails) == 0 || now.Sub(rec.fails[len(rec.fails)-1]) >= g.window {
			delete(g.sources, src)
		}
	}
}
