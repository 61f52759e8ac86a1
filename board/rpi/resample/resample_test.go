package resample

import (
	"errors"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/openata/ata/board/pcm"
)

// tone returns n samples of a sine at freq Hz and dBm0 level.
func tone(freq float64, dBm0 float64, rate, n int) []int16 {
	s := pcm.NewSine(freq, pcm.Amplitude(dBm0), rate)
	out := make([]int16, n)
	for i := range out {
		out[i] = pcm.Clip16(s.Next())
	}
	return out
}

func run(t testing.TB, r *Resampler, in []int16) []int16 {
	t.Helper()
	out := make([]int16, r.OutLen(len(in)))
	n, err := r.Process(out, in)
	if err != nil {
		t.Fatal(err)
	}
	return out[:n]
}

// fitSine fits a·cos + b·sin at freq (least squares) and returns the
// fitted amplitude and the RMS of what the fit leaves.
func fitSine(x []int16, freq float64, rate int) (amp, residualRMS float64) {
	var cc, ss, cs, xc, xs float64
	w := 2 * math.Pi * freq / float64(rate)
	for i, v := range x {
		c, s := math.Cos(w*float64(i)), math.Sin(w*float64(i))
		cc += c * c
		ss += s * s
		cs += c * s
		xc += float64(v) * c
		xs += float64(v) * s
	}
	det := cc*ss - cs*cs
	a := (xc*ss - xs*cs) / det
	b := (xs*cc - xc*cs) / det
	var res float64
	for i, v := range x {
		e := float64(v) - a*math.Cos(w*float64(i)) - b*math.Sin(w*float64(i))
		res += e * e
	}
	return math.Hypot(a, b), math.Sqrt(res / float64(len(x)))
}

func rms(x []int16) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(len(x)))
}

// settle returns how many output samples pass before the filter's history
// holds only signal (no start-up zeros).
func settle(r *Resampler) int { return (r.Taps() + r.down - 1) / r.down }

func mustNew(t testing.TB, in, out int) *Resampler {
	t.Helper()
	r, err := New(in, out)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRoundTripKeepsTone(t *testing.T) {
	for _, rate := range []int{16000, 48000} {
		up, down := mustNew(t, 8000, rate), mustNew(t, rate, 8000)
		in := tone(1000, -3, 8000, 8000) // 1 s
		out := run(t, down, run(t, up, in))
		if len(out) != len(in) {
			t.Fatalf("%d Hz: round trip gave %d samples for %d", rate, len(out), len(in))
		}
		steady := out[settle(up)/(rate/8000)+settle(down):]
		amp, res := fitSine(steady, 1000, 8000)
		snr := 20 * math.Log10(amp/math.Sqrt2/res)
		wantAmp := pcm.Amplitude(-3)
		t.Logf("8000→%d→8000: SNR %.1f dB, gain %.4f dB, delay %.2f samples", rate, snr, 20*math.Log10(amp/wantAmp), up.Delay()/float64(rate/8000)+down.Delay())
		if snr < 50 {
			t.Errorf("8000→%d→8000: SNR %.1f dB, want ≥ 50", rate, snr)
		}
		if g := 20 * math.Log10(amp/wantAmp); math.Abs(g) > 0.1 {
			t.Errorf("8000→%d→8000: gain %.3f dB, want within ±0.1", rate, g)
		}
	}
}

func TestDownsamplingRejectsAliases(t *testing.T) {
	for _, tc := range []struct {
		rate int
		freq float64
	}{{48000, 6000}, {48000, 4100}, {48000, 12000}, {16000, 6000}, {16000, 4100}} {
		r := mustNew(t, tc.rate, 8000)
		in := tone(tc.freq, 0, tc.rate, tc.rate/2)
		out := run(t, r, in)
		att := 20 * math.Log10(rms(in)/rms(out[settle(r):]))
		t.Logf("%d→8000: %.0f Hz attenuated %.1f dB", tc.rate, tc.freq, att)
		if att < 55 {
			t.Errorf("%d→8000: %.0f Hz attenuated only %.1f dB, want ≥ 55", tc.rate, tc.freq, att)
		}
	}
}

func TestUpsamplingRejectsImages(t *testing.T) {
	// A 3 kHz tone at 8 kHz has images at 5, 11, 13 ... kHz after zero
	// stuffing; at the output only 3 kHz may remain.
	for _, rate := range []int{16000, 48000} {
		r := mustNew(t, 8000, rate)
		out := run(t, r, tone(3000, 0, 8000, 4000))
		steady := out[settle(r):]
		amp, res := fitSine(steady, 3000, rate)
		ratio := 20 * math.Log10(amp/math.Sqrt2/res)
		if ratio < 55 {
			t.Errorf("8000→%d: 3 kHz tone to images+noise %.1f dB, want ≥ 55", rate, ratio)
		}
	}
}

// prototype rebuilds the prototype filter from the polyphase table.
func prototype(r *Resampler) []float64 {
	h := make([]float64, r.taps*r.up)
	for p := range r.up {
		for j := range r.taps {
			h[p+(r.taps-1-j)*r.up] = float64(r.coef[p*r.taps+j])
		}
	}
	return h
}

func TestFilterResponse(t *testing.T) {
	for _, pair := range [][2]int{{8000, 48000}, {48000, 8000}, {8000, 16000}, {16000, 8000}} {
		r := mustNew(t, pair[0], pair[1])
		h := prototype(r)
		protoRate := float64(r.inRate * r.up)
		gain := func(f float64) float64 {
			var sum complex128
			for i, c := range h {
				sum += complex(c, 0) * cmplx.Exp(complex(0, -2*math.Pi*f*float64(i)/protoRate))
			}
			return 20 * math.Log10(cmplx.Abs(sum)/float64(r.up))
		}
		var worstPass, worstStop float64
		for f := 0.0; f <= 3400; f += 50 {
			worstPass = max(worstPass, math.Abs(gain(f)))
		}
		worstStop = -1000
		for f := 4000.0; f <= protoRate/2; f += 25 {
			worstStop = max(worstStop, gain(f))
		}
		t.Logf("%d→%d: %d taps, passband ripple %.4f dB, stopband peak %.1f dB", pair[0], pair[1], len(h), worstPass, worstStop)
		if worstPass > 0.1 {
			t.Errorf("%d→%d: passband deviates %.3f dB, want ≤ 0.1", pair[0], pair[1], worstPass)
		}
		if worstStop > -60 {
			t.Errorf("%d→%d: stopband peak %.1f dB, want ≤ -60", pair[0], pair[1], worstStop)
		}
	}
}

func TestChunkedEqualsOneShot(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	in := make([]int16, 6000)
	for i := range in {
		in[i] = int16(rng.IntN(20000) - 10000)
	}
	for _, pair := range [][2]int{{8000, 48000}, {48000, 8000}, {8000, 16000}, {16000, 8000}, {8000, 12000}, {12000, 8000}} {
		want := run(t, mustNew(t, pair[0], pair[1]), in)
		r := mustNew(t, pair[0], pair[1])
		var got []int16
		buf := make([]int16, 4*len(in))
		for rest := in; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(97))
			w, err := r.Process(buf, rest[:n])
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, buf[:w]...)
			rest = rest[n:]
		}
		if !slices.Equal(got, want) {
			t.Errorf("%d→%d: chunked output differs from one-shot (%d vs %d samples)", pair[0], pair[1], len(got), len(want))
		}
		if len(want) != len(in)*pair[1]/pair[0] {
			t.Errorf("%d→%d: %d samples out of %d, want %d", pair[0], pair[1], len(want), len(in), len(in)*pair[1]/pair[0])
		}
	}
}

func TestShortBufferConsumesNothing(t *testing.T) {
	r := mustNew(t, 8000, 48000)
	in := tone(1000, 0, 8000, 80)
	if _, err := r.Process(make([]int16, 479), in); !errors.Is(err, ErrShortBuffer) {
		t.Fatalf("err = %v, want ErrShortBuffer", err)
	}
	got := run(t, r, in)
	want := run(t, mustNew(t, 8000, 48000), in)
	if !slices.Equal(got, want) {
		t.Error("a refused call changed the stream's state")
	}
}

func TestResetRestartsStream(t *testing.T) {
	r := mustNew(t, 48000, 8000)
	in := tone(1000, 0, 48000, 480)
	first := run(t, r, in)
	run(t, r, tone(2000, 0, 48000, 333))
	r.Reset()
	if again := run(t, r, in); !slices.Equal(first, again) {
		t.Error("after Reset the same input gave different output")
	}
}

func TestNewRejects(t *testing.T) {
	for _, pair := range [][2]int{{0, 8000}, {8000, -1}, {44100, 8000}, {8000, 44100}} {
		if _, err := New(pair[0], pair[1]); err == nil {
			t.Errorf("New(%d, %d) succeeded", pair[0], pair[1])
		}
	}
}

func TestProcessAllocatesNothing(t *testing.T) {
	for _, pair := range [][2]int{{8000, 48000}, {48000, 8000}} {
		r := mustNew(t, pair[0], pair[1])
		in := tone(1000, 0, pair[0], pair[0]/100)
		out := make([]int16, pair[1]/100)
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := r.Process(out, in); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%d→%d: %.1f allocations per frame, want 0", pair[0], pair[1], allocs)
		}
	}
}

// BenchmarkFrame resamples one 10 ms frame.
func BenchmarkFrame(b *testing.B) {
	for _, pair := range [][2]int{{8000, 48000}, {48000, 8000}, {8000, 16000}, {16000, 8000}} {
		b.Run(fmtPair(pair), func(b *testing.B) {
			r := mustNew(b, pair[0], pair[1])
			in := tone(1000, 0, pair[0], pair[0]/100)
			out := make([]int16, pair[1]/100)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Process(out, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func fmtPair(p [2]int) string {
	return itoa(p[0]/1000) + "k-" + itoa(p[1]/1000) + "k"
}

func itoa(v int) string {
	if v < 10 {
		return string(rune('0' + v))
	}
	return itoa(v/10) + string(rune('0'+v%10))
}
