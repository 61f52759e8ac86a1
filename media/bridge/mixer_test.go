package bridge_test

import (
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/openata/ata/board"
	"github.com/openata/ata/board/pcm"
	"github.com/openata/ata/media/bridge"
	"github.com/openata/ata/media/bridge/bridgetest"
	"github.com/openata/ata/media/rtpsession"
)

// The port joins a mixer as it joins a session: fxs.Port.Connect(mixer).
var _ board.Stream = (*bridge.Mixer)(nil)

// port plays the analog port's side: it says a constant plus a tone and
// keeps what it heard.
type port struct {
	mic, ear []int16
	tone     pcm.Sine
	dc       float64
	heard    []int16
}

func constantPort(v int16) *port {
	return &port{mic: make([]int16, 160), ear: make([]int16, 160), dc: float64(v)}
}

func tonePort(freq, dBm0 float64) *port {
	return &port{mic: make([]int16, 160), ear: make([]int16, 160), tone: pcm.NewSine(freq, pcm.Amplitude(dBm0), 8000)}
}

// frames runs n frames of the mixer from the port.
func (p *port) frames(m *bridge.Mixer, n int) {
	for range n {
		for i := range p.mic {
			p.mic[i] = pcm.Clip16(p.dc + p.tone.Next())
		}
		m.Exchange(p.mic, p.ear)
		p.heard = append(p.heard, p.ear...)
	}
}

func add(t *testing.T, m *bridge.Mixer, mode bridge.Mode, eps ...*bridgetest.FakeEndpoint) {
	t.Helper()
	for _, e := range eps {
		if err := m.Add(e, mode); err != nil {
			t.Fatal(err)
		}
	}
}

// wantAll fails unless every sample of got is want.
func wantAll(t *testing.T, who string, got []int16, want int16) {
	t.Helper()
	if len(got) == 0 {
		t.Fatalf("%s heard nothing", who)
	}
	for i, v := range got {
		if v != want {
			t.Fatalf("%s heard %d at sample %d of %d, want %d", who, v, i, len(got), want)
		}
	}
}

// Every party says a different power of ten, so what each hears spells
// out exactly whom it hears: everyone else, never itself.
func TestEachPartyHearsEveryOtherNeverItself(t *testing.T) {
	var m bridge.Mixer
	p := constantPort(1)
	a, b, c, d := bridgetest.Constant(10), bridgetest.Constant(100), bridgetest.Constant(1000), bridgetest.Constant(10000)
	add(t, &m, bridge.Active, a, b, c, d)
	if m.Len() != 4 {
		t.Fatalf("Len %d, want 4", m.Len())
	}
	p.frames(&m, 5)
	wantAll(t, "port", p.heard, 11110)
	wantAll(t, "A", a.Heard(800), 11101)
	wantAll(t, "B", b.Heard(800), 11011)
	wantAll(t, "C", c.Heard(800), 10111)
	wantAll(t, "D", d.Heard(800), 1111)
	if a.Reads() != 5 || a.Writes() != 5 || m.Stats().Frames != 5 {
		t.Fatalf("A read %d, written %d times, %d frames mixed; want 5 each", a.Reads(), a.Writes(), m.Stats().Frames)
	}
}

// A −10 dBm0 tone reaches every other party at −10 dBm0: the mixer adds,
// it does not scale.
func TestTonesKeepTheirLevel(t *testing.T) {
	var m bridge.Mixer
	p := tonePort(1633, -10)
	a, b := bridgetest.Tone(697, -10), bridgetest.Tone(1209, -10)
	add(t, &m, bridge.Active, a, b)
	p.frames(&m, 50) // 1 s: a whole number of cycles of each tone
	heard := map[string][]int16{"port": p.heard, "A": a.Heard(8000), "B": b.Heard(8000)}
	own := map[string]float64{"port": 1633, "A": 697, "B": 1209}
	for who, h := range heard {
		if len(h) != 8000 {
			t.Fatalf("%s heard %d samples", who, len(h))
		}
		for other, hz := range own {
			l := pcm.ToneLevel(h, hz)
			if other == who {
				if l > -60 {
					t.Errorf("%s hears itself (%.0f Hz) at %.1f dBm0", who, hz, l)
				}
			} else if math.Abs(l+10) > 0.05 {
				t.Errorf("%s hears %s (%.0f Hz) at %.2f dBm0, want -10", who, other, hz, l)
			}
		}
	}
}

// Loud sums saturate to the int16 range instead of wrapping round to the
// other sign, and a party's own voice is taken out of the exact sum, not
// of a clipped one.
func TestLoudSumsSaturate(t *testing.T) {
	var m bridge.Mixer
	p := constantPort(0)
	a, b, c := bridgetest.Constant(30000), bridgetest.Constant(30000), bridgetest.Constant(-20000)
	add(t, &m, bridge.Active, a, b, c)
	p.frames(&m, 2)
	wantAll(t, "port", p.heard, 32767) // 40000
	wantAll(t, "A", a.Heard(320), 10000)
	wantAll(t, "C", c.Heard(320), 32767) // 60000 would wrap to -5536

	var neg bridge.Mixer
	q := constantPort(-30000)
	d, e := bridgetest.Constant(-30000), bridgetest.Constant(-30000)
	add(t, &neg, bridge.Active, d, e)
	q.frames(&neg, 2)
	wantAll(t, "port", q.heard, -32768)
	wantAll(t, "D", d.Heard(320), -32768) // -60000 would wrap to 5536

	// Two near-full-scale tones: clipped peaks, both still there.
	var tones bridge.Mixer
	r := constantPort(0)
	f, g := bridgetest.Tone(697, 0), bridgetest.Tone(1209, 0)
	add(t, &tones, bridge.Active, f, g)
	r.frames(&tones, 50)
	peak := 0
	for _, v := range r.heard {
		peak = max(peak, int(v), -int(v))
	}
	if peak < 32767 {
		t.Errorf("peak %d: the sum was not clipped", peak)
	}
	for _, hz := range []float64{697, 1209} {
		if l := pcm.ToneLevel(r.heard, hz); math.Abs(l) > 1.5 {
			t.Errorf("clipped sum: %.0f Hz at %.2f dBm0, want about 0", hz, l)
		}
	}
}

// A held party hears silence, is heard by no one, and is still read and
// written every frame (its jitter buffer drains, RTP keeps flowing).
func TestHeldPartyIsSilentBothWays(t *testing.T) {
	var m bridge.Mixer
	p := constantPort(1)
	a, b, c := bridgetest.Constant(10), bridgetest.Constant(100), bridgetest.Constant(1000)
	add(t, &m, bridge.Active, a, c)
	add(t, &m, bridge.Held, b)
	p.frames(&m, 3)
	wantAll(t, "port", p.heard, 1010)
	wantAll(t, "A", a.Heard(480), 1001)
	wantAll(t, "C", c.Heard(480), 11)
	wantAll(t, "held B", b.Heard(480), 0)
	if b.Reads() != 3 || b.Writes() != 3 {
		t.Fatalf("held B read %d, written %d times in 3 frames", b.Reads(), b.Writes())
	}
	if mode, ok := m.Mode(b); !ok || mode != bridge.Held {
		t.Fatalf("Mode(B) = %v, %v", mode, ok)
	}

	if err := m.SetMode(b, bridge.Active); err != nil {
		t.Fatal(err)
	}
	if err := m.SetMode(a, bridge.Held); err != nil {
		t.Fatal(err)
	}
	p.heard = p.heard[:0]
	p.frames(&m, 1)
	wantAll(t, "port", p.heard, 1100)
	wantAll(t, "B back", b.Heard(160), 1001)
	wantAll(t, "held A", a.Heard(160), 0)
}

func TestMembershipErrors(t *testing.T) {
	var m bridge.Mixer
	a, b := bridgetest.Constant(1), bridgetest.Constant(2)
	add(t, &m, bridge.Active, a)
	if err := m.Add(a, bridge.Held); !errors.Is(err, bridge.ErrJoined) {
		t.Errorf("second Add(A) = %v", err)
	}
	if err := m.Add(nil, bridge.Active); err == nil {
		t.Error("Add(nil) accepted")
	}
	if err := m.Add(b, bridge.Mode(7)); err == nil {
		t.Error("Add with mode 7 accepted")
	}
	if err := m.SetMode(a, bridge.Mode(7)); err == nil {
		t.Error("SetMode 7 accepted")
	}
	if err := m.SetMode(b, bridge.Held); !errors.Is(err, bridge.ErrNotJoined) {
		t.Errorf("SetMode(B) = %v", err)
	}
	if err := m.Remove(b); !errors.Is(err, bridge.ErrNotJoined) {
		t.Errorf("Remove(B) = %v", err)
	}
	if _, ok := m.Mode(b); ok || m.Len() != 1 {
		t.Errorf("B has a mode, or Len %d != 1", m.Len())
	}
}

// A removed party is no longer read, written or heard.
func TestRemovedPartyLeavesTheMix(t *testing.T) {
	var m bridge.Mixer
	p := constantPort(1)
	a, b := bridgetest.Constant(10), bridgetest.Constant(100)
	add(t, &m, bridge.Active, a, b)
	p.frames(&m, 2)
	if err := m.Remove(a); err != nil {
		t.Fatal(err)
	}
	p.heard = p.heard[:0]
	p.frames(&m, 2)
	wantAll(t, "port", p.heard, 100)
	wantAll(t, "B", b.Heard(320), 1)
	if a.Reads() != 2 || a.Writes() != 2 || m.Len() != 1 {
		t.Fatalf("removed A read %d, written %d times (want 2 each); Len %d", a.Reads(), a.Writes(), m.Len())
	}
}

// The mixer takes the port's frame size, 10 to 60 ms; a longer frame is
// mixed up to 60 ms and the rest of the ear frame is silence.
func TestFrameSizes(t *testing.T) {
	for _, n := range []int{80, 160, 480, 500} {
		var m bridge.Mixer
		a, b := bridgetest.Constant(10), bridgetest.Constant(100)
		add(t, &m, bridge.Active, a, b)
		mic, ear := make([]int16, n), make([]int16, n)
		for i := range mic {
			mic[i], ear[i] = 1, -1
		}
		m.Exchange(mic, ear)
		mixed := min(n, bridge.MaxFrame)
		wantAll(t, "port", ear[:mixed], 110)
		if n > mixed {
			wantAll(t, "port beyond 60 ms", ear[mixed:], 0)
		}
		if h := a.Heard(bridgetest.History); len(h) != mixed {
			t.Fatalf("frame of %d: A heard %d samples, want %d", n, len(h), mixed)
		}
		wantAll(t, "A", a.Heard(mixed), 101)
	}
}

// Call control adds, holds and removes parties while the port's frame
// goroutine mixes (run with -race). Each frame sees one membership and one
// set of modes: the port hears the same sum on every sample of a frame.
func TestMembershipChangesWhileMixing(t *testing.T) {
	var m bridge.Mixer
	base := bridgetest.Constant(1)
	add(t, &m, bridge.Active, base)
	churn := []*bridgetest.FakeEndpoint{bridgetest.Constant(2), bridgetest.Constant(4), bridgetest.Constant(8)}

	var stop atomic.Bool
	var wg sync.WaitGroup
	var bad atomic.Value
	wg.Go(func() {
		mic, ear := make([]int16, 160), make([]int16, 160)
		for !stop.Load() {
			m.Exchange(mic, ear)
			// 1 plus any subset of {2, 4, 8}, the same all frame long.
			if ear[0]&1 != 1 || ear[0] > 15 {
				bad.Store(ear[0])
			}
			for _, v := range ear {
				if v != ear[0] {
					bad.Store(v)
				}
			}
		}
	})
	// Enough changes, and enough frames among them, whatever the scheduler.
	for i := 0; i < 3000 || m.Stats().Frames < 1000; i++ {
		e := churn[i%len(churn)]
		// Errors are expected (adding a party already in): only the
		// membership seen by the frame goroutine matters.
		switch i % 4 {
		case 0:
			m.Add(e, bridge.Active)
		case 1:
			m.SetMode(e, bridge.Held)
		case 2:
			m.SetMode(e, bridge.Active)
		case 3:
			m.Remove(e)
		}
		_ = m.Len()
		_ = e.Heard(160)
	}
	stop.Store(true)
	wg.Wait()
	if v := bad.Load(); v != nil {
		t.Fatalf("the port heard %v mid-churn: a torn frame", v)
	}
	if m.Stats().Frames == 0 {
		t.Fatal("no frame mixed")
	}
}

func TestMaxFrameIsRTPSessions(t *testing.T) {
	if bridge.MaxFrame != rtpsession.MaxFrame {
		t.Fatalf("bridge.MaxFrame %d, rtpsession.MaxFrame %d", bridge.MaxFrame, rtpsession.MaxFrame)
	}
}
