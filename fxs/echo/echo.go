// Package echo is the line echo canceller of the FXS port (ITU-T G.168):
// it removes from the mouthpiece signal the echo of the earpiece signal
// that the SLIC's 2-wire/4-wire hybrid returns, so that the far end of a
// call does not hear itself.
//
// The mouthpiece path first goes through a DC and hum high-pass (OSLEC's
// lesson: a few millivolts of offset or 50 Hz on a real card stop an
// adaptive filter from converging). The echo estimate comes from a
// partitioned-block frequency-domain adaptive filter (the MDF family of
// speexdsp) with 10 ms blocks: at 8 kHz a time-domain NLMS filter over a
// 128 ms tail would cost 20 times the 50 µs per frame this port can spare.
// Two copies of the filter run: the background one adapts, the foreground
// one produces the output and takes the background's coefficients only
// when they cancel better, so a double talk the detector misses cannot make
// the output worse. A bulk-delay estimator places the filter's window on
// the echo, so the 10 to 50 ms a USB sound card adds costs no taps. A
// non-linear processor replaces the residual echo with comfort noise at the
// measured background level while only the far end talks.
package echo

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// Rate is the sample rate of the streams, in Hz.
const Rate = 8000

// BlockSize is the canceller's block in samples (10 ms): Process takes
// frames of any multiple of it.
const BlockSize = block

const (
	block     = 80        // samples per adaptive-filter block
	fftLen    = 2 * block // overlap-save transform length
	bins      = block + 1 // non-negative frequency bins of a real transform
	delayLags = 8         // blocks of delay the estimator searches (80 ms)
	refLen    = 2048      // reference history: longest window start + two blocks
	refMask   = refLen - 1
	maxTail   = 128 * time.Millisecond
	minTail   = 10 * time.Millisecond
	defTail   = 64 * time.Millisecond
	sampleDur = time.Second / Rate
)

// Options configure a Canceller. The zero value is the default.
type Options struct {
	// Tail is the span of the adaptive filter after the bulk delay the
	// canceller finds: the echo path's dispersion plus whatever bulk delay
	// is left. Default 64 ms, 10 to 128 ms, rounded up to 10 ms.
	Tail time.Duration
	// NoDelaySearch keeps the filter's window at zero delay, for a line
	// known to have no bulk delay (and to show what the search is for).
	NoDelaySearch bool
}

// Stats describe the canceller's view of the current call.
type Stats struct {
	// ERL is the echo return loss (earpiece to mouthpiece level) and ERLE
	// the enhancement the filter adds (mouthpiece to residual level), in
	// dB, smoothed over about a second of far-end single talk; both are 0
	// until the far end has talked alone.
	ERL, ERLE float64
	// Converged is set once ERLE has reached 10 dB.
	Converged bool
	// DoubleTalk counts the times the detector saw both ends talk.
	DoubleTalk int
	// DivergenceResets counts the times the filter made the echo louder and
	// was cleared.
	DivergenceResets int
	// Delay is where the filter's window starts: the bulk delay found,
	// less a margin for the echo path's lead-in.
	Delay time.Duration
}

// Canceller is one port's echo canceller. Process and Reset belong to one
// goroutine (the board's frame goroutine); DisableNLP, Bypass and Stats may
// be called from any goroutine.
type Canceller struct {
	parts   int // partitions of block samples: the tail
	noDelay bool
	fft     *realFFT

	hpEar, hpMic highpass

	// ref is the high-passed earpiece history; the filter reads it ws
	// samples behind the newest.
	ref  [refLen]float32
	refN int // samples written
	ws   int // window start, samples

	// x holds the spectra of the last parts input blocks (a ring, newest at
	// xi); wb and wf are the background and foreground filters, partition p
	// multiplying the input p blocks old. norm is Σ_p |X_p[k]|².
	x, wb, wf []complex64
	xi        int
	norm      []float32
	constrain int // next partition whose time-domain support is enforced
	xpow      []float32
	xpi       int

	// scratch
	xin, tbuf                  [fftLen]float32
	spec, acc                  [bins]complex64
	d, yb, yf, eb, ef, outBuf  [block]float32
	delay                      *delayEstimator
	xraw                       [block]float32 // this block's high-passed earpiece, undelayed
	lagBest, lagRun, farBlocks int
	sEb, sEf, sD               float64 // smoothed block powers: fg/bg comparison
	divRun                     int
	dtHold, nearHold           int
	noise                      float64 // comfort noise power (mean square), -1 = not yet measured
	rng                        uint32
	erlX, erlD, erleD, erleE   float64 // smoothed powers for the stats
	erlValid                   bool
	dtCount, divCount          int
	converged                  bool

	nlpOff, bypass atomic.Bool
	stats          atomic.Pointer[Stats]
	statsBuf       [2]Stats // Process publishes alternately, so Stats never allocates
	statsI         int
}

// New returns a canceller.
func New(o Options) (*Canceller, error) {
	tail := o.Tail
	if tail == 0 {
		tail = defTail
	}
	if tail < minTail || tail > maxTail {
		return nil, fmt.Errorf("echo: tail %v: want %v..%v", tail, minTail, maxTail)
	}
	parts := int((tail + block*sampleDur - 1) / (block * sampleDur))
	c := &Canceller{
		parts:   parts,
		noDelay: o.NoDelaySearch,
		fft:     newRealFFT(block),
		x:       make([]complex64, parts*bins),
		wb:      make([]complex64, parts*bins),
		wf:      make([]complex64, parts*bins),
		norm:    make([]float32, bins),
		xpow:    make([]float32, parts+1),
	}
	c.delay = newDelayEstimator(c.fft, delayLags)
	c.hpEar = newHighpass()
	c.hpMic = newHighpass()
	c.Reset()
	return c, nil
}

// Reset forgets the call: filters, history, delay, noise and statistics.
// The NLP and bypass switches stay as they are.
func (c *Canceller) Reset() {
	c.hpEar.reset()
	c.hpMic.reset()
	c.ref = [refLen]float32{}
	c.refN, c.ws = 0, 0
	c.clearFilter()
	c.delay.reset()
	c.lagBest, c.lagRun, c.farBlocks = -1, 0, 0
	c.dtHold, c.nearHold = 0, 0
	c.noise = -1
	c.rng = 0x9e3779b9
	c.erlX, c.erlD, c.erleD, c.erleE = 0, 0, 0, 0
	c.erlValid, c.converged = false, false
	c.dtCount, c.divCount = 0, 0
	c.publish()
}

func (c *Canceller) clearFilter() {
	clear(c.x)
	clear(c.wb)
	clear(c.wf)
	clear(c.norm)
	clear(c.xpow)
	c.xi, c.xpi, c.constrain = 0, 0, 0
	c.sEb, c.sEf, c.sD = 0, 0, 0
	c.divRun = 0
}

// DisableNLP turns the non-linear processor off (true) or back on: a fax
// answer tone (CED) asks for the residual to pass untouched.
func (c *Canceller) DisableNLP(off bool) { c.nlpOff.Store(off) }

// Bypass passes the mouthpiece signal through unchanged (true) or cancels
// again: a modem's phase-reversed answer tone (V.25 ANSam) asks for no
// canceller at all, the modems run their own.
func (c *Canceller) Bypass(on bool) { c.bypass.Store(on) }

// Stats returns the statistics of the current call.
func (c *Canceller) Stats() Stats { return *c.stats.Load() }

func (c *Canceller) publish() {
	s := &c.statsBuf[c.statsI]
	c.statsI ^= 1
	*s = Stats{Converged: c.converged, DoubleTalk: c.dtCount, DivergenceResets: c.divCount,
		Delay: time.Duration(c.ws) * sampleDur}
	if c.erlValid {
		s.ERL = db(c.erlX / c.erlD)
		s.ERLE = db(c.erleD / c.erleE)
	}
	c.stats.Store(s)
}

// Process cancels one frame: ear is what was sent to the earpiece during
// the frame, mic what the mouthpiece path returned over the same samples,
// out receives mic without the echo (out may be mic). All three have the
// same length, a multiple of BlockSize (160 samples, 20 ms, is the port's
// frame). It allocates nothing.
func (c *Canceller) Process(ear, mic, out []int16) {
	if len(ear) != len(mic) || len(out) != len(mic) || len(mic)%block != 0 {
		panic(fmt.Sprintf("echo: Process with %d earpiece, %d mouthpiece and %d output samples: want equal multiples of %d",
			len(ear), len(mic), len(out), block))
	}
	if c.bypass.Load() {
		copy(out, mic)
		return
	}
	nlp := !c.nlpOff.Load()
	for i := 0; i < len(mic); i += block {
		c.block(ear[i:i+block], mic[i:i+block], out[i:i+block], nlp)
	}
	c.publish()
}

// Tuning. The thresholds are power ratios.
const (
	mu          = 0.6     // normalised step of the background filter, per block, shared by the partitions
	regFloor    = 30 * 30 // regularisation: the reference power (mean square) below which steps shrink
	farFloor    = 3000    // mean square of a far-end block worth cancelling (about −55 dBov)
	dtRatio     = 0.5     // double talk: mouthpiece above the loudest far-end block in the window less 3 dB
	dtHangover  = 10      // blocks adaptation stays frozen after double talk (100 ms)
	nearRatio   = 8       // NLP: the residual within 9 dB of the mouthpiece level means near-end speech
	nearHang    = 5       // blocks the NLP stays off after near-end speech (50 ms)
	erlSmooth   = 0.05    // per-block weight of the statistics' smoothing (about 200 ms)
	cmpSmooth   = 0.3     // per-block weight of the foreground/background comparison
	divergeRun  = 20      // blocks of an output louder than its input before the filter is cleared
	lagEvery    = 10      // blocks between delay estimates
	lagStable   = 3       // estimates (within lagJitter) before the window moves
	lagJitter   = 8       // samples an estimate may wander and still count as the same
	lagMargin   = 80      // samples of window before the echo's main arrival (10 ms)
	lagLead     = 48      // samples of the echo path before its main arrival the window must hold
	lagDisperse = 128     // samples of the echo path after its main arrival the window must hold
	minFarMove  = 30      // blocks of far-end speech before the window may move
)

func (c *Canceller) block(ear, mic, out []int16, nlp bool) {
	// High-pass both paths: the filter then models the hybrid alone.
	var pxRaw float32
	for i := range block {
		e := c.hpEar.step(float32(ear[i]))
		c.ref[c.refN&refMask] = e
		c.refN++
		d := c.hpMic.step(float32(mic[i]))
		c.d[i] = d
		c.xraw[i] = e
		pxRaw += e * e
	}

	// The input block pair [previous, current], ws samples behind.
	start := c.refN - c.ws - fftLen
	var px float32
	for j := range fftLen {
		v := c.ref[(start+j)&refMask]
		c.xin[j] = v
		if j >= block {
			px += v * v
		}
	}
	px /= block
	c.xpow[c.xpi] = px
	c.xpi = (c.xpi + 1) % len(c.xpow)
	var pwin float32
	for _, p := range c.xpow {
		pwin = max(pwin, p)
	}

	// The newest spectrum replaces the oldest in the ring and in the norm.
	c.xi = (c.xi + 1) % c.parts
	old := c.x[c.xi*bins : (c.xi+1)*bins]
	c.fft.forward(c.xin[:], c.spec[:])
	for k := range bins {
		c.norm[k] += sq(c.spec[k]) - sq(old[k])
		if c.norm[k] < 0 {
			c.norm[k] = 0
		}
		old[k] = c.spec[k]
	}

	c.filter(c.wb, c.yb[:])
	c.filter(c.wf, c.yf[:])
	var pd, peb, pef, pyf float32
	for i := range block {
		d := c.d[i]
		c.eb[i] = d - c.yb[i]
		c.ef[i] = d - c.yf[i]
		pd += d * d
		peb += c.eb[i] * c.eb[i]
		pef += c.ef[i] * c.ef[i]
		pyf += c.yf[i] * c.yf[i]
	}
	pd /= block
	peb /= block
	pef /= block
	pyf /= block

	far := pwin > farFloor
	// Double talk: the mouthpiece louder than any echo of the far end could
	// be (G.168 assumes an ERL of at least 6 dB; 3 dB of it is margin).
	if far && pd > dtRatio*pwin {
		if c.dtHold == 0 {
			c.dtCount++
		}
		c.dtHold = dtHangover
	} else if c.dtHold > 0 {
		c.dtHold--
	}
	dt := c.dtHold > 0

	if far && !dt {
		c.adapt()
	}
	c.compare(far, pd, peb, pef)

	if far && !dt {
		c.erlX += erlSmooth * (float64(px) - c.erlX)
		c.erlD += erlSmooth * (float64(pd) - c.erlD)
		c.erleD += erlSmooth * (float64(pd) - c.erleD)
		c.erleE += erlSmooth * (float64(pef) - c.erleE)
		c.erlValid = c.erlD > 0 && c.erleE > 0
		if c.erlValid && c.erleD > 10*c.erleE {
			c.converged = true
		}
	}
	if far {
		c.farBlocks++
	} else if c.noise < 0 || float64(pef) < c.noise {
		// The background is what is left when nobody talks: a minimum
		// that falls fast and creeps up slowly (about 1 dB/s).
		if c.noise < 0 {
			c.noise = float64(pef)
		} else {
			c.noise += 0.2 * (float64(pef) - c.noise)
		}
	} else {
		c.noise *= 1.0023
	}
	if !c.noDelay {
		c.delay.push(c.xraw[:], c.d[:], pxRaw/block > farFloor)
		if far {
			c.moveWindow()
		}
	}

	// NLP: while the far end talks alone, the residual goes and comfort
	// noise takes its place. Near-end speech keeps the residual in.
	suppress := false
	if nlp && far {
		near := pd < nearRatio*pef
		if c.erlValid && c.converged {
			// Converged, the residual is predictable from the far end's
			// level; an error well above it is the near end talking.
			expect := float64(pwin) * c.erlD / c.erlX * c.erleE / c.erleD
			if float64(pef) < 4*expect {
				near = false
			}
		}
		if near {
			c.nearHold = nearHang
		} else if c.nearHold > 0 {
			c.nearHold--
		}
		suppress = c.nearHold == 0
	} else {
		c.nearHold = 0
	}
	for i := range block {
		v := c.ef[i]
		if suppress {
			v = c.comfort()
		}
		out[i] = sat16(v)
	}
}

// filter computes the last block of the echo estimate of filter w.
func (c *Canceller) filter(w []complex64, y []float32) {
	c.acc = [bins]complex64{}
	for p := range c.parts {
		xp := c.part(p)
		wp := w[p*bins : (p+1)*bins]
		for k := range bins {
			c.acc[k] += wp[k] * xp[k]
		}
	}
	c.fft.inverse(c.acc[:], c.tbuf[:])
	copy(y, c.tbuf[block:])
}

// part returns the input spectrum p blocks old.
func (c *Canceller) part(p int) []complex64 {
	i := c.xi - p
	if i < 0 {
		i += c.parts
	}
	return c.x[i*bins : (i+1)*bins]
}

// adapt moves the background filter along the normalised gradient of the
// error (NLMS in each bin), then enforces the time-domain support of one
// partition, round robin as MDF does.
func (c *Canceller) adapt() {
	for i := range block {
		c.tbuf[i] = 0
		c.tbuf[block+i] = c.eb[i]
	}
	c.fft.forward(c.tbuf[:], c.spec[:])
	reg := float32(regFloor * fftLen * c.parts)
	for k := range bins {
		s := mu / (c.norm[k] + reg)
		c.spec[k] *= complex(s, 0)
	}
	for p := range c.parts {
		xp := c.part(p)
		wp := c.wb[p*bins : (p+1)*bins]
		for k := range bins {
			wp[k] += conj(xp[k]) * c.spec[k]
		}
	}
	wp := c.wb[c.constrain*bins : (c.constrain+1)*bins]
	c.fft.inverse(wp, c.tbuf[:])
	clear(c.tbuf[block:])
	c.fft.forward(c.tbuf[:], wp)
	c.constrain = (c.constrain + 1) % c.parts
}

// compare hands the background's coefficients to the foreground when they
// cancel better, restores the background from the foreground when it has
// wandered off (a double talk the detector missed), and clears both when
// even the foreground makes the echo louder.
func (c *Canceller) compare(far bool, pd, peb, pef float32) {
	if !far {
		return
	}
	c.sEb += cmpSmooth * (float64(peb) - c.sEb)
	c.sEf += cmpSmooth * (float64(pef) - c.sEf)
	c.sD += cmpSmooth * (float64(pd) - c.sD)
	switch {
	case c.sEb < 0.7*c.sEf:
		copy(c.wf, c.wb)
		c.sEf = c.sEb
	case c.sEb > 4*c.sEf && c.sEb > c.sD:
		copy(c.wb, c.wf)
		c.sEb = c.sEf
	}
	if c.sEf > 2*c.sD && c.sD > farFloor/100 {
		c.divRun++
		if c.divRun >= divergeRun {
			clear(c.wb)
			clear(c.wf)
			c.divCount++
			c.divRun = 0
			c.sEb, c.sEf = c.sD, c.sD
		}
	} else {
		c.divRun = 0
	}
}

// moveWindow places the filter's window on the echo once the delay
// estimate has held still; the filter starts again from zero there.
func (c *Canceller) moveWindow() {
	if c.farBlocks%lagEvery != 0 || c.delay.fed < minFarMove {
		return
	}
	arrival, ok := c.delay.estimate()
	if !ok {
		c.lagRun = 0
		return
	}
	if c.lagBest >= 0 && abs(arrival-c.lagBest) <= lagJitter {
		c.lagRun++
	} else {
		c.lagRun = 1
	}
	c.lagBest = arrival
	if c.lagRun < lagStable {
		return
	}
	if arrival-lagLead >= c.ws && arrival+lagDisperse <= c.ws+c.parts*block {
		return
	}
	ws := max(0, arrival-lagMargin)
	if ws+fftLen > refLen || ws == c.ws {
		return
	}
	c.ws = ws
	c.clearFilter()
	c.converged = false
}

// comfort returns one sample of white noise at the background's power.
func (c *Canceller) comfort() float32 {
	if c.noise <= 0 {
		return 0
	}
	// xorshift32: uniform on ±a has power a²/3.
	c.rng ^= c.rng << 13
	c.rng ^= c.rng >> 17
	c.rng ^= c.rng << 5
	u := float32(int32(c.rng)) / (1 << 31)
	return u * float32(math.Sqrt(3*c.noise))
}

// highpass is a second-order Butterworth high-pass at 150 Hz: 16 dB down at
// 60 Hz, 19 dB at 50 Hz, no DC at all, and little of speech lost.
type highpass struct {
	b0, b1, b2, a1, a2 float32
	x1, x2, y1, y2     float32
}

func newHighpass() highpass {
	const fc = 150.0
	w := 2 * math.Pi * fc / Rate
	cw, sw := math.Cos(w), math.Sin(w)
	alpha := sw / math.Sqrt2 // Q = 1/√2
	a0 := 1 + alpha
	return highpass{
		b0: float32((1 + cw) / 2 / a0),
		b1: float32(-(1 + cw) / a0),
		b2: float32((1 + cw) / 2 / a0),
		a1: float32(-2 * cw / a0),
		a2: float32((1 - alpha) / a0),
	}
}

func (h *highpass) reset() { h.x1, h.x2, h.y1, h.y2 = 0, 0, 0, 0 }

func (h *highpass) step(x float32) float32 {
	y := h.b0*x + h.b1*h.x1 + h.b2*h.x2 - h.a1*h.y1 - h.a2*h.y2
	h.x2, h.x1 = h.x1, x
	h.y2, h.y1 = h.y1, y
	return y
}

func sq(c complex64) float32 { return real(c)*real(c) + imag(c)*imag(c) }

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}

func db(ratio float64) float64 { return 10 * math.Log10(ratio) }

func sat16(v float32) int16 {
	switch {
	case v >= math.MaxInt16:
		return math.MaxInt16
	case v <= math.MinInt16:
		return math.MinInt16
	case v < 0:
		return int16(v - 0.5)
	default:
		return int16(v + 0.5)
	}
}
