package sim

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openata/ata/board"
)

// TestRunCatchesUpWithoutLosingTime drives Run from a manual clock: frames
// are never early, a late process gets the missed frames back to back, and
// a hook edge is delivered before the frame covering its time.
func TestRunCatchesUpWithoutLosingTime(t *testing.T) {
	clk := newFakeClock()
	clk.Set(time.Second) // arbitrary origin
	b, err := New(Opts{Clock: clk, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Port().Run(ctx, rec) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	calls := func() []string {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return slices.Clone(rec.calls)
	}
	waitCalls := func(n int) {
		t.Helper()
		waitFor(t, fmt.Sprintf("%d handler calls", n), 5*time.Second, func() bool { return len(calls()) >= n })
	}

	waitCalls(1) // initial edge
	clk.Set(time.Second + 19*time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	if got := calls(); len(got) != 1 {
		t.Fatalf("calls before the first frame is due: %v", got)
	}
	clk.Set(time.Second + 30*time.Millisecond)
	waitCalls(2)
	if err := b.Phone().Hook(ctx, "off"); err != nil { // board time 30 ms
		t.Fatal(err)
	}
	clk.Set(time.Second + 100*time.Millisecond) // 60 ms late: four frames due at once
	waitCalls(7)
	time.Sleep(20 * time.Millisecond)
	want := []string{"edge@0s", "frame@20ms", "edge@30ms", "frame@40ms", "frame@60ms", "frame@80ms", "frame@100ms"}
	if got := calls(); !slices.Equal(got, want) {
		t.Fatalf("calls = %v; want %v", got, want)
	}
	edges, _, _ := rec.snapshot()
	if edges[0].OffHook || !edges[1].OffHook {
		t.Errorf("edges %+v; want initial on-hook then off-hook", edges)
	}
}

// TestRunTracksWallClock runs for about 2 s in real time (10 ms frames) and
// checks the board clock against the wall clock: no frame early, frame times
// consecutive, and the lag not growing beyond one frame. It measures the
// least lag over the last quarter of frames, so scheduling hiccups on a
// busy machine (which only add lag, then get caught up) do not fail it.
func TestRunTracksWallClock(t *testing.T) {
	b, err := New(Opts{FrameSamples: board.FrameSamples10ms, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	h := &timingHandler{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	h.t0 = time.Now()
	if err := b.Port().Run(ctx, h); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(h.t0)
	h.mu.Lock()
	defer h.mu.Unlock()
	frame := 10 * time.Millisecond
	// Never more frames than time allowed; fewer only by a hiccup's worth
	// at the very end (the lag check below is the precise one).
	if n, want := len(h.ats), int(elapsed/frame); n > want || n < int((elapsed-200*time.Millisecond)/frame) {
		t.Errorf("%d frames in %v; want about %d", n, elapsed, want)
	}
	minLag := time.Hour
	for i, at := range h.ats {
		if at != time.Duration(i+1)*frame {
			t.Fatalf("frame %d at %v; want %v", i, at, time.Duration(i+1)*frame)
		}
		lag := h.walls[i] - at
		if lag < 0 {
			t.Fatalf("frame %d (board %v) ran early, at wall %v", i, at, h.walls[i])
		}
		if i >= len(h.ats)*3/4 {
			minLag = min(minLag, lag)
		}
	}
	if minLag > frame {
		t.Errorf("board clock drifted: least lag over the last quarter is %v; want at most one frame (%v)", minLag, frame)
	}
}

type timingHandler struct {
	t0    time.Time
	mu    sync.Mutex
	ats   []time.Duration
	walls []time.Duration
}

func (h *timingHandler) HookEdge(board.HookEdge) {}
func (h *timingHandler) Frame(at time.Duration, mic, ear []int16) {
	wall := time.Since(h.t0)
	h.mu.Lock()
	h.ats = append(h.ats, at)
	h.walls = append(h.walls, wall)
	h.mu.Unlock()
}

func TestRunTwiceConcurrentlyFails(t *testing.T) {
	b, err := New(Opts{Clock: newFakeClock(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	rec := &recorder{}
	go func() { done <- b.Port().Run(ctx, rec) }()
	waitFor(t, "first Run", 5*time.Second, func() bool { e, _, _ := rec.snapshot(); return len(e) == 1 })
	if err := b.Port().Run(ctx, rec); err == nil {
		t.Error("second concurrent Run succeeded")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

type nopHandler struct{ edges int }

func (h *nopHandler) HookEdge(board.HookEdge)               { h.edges++ }
func (h *nopHandler) Frame(_ time.Duration, _, ear []int16) { ear[0] = 1 }

// busyPort returns a port, outside Run's pacing, with long speech and a
// pulse dial queued and a listener waiting: every part of the step works.
func busyPort(tb testing.TB) *Port {
	b, err := New(Opts{Clock: newFakeClock(), Logger: quietLogger()})
	if err != nil {
		tb.Fatal(err)
	}
	p := b.Port()
	p.running, p.started = true, true
	if err := b.Phone().Hook(context.Background(), "off"); err != nil {
		tb.Fatal(err)
	}
	p.jobs = append(p.jobs,
		&job{audio: make([]int16, 8000*3600), done: make(chan error, 1)},
		&job{segs: pulseSegments("0000000000"), needsLoop: true, done: make(chan error, 1)})
	p.jobs[0], p.jobs[1] = p.jobs[1], p.jobs[0] // pulses first, then speech
	p.listeners = append(p.listeners, &listener{buf: make([]int16, 8000*3600), done: make(chan struct{})})
	return p
}

func TestStepAllocatesNothing(t *testing.T) {
	p := busyPort(t)
	h := &nopHandler{}
	var at time.Duration
	allocs := testing.AllocsPerRun(2000, func() {
		at += p.frameDur
		p.step(h, at)
	})
	if allocs != 0 {
		t.Errorf("frame step allocates %.1f times per frame; want 0", allocs)
	}
	if h.edges < 100 {
		t.Errorf("only %d hook edges during the measured frames: the pulse path was not exercised", h.edges)
	}
}

func BenchmarkStep(b *testing.B) {
	p := busyPort(b)
	h := &nopHandler{}
	var at time.Duration
	b.ReportAllocs()
	for b.Loop() {
		at += p.frameDur
		p.step(h, at)
	}
}
