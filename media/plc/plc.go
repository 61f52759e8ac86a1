// Package plc conceals lost G.711 frames the way ITU-T G.711 Appendix I
// does: it repeats the last pitch period(s) of the decoded speech from a
// history buffer, widens the repeated span to two and three periods as the
// erasure lasts, fades the result out from 10 ms to silence at 60 ms, and
// overlap-adds the synthetic signal into the first good frame after a loss.
//
// One deliberate difference: Appendix I delays all output by 3.75 ms so it
// can also smooth the start of an erasure. Here the repetition starts at
// the pitch-aligned continuation of the last real sample instead, which
// keeps the phase and avoids adding latency to every call.
package plc

import "github.com/openata/ata/board/pcm"

// Appendix I constants at 8 kHz.
const (
	pitchMin   = 40                      // 200 Hz
	pitchMax   = 120                     // 66 Hz
	corrLen    = 160                     // 20 ms correlation window
	overlapMax = pitchMax / 4            // quarter of the longest period
	historyLen = 3*pitchMax + overlapMax // 390 samples, 48.75 ms

	fadeStart = 80  // attenuation starts after 10 ms of erasure ...
	fadeSpan  = 400 // ... and reaches zero 50 ms later, at 60 ms
)

// Concealer keeps the recent output of one audio stream. Feed every good
// frame through Good and ask Conceal for each missing one; both take frames
// of any length (80 or 160 samples in practice) and never allocate.
type Concealer struct {
	hist [historyLen]int16 // newest sample last

	erased  int // samples concealed in the current erasure; 0 = none
	pitch   int
	quarter int // pitch/4: crossfade length
	// buf is the end of the history when the erasure began: up to three
	// periods plus a quarter period before them for smoothing loop wraps.
	buf     [historyLen]float32
	bufLen  int
	pos     int // samples generated since the erasure began
	periods int // 1-3 pitch periods being repeated
	prev    int // periods before the last widening, for its crossfade
	fade    int // crossfade samples left after a widening
	scratch [pitchMax]int16
	histF   [historyLen]float32 // pitch search workspace
}

// Erasing reports whether the last frame was concealed.
func (c *Concealer) Erasing() bool { return c.erased > 0 }

// Reset clears the history, e.g. for a new call or stream.
func (c *Concealer) Reset() { *c = Concealer{} }

// Good records a correctly received frame. If it ends an erasure, its first
// 4-10 ms are cross-faded in place from the synthetic signal to the real one
// (Appendix I: 4 ms plus 4 ms per further 10 ms of erasure, at most 10 ms).
func (c *Concealer) Good(frame []int16) {
	if c.erased > 0 {
		n := min(32*(1+(c.erased-1)/80), 80, len(frame))
		synth := c.scratch[:n]
		c.synthesize(synth)
		for i := range synth {
			w := float64(i+1) / float64(n+1)
			frame[i] = pcm.Clip16((1-w)*float64(synth[i]) + w*float64(frame[i]))
		}
		c.erased = 0
	}
	c.remember(frame)
}

// Conceal fills out with a synthetic continuation of the stream.
func (c *Concealer) Conceal(out []int16) {
	if c.erased == 0 {
		c.begin()
	}
	c.synthesize(out)
	c.remember(out)
}

// begin starts an erasure: find the pitch and freeze the pitch buffer.
func (c *Concealer) begin() {
	c.pitch = c.findPitch()
	c.quarter = c.pitch / 4
	c.bufLen = 3*c.pitch + c.quarter
	src := c.hist[historyLen-c.bufLen:]
	for i, s := range src {
		c.buf[i] = float32(s)
	}
	c.pos, c.periods, c.prev, c.fade = 0, 1, 1, 0
}

// findPitch returns the lag in [40, 120] whose normalized correlation with
// the last 20 ms of history is the highest: a coarse search over even lags,
// then the neighbours of the best one (as Appendix I does).
func (c *Concealer) findPitch() int {
	x := &c.histF
	for i, s := range c.hist {
		x[i] = float32(s)
	}
	best, bestScore := pitchMin, float32(-1)
	try := func(lag int) {
		if lag < pitchMin || lag > pitchMax {
			return
		}
		cur := x[historyLen-corrLen:]
		past := x[historyLen-corrLen-lag : historyLen-lag]
		past = past[:len(cur)]
		var corr, energy float32
		for n, a := range cur {
			b := past[n]
			corr += a * b
			energy += b * b
		}
		if energy == 0 {
			return
		}
		// corr·|corr|/energy keeps the sign and normalizes for level.
		if score := corr * abs(corr) / energy; score > bestScore {
			best, bestScore = lag, score
		}
	}
	for lag := pitchMin; lag <= pitchMax; lag += 2 {
		try(lag)
	}
	coarse := best
	try(coarse - 1)
	try(coarse + 1)
	return best
}

// synthesize generates the next len(out) concealment samples.
func (c *Concealer) synthesize(out []int16) {
	for i := range out {
		periods := 1 + min(c.erased/80, 2) // widen at 10 and 20 ms
		if periods != c.periods {
			c.prev, c.periods, c.fade = c.periods, periods, c.quarter
		}
		v := c.loopSample(c.periods)
		if c.fade > 0 {
			w := float32(c.quarter-c.fade+1) / float32(c.quarter+1)
			v = w*v + (1-w)*c.loopSample(c.prev)
			c.fade--
		}
		gain := float32(1)
		if c.erased >= fadeStart {
			gain = max(0, 1-float32(c.erased-fadeStart)/fadeSpan)
		}
		out[i] = pcm.Clip16(float64(v * gain))
		c.pos++
		c.erased++
	}
}

// loopSample returns the current sample of a loop over the last n periods
// of the pitch buffer. Near the loop's end it cross-fades into the samples
// just before the loop start, so wrapping around does not click.
func (c *Concealer) loopSample(n int) float32 {
	m := n * c.pitch
	start := c.bufLen - m
	k := c.pos % m
	v := c.buf[start+k]
	if q := c.quarter; q > 0 && k >= m-q {
		j := k - (m - q)
		w := float32(j+1) / float32(q+1)
		v = (1-w)*v + w*c.buf[start-q+j]
	}
	return v
}

// remember appends frame to the history.
func (c *Concealer) remember(frame []int16) {
	if len(frame) >= historyLen {
		copy(c.hist[:], frame[len(frame)-historyLen:])
		return
	}
	copy(c.hist[:], c.hist[len(frame):])
	copy(c.hist[historyLen-len(frame):], frame)
}

func abs(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}
