// Package pcm holds the small PCM helpers shared by boards and the analog
// port: levels in dBm0, a sine oscillator, the DTMF keypad frequencies and
// WAV encoding for 8 kHz 16-bit mono audio.
package pcm

import "math"

// FullScaleSineDBm0 is the level of a full-scale sine in a 16-bit linear
// PCM stream carrying G.711 audio. G.711's digital milliwatt puts 0 dBm0
// 3.17 dB below the codec's full-scale sine (ITU-T G.711, table 5/6).
const FullScaleSineDBm0 = 3.17

// Amplitude returns the peak amplitude, in 16-bit linear units, of a sine
// at the given level in dBm0.
func Amplitude(dBm0 float64) float64 {
	return 32767 * math.Pow(10, (dBm0-FullScaleSineDBm0)/20)
}

// Level returns the level in dBm0 of a sine with the given peak amplitude.
func Level(amplitude float64) float64 {
	if amplitude <= 0 {
		return math.Inf(-1)
	}
	return 20*math.Log10(amplitude/32767) + FullScaleSineDBm0
}

// RMSLevel returns the level in dBm0 of a signal with the given RMS value
// (a sine's RMS is its peak over √2).
func RMSLevel(rms float64) float64 {
	return Level(rms * math.Sqrt2)
}

// ToneLevel is the level in dBm0 of the component at freq Hz of x, 8 kHz
// audio (one Goertzel bin over all of x). Tests measure tones with it.
func ToneLevel(x []int16, freq float64) float64 {
	if len(x) == 0 {
		return math.Inf(-1)
	}
	c := 2 * math.Cos(2*math.Pi*freq/8000)
	var s1, s2 float64
	for _, v := range x {
		s1, s2 = float64(v)+c*s1-s2, s1
	}
	return Level(math.Sqrt(max(s1*s1+s2*s2-c*s1*s2, 0)) * 2 / float64(len(x)))
}

// Clip16 saturates v to the int16 range, rounding to nearest.
func Clip16(v float64) int16 {
	switch {
	case v >= 32767:
		return 32767
	case v <= -32768:
		return -32768
	case v >= 0:
		return int16(v + 0.5)
	default:
		return int16(v - 0.5)
	}
}

// Sine is a phase-accumulating sine oscillator. The zero value is silent.
// The phase is a 32-bit fixed-point accumulator (frequency resolution
// 8000/2³² Hz, no drift however long a tone runs) and the waveform comes
// from a table with linear interpolation: its error is about −118 dB, below
// 16-bit quantisation, at a fraction of math.Sin's cost (the 20 ms audio
// path runs several oscillators per frame).
type Sine struct {
	phase uint32 // fraction of a cycle, 2³² = one cycle
	step  uint32
	amp   float64
}

const (
	sineTableBits = 11
	sineFracBits  = 32 - sineTableBits
)

// sineTable holds one cycle plus a guard entry for interpolation.
var sineTable = func() (t [1<<sineTableBits + 1]float64) {
	for i := range t {
		t[i] = math.Sin(2 * math.Pi * float64(i) / (1 << sineTableBits))
	}
	return t
}()

// NewSine returns an oscillator at freq Hz for the given sample rate, with
// peak amplitude amp in 16-bit units.
func NewSine(freq, amp float64, sampleRate int) Sine {
	cycles := freq / float64(sampleRate)
	cycles -= math.Floor(cycles)
	return Sine{step: uint32(math.Round(cycles * (1 << 32))), amp: amp}
}

// Next returns the next sample.
func (s *Sine) Next() float64 {
	i := s.phase >> sineFracBits
	frac := float64(s.phase&(1<<sineFracBits-1)) * (1.0 / (1 << sineFracBits))
	a := sineTable[i]
	v := a + (sineTable[i+1]-a)*frac
	s.phase += s.step
	return s.amp * v
}

// Reset restarts the oscillator at phase zero.
func (s *Sine) Reset() { s.phase = 0 }

// DTMFKeys is the order of the 16 DTMF keys as DTMFFrequencies indexes them.
const DTMFKeys = "123A456B789C*0#D"

// DTMFLow and DTMFHigh are the row and column frequencies of the keypad (Q.23).
var (
	DTMFLow  = [4]float64{697, 770, 852, 941}
	DTMFHigh = [4]float64{1209, 1336, 1477, 1633}
)

// DTMFFrequencies returns the low (row) and high (column) frequency of a
// DTMF key: one of 0-9 * # A-D (lower-case a-d accepted).
func DTMFFrequencies(key byte) (low, high float64, ok bool) {
	if key >= 'a' && key <= 'd' {
		key -= 'a' - 'A'
	}
	for i := 0; i < len(DTMFKeys); i++ {
		if DTMFKeys[i] == key {
			return DTMFLow[i/4], DTMFHigh[i%4], true
		}
	}
	return 0, 0, false
}
