package bridge_test

import (
	"context"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/openata/ata/board/pcm"
	"github.com/openata/ata/media/bridge"
	"github.com/openata/ata/media/bridge/bridgetest"
)

// clocked is an endpoint that notes the (bubble) time of each frame and
// can take time over chosen frames, as a slow endpoint would.
type clocked struct {
	*bridgetest.FakeEndpoint
	mu    sync.Mutex
	at    []time.Duration
	start time.Time
	work  func(frame int) time.Duration
}

func (c *clocked) ReadFrame(f []int16) {
	c.mu.Lock()
	frame := len(c.at)
	c.at = append(c.at, time.Since(c.start))
	c.mu.Unlock()
	if c.work != nil {
		time.Sleep(c.work(frame))
	}
	c.FakeEndpoint.ReadFrame(f)
}

func (c *clocked) times() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.at...)
}

// run starts m.Run in the bubble, lets it go for d and stops it.
func run(t *testing.T, m *bridge.Mixer, frame, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- m.Run(ctx, frame) }()
	time.Sleep(d)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// Two legs and no port: a relay. Each hears the other's tone at its own
// level and not itself.
func TestRunRelays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m bridge.Mixer
		a, b := bridgetest.Tone(1000, -10), bridgetest.Tone(440, -20)
		add(t, &m, bridge.Active, a, b)
		run(t, &m, 20*time.Millisecond, time.Second-time.Millisecond)
		if a.Writes() != 50 || b.Writes() != 50 || a.Reads() != 50 {
			t.Fatalf("%d/%d frames in 1 s of 20 ms frames, want 50", a.Writes(), b.Writes())
		}
		for _, c := range []struct {
			who      string
			heard    []int16
			hz, dBm0 float64
			ownHz    float64
		}{{"A", a.Heard(8000), 440, -20, 1000}, {"B", b.Heard(8000), 1000, -10, 440}} {
			if l := pcm.ToneLevel(c.heard, c.hz); math.Abs(l-c.dBm0) > 0.05 {
				t.Errorf("%s hears %.0f Hz at %.2f dBm0, want %.0f", c.who, c.hz, l, c.dBm0)
			}
			if l := pcm.ToneLevel(c.heard, c.ownHz); l > -60 {
				t.Errorf("%s hears itself at %.1f dBm0", c.who, l)
			}
		}
	})
}

// Self-paced with three legs: each hears the other two, never itself;
// a held leg is still paced.
func TestRunConference(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m bridge.Mixer
		a, b, c, h := bridgetest.Constant(1), bridgetest.Constant(10), bridgetest.Constant(100), bridgetest.Constant(1000)
		add(t, &m, bridge.Active, a, b, c)
		add(t, &m, bridge.Held, h)
		run(t, &m, 10*time.Millisecond, 95*time.Millisecond)
		wantAll(t, "A", a.Heard(800), 110)
		wantAll(t, "B", b.Heard(800), 101)
		wantAll(t, "C", c.Heard(800), 11)
		wantAll(t, "held", h.Heard(800), 0)
		if len(a.Heard(8000)) != 10*80 || h.Reads() != 10 {
			t.Fatalf("A heard %d samples, held read %d times; want 10 frames of 80", len(a.Heard(8000)), h.Reads())
		}
	})
}

// Frames start on absolute deadlines: 3 ms of work per frame does not
// push the next one back (a sleep of 20 ms after each frame would drift
// to 23 ms per frame).
func TestRunKeepsAbsoluteDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m bridge.Mixer
		c := &clocked{FakeEndpoint: bridgetest.Constant(0), start: time.Now(),
			work: func(int) time.Duration { return 3 * time.Millisecond }}
		if err := m.Add(c, bridge.Active); err != nil {
			t.Fatal(err)
		}
		run(t, &m, 20*time.Millisecond, 490*time.Millisecond)
		at := c.times()
		if len(at) != 25 {
			t.Fatalf("%d frames in 490 ms, want 25", len(at))
		}
		for i, d := range at {
			if d != time.Duration(i)*20*time.Millisecond {
				t.Fatalf("frame %d at %v, want %v (all: %v)", i, d, time.Duration(i)*20*time.Millisecond, at)
			}
		}
	})
}

// A frame stalled for 105 ms is followed by one catch-up frame at once,
// not a burst of five; the missed frames are counted and the clock keeps
// its phase.
func TestRunLateTickCatchesUpOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m bridge.Mixer
		c := &clocked{FakeEndpoint: bridgetest.Constant(0), start: time.Now(),
			work: func(frame int) time.Duration {
				if frame == 2 {
					return 105 * time.Millisecond
				}
				return 0
			}}
		if err := m.Add(c, bridge.Active); err != nil {
			t.Fatal(err)
		}
		run(t, &m, 20*time.Millisecond, 190*time.Millisecond)
		ms := time.Millisecond
		want := []time.Duration{0, 20 * ms, 40 * ms, 145 * ms, 160 * ms, 180 * ms}
		at := c.times()
		if len(at) != len(want) {
			t.Fatalf("frames at %v, want %v", at, want)
		}
		for i := range want {
			if at[i] != want[i] {
				t.Fatalf("frames at %v, want %v", at, want)
			}
		}
		if s := m.Stats(); s.Skipped != 4 || s.Frames != 6 {
			t.Fatalf("stats %+v, want 6 frames, 4 skipped", s)
		}
	})
}

func TestRunRefuses(t *testing.T) {
	var m bridge.Mixer
	for _, d := range []time.Duration{0, -time.Millisecond, 20*time.Millisecond + 1, 61 * time.Millisecond} {
		if err := m.Run(t.Context(), d); err == nil {
			t.Errorf("Run with a %v frame accepted", d)
		}
	}
	synctest.Test(t, func(t *testing.T) {
		var m bridge.Mixer
		ctx, cancel := context.WithCancel(t.Context())
		go m.Run(ctx, 20*time.Millisecond)
		synctest.Wait()
		if err := m.Run(ctx, 20*time.Millisecond); err == nil {
			t.Error("a second Run on the same mixer accepted")
		}
		cancel()
	})
}
