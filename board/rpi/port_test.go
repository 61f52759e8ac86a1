package rpi

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/openata/ata/board"
	"periph.io/x/conn/v3/gpio"
)

func ag1171(t *testing.T) Pins {
	t.Helper()
	p, err := Profile("rpi-ag1171")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func he(at time.Duration, offHook bool) board.HookEdge {
	return board.HookEdge{At: at, OffHook: offHook}
}

func TestHookEdgesActiveHigh(t *testing.T) {
	r := newRig(t, ag1171(t), 20, true)
	rec := r.run(t)
	r.frameAt(t, rec, 10*time.Millisecond)
	r.edgeAt(t, 13*time.Millisecond, gpio.High) // lifted
	r.frameAt(t, rec, 20*time.Millisecond)
	r.edgeAt(t, 24*time.Millisecond, gpio.Low) // dial pulse break
	r.edgeAt(t, 26500*time.Microsecond, gpio.High)
	r.frameAt(t, rec, 30*time.Millisecond)

	edges, frames, calls := rec.snapshot()
	want := []board.HookEdge{
		{At: 0, OffHook: false},
		{At: 13 * time.Millisecond, OffHook: true},
		{At: 24 * time.Millisecond, OffHook: false},
		{At: 26500 * time.Microsecond, OffHook: true},
	}
	if !slices.Equal(edges, want) {
		t.Fatalf("edges %v, want %v", edges, want)
	}
	if !slices.Equal(frames, []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond}) {
		t.Fatalf("frames %v", frames)
	}
	wantCalls := []string{"edge@0s", "frame@10ms", "edge@13ms", "frame@20ms", "edge@24ms", "edge@26.5ms", "frame@30ms"}
	if !slices.Equal(calls, wantCalls) {
		t.Fatalf("calls %v, want %v", calls, wantCalls)
	}
}

func TestHookEdgesActiveLow(t *testing.T) {
	pins := ag1171(t)
	pins.SHKActiveHigh = false
	r := newRig(t, pins, 20, true)
	if r.shk.P != gpio.PullUp {
		t.Fatalf("active-low SHK pulled %v, want up (towards on-hook)", r.shk.P)
	}
	rec := r.run(t)
	r.edgeAt(t, 3*time.Millisecond, gpio.Low)
	r.frameAt(t, rec, 10*time.Millisecond)
	r.edgeAt(t, 15*time.Millisecond, gpio.High)
	r.frameAt(t, rec, 20*time.Millisecond)
	edges, _, _ := rec.snapshot()
	want := []board.HookEdge{he(0, false), he(3*time.Millisecond, true), he(15*time.Millisecond, false)}
	if !slices.Equal(edges, want) {
		t.Fatalf("edges %v, want %v", edges, want)
	}
}

func TestInitialEdgeOffHook(t *testing.T) {
	r := newRig(t, ag1171(t), 20, true)
	if r.shk.P != gpio.PullDown {
		t.Fatalf("active-high SHK pulled %v, want down (towards on-hook)", r.shk.P)
	}
	r.shk.Out(gpio.High) // handset already lifted when Run starts
	rec := r.run(t)
	edges, _, _ := rec.snapshot()
	if !slices.Equal(edges, []board.HookEdge{he(0, true)}) {
		t.Fatalf("initial edges %v", edges)
	}
}

// An edge event that leaves the level unchanged (a glitch over before it
// was read) gives no HookEdge.
func TestHookRepeatedLevelIgnored(t *testing.T) {
	r := newRig(t, ag1171(t), 20, true)
	rec := r.run(t)
	r.edgeAt(t, 2*time.Millisecond, gpio.Low)
	r.edgeAt(t, 4*time.Millisecond, gpio.High)
	r.edgeAt(t, 5*time.Millisecond, gpio.High)
	r.frameAt(t, rec, 10*time.Millisecond)
	edges, _, _ := rec.snapshot()
	if want := []board.HookEdge{he(0, false), he(4*time.Millisecond, true)}; !slices.Equal(edges, want) {
		t.Fatalf("edges %v, want %v", edges, want)
	}
}

// When the device delivers a period late, an edge seen meanwhile still
// comes before the frame, inside it, and edges stay in order.
func TestHookEdgeClampedIntoItsFrame(t *testing.T) {
	r := newRig(t, ag1171(t), 20, true)
	rec := r.run(t)
	r.frameAt(t, rec, 10*time.Millisecond)
	r.edgeAt(t, 27*time.Millisecond, gpio.High) // 17 ms after the last frame
	r.frameAt(t, rec, 28*time.Millisecond)      // board time 20 ms
	r.frameAt(t, rec, 30*time.Millisecond)
	r.edgeAt(t, 30500*time.Microsecond, gpio.Low)
	r.frameAt(t, rec, 40*time.Millisecond)
	edges, _, calls := rec.snapshot()
	want := []board.HookEdge{he(0, false), he(20*time.Millisecond-sampleDur, true), he(30500*time.Microsecond, false)}
	if !slices.Equal(edges, want) {
		t.Fatalf("edges %v, want %v", edges, want)
	}
	if calls[2] != "edge@19.875ms" || calls[3] != "frame@20ms" {
		t.Fatalf("calls %v", calls)
	}
}

func TestFramesFlow(t *testing.T) {
	r := newRig(t, ag1171(t), 20, true)
	rec := r.run(t)
	for k := 1; k <= 5; k++ {
		r.frameAt(t, rec, time.Duration(k)*10*time.Millisecond)
	}
	_, frames, _ := rec.snapshot()
	if len(frames) != 5 || frames[4] != 50*time.Millisecond {
		t.Fatalf("frames %v", frames)
	}
	rec.mu.Lock()
	mic0 := slices.Clone(rec.mic0)
	rec.mu.Unlock()
	for k, s := range mic0 { // the device's sample counter, frame by frame
		if want := int16(k*board.FrameSamples10ms + 1); s != want {
			t.Fatalf("frame %d mic[0] = %d, want %d", k, s, want)
		}
	}
	r.audio.mu.Lock()
	defer r.audio.mu.Unlock()
	for i, s := range r.audio.ear {
		if s != earMark {
			t.Fatalf("ear[%d] written to the device = %d, want %d", i, s, earMark)
		}
	}
}

func TestRunErrors(t *testing.T) {
	r := newRig(t, ag1171(t), 20, true)
	close(r.audio.closed)
	err := r.p.Run(t.Context(), &recorder{})
	if !errors.Is(err, errAudioClosed) {
		t.Fatalf("Run with a failing device: %v", err)
	}
	b, err := NewWithPins(Opts{Clock: newFakeClock(), Logger: quietLogger(), ModelPath: "/nonexistent"},
		PinSet{SHK: r.shk, RM: r.rm, FR: r.fr})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Port().Run(t.Context(), &recorder{}); !errors.Is(err, errNoAudio) {
		t.Fatalf("Run without audio: %v", err)
	}
}

// ringBurst rings for d starting at clock time start, with every wake-up
// late by late, and returns the F/R level changes and the deadlines.
func ringBurst(t *testing.T, r *rig, start, d, late time.Duration) ([]levelAt, []time.Duration) {
	t.Helper()
	r.clock.Set(start)
	before := len(r.fr.history())
	if err := r.p.SetRing(true); err != nil {
		t.Fatal(err)
	}
	if r.rm.Read() != gpio.High {
		t.Fatal("RM low during the burst")
	}
	deadlines := r.clock.runUntil(t, start+d, late)
	if r.rm.Read() != gpio.High {
		t.Fatal("RM low during the burst")
	}
	if err := r.p.SetRing(false); err != nil {
		t.Fatal(err)
	}
	if r.rm.Read() != gpio.Low {
		t.Fatal("RM high after the burst")
	}
	var toggles []levelAt
	h := r.fr.history()
	for _, c := range changes(h[max(before-1, 0):], start) {
		if c.at <= start+d+late {
			toggles = append(toggles, c)
		}
	}
	return toggles, deadlines
}

func TestRingFrequency(t *testing.T) {
	for _, tc := range []struct {
		hz   float64
		want int
	}{{20, 80}, {25, 100}} {
		r := newRig(t, ag1171(t), tc.hz, true)
		toggles, deadlines := ringBurst(t, r, 0, 2*time.Second, 0)
		if n := len(toggles); n < tc.want-1 || n > tc.want+1 {
			t.Errorf("%g Hz: %d F/R toggles in 2 s, want %d ± 1", tc.hz, n, tc.want)
		}
		half := time.Duration(float64(time.Second) / (2 * tc.hz))
		for i, c := range toggles {
			if want := time.Duration(i+1) * half; c.at != want {
				t.Fatalf("%g Hz: toggle %d at %v, want %v", tc.hz, i+1, c.at, want)
			}
		}
		if len(deadlines) != tc.want+1 {
			t.Errorf("%g Hz: %d sleeps, want %d (one wake-up per half-period)", tc.hz, len(deadlines), tc.want+1)
		}
		if r.fr.Read() != forward {
			t.Errorf("%g Hz: F/R %v after the burst, want forward", tc.hz, r.fr.Read())
		}
	}
}

// Late wake-ups do not stretch the period: deadlines stay on the grid from
// the burst's start and the toggles stay equally spaced.
func TestRingPhaseSteady(t *testing.T) {
	r := newRig(t, ag1171(t), 25, true)
	const late = 3 * time.Millisecond
	start := 1234 * time.Millisecond
	toggles, deadlines := ringBurst(t, r, start, 2*time.Second, late)
	for k, d := range deadlines {
		if want := start + time.Duration(k+1)*20*time.Millisecond; d != want {
			t.Fatalf("deadline %d = %v, want %v (absolute, not chained)", k+1, d, want)
		}
	}
	if len(toggles) != 100 {
		t.Fatalf("%d toggles, want 100", len(toggles))
	}
	for i := 1; i < len(toggles); i++ {
		if iv := toggles[i].at - toggles[i-1].at; iv != 20*time.Millisecond {
			t.Fatalf("interval %d = %v, want 20ms", i, iv)
		}
		if toggles[i].l == toggles[i-1].l {
			t.Fatalf("toggle %d repeats level %v", i, toggles[i].l)
		}
	}
	if toggles[0].l != reverse {
		t.Fatalf("first toggle to %v, want reverse (burst starts forward)", toggles[0].l)
	}
}

// A wake-up later than a half-period skips the missed toggles and keeps
// the grid and the level that goes with it.
func TestRingSkipsMissedHalfPeriods(t *testing.T) {
	r := newRig(t, ag1171(t), 20, true)
	if err := r.p.SetRing(true); err != nil {
		t.Fatal(err)
	}
	if d := <-r.clock.asleep; d != 25*time.Millisecond {
		t.Fatalf("first deadline %v", d)
	}
	r.clock.Set(60 * time.Millisecond) // toggles 1 and 2 are due: only 2 is made
	if d := <-r.clock.asleep; d != 75*time.Millisecond {
		t.Fatalf("deadline after a late wake-up %v, want 75ms", d)
	}
	if got := r.fr.Read(); got != forward {
		t.Fatalf("F/R after toggle 2 = %v, want forward", got)
	}
	if n := r.p.Toggles(); n != 1 {
		t.Fatalf("%d toggles, want 1", n)
	}
	if err := r.p.SetRing(false); err != nil {
		t.Fatal(err)
	}
}

// Cadence is the caller's: two US cycles (2 s on, 4 s off) driven by
// SetRing give two bursts of 80 toggles, each starting on its own grid,
// with RM following SetRing exactly.
func TestRingCadenceFromOutside(t *testing.T) {
	r := newRig(t, ag1171(t), 20, true)
	for cycle := range 2 {
		start := time.Duration(cycle) * 6 * time.Second
		toggles, _ := ringBurst(t, r, start+7*time.Millisecond, 2*time.Second, 0)
		if len(toggles) != 80 {
			t.Fatalf("cycle %d: %d toggles, want 80", cycle, len(toggles))
		}
		if toggles[0].at != start+7*time.Millisecond+25*time.Millisecond {
			t.Fatalf("cycle %d: first toggle at %v", cycle, toggles[0].at)
		}
		r.clock.Set(start + 6*time.Second)
		if r.fr.Read() != forward || r.rm.Read() != gpio.Low {
			t.Fatalf("cycle %d: idle with F/R %v RM %v", cycle, r.fr.Read(), r.rm.Read())
		}
	}
	rm := changes(r.rm.history(), 0)
	var levels []gpio.Level
	for _, c := range rm {
		levels = append(levels, c.l)
	}
	if want := []gpio.Level{gpio.High, gpio.Low, gpio.High, gpio.Low}; !slices.Equal(levels, want) {
		t.Fatalf("RM changes %v, want %v", levels, want)
	}
	if rm[1].at != 2*time.Second+7*time.Millisecond || rm[2].at != 6*time.Second+7*time.Millisecond {
		t.Fatalf("RM changed at %v and %v", rm[1].at, rm[2].at)
	}
	if err := r.p.SetRing(false); err != nil { // already off: no-op
		t.Fatal(err)
	}
}

func TestPolarity(t *testing.T) {
	r := newRig(t, ag1171(t), 20, true)
	if r.fr.Read() != forward {
		t.Fatal("F/R not forward at start")
	}
	if err := r.p.SetReversed(true); err != nil {
		t.Fatal(err)
	}
	if r.fr.Read() != reverse {
		t.Fatal("F/R not reversed")
	}
	// A burst on a reversed line returns to reversed, not forward.
	toggles, _ := ringBurst(t, r, 0, 2*time.Second, 0)
	if len(toggles) != 80 || toggles[0].l != forward {
		t.Fatalf("%d toggles, first to %v", len(toggles), toggles[0].l)
	}
	if r.fr.Read() != reverse {
		t.Fatal("F/R not back to reversed after the burst")
	}
	if err := r.p.SetReversed(false); err != nil {
		t.Fatal(err)
	}
	if r.fr.Read() != forward {
		t.Fatal("F/R not forward after SetReversed(false)")
	}
}

func TestPolarityNotSupported(t *testing.T) {
	pins, err := Profile("rpi-ks0835")
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, pins, 25, true)
	if err := r.p.SetReversed(true); !errors.Is(err, board.ErrNotSupported) {
		t.Fatalf("SetReversed on %s: %v, want ErrNotSupported", pins.Name, err)
	}
	if r.fr.Read() != forward {
		t.Fatal("F/R moved")
	}
}

func TestEnablePinAndClose(t *testing.T) {
	pins := ag1171(t)
	pins.Enable, pins.EnableActiveLow = DefaultEnable, true
	r := newRig(t, pins, 20, true)
	if r.en.Read() != gpio.Low {
		t.Fatal("active-low Enable not driven low at start")
	}
	if err := r.p.SetReversed(true); err != nil {
		t.Fatal(err)
	}
	if err := r.p.SetRing(true); err != nil {
		t.Fatal(err)
	}
	<-r.clock.asleep
	if err := r.b.Close(); err != nil {
		t.Fatal(err)
	}
	if r.en.Read() != gpio.High || r.rm.Read() != gpio.Low || r.fr.Read() != forward {
		t.Fatalf("after Close: Enable %v RM %v F/R %v", r.en.Read(), r.rm.Read(), r.fr.Read())
	}
	if err := r.p.SetRing(true); !errors.Is(err, errClosed) {
		t.Fatalf("SetRing after Close: %v", err)
	}
}

type nopHandler struct{}

func (nopHandler) HookEdge(board.HookEdge)               {}
func (nopHandler) Frame(time.Duration, []int16, []int16) {}

// The frame step allocates nothing, edges included.
func TestStepAllocs(t *testing.T) {
	r := newRig(t, ag1171(t), 20, false)
	var h nopHandler
	off := false
	allocs := testing.AllocsPerRun(200, func() {
		r.p.mu.Lock()
		off = !off
		r.p.pending = append(r.p.pending, rawEdge{mono: r.clock.Now(), offHook: off})
		r.p.mu.Unlock()
		if err := r.p.step(h); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per frame, want 0", allocs)
	}
}

func BenchmarkStep(b *testing.B) {
	r := newRig(b, Pins{}, 20, false)
	var h nopHandler
	b.ReportAllocs()
	for b.Loop() {
		if err := r.p.step(h); err != nil {
			b.Fatal(err)
		}
	}
}
