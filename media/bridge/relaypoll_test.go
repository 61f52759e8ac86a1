package bridge

import (
	"sync/atomic"
	"testing"
	"time"
)

// polledEndpoint is a countingEndpoint the relay's clock polls: it
// checks that every ReadFrame comes after a Poll of the same frame.
type polledEndpoint struct {
	countingEndpoint
	accept              bool // what StartPolling answers
	polls, unpolledRead atomic.Int64
	started, stopped    atomic.Bool
	pending             atomic.Bool // polled, not yet read
}

func (e *polledEndpoint) StartPolling() bool { e.started.Store(true); return e.accept }
func (e *polledEndpoint) StopPolling()       { e.stopped.Store(true) }
func (e *polledEndpoint) Poll()              { e.polls.Add(1); e.pending.Store(true) }

func (e *polledEndpoint) ReadFrame(f []int16) {
	if !e.pending.Swap(false) {
		e.unpolledRead.Add(1)
	}
	e.countingEndpoint.ReadFrame(f)
}

// TestRelayPollsItsEndpoints: a relay polls each endpoint that accepts
// polling once per frame, just before reading it, and gives receiving
// back when stopped; an endpoint that refuses is never polled.
func TestRelayPollsItsEndpoints(t *testing.T) {
	a := &polledEndpoint{countingEndpoint: countingEndpoint{say: 1}, accept: true}
	b := &polledEndpoint{countingEndpoint: countingEndpoint{say: 2}, accept: false}
	stop := Relay(a, b, 20*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	stop()
	if !a.started.Load() || !b.started.Load() {
		t.Fatal("StartPolling not asked")
	}
	reads := a.reads.Load()
	if reads < 3 || a.polls.Load() != reads || a.unpolledRead.Load() != 0 {
		t.Errorf("a: %d polls, %d reads, %d reads without a poll before: want one poll before each read", a.polls.Load(), reads, a.unpolledRead.Load())
	}
	if !a.stopped.Load() {
		t.Error("a: StopPolling not called at stop")
	}
	if b.polls.Load() != 0 || b.stopped.Load() {
		t.Errorf("b refused polling but was polled %d times (stopped %v)", b.polls.Load(), b.stopped.Load())
	}
	if b.heard.Load() != 1 || a.heard.Load() != 2 {
		t.Errorf("heard %d %d, want 2 1", a.heard.Load(), b.heard.Load())
	}
}

// TestRelayPhasesFillBeforeOpening: relays share one phase (one wake-up
// per frame) until it holds relaysPerPhase, then the next opens; with
// every phase full they spread evenly.
func TestRelayPhasesFillBeforeOpening(t *testing.T) {
	c := &relayClock{frame: 20 * time.Millisecond, running: true} // no clock goroutine
	sizes := func() (n [relaySlots]int) {
		for s := range relaySlots {
			n[s] = len(c.list(s))
		}
		return n
	}
	for range 25 {
		c.add(&relay{})
	}
	if got, want := sizes(), [relaySlots]int{10, 10, 5, 0}; got != want {
		t.Errorf("25 relays in phases %v, want %v", got, want)
	}
	for range 25 {
		c.add(&relay{})
	}
	if got, want := sizes(), [relaySlots]int{13, 13, 12, 12}; got != want {
		t.Errorf("50 relays in phases %v, want %v", got, want)
	}
}
