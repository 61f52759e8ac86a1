package bridge

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/openata/ata/media"
)

// Relay joins two endpoints (two calls' media) in a mixer paced by a
// clock shared by every relay of the same frame period, one frame at a
// time, until stop: what a B2BUA does with a call it anchors, and a call
// forwarded by bridging. stop waits until the relay's endpoints are no
// longer called.
//
// Why one clock for all relays rather than Run per relay: a router
// carrying N calls then wakes at most 200 times a second instead of 50·N
// (each wake-up is a context switch and a pass of the Go scheduler, most
// of a relay's CPU time besides the sends), and on Linux the clock waits on a
// timerfd, which the kernel fires on time, where a Go timer's poller
// timeout is in whole milliseconds (up to 1 ms late: RTP spacing p99 of
// 1 ms with a single call). The relays are spread over four phases of
// the period (relaySlots). Deadlines are absolute as in Run; after a
// stall the frames missed beyond one catch-up frame are dropped (each
// mixer's Stats.Skipped). A frame period Run refuses makes a relay that
// does nothing.
//
// Endpoints that are media.Polled (RTP sessions) are read by the clock,
// each frame just before it is mixed, instead of by a goroutine of their
// own per packet.
func Relay(a, b media.Endpoint, frame time.Duration) (stop func()) {
	r := &relay{}
	r.m.Add(a, Active)
	r.m.Add(b, Active)
	if frame <= 0 || frame%sampleTime != 0 || frame > MaxFrame*sampleTime {
		return func() {}
	}
	for _, e := range []media.Endpoint{a, b} {
		if p, ok := e.(media.Polled); ok && p.StartPolling() {
			r.polled[r.npolled] = p
			r.npolled++
		}
	}
	r.m.running.Store(true) // Run and Exchange refuse it: the clock drives it
	c := relayClockFor(frame)
	c.add(r)
	var once sync.Once
	return func() {
		once.Do(func() {
			c.remove(r)
			for _, p := range r.polled[:r.npolled] {
				p.StopPolling()
			}
			r.m.running.Store(false)
		})
	}
}

// relay is one relayed call: its mixer and the endpoints the clock polls.
type relay struct {
	m       Mixer
	polled  [2]media.Polled
	npolled int
}

// frame polls the relay's endpoints and mixes one frame of n samples.
func (r *relay) frame(n int) {
	for _, p := range r.polled[:r.npolled] {
		p.Poll()
	}
	r.m.mix(nil, nil, n)
}

// relaySlots is how many phases of the frame period the relays are
// spread over, at most: with every relay in one phase, the last relay's
// send time moves with the sum of all the others' work (about 70 µs each
// over loopback: RTP spacing p99 over 1 ms from 20 calls on). A phase is
// one more wake-up per frame, though, and a wake-up costs about as much
// CPU as a relay's frame, so a phase takes up to relaysPerPhase relays
// before the next one opens (add). An empty phase costs nothing.
const (
	relaySlots     = 4
	relaysPerPhase = 10
)

// relayClock runs the relays of one frame period.
type relayClock struct {
	frame time.Duration

	mu      sync.Mutex // membership, and whether the loop runs
	slots   [relaySlots]atomic.Pointer[[]*relay]
	running bool

	// tick is held while a phase runs, so that remove can wait for the
	// one that may still be calling a removed relay's endpoints.
	tick sync.Mutex
}

var (
	relayClocksMu sync.Mutex
	relayClocks   = map[time.Duration]*relayClock{}
)

func relayClockFor(frame time.Duration) *relayClock {
	relayClocksMu.Lock()
	defer relayClocksMu.Unlock()
	c := relayClocks[frame]
	if c == nil {
		c = &relayClock{frame: frame}
		relayClocks[frame] = c
	}
	return c
}

func (c *relayClock) list(slot int) []*relay {
	if p := c.slots[slot].Load(); p != nil {
		return *p
	}
	return nil
}

// add starts relaying m in the first phase with room for it, else in
// the least busy one (at once if the clock was idle).
func (c *relayClock) add(m *relay) {
	c.mu.Lock()
	defer c.mu.Unlock()
	slot := -1
	for s := range relaySlots {
		if len(c.list(s)) < relaysPerPhase {
			slot = s
			break
		}
	}
	if slot < 0 {
		slot = 0
		for s := range relaySlots {
			if len(c.list(s)) < len(c.list(slot)) {
				slot = s
			}
		}
	}
	old := c.list(slot)
	next := make([]*relay, len(old), len(old)+1)
	copy(next, old)
	next = append(next, m)
	c.slots[slot].Store(&next)
	if !c.running {
		c.running = true
		go c.run()
	}
}

// remove stops relaying m; it returns once no phase calls m any more.
func (c *relayClock) remove(m *relay) {
	c.mu.Lock()
	for s := range relaySlots {
		old := c.list(s)
		next := make([]*relay, 0, len(old))
		for _, x := range old {
			if x != m {
				next = append(next, x)
			}
		}
		if len(next) != len(old) {
			c.slots[s].Store(&next)
		}
	}
	c.mu.Unlock()
	// A phase that loaded the old list may still be running.
	c.tick.Lock()
	c.tick.Unlock()
}

// run is the clock: every relay's frame, one frame period apart, each
// phase at its offset in the period, until no relay is left.
func (c *relayClock) run() {
	w := newFrameWaiter()
	defer w.close()
	n := int(c.frame / sampleTime)
	phase := c.frame / relaySlots
	start := time.Now() // of the current period
	for {
		for s := range relaySlots {
			if len(c.list(s)) > 0 {
				w.sleep(time.Until(start.Add(time.Duration(s) * phase)))
				c.step(s, n)
			}
		}
		start = start.Add(c.frame)
		// More than a frame behind: jump whole periods so that the next
		// is due now at the latest, which leaves one catch-up frame.
		if behind := time.Since(start); behind >= c.frame {
			k := behind / c.frame
			for s := range relaySlots {
				for _, r := range c.list(s) {
					r.m.skipped.Add(uint64(k))
				}
			}
			start = start.Add(k * c.frame)
		}
		c.mu.Lock()
		empty := true
		for s := range relaySlots {
			empty = empty && len(c.list(s)) == 0
		}
		if empty {
			c.running = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

// step runs one frame of n samples for every relay of a phase. It
// allocates nothing.
func (c *relayClock) step(slot, n int) {
	c.tick.Lock()
	defer c.tick.Unlock()
	for _, r := range c.list(slot) {
		r.frame(n)
	}
}

// goTimerWaiter waits with a Go timer (where there is no timerfd).
type goTimerWaiter struct{ t *time.Timer }

func (w *goTimerWaiter) sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	if w.t == nil {
		w.t = time.NewTimer(d)
	} else {
		w.t.Reset(d)
	}
	<-w.t.C
}

func (w *goTimerWaiter) close() {
	if w.t != nil {
		w.t.Stop()
	}
}
