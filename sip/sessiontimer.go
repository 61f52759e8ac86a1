package sip

import (
	"context"
	"errors"
	"fmt"
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

// defaultSessionExpires is the session interval we ask for: RFC 4028
// §4's recommended 1800 s.
const defaultSessionExpires = 1800 * time.Second

// sessionTimer watches (and, when we are the refresher, renews) a call.
type sessionTimer struct {
	clock     Clock
	weRefresh bool

	mu       sync.Mutex
	interval time.Duration // grows when a refresh of ours gets 422
	minSE    time.Duration // the far end's Min-SE from that 422, 0 before
	last     time.Time
	stop     chan struct{}
	once     sync.Once
}

func newSessionTimer(clock Clock, interval time.Duration, weRefresh bool) *sessionTimer {
	return &sessionTimer{clock: clock, interval: interval, weRefresh: weRefresh, last: clock.Now(), stop: make(chan struct{})}
}

// period is the session interval.
func (t *sessionTimer) period() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.interval
}

// tooSmall takes a 422 to our refresh (RFC 4028 §7.4): the interval
// becomes its Min-SE. It reports false when that is no longer (or
// unreadable, or over 2 h): the refresh is not sent again.
func (t *sessionTimer) tooSmall(res *siplib.Response) bool {
	min, ok := minSE(res)
	t.mu.Lock()
	defer t.mu.Unlock()
	if !ok || min <= t.interval || min > 2*time.Hour {
		return false
	}
	t.interval, t.minSE = min, min
	return true
}

// minSEHeader is the Min-SE our refreshes carry after a 422, else nil.
func (t *sessionTimer) minSEHeader() siplib.Header {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.minSE == 0 {
		return nil
	}
	return siplib.NewHeader("Min-SE", strconv.Itoa(int(t.minSE/time.Second)))
}

// refreshed notes a refresh (ours answered, or the far end's received).
func (t *sessionTimer) refreshed() {
	t.mu.Lock()
	t.last = t.clock.Now()
	t.mu.Unlock()
}

func (t *sessionTimer) since() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.clock.Now().Sub(t.last)
}

func (t *sessionTimer) close() { t.once.Do(func() { close(t.stop) }) }

// sessionTimerHeaders are the Session-Expires (and, when require, the
// Require: timer) headers of a 2xx that runs the timer with refresher
// (RFC 4028 §9).
func sessionTimerHeaders(interval time.Duration, refresher string, require bool) []siplib.Header {
	hs := []siplib.Header{siplib.NewHeader("Session-Expires", strconv.Itoa(int(interval/time.Second))+";refresher="+refresher)}
	if require {
		hs = append(hs, siplib.NewHeader("Require", "timer"))
	}
	return hs
}

// runSessionTimer refreshes at half the interval when we are the
// refresher, and ends the call when no refresh came for the interval
// (less a margin of a third of it, at most 32 s, as §10 says). A refresh
// of ours that times out or gets 408 or 481 ends it too (§10): the far end
// is gone.
func (c *Call) runSessionTimer(t *sessionTimer) {
	for {
		interval := t.period()
		margin := min(interval/3, 32*time.Second)
		tick := t.clock.NewTimer(time.Second)
		select {
		case <-t.stop:
			tick.Stop()
			return
		case <-tick.C():
		}
		age := t.since()
		switch {
		case t.weRefresh && age >= interval/2:
			err := c.refresh()
			if err == nil {
				t.refreshed()
				continue
			}
			if refreshFatal(err) {
				c.line.log.Warn("sip: session refresh failed: ending the call", "call", c.callID, "err", err)
				c.hangup(call.NoResponse, "session refresh failed: "+err.Error())
				return
			}
			// The far end answered, though not with 2xx (a 488, a 491
			// that persisted): the session is alive (§10).
			c.line.log.Warn("sip: session refresh refused", "call", c.callID, "err", err)
			t.refreshed()
		case !t.weRefresh && age >= interval-margin:
			c.line.log.Warn("sip: session timer expired: no refresh from the far end", "call", c.callID, "interval", interval)
			c.hangup(call.NoResponse, "session timer expired")
			return
		}
	}
}

// refreshFatal reports whether a failed refresh means the session is gone:
// no answer, 408 or 481.
func refreshFatal(err error) bool {
	var se *statusError
	if errors.As(err, &se) {
		return se.code == 408 || se.code == 481
	}
	return true
}

// refresh sends a re-INVITE with our current SDP (RFC 4028 §7.4: an
// INVITE refresh is understood by every peer, UPDATE is not).
func (c *Call) refresh() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.reoffer(ctx)
}

// watchRTP ends an answered call whose far end has sent nothing for the
// stack's RTPTimeout (BYE, cause NoResponse): a far end that crashed
// sends no BYE. A held call (by either side) is not watched while held:
// the far end may rightly be silent.
func (c *Call) watchRTP() {
	timeout := c.line.st.cfg.RTPTimeout
	if timeout <= 0 {
		return
	}
	go func() {
		clk := c.line.opt.Clock
		step := min(max(timeout/10, 100*time.Millisecond), 5*time.Second)
		last, lastAt := c.rtpActivity(), clk.Now()
		for {
			t := clk.NewTimer(step)
			select {
			case <-c.done:
				t.Stop()
				return
			case <-t.C():
			}
			now := clk.Now()
			c.mu.Lock()
			held := c.holding || c.heldBy
			c.mu.Unlock()
			if a := c.rtpActivity(); a != last || held {
				last, lastAt = a, now
				continue
			}
			if silent := now.Sub(lastAt); silent >= timeout {
				c.line.log.Warn("sip: no RTP from the far end: ending the call", "call", c.callID, "silent", silent)
				c.hangup(call.NoResponse, fmt.Sprintf("no RTP for %v", timeout))
				return
			}
		}
	}()
}

// rtpActivity counts the far end's RTP packets so far, ours or not
// (comfort noise counts as a sign of life).
func (c *Call) rtpActivity() uint64 {
	c.mu.Lock()
	s := c.session
	c.mu.Unlock()
	if s == nil {
		return 0
	}
	st := s.Stats()
	return st.PacketsReceived + st.UnknownType
}
