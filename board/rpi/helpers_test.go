package rpi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/openata/ata/board"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fakeClock is a manual Clock: time moves only when the test sets it. A
// sleeper announces its deadline on asleep (when the test listens), so a
// test can run the ring toggler one wake-up at a time.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Duration
	changed chan struct{}
	asleep  chan time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{changed: make(chan struct{}), asleep: make(chan time.Duration)}
}

func (c *fakeClock) Now() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = d
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *fakeClock) SleepUntil(ctx context.Context, t time.Duration) error {
	if c.Now() >= t {
		return nil
	}
	select {
	case c.asleep <- t:
	case <-ctx.Done():
		return ctx.Err()
	}
	for {
		c.mu.Lock()
		now, ch := c.now, c.changed
		c.mu.Unlock()
		if now >= t {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// runUntil lets the toggler sleep and wake deadline by deadline until end:
// each deadline d ≤ end is reached at d+late (a late wake-up), then the
// clock rests at end. It returns the deadlines the toggler asked for.
func (c *fakeClock) runUntil(t *testing.T, end, late time.Duration) []time.Duration {
	t.Helper()
	var deadlines []time.Duration
	for {
		select {
		case d := <-c.asleep:
			deadlines = append(deadlines, d)
			if d > end {
				c.Set(end)
				return deadlines
			}
			c.Set(d + late)
		case <-time.After(2 * time.Second):
			t.Fatalf("toggler did not sleep again (now %v)", c.Now())
		}
	}
}

// levelAt is one write to an output pin.
type levelAt struct {
	at time.Duration
	l  gpio.Level
}

// recPin is a gpiotest.Pin that also records every Out with the clock's time.
type recPin struct {
	*gpiotest.Pin
	clock Clock
	mu    sync.Mutex
	outs  []levelAt
}

func newRecPin(name string, num int, clock Clock) *recPin {
	return &recPin{Pin: &gpiotest.Pin{N: name, Num: num}, clock: clock}
}

func (r *recPin) Out(l gpio.Level) error {
	r.mu.Lock()
	r.outs = append(r.outs, levelAt{r.clock.Now(), l})
	r.mu.Unlock()
	return r.Pin.Out(l)
}

func (r *recPin) history() []levelAt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]levelAt(nil), r.outs...)
}

// changes keeps the writes that changed the level, after the first since.
func changes(h []levelAt, since time.Duration) []levelAt {
	var out []levelAt
	var last gpio.Level
	have := false
	for _, w := range h {
		if have && w.l != last && w.at >= since {
			out = append(out, w)
		}
		last, have = w.l, true
	}
	return out
}

// fakeAudio is an Audio device. With tick set, each Read waits for a tick
// (the test decides when a period has passed); otherwise Read returns at
// once. Mic samples count up; the last earpiece frame is kept.
type fakeAudio struct {
	tick   chan struct{}
	closed chan struct{}
	n      int16
	mu     sync.Mutex
	reads  int
	ear    []int16
}

var errAudioClosed = errors.New("fake audio closed")

func newFakeAudio(paced bool, frameSamples int) *fakeAudio {
	a := &fakeAudio{closed: make(chan struct{}), ear: make([]int16, frameSamples)}
	if paced {
		a.tick = make(chan struct{})
	}
	return a
}

func (a *fakeAudio) Read(frame []int16) error {
	if a.tick != nil {
		select {
		case <-a.tick:
		case <-a.closed:
			return errAudioClosed
		}
	}
	for i := range frame {
		a.n++
		frame[i] = a.n
	}
	a.mu.Lock()
	a.reads++
	a.mu.Unlock()
	return nil
}

func (a *fakeAudio) Write(frame []int16) error {
	a.mu.Lock()
	copy(a.ear, frame)
	a.mu.Unlock()
	return nil
}

// recorder is a Handler that keeps every call; it writes a constant into
// the earpiece so tests see the handler's samples reach the device.
type recorder struct {
	mu     sync.Mutex
	calls  []string
	edges  []board.HookEdge
	frames []time.Duration
	mic0   []int16
}

const earMark = 1234

func (r *recorder) HookEdge(e board.HookEdge) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.edges = append(r.edges, e)
	r.calls = append(r.calls, "edge@"+e.At.String())
}

func (r *recorder) Frame(at time.Duration, mic, ear []int16) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.frames = append(r.frames, at)
	r.calls = append(r.calls, "frame@"+at.String())
	r.mic0 = append(r.mic0, mic[0])
	for i := range ear {
		ear[i] = earMark
	}
}

func (r *recorder) snapshot() ([]board.HookEdge, []time.Duration, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]board.HookEdge(nil), r.edges...), append([]time.Duration(nil), r.frames...), append([]string(nil), r.calls...)
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// rig is a board on gpiotest pins with a fake clock and audio.
type rig struct {
	b      *Board
	p      *Port
	clock  *fakeClock
	audio  *fakeAudio
	shk    *gpiotest.Pin
	rm, fr *recPin
	en     *recPin
}

func newRig(t testing.TB, pins Pins, ringHz float64, pacedAudio bool) *rig {
	t.Helper()
	clk := newFakeClock()
	r := &rig{
		clock: clk,
		audio: newFakeAudio(pacedAudio, board.FrameSamples10ms),
		shk:   &gpiotest.Pin{N: "GPIO17", Num: 17, EdgesChan: make(chan gpio.Level, 16)},
		rm:    newRecPin("GPIO27", 27, clk),
		fr:    newRecPin("GPIO22", 22, clk),
	}
	ps := PinSet{SHK: r.shk, RM: r.rm, FR: r.fr}
	if pins.Enable != 0 {
		r.en = newRecPin("GPIO23", 23, clk)
		ps.Enable = r.en
	}
	b, err := NewWithPins(Opts{
		Pins: pins, RingHz: ringHz, Audio: r.audio, Clock: clk,
		ModelPath: t.TempDir() + "/no-model", Logger: quietLogger(),
	}, ps)
	if err != nil {
		t.Fatalf("NewWithPins: %v", err)
	}
	r.b, r.p = b, b.Port()
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// run starts Run with a recorder and stops it at cleanup.
func (r *rig) run(t *testing.T) *recorder {
	t.Helper()
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.p.Run(ctx, rec) }()
	t.Cleanup(func() {
		cancel()
		close(r.audio.closed)
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	waitFor(t, "initial edge", func() bool { e, _, _ := rec.snapshot(); return len(e) == 1 })
	return rec
}

// frameAt lets one audio period end at clock time mono and waits until the
// handler has seen it.
func (r *rig) frameAt(t *testing.T, rec *recorder, mono time.Duration) {
	t.Helper()
	_, frames, _ := rec.snapshot()
	r.clock.Set(mono)
	r.audio.tick <- struct{}{}
	waitFor(t, "frame", func() bool { _, f, _ := rec.snapshot(); return len(f) == len(frames)+1 })
}

// edgeAt makes SHK go to level l at clock time mono and waits until the
// watcher has seen it.
func (r *rig) edgeAt(t *testing.T, mono time.Duration, l gpio.Level) {
	t.Helper()
	r.clock.Set(mono)
	r.shk.EdgesChan <- l
	waitFor(t, "edge seen", func() bool {
		r.p.mu.Lock()
		defer r.p.mu.Unlock()
		return len(r.shk.EdgesChan) == 0 && r.p.lastOff == r.p.offHook(l)
	})
}
