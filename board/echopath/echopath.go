// Package echopath simulates the line echo of an analog telephone port: the
// 2-wire/4-wire hybrid of a SLIC leaks the earpiece signal back into the
// mouthpiece path, filtered by the line's impedance mismatch and delayed by
// the sound card's buffering. The filter is one of the ITU-T G.168 Annex D
// echo path models 1 to 8, scaled to a chosen echo return loss (ERL), and
// the delay is a bulk delay of 0 to 60 ms in front of it.
//
// The simulated board uses a Hybrid so that tests and people can hear and
// measure echo without hardware; the echo canceller's tests use it as the
// line they cancel.
package echopath

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// SampleRate is the rate of the models' impulse responses and of the
// streams a Hybrid processes.
const SampleRate = 8000

// Models is the number of G.168 echo path models (numbered 1..Models).
const Models = 8

// MaxDelay is the longest bulk delay a Hybrid accepts: the USB sound cards
// this firmware meets buffer 10 to 50 ms.
const MaxDelay = 60 * time.Millisecond

// maxDelaySamples and maxTaps size the history so that any path fits.
const maxDelaySamples = int(MaxDelay * SampleRate / time.Second)

var maxTaps = func() int {
	n := 0
	for _, m := range models {
		n = max(n, len(m))
	}
	return n
}()

// Band over which the ERL is defined: the telephone band, where speech and
// the canceller's test signals carry their energy. A white-noise ERL would
// count the models' response below 300 Hz and above 3.4 kHz, where a real
// line carries almost nothing, and so disagree with what a listener hears.
const (
	BandLow  = 300.0
	BandHigh = 3400.0
)

// Response returns a copy of model's impulse response (8 kHz), scaled so
// that its ERL over the telephone band (BandLow..BandHigh, flat spectrum)
// is erlDB.
func Response(model int, erlDB float64) ([]float64, error) {
	if model < 1 || model > Models {
		return nil, fmt.Errorf("echopath: model %d: want 1..%d", model, Models)
	}
	if !(erlDB > 0) || math.IsInf(erlDB, 0) {
		return nil, fmt.Errorf("echopath: ERL %v dB: want > 0", erlDB)
	}
	h := append([]float64(nil), models[model-1]...)
	g := math.Pow(10, -erlDB/20) / math.Sqrt(BandGain(h))
	for i := range h {
		h[i] *= g
	}
	return h, nil
}

// BandGain is the mean power gain of the filter h over the telephone band:
// the ratio of output to input power for noise with a flat spectrum between
// BandLow and BandHigh. ERL = -10·log10(BandGain).
func BandGain(h []float64) float64 {
	const step = 1.0 // Hz
	var sum float64
	var n int
	for f := BandLow; f <= BandHigh; f += step {
		w := 2 * math.Pi * f / SampleRate
		var re, im float64
		for k, c := range h {
			s, co := math.Sincos(w * float64(k))
			re += c * co
			im -= c * s
		}
		sum += re*re + im*im
		n++
	}
	return sum / float64(n)
}

// Peak is the index of the largest-magnitude tap of model's response: the
// echo's main arrival, this many samples after the bulk delay.
func Peak(model int) int {
	if model < 1 || model > Models {
		return -1
	}
	best, at := 0.0, 0
	for i, c := range models[model-1] {
		if math.Abs(c) > best {
			best, at = math.Abs(c), i
		}
	}
	return at
}

// path is one immutable echo path; a Hybrid swaps whole paths so a change
// made by another goroutine takes effect at a frame boundary.
type path struct {
	model int
	erl   float64
	delay int       // bulk delay, samples
	h     []float32 // scaled response, reversed: h[0] multiplies the oldest sample
}

// Hybrid adds the echo of the earpiece stream to the mouthpiece stream.
// Echo must be called from one goroutine (the board's frame goroutine);
// SetModel, SetERL and SetDelay may be called from any goroutine and take
// effect at the start of the next Echo call, keeping the earpiece history,
// as a line whose path changes mid-call would.
type Hybrid struct {
	cur atomic.Pointer[path]
	// hist holds the earpiece history twice over (hist[i] == hist[i+size])
	// so that the window a tap sum needs is always one contiguous slice.
	hist []float32
	size int // power of two ≥ the longest delay + taps
	pos  int // next write index, 0..size-1
}

// New returns a hybrid with G.168 echo path model (1..8), echo return loss
// erlDB (> 0) and bulkDelay (0..MaxDelay, rounded to whole samples).
func New(model int, erlDB float64, bulkDelay time.Duration) (*Hybrid, error) {
	p, err := newPath(model, erlDB, bulkDelay)
	if err != nil {
		return nil, err
	}
	size := 1
	for size < maxDelaySamples+maxTaps+1 {
		size <<= 1
	}
	hy := &Hybrid{hist: make([]float32, 2*size), size: size}
	hy.cur.Store(p)
	return hy, nil
}

func newPath(model int, erlDB float64, bulkDelay time.Duration) (*path, error) {
	if bulkDelay < 0 || bulkDelay > MaxDelay {
		return nil, fmt.Errorf("echopath: bulk delay %v: want 0..%v", bulkDelay, MaxDelay)
	}
	r, err := Response(model, erlDB)
	if err != nil {
		return nil, err
	}
	h := make([]float32, len(r))
	for i, c := range r {
		h[len(r)-1-i] = float32(c)
	}
	d := int((bulkDelay*SampleRate + time.Second/2) / time.Second)
	return &path{model: model, erl: erlDB, delay: d, h: h}, nil
}

// Model, ERL and Delay report the current path.
func (hy *Hybrid) Model() int { return hy.cur.Load().model }

// ERL is the current echo return loss in dB.
func (hy *Hybrid) ERL() float64 { return hy.cur.Load().erl }

// Delay is the current bulk delay.
func (hy *Hybrid) Delay() time.Duration {
	return time.Duration(hy.cur.Load().delay) * time.Second / SampleRate
}

// SetModel switches to another echo path model, keeping ERL and delay.
func (hy *Hybrid) SetModel(model int) error {
	p := hy.cur.Load()
	return hy.set(model, p.erl, hy.Delay())
}

// SetERL rescales the path to another echo return loss.
func (hy *Hybrid) SetERL(erlDB float64) error {
	p := hy.cur.Load()
	return hy.set(p.model, erlDB, hy.Delay())
}

// SetDelay changes the bulk delay.
func (hy *Hybrid) SetDelay(d time.Duration) error {
	p := hy.cur.Load()
	return hy.set(p.model, p.erl, d)
}

func (hy *Hybrid) set(model int, erl float64, d time.Duration) error {
	p, err := newPath(model, erl, d)
	if err != nil {
		return err
	}
	hy.cur.Store(p)
	return nil
}

// Echo adds to mic, in place, the echo of ear: ear[i] is the earpiece
// sample sent at the same instant mic[i] was captured, and the echo of
// earlier frames (kept in the hybrid's history) is included. The sum
// saturates at the int16 range. If ear is shorter than mic the missing
// samples count as silence. It allocates nothing.
func (hy *Hybrid) Echo(ear, mic []int16) {
	p := hy.cur.Load()
	n := len(p.h)
	for i := range mic {
		var x float32
		if i < len(ear) {
			x = float32(ear[i])
		}
		hy.hist[hy.pos] = x
		hy.hist[hy.pos+hy.size] = x
		// The newest sample the path reaches is delay samples old; the
		// window ends there and reaches n-1 samples further back.
		end := hy.pos + hy.size - p.delay + 1 // exclusive, in the doubled buffer
		win := hy.hist[end-n : end]
		var y float32
		for k, c := range p.h {
			y += c * win[k]
		}
		hy.pos = (hy.pos + 1) & (hy.size - 1)
		v := float32(mic[i]) + y
		switch {
		case v > math.MaxInt16:
			mic[i] = math.MaxInt16
		case v < math.MinInt16:
			mic[i] = math.MinInt16
		default:
			mic[i] = int16(math.Round(float64(v)))
		}
	}
}

// Reset forgets the earpiece history (a new call on the same line). Like
// Echo, it belongs to the frame goroutine.
func (hy *Hybrid) Reset() {
	clear(hy.hist)
	hy.pos = 0
}
