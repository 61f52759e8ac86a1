// Package tonedetect is the tone disabler's ear: it finds the tones that
// say a fax machine or a modem is on the line, so the analog port can get
// its echo canceller out of their way (ITU-T G.168 tone disabler) and call
// control can switch the call to pass-through.
//
//   - CNG, the calling fax's 1100 Hz ± 38 Hz, 0.5 s on and 3 s off (T.30);
//   - CED / ANS, the answering fax's or modem's 2100 Hz ± 15 Hz without
//     phase reversals (T.30, V.25), and ANSam, the same tone with 15 Hz
//     amplitude modulation (V.8);
//   - ANS or ANSam with phase reversals every 450 ± 25 ms (V.25, V.8): the
//     answering modem's request to disable echo cancellers.
//
// The signal is cut into 5 ms blocks. Each block is correlated with a
// phase-continuous complex oscillator at 1100 and at 2100 Hz: the share of
// the block's energy that falls in the tone's bin says a tone is there,
// the phase step from one block to the next gives its frequency, and a
// phase jump of about π against that step is a reversal. Speech rarely
// puts more than half of its energy in a 200 Hz wide bin, and never for
// the 400 ms a decision needs; DTMF keys are too far from both tones.
package tonedetect

import (
	"math"
	"math/cmplx"

	"github.com/openata/ata/board/pcm"
)

// Kind is a tone the detector reports.
type Kind uint8

// The tones.
const (
	None  Kind = iota
	CNG        // 1100 Hz calling tone: a fax machine is calling
	CED        // 2100 Hz answer tone without phase reversals (fax CED, V.25 ANS, V.8 ANSam)
	ANSPR      // 2100 Hz answer tone with phase reversals (V.25 ANS/, V.8 ANSam/): echo cancellers off
)

var kindNames = [...]string{"none", "cng", "ced", "ans-pr"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Result is what one call of Process found: Kind is None when nothing was
// recognised in that audio. Each tone is reported once per occurrence: a
// CNG at the end of each burst, CED once per answer tone, ANSPR once per
// answer tone (after CED when the tone was heard for a while before its
// second reversal).
type Result struct {
	Kind Kind
	// AM: the 2100 Hz tone carries the 15 Hz amplitude modulation of V.8's
	// ANSam (CED and ANSPR only).
	AM bool
}

const (
	sampleRate   = 8000
	blockLen     = 40 // 5 ms: a 200 Hz wide bin, wide enough for CNG's ±38 Hz
	blocksPerSec = sampleRate / blockLen

	// A block holds a tone when this share of its energy is in the bin
	// (a clean sine gives 1; a sine 3 dB above white noise about 0.67).
	minShare = 0.55
	// minLevel is the quietest tone heard, dBm0 (G.168 asks for −31 dBm0
	// and below; the port sees line levels down to −40).
	minLevel = -46.0
	// maxGap blocks without the tone do not end it: the block holding a
	// phase reversal loses most of its energy in the bin.
	maxGap = 2

	// A 2100 Hz tone is CED once it lasted this long without a reversal.
	cedBlocks = 500 * blocksPerSec / 1000
	// Reversal spacing accepted: 450 ± 25 ms, plus a block either side for
	// where in a block the reversal fell.
	revMin = (425 - 10) * blocksPerSec / 1000
	revMax = (475 + 10) * blocksPerSec / 1000
	// A CNG burst lasts 0.5 s ± 15 %, measured to a few blocks.
	cngMin = 375 * blocksPerSec / 1000
	cngMax = 650 * blocksPerSec / 1000

	// amWindow blocks hold exactly three periods of 15 Hz.
	amWindow = 3 * blocksPerSec / 15
	amHz     = 15.0
)

// Detector finds fax and modem tones in one direction of a call. It keeps
// state from call to call of Process (tones span many frames) and
// allocates nothing. The zero value is not ready: use New.
type Detector struct {
	blk    [blockLen]float64 // the samples of the block being filled
	n      int               // samples in blk
	energy float64
	cng    track
	ans    track
	am     amMeter
	block  int64 // blocks completed
}

// New returns a detector in its initial state.
func New() *Detector {
	d := &Detector{}
	d.cng.init(1100, 45)
	d.ans.init(2100, 25)
	return d
}

// Reset forgets everything heard so far (a new call).
func (d *Detector) Reset() {
	d.n, d.energy, d.block = 0, 0, 0
	d.cng.endRun()
	d.ans.endRun()
	d.cng.osc = 1
	d.ans.osc = 1
	d.am = amMeter{}
}

// Process takes the next samples of the signal (8 kHz, any length: a
// board frame) and reports a tone recognised in them.
func (d *Detector) Process(x []int16) Result {
	var res Result
	for _, v := range x {
		s := float64(v)
		d.blk[d.n] = s
		d.energy += s * s
		d.cng.acc(s)
		d.ans.acc(s)
		d.n++
		if d.n == blockLen {
			if r := d.endBlock(); r.Kind != None {
				res = r
			}
		}
	}
	return res
}

// endBlock judges a full block for both tones.
func (d *Detector) endBlock() Result {
	e := d.energy
	d.n, d.energy = 0, 0
	d.block++
	var res Result
	// CNG is judged when its burst has ended: a tone that goes on is not one.
	if run, ended := d.cng.block(e, d.block); ended && d.cng.steady(run) &&
		run.hits >= cngMin && run.hits <= cngMax && run.revs == 0 {
		res.Kind = CNG
	}
	_, ended := d.ans.block(e, d.block)
	if ended || !d.ans.on {
		d.am = amMeter{}
		return res
	}
	t := &d.ans
	d.am.add(t.env, t.revHold > 0 || t.gap > 0)
	switch {
	case t.reported < ANSPR && t.revOK && t.steady(t.runInfo()):
		t.reported = ANSPR
		res = Result{Kind: ANSPR, AM: d.am.modulated()}
	case t.reported < CED && t.run >= cedBlocks && t.steady(t.runInfo()) &&
		(t.revs == 0 || d.block-t.lastRev > revMax):
		t.reported = CED
		res = Result{Kind: CED, AM: d.am.modulated()}
	}
	return res
}

// track follows one frequency: whether a tone is on, its frequency, and
// its phase reversals.
type track struct {
	step    complex128 // e^{-jω}: the oscillator's step per sample
	osc     complex128 // e^{-jωn}, phase-continuous from block to block
	z       complex128 // the block's correlation, being accumulated
	tolHz   float64
	prev    [2]complex128 // the last two blocks' correlations (prev[0] newest)
	prevOK  [2]bool       // ... and whether they held the tone
	on      bool
	run     int64      // blocks since the tone started
	hits    int64      // blocks that held it
	gap     int        // blocks in a row without it
	inc     complex128 // smoothed phase step per block (unit phasor sum)
	incN    int
	rejects int // phase steps in a row that disagreed with inc
	env     float64
	revs    int   // phase reversals seen
	lastRev int64 // block of the last one
	revHold int   // blocks left during which a reversal is not counted again
	revOK   bool  // two reversals 450 ± 25 ms apart have been seen
	// reported is the strongest Kind reported for this tone.
	reported Kind
}

// runInfo is a finished (or running) tone's summary.
type runInfo struct {
	hits, run int64
	revs      int
	inc       complex128
	incN      int
}

func (t *track) init(hz, tolHz float64) {
	w := 2 * math.Pi * hz / sampleRate
	t.step = cmplx.Rect(1, -w)
	t.osc = 1
	t.tolHz = tolHz
}

func (t *track) acc(s float64) {
	t.z += complex(s*real(t.osc), s*imag(t.osc))
	t.osc *= t.step
}

func (t *track) runInfo() runInfo {
	return runInfo{hits: t.hits, run: t.run, revs: t.revs, inc: t.inc, incN: t.incN}
}

// steady says a tone kept to its frequency and was present in nearly all
// of its blocks.
func (t *track) steady(r runInfo) bool {
	if r.incN < 8 || r.hits*10 < r.run*9 {
		return false
	}
	hz := cmplx.Phase(r.inc) * blocksPerSec / (2 * math.Pi)
	return math.Abs(hz) <= t.tolHz
}

func (t *track) endRun() {
	t.on, t.run, t.hits, t.gap = false, 0, 0, 0
	t.inc, t.incN, t.rejects = 0, 0, 0
	t.revs, t.lastRev, t.revHold, t.revOK = 0, 0, 0, false
	t.prevOK = [2]bool{}
	t.reported = None
	t.z = 0
}

// block judges the block just completed, whose energy is e; it returns the
// tone's summary and whether a tone ended with this block.
func (t *track) block(e float64, k int64) (runInfo, bool) {
	z := t.z
	t.z = 0
	// Renormalise the oscillator once a block so rounding cannot grow it.
	t.osc /= complex(cmplx.Abs(t.osc), 0)
	mag2 := real(z)*real(z) + imag(z)*imag(z)
	amp := 2 * math.Sqrt(mag2) / blockLen
	hit := e > 0 && 2*mag2 >= minShare*blockLen*e && pcm.Level(amp) >= minLevel
	if t.revHold > 0 {
		t.revHold--
	}
	if !hit {
		t.prev[1], t.prevOK[1] = t.prev[0], t.prevOK[0]
		t.prevOK[0] = false
		if !t.on {
			return runInfo{}, false
		}
		t.gap++
		t.run++
		if t.gap > maxGap {
			r := t.runInfo()
			r.run -= int64(t.gap) // the tail of misses is not the tone's
			t.endRun()
			return r, true
		}
		return t.runInfo(), false
	}
	if !t.on {
		t.endRun()
		t.on = true
	}
	t.gap = 0
	t.run++
	t.hits++
	t.env = amp
	t.trackPhase(z, k)
	t.prev[1], t.prevOK[1] = t.prev[0], t.prevOK[0]
	t.prev[0], t.prevOK[0] = z, true
	return t.runInfo(), false
}

// trackPhase updates the phase step estimate with block z and looks for a
// reversal: z against the block before last, turned on by two steps,
// points the other way.
func (t *track) trackPhase(z complex128, k int64) {
	if t.prevOK[0] {
		u := unit(z * cmplx.Conj(t.prev[0]))
		switch {
		case t.incN == 0:
			t.inc, t.incN = u, 1
		case real(u*cmplx.Conj(unit(t.inc))) > 0:
			t.inc = 0.8*t.inc + 0.2*u
			t.incN++
			t.rejects = 0
		default:
			// A reversal between the two blocks, or an estimate seeded on
			// one: after three disagreements in a row, start again.
			t.rejects++
			if t.rejects >= 3 {
				t.inc, t.incN, t.rejects = u, 1, 0
			}
		}
	}
	if !t.prevOK[1] || t.incN < 4 || t.revHold > 0 {
		return
	}
	s := unit(t.inc)
	e := z * cmplx.Conj(t.prev[1]) * cmplx.Conj(s*s)
	// More than 120° away from where the tone should be.
	if real(e) < -0.5*cmplx.Abs(e) {
		if t.revs > 0 {
			if gap := k - t.lastRev; gap >= revMin && gap <= revMax {
				t.revOK = true
			}
		}
		t.revs++
		t.lastRev = k
		t.revHold = 4
	}
}

func unit(c complex128) complex128 {
	a := cmplx.Abs(c)
	if a == 0 {
		return 0
	}
	return c / complex(a, 0)
}

// amMeter measures 15 Hz modulation of the 2100 Hz tone's envelope (one
// value per block) over windows of three periods.
type amMeter struct {
	g      complex128
	sum    float64
	n      int
	last   float64
	good   int // windows in a row with ANSam's modulation
	osc    complex128
	inited bool
}

func (m *amMeter) add(env float64, disturbed bool) {
	if !m.inited {
		m.osc, m.inited = 1, true
	}
	if disturbed && m.n > 0 {
		env = m.last // a reversal's block says nothing of the envelope
	}
	m.last = env
	m.g += complex(env*real(m.osc), env*imag(m.osc))
	m.sum += env
	m.osc *= amStep
	m.n++
	if m.n < amWindow {
		return
	}
	// Whole periods: the envelope's mean does not leak into the 15 Hz bin.
	// V.8 asks for 20 ± 1 % depth; plain ANS shows a few % from noise.
	depth := 0.0
	if m.sum > 0 {
		depth = 2 * cmplx.Abs(m.g) / m.sum
	}
	if depth >= 0.1 && depth <= 0.35 {
		m.good++
	} else {
		m.good = 0
	}
	m.g, m.sum, m.n, m.osc = 0, 0, 0, 1
}

func (m *amMeter) modulated() bool { return m.good >= 2 }

var amStep = cmplx.Rect(1, -2*math.Pi*amHz/blocksPerSec)
