// Package cn is RFC 3389 comfort noise for G.711 calls: the CN payload (a
// noise level and optional spectral parameters), a noise generator that
// plays the level a payload names, and a simple energy voice activity
// detector that tells a sender when it may stop sending speech and send one
// CN packet instead (silence suppression).
//
// Levels are in dBov, as RFC 3389 §3 defines them: 0 dBov is the level of
// a full-scale square wave, 32767 RMS in 16-bit linear PCM, which is
// 6.18 dBm0 for G.711 (a full-scale sine is 3.17 dBm0, board/pcm). A
// payload names the level as a positive number of dB below that, 0..127.
//
// The spectral parameters (the reflection coefficients of an all-pole
// model of the noise) are parsed and carried but not used: the generator
// plays white noise at the named level. A telephone's background noise
// behind an earpiece is heard by its level far more than by its colour,
// and a flat spectrum cannot ring, as a badly quantized all-pole filter
// can. Our own CN packets carry no spectral parameters (model order 0,
// which §3.1 allows).
package cn

import (
	"errors"
	"math"
)

// PayloadType is the static RTP payload type of CN at 8000 Hz (RFC 3551).
const PayloadType = 13

// MaxLevel is the quietest level a payload can name: −127 dBov.
const MaxLevel = 127

// MaxSpectral bounds the model order Unmarshal accepts: far beyond the
// 10-12 used in practice; a longer payload is not comfort noise.
const MaxSpectral = 64

// fullScale is the RMS of 0 dBov: a full-scale square wave.
const fullScale = 32767

var (
	errEmpty = errors.New("cn: empty payload")
	errLong  = errors.New("cn: more spectral parameters than 64")
	errShort = errors.New("cn: buffer too short")
	errLevel = errors.New("cn: noise level above 127")
)

// Payload is one comfort noise payload: the noise level byte and the
// quantized reflection coefficients that follow it.
type Payload struct {
	// Level is the noise level in dB below 0 dBov (0..127).
	Level uint8
	// Spectral holds the quantized reflection coefficients, one byte each;
	// after Unmarshal it aliases the buffer parsed (no copy).
	Spectral []byte
}

// Unmarshal parses b. The level byte's top bit is unused (RFC 3389 §3:
// "always set to 0") and ignored, as receivers ignore unused bits.
func (p *Payload) Unmarshal(b []byte) error {
	if len(b) == 0 {
		return errEmpty
	}
	if len(b)-1 > MaxSpectral {
		return errLong
	}
	p.Level = b[0] & 0x7F
	p.Spectral = b[1:]
	return nil
}

// MarshalSize is the payload's length on the wire.
func (p Payload) MarshalSize() int { return 1 + len(p.Spectral) }

// MarshalTo writes the payload into b and returns its length.
func (p Payload) MarshalTo(b []byte) (int, error) {
	if p.Level > MaxLevel {
		return 0, errLevel
	}
	if len(p.Spectral) > MaxSpectral {
		return 0, errLong
	}
	n := p.MarshalSize()
	if len(b) < n {
		return 0, errShort
	}
	b[0] = p.Level
	copy(b[1:], p.Spectral)
	return n, nil
}

// LevelRMS is the RMS, in 16-bit linear units, of noise at level (−dBov).
func LevelRMS(level uint8) float64 {
	return fullScale * math.Pow(10, -float64(level)/20)
}

// LevelOf is the level byte (−dBov, rounded, within 0..127) of a signal
// of the given RMS; silence is 127.
func LevelOf(rms float64) uint8 {
	if rms <= 0 {
		return MaxLevel
	}
	db := -20 * math.Log10(rms/fullScale)
	return uint8(math.Round(min(max(db, 0), MaxLevel)))
}

// Noise generates comfort noise at a level. The zero value is silent
// until SetLevel. It never allocates.
type Noise struct {
	rng  uint32
	gain float32
}

// gaussStd is the standard deviation of the sum of four uniform numbers
// in [−1, 1): sqrt(4/3). Four are enough to round off the flat
// distribution's hard edges; the level is exact either way.
const gaussStd = 1.1547005383792515

// SetLevel sets the level of the noise, in −dBov.
func (n *Noise) SetLevel(level uint8) {
	n.gain = float32(LevelRMS(level) / gaussStd)
	if n.rng == 0 {
		n.rng = 0x9E3779B9 // any non-zero seed: xorshift sticks at zero
	}
}

// Fill writes len(out) samples of noise.
func (n *Noise) Fill(out []int16) {
	for i := range out {
		var sum float32
		for range 4 {
			// xorshift32: cheap, and good enough for hiss.
			n.rng ^= n.rng << 13
			n.rng ^= n.rng >> 17
			n.rng ^= n.rng << 5
			sum += float32(int32(n.rng)) / (1 << 31)
		}
		v := sum * n.gain
		switch {
		case v >= math.MaxInt16:
			out[i] = math.MaxInt16
		case v <= math.MinInt16:
			out[i] = math.MinInt16
		default:
			out[i] = int16(math.Round(float64(v)))
		}
	}
}
