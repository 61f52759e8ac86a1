package cn

import "math"

// DefaultThreshold is the level, in −dBov, under which a frame counts as
// silence: −45 dBov, about −39 dBm0. Speech on a telephone is near −20
// dBm0 and its quiet syllables rarely stay under −39 dBm0 for longer than
// the hangover; a quiet room behind a handset is −60 to −50 dBm0. A
// background louder than the threshold is never suppressed: the detector
// fails safe, sending speech packets as if it were off.
const DefaultThreshold = 45

// DefaultHangover is how long the signal must stay under the threshold
// before the sender may stop: 200 ms (1600 samples), long enough to keep
// the pauses inside and at the end of words.
const DefaultHangover = 1600

// Detector is an energy voice activity detector with hangover, for
// silence suppression on the send side. Feed it every frame sent; it
// says whether the frame must go out as speech, and measures the
// background level for the CN packet that replaces the silence.
//
// It has no adaptive noise floor and no spectral test: the first loud
// sample after a quiet stretch counts as speech, so an onset is never
// clipped, and noise above the threshold is simply sent.
type Detector struct {
	// Threshold is the silence level in −dBov (DefaultThreshold if 0);
	// Hangover the quiet samples before silence (DefaultHangover if 0).
	Threshold uint8
	Hangover  int

	limit float64 // threshold as mean square, computed on first use
	quiet int     // consecutive samples under the threshold
	ms    float64 // background mean square over about the last hangover
}

// Frame classifies f: true while it or anything in the last hangover was
// speech, false once the signal has been quiet for the whole hangover.
func (d *Detector) Frame(f []int16) (speech bool) {
	if len(f) == 0 {
		return d.quiet < d.hangover()
	}
	if d.limit == 0 {
		t := d.Threshold
		if t == 0 {
			t = DefaultThreshold
		}
		r := LevelRMS(t)
		d.limit = r * r
	}
	var sum float64
	for _, v := range f {
		sum += float64(v) * float64(v)
	}
	ms := sum / float64(len(f))
	if ms >= d.limit {
		d.quiet = 0
		return true
	}
	// The background level follows the quiet frames with a time constant
	// of about one hangover, starting afresh at each quiet stretch so no
	// speech is averaged in.
	if d.quiet == 0 {
		d.ms = ms
	} else {
		w := min(float64(len(f))/float64(d.hangover()), 1)
		d.ms += (ms - d.ms) * w
	}
	d.quiet += len(f)
	return d.quiet < d.hangover()
}

// Level is the background noise level measured over the quiet frames, in
// −dBov, for a CN packet.
func (d *Detector) Level() uint8 {
	if d.ms <= 0 {
		return MaxLevel
	}
	return LevelOf(math.Sqrt(d.ms))
}

// Reset forgets the history: the next frame starts as speech would.
func (d *Detector) Reset() {
	d.quiet, d.ms = 0, 0
}

func (d *Detector) hangover() int {
	if d.Hangover > 0 {
		return d.Hangover
	}
	return DefaultHangover
}
