package sim

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/openata/ata/board"
)

// earPlayer is a Handler that plays a fixed signal into the earpiece and
// records the mouthpiece.
type earPlayer struct {
	play []int16
	pos  int
	mic  []int16
}

func (e *earPlayer) HookEdge(board.HookEdge) {}

func (e *earPlayer) Frame(at time.Duration, mic, ear []int16) {
	e.mic = append(e.mic, mic...)
	for i := range ear {
		if e.pos < len(e.play) {
			ear[i] = e.play[e.pos]
		} else {
			ear[i] = 0
		}
		e.pos++
	}
}

// stepFrames runs the port's frame step n times on h without a clock.
func stepFrames(p *Port, h board.Handler, n int) {
	for k := 1; k <= n; k++ {
		p.step(h, time.Duration(k)*p.frameDur)
	}
}

func echoBoard(t *testing.T, o Opts) *Board {
	t.Helper()
	o.Logger = quietLogger()
	b, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Phone().Hook(context.Background(), HookOff); err != nil {
		t.Fatal(err)
	}
	return b
}

func noise(n int, rms float64) []int16 {
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]int16, n)
	for i := range x {
		x[i] = int16(max(-32768, min(32767, rms*r.NormFloat64())))
	}
	return x
}

func power(x []int16) float64 {
	var e float64
	for _, v := range x {
		e += float64(v) * float64(v)
	}
	return e / float64(len(x))
}

// The mouthpiece carries the earpiece's echo, ERL dB down, no earlier than
// one frame plus the bulk delay after it played.
func TestHybridEcho(t *testing.T) {
	for _, c := range []struct {
		erl   float64
		model int
		delay time.Duration
	}{{6, 1, 20 * time.Millisecond}, {12, 5, 0}, {6, 8, 45 * time.Millisecond}} {
		b := echoBoard(t, Opts{EchoERL: c.erl, EchoModel: c.model, EchoDelay: c.delay})
		h := &earPlayer{play: noise(8000*3, 3000)}
		stepFrames(b.Port(), h, 150)
		first := -1
		for i, v := range h.mic {
			if v != 0 {
				first = i
				break
			}
		}
		delay := int(c.delay * board.SampleRate / time.Second)
		if first < board.FrameSamples20ms+delay {
			t.Errorf("ERL %g model %d delay %v: echo from sample %d, before the frame and bulk delay (%d)",
				c.erl, c.model, c.delay, first, board.FrameSamples20ms+delay)
		}
		// White noise spreads over the whole band, where the ERL is defined.
		erl := 10 * math.Log10(power(h.play[8000:8000*2])/power(h.mic[8000:8000*2]))
		if math.Abs(erl-c.erl) > 2 {
			t.Errorf("ERL %g model %d delay %v: measured %.1f dB", c.erl, c.model, c.delay, erl)
		}
	}
}

// ERL 0 is no echo path; an open loop carries no echo either.
func TestHybridOffAndOnHook(t *testing.T) {
	b := echoBoard(t, Opts{})
	h := &earPlayer{play: noise(8000, 3000)}
	stepFrames(b.Port(), h, 50)
	if p := power(h.mic); p != 0 {
		t.Errorf("no echo path: mouthpiece power %g", p)
	}
	b = echoBoard(t, Opts{EchoERL: 6})
	if err := b.Phone().Hook(context.Background(), HookOn); err != nil {
		t.Fatal(err)
	}
	h = &earPlayer{play: noise(8000, 3000)}
	stepFrames(b.Port(), h, 50)
	if p := power(h.mic); p != 0 {
		t.Errorf("on-hook: mouthpiece power %g", p)
	}
}

func TestHybridOptionsChecked(t *testing.T) {
	for _, o := range []Opts{{EchoERL: -1}, {EchoERL: 6, EchoModel: 9}, {EchoERL: 6, EchoDelay: 61 * time.Millisecond}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) took it", o)
		}
	}
}

func TestHybridStepAllocatesNothing(t *testing.T) {
	b := echoBoard(t, Opts{EchoERL: 6, EchoDelay: 20 * time.Millisecond})
	h := &earPlayer{play: noise(160, 3000)}
	p := b.Port()
	k := 0
	allocs := testing.AllocsPerRun(100, func() {
		k++
		h.pos, h.mic = 0, h.mic[:0]
		p.step(h, time.Duration(k)*p.frameDur)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per frame", allocs)
	}
}
