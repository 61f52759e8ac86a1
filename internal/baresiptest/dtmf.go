package baresiptest

import (
	"github.com/openata/ata/fxs/dtmf/multimontest"
	"testing"
	"time"

	"github.com/openata/ata/board/pcm"
)

// DecodeDTMF returns the DTMF keys multimon-ng finds in x (8 kHz audio,
// e.g. from Heard or CallHeard), in order. Like fxs/dtmf's comparison
// test it converts to the raw s16le 22050 Hz multimon-ng reads with sox;
// it fails the test when either tool is missing (apt-get install sox
// multimon-ng). multimon-ng wants roughly 40 ms or more of each key.
func DecodeDTMF(t testing.TB, x []int16) string {
	t.Helper()
	return multimontest.Decode(t, x)
}

// DTMFTones is in-band DTMF for keys at dBm0 per frequency: on for each
// key, then off of silence (for Opts.Audio).
func DTMFTones(keys string, dBm0 float64, on, off time.Duration) []int16 {
	var out []int16
	amp := pcm.Amplitude(dBm0)
	for i := 0; i < len(keys); i++ {
		lo, hi, ok := pcm.DTMFFrequencies(keys[i])
		if !ok {
			panic("baresiptest: not a DTMF key: " + keys[i:i+1])
		}
		a, b := pcm.NewSine(lo, amp, sampleRate), pcm.NewSine(hi, amp, sampleRate)
		for range int(on.Seconds() * sampleRate) {
			out = append(out, pcm.Clip16(a.Next()+b.Next()))
		}
		out = append(out, make([]int16, int(off.Seconds()*sampleRate))...)
	}
	return out
}
