package echo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/openata/ata/board/echopath"
	"github.com/openata/ata/board/pcm"
	"github.com/openata/ata/media/codec"
)

// tone is a sine at dBm0 for d.
func tone(hz, dBm0 float64, d time.Duration) []int16 {
	s := pcm.NewSine(hz, pcm.Amplitude(dBm0), Rate)
	x := make([]int16, int(d/sampleDur))
	for i := range x {
		x[i] = pcm.Clip16(s.Next())
	}
	return x
}

// g711Tone is a sine at dBm0 for d, through G.711 μ-law and back, as a far
// end's tone reaches the earpiece: the codec's quantisation noise puts a
// little energy in every band, at 1300 Hz on multiples of 100 Hz (the tone
// repeats every 80 samples), so a filter can find there, deterministically,
// a reference for any near-end tone on that grid.
func g711Tone(hz, dBm0 float64, d time.Duration) []int16 {
	x := tone(hz, dBm0, d)
	b := make([]byte, len(x))
	codec.PCMU.Encode(b, x)
	codec.PCMU.Decode(x, b)
	return x
}

// TestNarrowBandDoubleTalk: the far end sends a 1300 Hz tone through
// G.711, the person at the phone a 700 Hz tone at the same level (and
// 10 dB below it, which no level-based detector tells from echo) from 1 s
// on, with no echo path and with one. The near end's tone is double talk:
// it must pass untouched (within 1 dB, from 5 s on, NLP on and off), and
// the canceller must not learn it from the reference's quantisation noise
// at 700 Hz, which would take coefficients some 50 dB above any hybrid's.
// With an echo path the far end's echo, learnt in the first second, must
// stay cancelled (≥ 25 dB) through the double talk.
func TestNarrowBandDoubleTalk(t *testing.T) {
	t.Parallel()
	const (
		nearAt = time.Second
		from   = 5 * time.Second
		dur    = 8 * time.Second
	)
	far := g711Tone(1300, -10, dur)
	for _, c := range []struct {
		model int // 0: no echo path
		erl   float64
		tail  time.Duration
		near  float64 // dBm0
	}{
		{0, 0, 0, -10}, {0, 0, 128 * time.Millisecond, -10}, {0, 0, 0, -20},
		{1, 6, 0, -10}, {5, 6, 0, -10}, {4, 12, 128 * time.Millisecond, -10}, {1, 6, 0, -20},
	} {
		nearTone := tone(700, c.near, dur-nearAt) // the handset's microphone: no codec
		for _, noNLP := range []bool{false, true} {
			t.Run(fmt.Sprintf("model=%d/erl=%v/tail=%v/near=%v/nlpoff=%v", c.model, c.erl, c.tail, c.near, noNLP), func(t *testing.T) {
				t.Parallel()
				var hy *echopath.Hybrid
				if c.model > 0 {
					var err error
					if hy, err = echopath.New(c.model, c.erl, 20*time.Millisecond); err != nil {
						t.Fatal(err)
					}
				}
				ec, err := New(Options{Tail: c.tail})
				if err != nil {
					t.Fatal(err)
				}
				ec.DisableNLP(noNLP)
				n := len(far)
				near, echo, mic, out := make([]int16, n), make([]int16, n), make([]int16, n), make([]int16, n)
				copy(near[int(nearAt/sampleDur):], nearTone)
				rng := rand.New(rand.NewPCG(1, 2))
				for i := 0; i < n; i += frame {
					if hy != nil {
						hy.Echo(far[i:i+frame], echo[i:i+frame])
					}
					for j := i; j < i+frame; j++ {
						mic[j] = sat16(float32(echo[j]) + float32(near[j]) + float32(rng.NormFloat64()*5))
					}
					ec.Process(far[i:i+frame], mic[i:i+frame], out[i:i+frame])
				}
				// The near end's tone, 200 ms at a time.
				for i := int(from / sampleDur); i+1600 <= n; i += 1600 {
					want := pcm.ToneLevel(near[i:i+1600], 700)
					if got := pcm.ToneLevel(out[i:i+1600], 700); math.Abs(got-want) > 1 {
						t.Errorf("%.1f s: near end's 700 Hz at %.1f dBm0, sent at %.1f", float64(i)/Rate, got, want)
					}
				}
				if hy != nil {
					a := int(from / sampleDur)
					e, r := pcm.ToneLevel(echo[a:], 1300), pcm.ToneLevel(out[a:], 1300)
					if e-r < steadyERLE {
						t.Errorf("far end's echo at %.1f dBm0, residual %.1f: %.1f dB cancelled, want ≥ %.0f", e, r, e-r, steadyERLE)
					}
				}
				if st := ec.Stats(); st.DivergenceResets != 0 {
					t.Errorf("%d divergence resets", st.DivergenceResets)
				}
			})
		}
	}
}
