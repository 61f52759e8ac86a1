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
// 128 ms tail needs some 330,000 multiply-adds per 20 ms frame, several
// times what the 50 µs per frame this port can spare allow in Go.
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
	delayLags = 7         // blocks of delay the estimator searches (70 ms: 60 ms of bulk delay and the paths' lead-in)
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
	// FixedWindow keeps the filter's window at zero delay whatever bulk
	// delay the canceller finds (to show what moving it is for).
	FixedWindow bool
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
	// Delay is the echo's delay: when the echo path's main arrival comes
	// back after the earpiece signal, the sound card's bulk delay plus the
	// hybrid's own millisecond or few, as the delay estimator last found
	// it steadily; 0 until it has. It is measured whether or not the
	// filter's window has to move for it.
	Delay time.Duration
	// Window is where the filter's window starts: 0 while the tail from
	// the earpiece signal on holds the echo, else the delay found less a
	// margin for the echo path's lead-in.
	Window time.Duration
}

// Canceller is one port's echo canceller. Process and Reset belong to one
// goroutine (the board's frame goroutine); DisableNLP, Bypass and Stats may
// be called from any goroutine.
type Canceller struct {
	parts int  // partitions of block samples: the tail
	fixed bool // the window stays at zero delay
	fft   *realFFT

	hpEar, hpMic highpass

	// ref is the high-passed earpiece history; the filter reads it ws
	// samples behind the newest.
	ref  [refLen]float32
	refN int // samples written
	ws   int // window start, samples

	// x holds the spectra of the last parts input blocks and wb and wf the
	// background and foreground filters, partition p multiplying the input
	// p blocks old; all three bin by bin (a bin's partitions side by side),
	// so that each bin's sums over the partitions run in registers over
	// contiguous memory. Each bin of x is a ring of twice parts entries,
	// every spectrum written twice (at xi and xi+parts), newest first: the
	// parts entries from xi on are then partitions 0 to parts−1 in order.
	// norm is Σ_p |X_p[k]|².
	x, wb, wf []complex64
	xi        int
	norm      []float32
	xnew      [bins]complex64 // the newest input spectrum
	constrain int             // next partition whose time-domain support is enforced
	xpow      []float32
	xpi       int

	// scratch
	xin, tbuf                  [fftLen]float32
	spec, acc, accF, wpart     [bins]complex64
	d, yb, yf, eb, ef          [block]float32
	delay                      *delayEstimator
	xraw                       [block]float32 // this block's high-passed earpiece, undelayed
	lagBest, lagRun, farBlocks int
	lagFound                   int     // the last arrival estimated lagStable times in a row, -1 = none
	sEb, sEf, sD               float64 // smoothed block powers: fg/bg comparison
	divRun                     int
	fine                       bool // the double talk is the fine detector's alone
	pathRunN                   int  // blocks the background has led the foreground by pathGain
	dtHold, nearHold           int
	noise                      float64 // comfort noise power (mean square), -1 = not yet measured
	// unheard counts down the quiet earpiece blocks after the last loud
	// one (or after Reset: a port starts the canceller with its ringback
	// still in the hybrid) until no echo of it can reach the mouthpiece,
	// bulk delay and tail included. The blocks before are not the
	// background, even where the filter's window, still looking in the
	// wrong place, sees no far end.
	unheard                  int
	firstMin                 float64 // the quietest block so far while noise is -1
	firstN                   int     // blocks firstMin was taken over
	rng                      uint32
	erlX, erlD, erleD, erleE float64 // smoothed powers for the stats
	erlValid                 bool
	dtCount, divCount        int
	converged                bool

	nlpOff, bypass atomic.Bool
	pub            struct {
		erl, erle     atomic.Uint64 // float64 bits
		converged     atomic.Bool
		dt, div       atomic.Int64
		delay, window atomic.Int64 // samples
	}
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
		parts: parts,
		fixed: o.FixedWindow,
		fft:   newRealFFT(block),
		x:     make([]complex64, 2*parts*bins),
		wb:    make([]complex64, parts*bins),
		wf:    make([]complex64, parts*bins),
		norm:  make([]float32, bins),
		xpow:  make([]float32, parts+1),
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
	c.lagBest, c.lagRun, c.farBlocks, c.lagFound = -1, 0, 0, -1
	c.dtHold, c.nearHold, c.pathRunN, c.fine = 0, 0, 0, false
	c.noise, c.firstN = -1, 0
	c.unheard = delayLags + c.parts
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
func (c *Canceller) Stats() Stats {
	return Stats{
		ERL:              math.Float64frombits(c.pub.erl.Load()),
		ERLE:             math.Float64frombits(c.pub.erle.Load()),
		Converged:        c.pub.converged.Load(),
		DoubleTalk:       int(c.pub.dt.Load()),
		DivergenceResets: int(c.pub.div.Load()),
		Delay:            time.Duration(c.pub.delay.Load()) * sampleDur,
		Window:           time.Duration(c.pub.window.Load()) * sampleDur,
	}
}

// publish makes the statistics readable from other goroutines: one atomic
// per field, so reading them allocates nothing and races with nothing (a
// reader may see fields from two consecutive frames).
func (c *Canceller) publish() {
	var erl, erle float64
	if c.erlValid {
		erl, erle = db(c.erlX/c.erlD), db(c.erleD/c.erleE)
	}
	c.pub.erl.Store(math.Float64bits(erl))
	c.pub.erle.Store(math.Float64bits(erle))
	c.pub.converged.Store(c.converged)
	c.pub.dt.Store(int64(c.dtCount))
	c.pub.div.Store(int64(c.divCount))
	c.pub.delay.Store(int64(max(c.lagFound, 0)))
	c.pub.window.Store(int64(c.ws))
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
	regFloor     = 30 * 30 // regularisation: the reference power (mean square) below which steps shrink
	farFloor     = 3000    // mean square of a far-end block worth cancelling (about −55 dBov)
	dtRatio      = 1.0     // double talk: the mouthpiece louder than the loudest far-end block in the window (a hybrid has loss; G.168 assumes 6 dB, model 5 on speech has 3)
	fineRatio    = 8       // fine double talk: the residual 9 dB above its prediction
	fineStep     = 0.5     // step scale while the fine detector sees double talk (or a changed path)
	pathGain     = 0.25    // background this far (power) below the foreground during double talk: the path changed
	pathRun      = 10      // blocks the background must stay that far ahead
	dtHangover   = 10      // blocks adaptation stays frozen after double talk (100 ms)
	nearRatio    = 2       // NLP: the residual within 3 dB of the mouthpiece level may be near-end speech
	explainRatio = 2       // NLP: a mouthpiece within 3 dB of the echo estimate is echo
	nearOver     = 16      // NLP, converged: the residual 12 dB above its prediction is near-end speech
	nearHang     = 5       // blocks the NLP stays off after near-end speech (50 ms)
	noiseFirst   = 20      // blocks without far end (200 ms) over which the background is first measured: longer than a key and its gap
	erlSmooth    = 0.01    // per-block weight of the statistics' smoothing (about 1 s)
	cmpSmooth    = 0.3     // per-block weight of the foreground/background comparison
	divergeRun   = 20      // blocks of an output louder than its input before the filter is cleared

	mu      = 1.5  // normalised step of the background filter, per block, at full step scale
	vssGain = 8    // step scale per unit of residual-to-mouthpiece amplitude ratio
	minStep = 0.07 // smallest step scale (the echo about 40 dB down)
	regRel  = 0.05 // regularisation relative to the mean bin power
	maxGain = 16   // bound of Σ_p |W_p[k]|², a bin's gain (power) over the tail: 12 dB above 0 dB, 5 dB above the worst G.168 model at 0 dB ERL

	lagEvery    = 10  // blocks between delay estimates
	lagStable   = 3   // estimates (within lagJitter) before the window moves
	lagJitter   = 8   // samples an estimate may wander and still count as the same
	lagMargin   = 80  // samples of window before the echo's main arrival (10 ms)
	lagLead     = 48  // samples of the echo path before its main arrival the window must hold
	lagDisperse = 128 // samples of the echo path after its main arrival the window must hold
	minFarMove  = 30  // blocks of far-end speech before the window may move
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

	// The newest spectrum replaces the oldest in the ring and in norm,
	// the input power over the filter's span (Σ_p |X_p[k]|²), which is
	// summed afresh once per turn of the ring so rounding cannot drift.
	xs := c.xnew[:]
	c.fft.forward(c.xin[:], xs)
	P := c.parts
	c.xi--
	if c.xi < 0 {
		c.xi += P
	}
	norm := c.norm[:bins]
	for k, v := range xs {
		r := c.x[k*2*P:][:2*P]
		// The oldest spectrum sits where the newest goes.
		old := r[c.xi+P]
		r[c.xi], r[c.xi+P] = v, v
		if c.xi == 0 {
			var n float32
			for _, x := range r[:P] {
				n += sq(x)
			}
			norm[k] = n
		} else {
			norm[k] = max(0, norm[k]-sq(old)+sq(v))
		}
	}

	// Without far-end speech nothing adapts or compares: the background
	// filter's output is not needed.
	far := pwin > farFloor
	c.filter(far)
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

	// Double talk, two ways. Coarse (Geigel on block powers): the
	// mouthpiece louder than the loudest far-end block the echo could come
	// from, which no hybrid does. Fine, once converged: a residual well
	// above what the measured ERL and ERLE predict from the echo estimate.
	// The fine detector cannot tell double talk from a changed echo path;
	// near-end speech has gaps, a changed path does not, so a fine
	// detection that lasts means the path changed and the filter must
	// learn again.
	coarse := far && pd > dtRatio*pwin
	fine := far && c.converged && !coarse &&
		float64(pef) > fineRatio*float64(pyf)*c.erleE/c.erleD+regFloor
	if coarse || fine {
		if c.dtHold == 0 {
			c.dtCount++
		}
		c.dtHold = dtHangover
		c.fine = fine
	} else if c.dtHold > 0 {
		c.dtHold--
	}
	dt := c.dtHold > 0
	switch {
	case !far || (dt && !c.fine):
	case dt:
		c.adapt(fineStep)
	default:
		c.adapt(1)
	}
	if far {
		c.compare(dt, pd, peb, pef)
	}

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
	switch {
	case far:
		c.farBlocks++
	case c.unheard > 0:
	case c.noise < 0:
		// The first measurement is the quietest of the first noiseFirst
		// blocks without a far end: one of them may be a key the handset
		// sends or a word of the near end's, which is not the background.
		if c.firstN == 0 || float64(pef) < c.firstMin {
			c.firstMin = float64(pef)
		}
		if c.firstN++; c.firstN >= noiseFirst {
			c.noise = c.firstMin
		}
	case float64(pef) < c.noise:
		// The background is what is left when nobody talks: a minimum
		// that falls fast and creeps up slowly (about 1 dB/s).
		c.noise += 0.2 * (float64(pef) - c.noise)
	default:
		c.noise *= 1.0023
	}
	if pxRaw/block > farFloor {
		c.unheard = delayLags + c.parts
	} else {
		c.unheard = max(c.unheard-1, 0)
	}
	var same []complex64 // with the window at zero delay the estimator's input spectrum is the filter's
	if c.ws == 0 {
		same = xs
	}
	// Once the filter has converged with its window settled, the delay
	// estimator only watches for a change: it learns from one far-end
	// block in four and is asked a quarter as often, saving most of its
	// cost.
	settled := c.converged && c.lagRun >= lagStable
	learn := pxRaw/block > farFloor && (!settled || c.farBlocks%4 == 0)
	c.delay.push(c.xraw[:], c.d[:], same, learn)
	if far {
		c.moveWindow(settled)
	}

	// NLP: while the far end talks alone, the residual goes and comfort
	// noise takes its place. Near-end speech keeps the residual in.
	suppress := false
	if nlp && far {
		// Near-end speech: the filter removes little of the mouthpiece
		// signal, and the mouthpiece is clearly louder than the echo the
		// filter predicts. A sound the far end had not made before leaves
		// a residual the filter has not learnt yet; the second test keeps
		// that from passing for speech.
		near := pd < nearRatio*pef && pd > explainRatio*pyf
		if c.erlValid && c.converged {
			// Converged, the residual is predictable from the far end's
			// level; an error well above it is the near end talking.
			expect := float64(pwin) * c.erlD / c.erlX * c.erleE / c.erleD
			if float64(pef) < 4*expect {
				near = false
			} else if float64(pef) > nearOver*expect {
				// Far above it, even where the filter removes much
				// of the mouthpiece signal: a near end quieter than
				// the echo it talks over.
				near = true
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

// filter computes the last block of the echo estimates of the background
// (if bg) and foreground filters, in one pass over the input spectra.
func (c *Canceller) filter(bg bool) {
	P := c.parts
	if !bg {
		for k := range bins {
			xk := c.x[k*2*P+c.xi:][:P]
			wf := c.wf[k*P:][:len(xk)]
			var af complex64
			for p, x := range xk {
				af += cmul(wf[p], x)
			}
			c.accF[k] = af
		}
		c.fft.inverse(c.accF[:], c.tbuf[:])
		copy(c.yf[:], c.tbuf[block:])
		c.yb = c.yf
		return
	}
	for k := range bins {
		// Slices of one length let the compiler drop the bounds checks.
		xk := c.x[k*2*P+c.xi:][:P]
		wb := c.wb[k*P:][:len(xk)]
		wf := c.wf[k*P:][:len(xk)]
		var ab, af complex64
		for p, x := range xk {
			ab += cmul(wb[p], x)
			af += cmul(wf[p], x)
		}
		c.acc[k], c.accF[k] = ab, af
	}
	c.fft.inverse(c.acc[:], c.tbuf[:])
	copy(c.yb[:], c.tbuf[block:])
	c.fft.inverse(c.accF[:], c.tbuf[:])
	copy(c.yf[:], c.tbuf[block:])
}

// adapt moves the background filter along the normalised gradient of the
// error (NLMS in each bin), then enforces the time-domain support of one
// partition, round robin as MDF does.
func (c *Canceller) adapt(scale float32) {
	for i := range block {
		c.tbuf[i] = 0
		c.tbuf[block+i] = c.eb[i]
	}
	c.fft.forward(c.tbuf[:], c.spec[:])
	// The step in each bin is normalised by the input power over
	// the filter's span (NLMS), regularised against bins speech leaves
	// empty: their steps would otherwise amplify noise into the filter.
	var mean float32
	for _, v := range c.norm {
		mean += v
	}
	mean /= bins
	reg := max(float32(regFloor*fftLen), regRel*mean)
	step := mu * scale * c.stepScale()
	P := c.parts
	for k := range bins {
		e := rmul(c.spec[k], step/(c.norm[k]+reg))
		xk := c.x[k*2*P+c.xi:][:P]
		wb := c.wb[k*P:][:len(xk)]
		var g float32
		for p, x := range xk {
			w := wb[p] + cmulConj(x, e)
			wb[p] = w
			g += sq(w)
		}
		if g > maxGain {
			limitGain(wb, g)
		}
	}
	// The time-domain support of partition c.constrain: zero past its
	// block.
	cp := c.constrain
	wp := c.wpart[:]
	for k := range wp {
		wp[k] = c.wb[k*P+cp]
	}
	c.fft.inverse(wp, c.tbuf[:])
	clear(c.tbuf[block:])
	c.fft.forward(c.tbuf[:], wp)
	for k, w := range wp {
		c.wb[k*P+cp] = w
	}
	c.constrain = (c.constrain + 1) % P
}

// limitGain keeps the background filter a hybrid: where the energy of a
// bin's coefficients over the partitions (g, Σ_p |W_p[k]|², of the bin's
// coefficients w) passes maxGain, the bin is scaled back onto it. No echo path comes near: the
// G.168 models at 0 dB ERL reach 5.5, wherever the window cuts them. A
// filter that does has found a near-end sound in the faint copy the
// reference holds of it (a far-end tone's G.711 quantisation noise holds
// every multiple of its repetition rate, exactly in step with any near-end
// tone there): its fixed point is the near end over that copy, 40 to 60 dB
// of gain, whatever the regularisation, which only slows the way there.
// Bounded, the estimate of such a sound stays some 30 dB under it.
func limitGain(w []complex64, g float32) {
	s := float32(math.Sqrt(maxGain / float64(g)))
	for p, v := range w {
		w[p] = rmul(v, s)
	}
}

// stepScale slows the adaptation as the background filter converges, as
// a variable-step NLMS does: a full step while the residual is within
// 18 dB of the mouthpiece level, down to minStep as it falls, which lowers the
// noise the step itself adds (misadjustment) and so deepens the
// cancellation.
func (c *Canceller) stepScale() float32 {
	if c.sD <= 0 {
		return 1
	}
	r := float32(math.Sqrt(c.sEb / c.sD))
	return min(1, max(minStep, vssGain*r))
}

// compare hands the background's coefficients to the foreground when they
// cancel better, restores the background from the foreground when it has
// wandered off (a double talk the detector missed), and clears both when
// even the foreground makes the echo louder. During double talk only a
// background far and lastingly ahead is taken: near-end speech cannot be
// predicted from the far end, so that lead means the echo path changed
// (which the fine detector mistakes for double talk), and the ERLE the
// detector predicts from starts again from the new filter's.
func (c *Canceller) compare(dt bool, pd, peb, pef float32) {
	c.sEb += cmpSmooth * (float64(peb) - c.sEb)
	c.sEf += cmpSmooth * (float64(pef) - c.sEf)
	c.sD += cmpSmooth * (float64(pd) - c.sD)
	switch {
	case dt:
		if c.sEb < pathGain*c.sEf {
			c.pathRunN++
		} else {
			c.pathRunN = 0
		}
		if c.pathRunN >= pathRun {
			copy(c.wf, c.wb)
			c.sEf = c.sEb
			c.erleD, c.erleE = c.sD, c.sEb
			c.dtHold, c.pathRunN = 0, 0
		}
	case c.sEb < 0.7*c.sEf:
		copy(c.wf, c.wb)
		c.sEf = c.sEb
	case c.sEb > 2*c.sEf && c.sEb > c.sD/4:
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
			// What the filter had learnt is gone: so is the ERLE the
			// fine double-talk detector predicts from.
			c.erleE, c.converged = c.erleD, false
		}
	} else {
		c.divRun = 0
	}
}

// moveWindow places the filter's window on the echo once the delay
// estimate has held still, if the echo runs off the window; the filter
// starts again from zero there.
func (c *Canceller) moveWindow(settled bool) {
	every := lagEvery
	if settled {
		every *= 4
	}
	if c.farBlocks%every != 0 || c.delay.fed < minFarMove {
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
	if c.lagRun >= lagStable {
		c.lagFound = arrival
	}
	if !c.fixed && c.lagRun >= lagStable && (arrival-lagLead < c.ws || arrival+lagDisperse > c.ws+c.parts*block) {
		if ws := max(0, arrival-lagMargin); ws+fftLen <= refLen && ws != c.ws {
			c.ws = ws
			c.clearFilter()
			c.converged = false
		}
	}
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

// highpass is a fourth-order Butterworth high-pass at 150 Hz (two
// biquads): 38 dB down at 50 Hz, 32 dB at 60 Hz, no DC at all, and less
// than half a dB of speech lost at 200 Hz.
type highpass struct{ s [2]biquad }

func newHighpass() highpass {
	const fc = 150.0
	var h highpass
	// The pole pairs of a fourth-order Butterworth filter: Q = 1/(2·cos θ)
	// for θ = π/8 and 3π/8.
	for i, q := range []float64{0.5412, 1.3066} {
		w := 2 * math.Pi * fc / Rate
		cw, sw := math.Cos(w), math.Sin(w)
		alpha := sw / (2 * q)
		a0 := 1 + alpha
		h.s[i] = biquad{
			b0: float32((1 + cw) / 2 / a0),
			b1: float32(-(1 + cw) / a0),
			b2: float32((1 + cw) / 2 / a0),
			a1: float32(-2 * cw / a0),
			a2: float32((1 - alpha) / a0),
		}
	}
	return h
}

func (h *highpass) reset() {
	for i := range h.s {
		h.s[i].x1, h.s[i].x2, h.s[i].y1, h.s[i].y2 = 0, 0, 0, 0
	}
}

func (h *highpass) step(x float32) float32 { return h.s[1].step(h.s[0].step(x)) }

type biquad struct {
	b0, b1, b2, a1, a2 float32
	x1, x2, y1, y2     float32
}

func (b *biquad) step(x float32) float32 {
	y := b.b0*x + b.b1*b.x1 + b.b2*b.x2 - b.a1*b.y1 - b.a2*b.y2
	b.x2, b.x1 = b.x1, x
	b.y2, b.y1 = b.y1, y
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
