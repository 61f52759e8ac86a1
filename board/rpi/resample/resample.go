// Package resample converts 16-bit PCM between sample rates with a
// polyphase FIR filter: a Kaiser-windowed sinc lowpass evaluated only at
// the phases the output needs. It is built for the voice path between the
// ports' 8 kHz and a sound card that only offers 16 or 48 kHz, so the
// filter is designed around the lower of the two rates: flat to 85 % of
// its Nyquist frequency (3.4 kHz at 8 kHz, within 0.01 dB) and at least
// 70 dB down from its Nyquist frequency (4 kHz) on.
//
// A Resampler is a stream: it keeps its history across calls, so
// processing a signal in chunks of any size gives the same samples as
// processing it at once. Process allocates nothing.
package resample

import (
	"errors"
	"fmt"
	"math"

	"github.com/openata/ata/board/pcm"
)

const (
	// passbandEdge and stopbandEdge are fractions of the lower rate.
	passbandEdge = 0.425
	stopbandEdge = 0.5
	// attenuationDB is the Kaiser design's stopband attenuation (and, as
	// ripple 10^(-A/20), sets the passband ripple to about 0.003 dB).
	attenuationDB = 70
	// maxFactor bounds the up and down factors of the reduced ratio so the
	// prototype filter stays small (8↔48 kHz is 6; 44.1↔8 kHz, 441/80, is
	// refused).
	maxFactor = 48
)

// ErrShortBuffer is returned by Process when dst cannot hold the output.
var ErrShortBuffer = errors.New("resample: destination too short")

// Resampler converts a stream of samples from one rate to another.
type Resampler struct {
	inRate, outRate int
	up, down        int // the reduced ratio outRate/inRate = up/down
	taps            int // taps per phase
	// coef holds the up phases of the prototype filter, taps each, in the
	// order they meet the history (oldest sample first).
	coef []float32
	// hist holds the last taps input samples twice over (hist[i] ==
	// hist[i+taps]), so the window ending at the newest sample is one
	// contiguous slice whatever the write position.
	hist  []float32
	pos   int // where the next input sample goes, in [0, taps)
	phase int // phase of the next output sample relative to the newest input
}

// New returns a Resampler from inRate to outRate (Hz). The reduced ratio's
// factors must not exceed 48.
func New(inRate, outRate int) (*Resampler, error) {
	if inRate <= 0 || outRate <= 0 {
		return nil, fmt.Errorf("resample: rates must be positive, got %d → %d", inRate, outRate)
	}
	g := gcd(inRate, outRate)
	up, down := outRate/g, inRate/g
	if up > maxFactor || down > maxFactor {
		return nil, fmt.Errorf("resample: ratio %d/%d (%d → %d Hz) too complex, factors above %d", up, down, inRate, outRate, maxFactor)
	}
	low := min(inRate, outRate)
	protoRate := float64(inRate * up) // the rate the prototype filter runs at
	pass := passbandEdge * float64(low)
	stop := stopbandEdge * float64(low)
	transition := 2 * math.Pi * (stop - pass) / protoRate // radians per sample
	// Kaiser's length estimate, rounded up to whole phases.
	n := int(math.Ceil((attenuationDB-7.95)/(2.285*transition))) + 1
	taps := (n + up - 1) / up
	n = taps * up
	h := kaiserLowpass(n, (pass+stop)/2/protoRate, kaiserBeta(attenuationDB), float64(up))

	r := &Resampler{
		inRate: inRate, outRate: outRate, up: up, down: down, taps: taps,
		coef: make([]float32, n),
		hist: make([]float32, 2*taps),
	}
	for p := range up {
		for j := range taps {
			r.coef[p*taps+j] = float32(h[p+(taps-1-j)*up])
		}
	}
	return r, nil
}

// InRate returns the input rate in Hz.
func (r *Resampler) InRate() int { return r.inRate }

// OutRate returns the output rate in Hz.
func (r *Resampler) OutRate() int { return r.outRate }

// Taps returns the prototype filter's length (at inRate × the up factor).
func (r *Resampler) Taps() int { return r.taps * r.up }

// Delay returns the filter's group delay in output samples: an input
// impulse at input time t appears at output time t + Delay.
func (r *Resampler) Delay() float64 {
	return float64(r.taps*r.up-1) / 2 / float64(r.down)
}

// OutLen returns how many samples the next Process call makes from n input
// samples. It depends on the stream's state unless the ratio is a whole
// up-sampling factor or n is a multiple of the down factor.
func (r *Resampler) OutLen(n int) int {
	// Outputs are made while phase < up; each input advances the phase
	// window by up, each output consumes down.
	total, p := 0, r.phase
	if r.down == 1 {
		// Every input makes up outputs once the phase is aligned.
		return n * r.up
	}
	for range n {
		if p < r.up {
			k := (r.up - p + r.down - 1) / r.down
			total += k
			p += k * r.down
		}
		p -= r.up
	}
	return total
}

// Process resamples src into dst and returns the number of samples
// written. dst must hold OutLen(len(src)) samples; otherwise Process
// returns ErrShortBuffer and consumes nothing.
func (r *Resampler) Process(dst, src []int16) (int, error) {
	if need := r.OutLen(len(src)); len(dst) < need {
		return 0, fmt.Errorf("%w: need %d, have %d", ErrShortBuffer, need, len(dst))
	}
	n := 0
	taps, hist := r.taps, r.hist
	for _, s := range src {
		x := float32(s)
		hist[r.pos] = x
		hist[r.pos+taps] = x
		r.pos++
		if r.pos == taps {
			r.pos = 0
		}
		window := hist[r.pos : r.pos+taps]
		for r.phase < r.up {
			c := r.coef[r.phase*taps : r.phase*taps+taps]
			dst[n] = clip(dot(c, window))
			n++
			r.phase += r.down
		}
		r.phase -= r.up
	}
	return n, nil
}

// Reset clears the history, as if the stream started again.
func (r *Resampler) Reset() {
	clear(r.hist)
	r.pos, r.phase = 0, 0
}

func dot(c, w []float32) float32 {
	w = w[:len(c)]
	var a0, a1, a2, a3 float32
	i := 0
	for ; i+4 <= len(c); i += 4 {
		a0 += c[i] * w[i]
		a1 += c[i+1] * w[i+1]
		a2 += c[i+2] * w[i+2]
		a3 += c[i+3] * w[i+3]
	}
	for ; i < len(c); i++ {
		a0 += c[i] * w[i]
	}
	return (a0 + a1) + (a2 + a3)
}

func clip(v float32) int16 { return pcm.Clip16(float64(v)) }

// kaiserLowpass returns an n-tap windowed-sinc lowpass with cutoff fc
// (cycles per sample) and DC gain gain (the up factor, which restores the
// level lost by zero-stuffing).
func kaiserLowpass(n int, fc, beta, gain float64) []float64 {
	h := make([]float64, n)
	mid := float64(n-1) / 2
	i0b := besselI0(beta)
	sum := 0.0
	for i := range h {
		t := float64(i) - mid
		sinc := 2 * fc
		if t != 0 {
			sinc = math.Sin(2*math.Pi*fc*t) / (math.Pi * t)
		}
		ratio := t / mid
		w := besselI0(beta*math.Sqrt(max(0, 1-ratio*ratio))) / i0b
		h[i] = sinc * w
		sum += h[i]
	}
	for i := range h {
		h[i] *= gain / sum
	}
	return h
}

// kaiserBeta is Kaiser's empirical β for a stopband attenuation in dB.
func kaiserBeta(a float64) float64 {
	switch {
	case a > 50:
		return 0.1102 * (a - 8.7)
	case a >= 21:
		return 0.5842*math.Pow(a-21, 0.4) + 0.07886*(a-21)
	default:
		return 0
	}
}

// besselI0 is the modified Bessel function of the first kind, order 0.
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 200; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < sum*1e-17 {
			break
		}
	}
	return sum
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
