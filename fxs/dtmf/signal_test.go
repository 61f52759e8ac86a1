package dtmf

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/openata/ata/board/pcm"
)

// signal builds test audio in float64 before it is clipped to int16.
type signal struct {
	x []float64
}

func ms(v float64) int { return int(math.Round(v * sampleRate / 1000)) }

func (s *signal) silence(n int) *signal {
	s.x = append(s.x, make([]float64, n)...)
	return s
}

// toneSpec is one DTMF burst: levels per tone in dBm0, relative frequency
// errors (0.015 = +1.5 %), duration in samples and starting phases.
type toneSpec struct {
	key             byte
	lowDB, highDB   float64
	lowErr, highErr float64
	n               int
	lowPh, highPh   float64 // radians at time t0
	t0              int     // sample time of the first sample, for phase continuity
}

func (s *signal) tone(t toneSpec) *signal {
	lf, hf, ok := pcm.DTMFFrequencies(t.key)
	if !ok {
		panic("bad key " + string(t.key))
	}
	lf *= 1 + t.lowErr
	hf *= 1 + t.highErr
	al, ah := pcm.Amplitude(t.lowDB), pcm.Amplitude(t.highDB)
	for i := range t.n {
		ts := float64(i+t.t0) / sampleRate
		s.x = append(s.x, al*math.Sin(2*math.Pi*lf*ts+t.lowPh)+ah*math.Sin(2*math.Pi*hf*ts+t.highPh))
	}
	return s
}

// noise adds white Gaussian noise at levelDBm0 (RMS, as for a sine of
// that level) over the whole signal.
func (s *signal) noise(levelDBm0 float64, seed uint64) *signal {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	sigma := pcm.Amplitude(levelDBm0) / math.Sqrt2
	for i := range s.x {
		s.x[i] += sigma * r.NormFloat64()
	}
	return s
}

func (s *signal) pcm() []int16 {
	out := make([]int16, len(s.x))
	for i, v := range s.x {
		out[i] = pcm.Clip16(v)
	}
	return out
}

// detect runs samples through a new detector in chunks of chunk samples
// and returns a copy of all events.
func detect(samples []int16, chunk int) []Event {
	d := NewDetector()
	var all []Event
	for len(samples) > 0 {
		n := min(chunk, len(samples))
		all = append(all, d.Process(samples[:n])...)
		samples = samples[n:]
	}
	// Flush: silence long enough to end any digit still down.
	all = append(all, d.Process(make([]int16, ms(100)))...)
	return all
}

// digits returns the keys of the Down events, checking that events pair up
// (Down k, Up k, Down ...) and move forward in time.
func digits(t *testing.T, ev []Event) string {
	t.Helper()
	var b strings.Builder
	var down byte
	var last int64 = -1
	for _, e := range ev {
		if e.At < last {
			t.Errorf("event %+v goes back in time (last %d)", e, last)
		}
		last = e.At
		switch {
		case e.Down && down == 0:
			down = e.Key
			b.WriteByte(e.Key)
		case !e.Down && e.Key == down:
			down = 0
		default:
			t.Errorf("unpaired event %+v (down %q) in %+v", e, down, ev)
		}
	}
	if down != 0 {
		t.Errorf("digit %q never came up in %+v", down, ev)
	}
	return b.String()
}

// burst is the standard test digit: key at lowDB/highDB, n samples, with
// phases from r, framed by 60 ms of silence on each side.
func burst(r *rand.Rand, key byte, lowDB, highDB, lowErr, highErr float64, n int) []int16 {
	var s signal
	s.silence(ms(60) + r.IntN(subLen))
	s.tone(toneSpec{key: key, lowDB: lowDB, highDB: highDB, lowErr: lowErr, highErr: highErr, n: n,
		lowPh: 2 * math.Pi * r.Float64(), highPh: 2 * math.Pi * r.Float64()})
	s.silence(ms(60))
	return s.pcm()
}
