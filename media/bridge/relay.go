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
// carrying N calls then wakes 50 times a second instead of 50·N (each
// wake-up is a context switch and a pass of the Go scheduler, most of a
// relay's CPU time besides the sends), and on Linux the clock waits on a
// timerfd, which the kernel fires on time, where a Go timer's poller
// timeout is in whole milliseconds (up to 1 ms late: RTP spacing p99 of
// 1 ms with a single call). Deadlines are absolute as in Run; after a
// stall the frames missed beyond one catch-up frame are dropped (each
// mixer's Stats.Skipped). A frame period Run refuses makes a relay that
// does nothing.
func Relay(a, b media.Endpoint, frame time.Duration) (stop func()) {
	m := &Mixer{}
	m.Add(a, Active)
	m.Add(b, Active)
	if frame <= 0 || frame%sampleTime != 0 || frame > MaxFrame*sampleTime {
		return func() {}
	}
	m.running.Store(true) // Run and Exchange refuse it: the clock drives it
	c := relayClockFor(frame)
	c.add(m)
	var once sync.Once
	return func() {
		once.Do(func() {
			c.remove(m)
			m.running.Store(false)
		})
	}
}

// relayClock runs the relays of one frame period.
type relayClock struct {
	frame time.Duration

	mu      sync.Mutex // membership, and whether the loop runs
	relays  atomic.Pointer[[]*Mixer]
	running bool

	// tick is held while a frame runs, so that remove can wait for the
	// frame that may still be calling a removed relay's endpoints.
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

func (c *relayClock) list() []*Mixer {
	if p := c.relays.Load(); p != nil {
		return *p
	}
	return nil
}

// add starts relaying m from the clock's next frame (at once if the
// clock was idle).
func (c *relayClock) add(m *Mixer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.list()
	next := make([]*Mixer, len(old), len(old)+1)
	copy(next, old)
	next = append(next, m)
	c.relays.Store(&next)
	if !c.running {
		c.running = true
		go c.run()
	}
}

// remove stops relaying m; it returns once no frame calls m any more.
func (c *relayClock) remove(m *Mixer) {
	c.mu.Lock()
	old := c.list()
	next := make([]*Mixer, 0, len(old))
	for _, x := range old {
		if x != m {
			next = append(next, x)
		}
	}
	c.relays.Store(&next)
	c.mu.Unlock()
	// A frame that loaded the old list may still be running.
	c.tick.Lock()
	c.tick.Unlock()
}

// run is the clock: every relay's frame, one frame period apart, until
// no relay is left.
func (c *relayClock) run() {
	w := newFrameWaiter()
	defer w.close()
	n := int(c.frame / sampleTime)
	next := time.Now()
	for {
		relays := c.step(n)
		next = next.Add(c.frame)
		// More than a frame behind: jump whole periods so that next is
		// due now at the latest, which leaves one catch-up frame.
		if behind := time.Since(next); behind >= c.frame {
			k := behind / c.frame
			for _, m := range relays {
				m.skipped.Add(uint64(k))
			}
			next = next.Add(k * c.frame)
		}
		c.mu.Lock()
		if len(c.list()) == 0 {
			c.running = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		w.sleep(time.Until(next))
	}
}

// step runs one frame of n samples for every relay. It allocates nothing.
func (c *relayClock) step(n int) []*Mixer {
	c.tick.Lock()
	defer c.tick.Unlock()
	relays := c.list()
	for _, m := range relays {
		m.mix(nil, nil, n)
	}
	return relays
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
