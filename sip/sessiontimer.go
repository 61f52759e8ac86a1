package sip

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	siplib "github.com/emiago/sipgo/sip"

	"github.com/openata/ata/call"
)

// Session timers (RFC 4028): a call whose session interval passes without
// a refresh (re-INVITE or UPDATE) is dead — the far end or a proxy lost
// it — and is ended with BYE instead of holding the line forever.

// minSessionExpires is our Min-SE: RFC 4028 §4 recommends 90 s, its minimum.
const minSessionExpires = 90 * time.Second

// parseSessionExpires reads "1800;refresher=uac" (Session-Expires, or its
// compact form x). ok is false when the header is absent or malformed.
func parseSessionExpires(msg interface {
	GetHeader(string) siplib.Header
}) (interval time.Duration, refresher string, ok bool) {
	h := msg.GetHeader("Session-Expires")
	if h == nil {
		h = msg.GetHeader("x")
	}
	if h == nil {
		return 0, "", false
	}
	parts := strings.Split(h.Value(), ";")
	secs, err := strconv.Atoi(strings.TrimSpace(parts[0]))
	if err != nil || secs <= 0 || secs > 86400 {
		return 0, "", false
	}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(strings.TrimSpace(k), "refresher") {
			refresher = strings.ToLower(strings.TrimSpace(v))
		}
	}
	return time.Duration(secs) * time.Second, refresher, true
}

// sessionTimer watches (and, when we are the refresher, renews) a call.
type sessionTimer struct {
	interval  time.Duration
	weRefresh bool

	mu   sync.Mutex
	last time.Time
	stop chan struct{}
	once sync.Once
}

func newSessionTimer(interval time.Duration, weRefresh bool) *sessionTimer {
	return &sessionTimer{interval: interval, weRefresh: weRefresh, last: time.Now(), stop: make(chan struct{})}
}

// refreshed notes a refresh (ours answered, or the far end's received).
func (t *sessionTimer) refreshed() {
	t.mu.Lock()
	t.last = time.Now()
	t.mu.Unlock()
}

func (t *sessionTimer) since() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return time.Since(t.last)
}

func (t *sessionTimer) close() { t.once.Do(func() { close(t.stop) }) }

// headers are the Session-Expires and Require headers of a 2xx that
// accepts the timer with refresher (RFC 4028 §9).
func sessionTimerHeaders(interval time.Duration, refresher string) []siplib.Header {
	return []siplib.Header{
		siplib.NewHeader("Session-Expires", strconv.Itoa(int(interval/time.Second))+";refresher="+refresher),
		siplib.NewHeader("Require", "timer"),
	}
}

// runSessionTimer refreshes at half the interval when we are the
// refresher, and ends the call when no refresh came for the interval
// (less a margin of a third of it, at most 32 s, as §10 says).
func (c *Call) runSessionTimer(t *sessionTimer) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	margin := min(t.interval/3, 32*time.Second)
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
		}
		age := t.since()
		switch {
		case t.weRefresh && age >= t.interval/2:
			if err := c.refresh(); err != nil {
				c.line.log.Warn("sip: session refresh failed", "call", c.callID, "err", err)
			} else {
				t.refreshed()
			}
		case !t.weRefresh && age >= t.interval-margin:
			c.line.log.Warn("sip: session timer expired: no refresh from the far end", "call", c.callID, "interval", t.interval)
			c.hangup(call.NoResponse, "session timer expired")
			return
		}
	}
}

// refresh sends a re-INVITE with our current SDP (RFC 4028 §7.4: an
// INVITE refresh is understood by every peer, UPDATE is not).
func (c *Call) refresh() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.reoffer(ctx)
}
