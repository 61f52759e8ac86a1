package baresiptest

import (
	"time"

	"github.com/openata/ata/board/pcm"
)

// Tone returns d of a freq Hz sine at dBm0, 8 kHz, for Opts.Audio.
func Tone(freq, dBm0 float64, d time.Duration) []int16 {
	s := pcm.NewSine(freq, pcm.Amplitude(dBm0), sampleRate)
	out := make([]int16, int(d.Seconds()*sampleRate))
	for i := range out {
		out[i] = pcm.Clip16(s.Next())
	}
	return out
}

// ToneLevel is the level in dBm0 of the freq Hz component of x (8 kHz),
// by a Goertzel filter over all of x: -Inf for silence.
func ToneLevel(x []int16, freq float64) float64 { return pcm.ToneLevel(x, freq) }
