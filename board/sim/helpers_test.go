package sim

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/openata/ata/board"
)

// recorder is a test Handler: it keeps every edge, frame time and mic
// sample, and writes a counter into the earpiece (sample n of the stream is
// earValue(n)) so tests can tell exactly which ear samples came back.
type recorder struct {
	mu     sync.Mutex
	calls  []string // "edge@t=on/off" and "frame@t", in call order
	edges  []board.HookEdge
	frames []time.Duration
	mic    []int16
	earN   int
}

func earValue(n int) int16 { return int16(n%30011 + 1) }

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
	r.mic = append(r.mic, mic...)
	for i := range ear {
		ear[i] = earValue(r.earN)
		r.earN++
	}
}

func (r *recorder) snapshot() (edges []board.HookEdge, frames []time.Duration, mic []int16) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]board.HookEdge(nil), r.edges...), append([]time.Duration(nil), r.frames...), append([]int16(nil), r.mic...)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitFrames waits until the handler has seen n more frames than now.
func (r *recorder) waitFrames(t *testing.T, n int) {
	t.Helper()
	_, frames, _ := r.snapshot()
	want := len(frames) + n
	waitFor(t, "frames", 5*time.Second, func() bool {
		_, f, _ := r.snapshot()
		return len(f) >= want
	})
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startBoard runs a real-time sim board on 127.0.0.1:0 with a recorder.
func startBoard(t *testing.T, frameSamples int) (*Board, *Client, *recorder) {
	t.Helper()
	return startBoardOpts(t, Opts{FrameSamples: frameSamples})
}

// startBoardOpts is startBoard with options (Listen and Logger are set here).
func startBoardOpts(t *testing.T, o Opts) (*Board, *Client, *recorder) {
	t.Helper()
	o.Listen, o.Logger = "127.0.0.1:0", quietLogger()
	b, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Port().Run(ctx, rec) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	// Like a phone plugged into a running port: act only once Run took the
	// initial loop state (changes before that fold into it).
	rec.waitFrames(t, 1)
	return b, &Client{BaseURL: b.URL()}, rec
}

// fakeClock is a manual Clock: time moves only when the test sets it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Duration
	changed chan struct{}
}

func newFakeClock() *fakeClock { return &fakeClock{changed: make(chan struct{})} }

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
	for {
		c.mu.Lock()
		now, ch := c.now, c.changed
		c.mu.Unlock()
		if now >= t {
			return ctx.Err()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// goertzelAmplitude estimates the peak amplitude of the component of x at
// freq Hz (8 kHz sampling), evaluating the DTFT at exactly freq.
func goertzelAmplitude(x []int16, freq float64) float64 {
	w := 2 * math.Pi * freq / board.SampleRate
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s0 := float64(v) + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	re := s1 - s2*math.Cos(w)
	im := s2 * math.Sin(w)
	return 2 * math.Hypot(re, im) / float64(len(x))
}

func statusCode(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}
