package dtmf

import (
	"fmt"

	"github.com/openata/ata/board/pcm"
)

// Generator plays one DTMF digit at a time into 8 kHz 16-bit PCM. The zero
// value is silent. It allocates nothing after Start.
type Generator struct {
	low, high pcm.Sine
	on        bool
}

// Start begins playing key (0-9 * # A-D, a-d accepted). levelDBm0 is the
// level of the low-group tone; the high-group tone is twistDB above it
// (telephones typically send it 2 dB higher). Both tones start at phase
// zero. It replaces any digit already playing.
func (g *Generator) Start(key byte, levelDBm0, twistDB float64) error {
	lf, hf, ok := pcm.DTMFFrequencies(key)
	if !ok {
		return fmt.Errorf("dtmf: start: %q is not a DTMF key", key)
	}
	g.low = pcm.NewSine(lf, pcm.Amplitude(levelDBm0), sampleRate)
	g.high = pcm.NewSine(hf, pcm.Amplitude(levelDBm0+twistDB), sampleRate)
	g.on = true
	return nil
}

// Stop silences the generator from the next Fill on.
func (g *Generator) Stop() { g.on = false }

// Playing reports whether a digit is being played.
func (g *Generator) Playing() bool { return g.on }

// Fill overwrites buf with the next samples: the digit, or silence when
// stopped. Two tones that together exceed full scale are clipped.
func (g *Generator) Fill(buf []int16) {
	if !g.on {
		clear(buf)
		return
	}
	for i := range buf {
		buf[i] = pcm.Clip16(g.low.Next() + g.high.Next())
	}
}
