//go:build linux && !386

package rtpsession

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestPollingTakesOverReceiving: while polled, packets wait in the socket
// until Poll (the session's own RTP goroutine waits without spinning, and
// the socket is out of the Go poller: its conn is closed); sends go out
// on the polled socket; after StopPolling the session receives by itself
// again on a new conn; Close while polled returns.
func TestPollingTakesOverReceiving(t *testing.T) {
	clk := &fakeClock{}
	a, b, _ := pair(t, clk, 0, nil)
	if !b.StartPolling() {
		t.Fatal("a plain UDP session cannot be polled")
	}
	mic := make([]int16, 160)
	cpu0 := cpuTime(t)
	for range 5 {
		a.WriteFrame(mic)
	}
	time.Sleep(100 * time.Millisecond)
	if n := b.Stats().PacketsReceived; n != 0 {
		t.Fatalf("%d packets received while polled before Poll: the RTP goroutine still reads", n)
	}
	if used := cpuTime(t) - cpu0; used > 50*time.Millisecond {
		t.Errorf("%v of CPU in 100 ms while polled: the RTP goroutine spins", used)
	}
	if err := b.cfg.Conn.SetReadDeadline(time.Time{}); !errors.Is(err, net.ErrClosed) {
		t.Error("the session's conn is still open while polled: the socket stays in the Go poller")
	}
	b.Poll()
	if n := b.Stats().PacketsReceived; n != 5 {
		t.Fatalf("Poll took in %d packets, want 5", n)
	}
	p := b.pollGate.ps
	stamp := rxStamp(p.ctrl[0][:p.hdrs[0].hdr.Controllen])
	if age := time.Since(time.Unix(0, stamp)); stamp == 0 || age < 0 || age > 5*time.Second {
		t.Errorf("kernel receive time %d (%v ago): SO_TIMESTAMPNS not delivered", stamp, age)
	}
	b.WriteFrame(mic)
	waitFor(t, "a packet sent on the polled socket", func() bool { return a.Stats().PacketsReceived == 1 })

	b.StopPolling()
	for range 3 {
		a.WriteFrame(mic)
	}
	waitFor(t, "the RTP goroutine to receive again", func() bool { return b.Stats().PacketsReceived == 8 })
	b.WriteFrame(mic)
	waitFor(t, "a packet sent on the new conn", func() bool { return a.Stats().PacketsReceived == 2 })

	if !b.StartPolling() {
		t.Fatal("second StartPolling refused")
	}
	done := make(chan error)
	go func() { done <- b.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close while polled: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close hangs while the session is polled")
	}
	b.Poll() // after Close: nothing, no panic
}

// TestPollAllocatesNothing: the relay clock's Poll and send of a packet
// allocate nothing (the 20 ms path).
func TestPollAllocatesNothing(t *testing.T) {
	clk := &fakeClock{}
	a, b, _ := pair(t, clk, 0, nil)
	if !b.StartPolling() {
		t.Fatal("cannot poll")
	}
	mic := make([]int16, 160)
	allocs := testing.AllocsPerRun(200, func() {
		clk.advance(20 * time.Millisecond)
		a.WriteFrame(mic) // loopback: queued at b's socket when this returns
		b.Poll()
		b.WriteFrame(mic)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per polled packet", allocs)
	}
	if got := b.Stats().PacketsReceived; got != 201 {
		t.Errorf("%d packets polled, want 201", got)
	}
}

func TestArrivedAt(t *testing.T) {
	wall := time.Now().UnixNano()
	now := 10 * time.Second
	for _, c := range []struct {
		stamp int64
		want  time.Duration
	}{
		{wall - int64(15*time.Millisecond), now - 15*time.Millisecond},
		{wall, now},
		{0, now},                              // no stamp
		{wall + int64(time.Millisecond), now}, // from the future: a clock step
		{wall - int64(2*time.Second), now},    // older than a second: a clock step
	} {
		if got := arrivedAt(now, wall, c.stamp); got != c.want {
			t.Errorf("arrivedAt(stamp %d ns before now) = %v, want %v", wall-c.stamp, got, c.want)
		}
	}
}
