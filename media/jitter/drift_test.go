package jitter

import (
	"math"
	"testing"
	"time"

	"github.com/openata/ata/media/codec"
)

// The far end's clock runs ppm fast (or slow) against ours: its 20 ms
// packets come every 20/(1+ppm) ms of our time. The buffer must absorb the
// difference in the pauses between talk spurts (2 s of speech, 1 s of
// silence), keeping its delay bounded and the speech whole.
func TestAbsorbsClockDrift(t *testing.T) {
	speech := make([]byte, frame)
	for i := range speech {
		speech[i] = byte(0x10 + i%64) // loud μ-law code words
	}
	silence := make([]byte, frame)
	for i := range silence {
		silence[i] = 0xFF // μ-law zero
	}
	const spurt, pause = 100, 50 // frames
	for _, ppm := range []float64{+500, -500, +100, -100} {
		b := New(Config{}, codec.PCMU)
		out := make([]int16, frame)
		period := time.Duration(float64(20*time.Millisecond) / (1 + ppm/1e6))
		k := 0
		var maxDelay, minDelay time.Duration = 0, time.Hour
		lost := 0
		const run = 5 * time.Minute
		for now := 2 * time.Millisecond; now < run; now += 20 * time.Millisecond {
			for ; time.Duration(k)*period+time.Millisecond <= now; k++ {
				inSpurt := k%(spurt+pause) < spurt
				p := silence
				if inSpurt {
					p = speech
				}
				b.Put(time.Duration(k)*period+time.Millisecond, 9, uint32(k*frame), k%(spurt+pause) == 0, p)
			}
			st := b.Get(now, out)
			if now < 10*time.Second {
				continue
			}
			d := b.Stats().Delay
			maxDelay, minDelay = max(maxDelay, d), min(minDelay, d)
			if st == Lost {
				lost++
			}
		}
		s := b.Stats()
		drift := time.Duration(math.Abs(ppm) / 1e6 * float64(run))
		t.Logf("%+.0f ppm over %v (%v of drift): delay %v–%v, grown %d, shrunk %d frames, lost %d, overflow %d",
			ppm, run, drift, minDelay, maxDelay, s.Grown, s.Shrunk, s.Lost, s.Overflow)
		if maxDelay > 80*time.Millisecond || minDelay < 0 {
			t.Errorf("%+.0f ppm: delay wandered %v–%v, want it held within 0–80 ms", ppm, minDelay, maxDelay)
		}
		// Frames added or removed match the drift, and none was lost.
		if want := int(drift / (20 * time.Millisecond)); lost > 0 || s.Overflow > 0 || int(s.Shrunk+s.Grown) < want {
			t.Errorf("%+.0f ppm: %d lost frames, %d overflows, %d frames grown or shrunk for %d frames of drift: the drift must go in the pauses",
				ppm, lost, s.Overflow, s.Shrunk+s.Grown, want)
		}
	}
}
