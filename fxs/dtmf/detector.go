// Package dtmf receives and generates DTMF (ITU-T Q.23) digits on 8 kHz
// 16-bit PCM. The receiver aims at the ITU-T Q.24 AT&T/Bellcore figures:
// accept ±1.5 % frequency error and reject ±3.5 %, accept 4 dB reverse and
// 8 dB normal twist, accept a 40 ms tone and reject a 23 ms one, bridge a
// 10 ms interruption, work from −3 to −25 dBm0 per tone (two tones each
// at 0 dBm0 would clip 16-bit PCM) and at 15 dB signal-to-noise ratio.
//
// How it works: each of the eight keypad frequencies is correlated with a
// complex exponential whose phase is tied to the absolute sample index, in
// sub-blocks of 20 samples (2.5 ms), both plainly and weighted by a ramp.
// Because the phase reference is absolute, weighted sums of consecutive
// sub-blocks give the DFT over any longer, piecewise-linear window for
// free. Every 2.5 ms the detector looks at the last 160 samples (20 ms):
// it takes the strongest bin of each group (rectangular window, the
// sharpest against the neighbouring keypad frequency), measures that
// tone's true frequency from how its phase advances between two
// overlapping triangular windows (a ±1.5 % versus ±3.5 % decision needs
// better than a bin's 50 Hz resolution), corrects the levels for that
// offset, and then checks frequency error, level, twist, that each tone
// dominates its group, and that the two tones carry almost all of the
// window's energy. The last check rejects speech and also windows only
// partly covered by a tone, which makes the duration logic (a run of valid
// windows declares a digit, a longer run of invalid ones ends it) sharp.
package dtmf

import (
	"math"

	"github.com/openata/ata/board/pcm"
)

const (
	sampleRate = 8000

	subLen    = 20                // samples per sub-block: the decision step
	spanSubs  = 8                 // sub-blocks per analysis window
	spanLen   = subLen * spanSubs // 160 samples, 20 ms
	phaseSubs = 6                 // sub-blocks in each of the two phase windows
	// The two phase windows are phaseLagLen samples apart, so a frequency
	// offset is unambiguous within ±100 Hz.
	phaseLagLen = (spanSubs - phaseSubs) * subLen

	// maxFreqError is the accepted frequency error, midway between Q.24's
	// must-accept 1.5 % and must-reject 3.5 %.
	maxFreqError = 0.025

	// minToneDBm0 is the weakest accepted tone: 9 dB below Q.24's −25 dBm0
	// floor, so that 8 dB of twist at the bottom of the range still passes.
	minToneDBm0 = -36

	// Twist limits midway between Q.24's accept (+4/−8 dB) and the next
	// values a receiver is expected to refuse (+6/−10 dB).
	maxReverseTwistDB = 5
	maxNormalTwistDB  = 9

	// relativePeakDB: every other bin of a group must be this far below the
	// group's peak. The rectangular 160-sample window leaks about −13 dB
	// into the neighbouring keypad frequency.
	relativePeakDB = 8

	// minToneEnergyFraction of the window's energy must be in the two
	// tones. A window only partly covered by a tone scores about its
	// coverage, so this also sets how much of a window must hold the tone.
	minToneEnergyFraction = 0.75

	// onDecisions valid windows in a row declare a digit. A 40 ms tone fully
	// covers at least 8 windows; a 23 ms tone covers three quarters of at
	// most 6.
	onDecisions = 7
	// offDecisions invalid windows in a row end a digit. A 10 ms break
	// spoils at most 13 windows (any window touching it, if the tone comes
	// back with another phase); a 40 ms pause spoils at least 19.
	offDecisions = 16
)

// Window shapes over the ring of sub-blocks, oldest first, as weights of
// each sub-block's plain sum (p) and of its ramp sum (q, the sum weighted by
// m/subLen): together they make any window that is linear within each
// sub-block. Triangular windows leak far less than rectangular ones into a
// bin from the other group's tone (−37 dB instead of −23 dB at the closest,
// 941 against 1209 Hz), which keeps that tone from skewing the frequency
// and level of a tone 8 dB weaker.
type window struct{ p, q [spanSubs]float64 }

// triangle returns a triangular window over sub-blocks from..to-1.
func triangle(from, to int) window {
	var w window
	n := to - from
	for j := from; j < to; j++ {
		k := j - from
		lo := 1 - math.Abs(float64(2*k-n))/float64(n)   // value at the sub-block start
		hi := 1 - math.Abs(float64(2*k+2-n))/float64(n) // and at its end
		w.p[j], w.q[j] = lo, hi-lo
	}
	return w
}

var (
	triSpan = triangle(0, spanSubs)
	triA    = triangle(0, phaseSubs)
	triB    = triangle(spanSubs-phaseSubs, spanSubs)
)

// triangleGain is |Σ w[m] e^{jδm}| for the triangular window of 2M
// samples (a rectangle of M convolved with itself, divided by M).
func triangleGain(delta float64, m int) float64 {
	if delta == 0 {
		return float64(m)
	}
	r := math.Sin(delta*float64(m)/2) / math.Sin(delta/2)
	return r * r / float64(m)
}

// rectGain is |Σ e^{jδm}| over n samples.
func rectGain(delta float64, n int) float64 {
	if delta == 0 {
		return float64(n)
	}
	return math.Abs(math.Sin(delta*float64(n)/2) / math.Sin(delta/2))
}

var (
	toneThreshold = math.Pow(pcm.Amplitude(minToneDBm0), 2) / 2
	reverseTwist  = math.Pow(10, maxReverseTwistDB/10.0)
	normalTwist   = math.Pow(10, maxNormalTwistDB/10.0)
	relativePeak  = math.Pow(10, relativePeakDB/10.0)
)

// Event is a digit edge.
type Event struct {
	Key  byte  // one of 0-9 * # A-D
	Down bool  // true when the digit starts, false when it ends
	At   int64 // estimated sample index of the edge since NewDetector/Reset
}

// Detector is a DTMF receiver. It is not safe for concurrent use.
type Detector struct {
	// e^{-jωm} for m in one sub-block, per bin
	cosTab, sinTab [8][subLen]float64
	// e^{-jω·subLen}: advances the sub-block start phasor, per bin
	step [8]complex128
	freq [8]float64

	ph        [8]complex128 // e^{-jω·n0} at the start of the current sub-block
	accP      [8][2]float64 // plain correlation so far in the current sub-block
	accQ      [8][2]float64 // ramp-weighted correlation so far
	accEnergy float64
	pos       int // samples into the current sub-block

	// ring of finished sub-blocks, on the absolute phase reference
	subP, subQ [spanSubs][8]complex128
	subEnergy  [spanSubs]float64
	subHead    int   // slot to write next (the oldest once the ring is full)
	subCount   int   // filled slots, up to spanSubs
	n          int64 // samples consumed since Reset

	// duration state machine
	runKey    byte  // key of the current run of identical valid windows
	runCount  int   // length of that run
	runStart  int64 // start sample of the run's first window
	active    byte  // key currently down, 0 if none
	misses    int   // consecutive windows not matching active
	lastValid int64 // end sample of the last window that matched active

	events []Event
}

// NewDetector returns a detector ready for a fresh stream.
func NewDetector() *Detector {
	d := &Detector{events: make([]Event, 0, 8)}
	for i := range 8 {
		f := pcm.DTMFLow[i%4]
		if i >= 4 {
			f = pcm.DTMFHigh[i-4]
		}
		d.freq[i] = f
		w := 2 * math.Pi * f / sampleRate
		for m := range subLen {
			d.cosTab[i][m] = math.Cos(w * float64(m))
			d.sinTab[i][m] = -math.Sin(w * float64(m))
		}
		d.step[i] = complex(math.Cos(w*subLen), -math.Sin(w*subLen))
	}
	d.Reset()
	return d
}

// Reset forgets all history, as if the detector were new; sample indexes
// restart at zero. It emits no Up for a digit that was down.
func (d *Detector) Reset() {
	for i := range 8 {
		d.ph[i] = 1
		d.accP[i], d.accQ[i] = [2]float64{}, [2]float64{}
	}
	d.accEnergy, d.pos = 0, 0
	d.subHead, d.subCount, d.n = 0, 0, 0
	d.runKey, d.runCount, d.runStart = 0, 0, 0
	d.active, d.misses, d.lastValid = 0, 0, 0
	d.events = d.events[:0]
}

// Process consumes samples of any length and returns the digit edges found
// in them, in order. An edge's At may lie before these samples: a digit is
// declared 30–35 ms after it starts and ended 40–45 ms after it stops.
// The returned slice is reused: it is valid until the next call.
func (d *Detector) Process(samples []int16) []Event {
	d.events = d.events[:0]
	for len(samples) > 0 {
		take := min(subLen-d.pos, len(samples))
		d.accumulate(samples[:take])
		samples = samples[take:]
		d.pos += take
		d.n += int64(take)
		if d.pos == subLen {
			d.finishSubBlock()
		}
	}
	return d.events
}

// accumulate correlates part of a sub-block with the eight bins. Bin by
// bin, so the four running sums stay in registers.
func (d *Detector) accumulate(x []int16) {
	var v, vm [subLen]float64
	var e float64
	for j, s := range x {
		f := float64(s)
		v[j] = f
		vm[j] = f * float64(d.pos+j) / subLen
		e += f * f
	}
	d.accEnergy += e
	n := len(x)
	for i := range 8 {
		cs := d.cosTab[i][d.pos : d.pos+n]
		sn := d.sinTab[i][d.pos : d.pos+n]
		var pr, pi, qr, qi float64
		for j := range cs {
			c, s := cs[j], sn[j]
			pr += v[j] * c
			pi += v[j] * s
			qr += vm[j] * c
			qi += vm[j] * s
		}
		d.accP[i][0] += pr
		d.accP[i][1] += pi
		d.accQ[i][0] += qr
		d.accQ[i][1] += qi
	}
}

func (d *Detector) finishSubBlock() {
	h := d.subHead
	for i := range 8 {
		// Rotate onto the absolute phase reference, then advance the
		// reference by one sub-block.
		ph := d.ph[i]
		d.subP[h][i] = complex(d.accP[i][0], d.accP[i][1]) * ph
		d.subQ[h][i] = complex(d.accQ[i][0], d.accQ[i][1]) * ph
		ph *= d.step[i]
		// Renormalise so rounding cannot make the phasor grow or fade.
		r, im := real(ph), imag(ph)
		d.ph[i] = ph * complex((3-(r*r+im*im))/2, 0)
		d.accP[i], d.accQ[i] = [2]float64{}, [2]float64{}
	}
	d.subEnergy[h] = d.accEnergy
	d.accEnergy, d.pos = 0, 0
	d.subHead = (h + 1) % spanSubs
	if d.subCount < spanSubs {
		d.subCount++
		if d.subCount < spanSubs {
			return
		}
	}
	d.decide(d.classify())
}

// tone is what classify measures of the strongest bin of a group.
type tone struct {
	bin   int     // 0-3 within the group
	delta float64 // frequency offset from the bin, rad/sample
	power float64 // A²/2 in squared 16-bit units, from the triangular window
	rect  float64 // the same from the rectangular window
}

// classify returns the key whose two tones fill the last window, or 0.
func (d *Detector) classify() byte {
	var (
		rect   [8]complex128
		energy float64
	)
	for s := range spanSubs {
		energy += d.subEnergy[s]
		for i := range 8 {
			rect[i] += d.subP[s][i]
		}
	}
	// Two tones each at the threshold make a mean power of twice it:
	// anything under half that is silence, and not worth a closer look.
	if energy < toneThreshold*spanLen {
		return 0
	}
	var pow [8]float64
	for i := range 8 {
		pow[i] = sqAbs(rect[i])
	}
	lo, ok := d.measure(pow[:4], 0)
	if !ok {
		return 0
	}
	hi, ok := d.measure(pow[4:], 4)
	if !ok {
		return 0
	}
	if lo.power < toneThreshold || hi.power < toneThreshold {
		return 0
	}
	if hi.power > lo.power*reverseTwist || lo.power > hi.power*normalTwist {
		return 0
	}
	// The tones must carry nearly all of the window's mean power.
	if lo.rect+hi.rect < minToneEnergyFraction*energy/spanLen {
		return 0
	}
	return pcm.DTMFKeys[lo.bin*4+hi.bin]
}

// measure finds the strongest of a group's four bins (pow, the
// rectangular window's powers of bins base to base+3) and measures its
// tone. ok is false when another bin of the group comes within
// relativePeakDB of it or its frequency is off by more than maxFreqError.
func (d *Detector) measure(pow []float64, base int) (t tone, ok bool) {
	best := 0
	for i := 1; i < len(pow); i++ {
		if pow[i] > pow[best] {
			best = i
		}
	}
	for i := range pow {
		if i != best && pow[i]*relativePeak > pow[best] {
			return t, false
		}
	}
	i := base + best
	a, b := d.windowed(i, &triA), d.windowed(i, &triB)
	// b·conj(a) turns by the offset δ per sample, times the lag.
	c := b * complex(real(a), -imag(a))
	if c == 0 {
		return t, false
	}
	delta := math.Atan2(imag(c), real(c)) / phaseLagLen
	if math.Abs(delta)*sampleRate/(2*math.Pi) > maxFreqError*d.freq[i] {
		return t, false
	}
	// A tone of amplitude A gives |W| = A/2·gain, so A²/2 = 2|W|²/gain².
	gt := triangleGain(delta, spanLen/2)
	gr := rectGain(delta, spanLen)
	return tone{
		bin:   best,
		power: 2 * sqAbs(d.windowed(i, &triSpan)) / (gt * gt),
		rect:  2 * pow[best] / (gr * gr),
	}, true
}

// windowed returns bin i's correlation over the ring under window w.
func (d *Detector) windowed(i int, w *window) complex128 {
	var re, im float64
	for k := range spanSubs {
		s := (d.subHead + k) % spanSubs // oldest first
		p, q := d.subP[s][i], d.subQ[s][i]
		re += w.p[k]*real(p) + w.q[k]*real(q)
		im += w.p[k]*imag(p) + w.q[k]*imag(q)
	}
	return complex(re, im)
}

func sqAbs(c complex128) float64 { return real(c)*real(c) + imag(c)*imag(c) }

// decide runs the duration state machine on one window's verdict.
func (d *Detector) decide(key byte) {
	winEnd := d.n
	winStart := winEnd - spanLen
	if key != 0 && key == d.runKey {
		d.runCount++
	} else {
		d.runKey, d.runCount, d.runStart = key, 1, winStart
	}

	if d.active != 0 {
		if key == d.active {
			d.misses = 0
			d.lastValid = winEnd
			return
		}
		d.misses++
		// A different key held long enough replaces the digit at once;
		// otherwise wait out offDecisions to bridge short breaks.
		newKey := key != 0 && d.runCount >= onDecisions
		if d.misses < offDecisions && !newKey {
			return
		}
		up := d.lastValid
		if newKey && d.runStart < up {
			// Back to back: both windows' estimates straddle the one
			// edge, so split the difference.
			up = (up + d.runStart) / 2
			d.runStart = up
		}
		d.events = append(d.events, Event{Key: d.active, Down: false, At: up})
		d.active = 0
	}
	if key != 0 && d.runCount >= onDecisions {
		d.active, d.misses, d.lastValid = key, 0, winEnd
		d.events = append(d.events, Event{Key: key, Down: true, At: d.runStart})
	}
}
