package bridge

import (
	"sync/atomic"
	"testing"
	"time"
)

// countingEndpoint says a constant and remembers the last sample it heard.
type countingEndpoint struct {
	say           int16
	reads, writes atomic.Int64
	heard         atomic.Int32
}

func (e *countingEndpoint) ReadFrame(f []int16) {
	e.reads.Add(1)
	for i := range f {
		f[i] = e.say
	}
}

func (e *countingEndpoint) WriteFrame(f []int16) {
	e.writes.Add(1)
	e.heard.Store(int32(f[len(f)-1]))
}

// TestRelaysShareOneClock: two relays on the real clock each carry a
// frame every 20 ms, each leg hears the other; a stopped relay's
// endpoints are never called again, and the clock stops with the last.
func TestRelaysShareOneClock(t *testing.T) {
	const frame = 20 * time.Millisecond
	a1, b1 := &countingEndpoint{say: 11}, &countingEndpoint{say: 12}
	a2, b2 := &countingEndpoint{say: 21}, &countingEndpoint{say: 22}
	stop1 := Relay(a1, b1, frame)
	stop2 := Relay(a2, b2, frame)
	time.Sleep(300 * time.Millisecond)
	stop1()
	r1 := a1.reads.Load()
	w1 := b1.writes.Load()
	time.Sleep(100 * time.Millisecond)
	// 300 ms at 20 ms: 15 frames, 16 with the first at once; a loaded
	// machine may skip a few.
	if r1 < 8 || r1 > 17 {
		t.Errorf("relay 1 ran %d frames in 300 ms, want about 15", r1)
	}
	if a1.reads.Load() != r1 || b1.writes.Load() != w1 {
		t.Error("a stopped relay's endpoints were still called")
	}
	if a1.heard.Load() != 12 || b1.heard.Load() != 11 || a2.heard.Load() != 22 || b2.heard.Load() != 21 {
		t.Errorf("heard %d %d %d %d, want each leg its peer (12 11 22 21)", a1.heard.Load(), b1.heard.Load(), a2.heard.Load(), b2.heard.Load())
	}
	if n := a2.reads.Load(); n < r1+2 {
		t.Errorf("relay 2 stopped with relay 1 (%d frames, relay 1 %d)", n, r1)
	}
	stop2()
	stop2() // twice is harmless
	c := relayClockFor(frame)
	deadline := time.Now().Add(time.Second)
	for {
		c.mu.Lock()
		running := c.running
		c.mu.Unlock()
		if !running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the relay clock still runs with no relay")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// And starts again for the next relay.
	a3, b3 := &countingEndpoint{say: 31}, &countingEndpoint{say: 32}
	stop3 := Relay(a3, b3, frame)
	time.Sleep(100 * time.Millisecond)
	stop3()
	if a3.reads.Load() == 0 || b3.heard.Load() != 31 {
		t.Errorf("a relay after the clock stopped: %d frames, heard %d", a3.reads.Load(), b3.heard.Load())
	}
}

// TestRelayClockFrameAllocatesNothing: the clock's frame over a hundred
// relays allocates nothing (the 20 ms path).
func TestRelayClockFrameAllocatesNothing(t *testing.T) {
	c := &relayClock{frame: 20 * time.Millisecond}
	var list []*relay
	for range 100 {
		r := &relay{}
		r.m.Add(&countingEndpoint{say: 1}, Active)
		r.m.Add(&countingEndpoint{say: 2}, Active)
		list = append(list, r)
	}
	c.slots[0].Store(&list)
	if n := testing.AllocsPerRun(100, func() { c.step(0, 160) }); n != 0 {
		t.Errorf("%v allocations per frame", n)
	}
}

// TestRelayRefusesBadFrame: a frame period that is not whole samples
// makes a relay that never calls its endpoints.
func TestRelayRefusesBadFrame(t *testing.T) {
	a, b := &countingEndpoint{}, &countingEndpoint{}
	stop := Relay(a, b, 20*time.Millisecond+time.Microsecond)
	time.Sleep(50 * time.Millisecond)
	stop()
	if a.reads.Load() != 0 || b.reads.Load() != 0 {
		t.Error("a relay with a bad frame period ran")
	}
}

// BenchmarkRelayClockFrame is the shared clock's frame for 100 relays of
// two legs each (the endpoints do nothing): ns per 20 ms frame.
func BenchmarkRelayClockFrame(b *testing.B) {
	c := &relayClock{frame: 20 * time.Millisecond}
	var list []*relay
	for range 100 {
		r := &relay{}
		r.m.Add(&countingEndpoint{say: 1}, Active)
		r.m.Add(&countingEndpoint{say: 2}, Active)
		list = append(list, r)
	}
	c.slots[0].Store(&list)
	b.ReportAllocs()
	for b.Loop() {
		c.step(0, 160)
	}
}
