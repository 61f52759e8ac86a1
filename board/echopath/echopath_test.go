package echopath

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// bandNoise is Gaussian noise band-limited to the telephone band by a
// windowed-sinc FIR designed here, independently of BandGain, at about
// -16 dBm0 (rms 1500).
func bandNoise(n int, seed uint64) []int16 {
	const taps = 511
	h := make([]float64, taps)
	for i := range h {
		t := float64(i - taps/2)
		var v float64
		if t == 0 {
			v = 2 * (BandHigh - BandLow) / SampleRate
		} else {
			v = (math.Sin(2*math.Pi*BandHigh/SampleRate*t) - math.Sin(2*math.Pi*BandLow/SampleRate*t)) / (math.Pi * t)
		}
		w := 0.42 - 0.5*math.Cos(2*math.Pi*float64(i)/(taps-1)) + 0.08*math.Cos(4*math.Pi*float64(i)/(taps-1))
		h[i] = v * w
	}
	r := rand.New(rand.NewPCG(seed, 1))
	x := make([]float64, n+taps)
	for i := range x {
		x[i] = r.NormFloat64()
	}
	y := make([]float64, n)
	var p float64
	for i := range y {
		var s float64
		for k, c := range h {
			s += c * x[i+taps-1-k]
		}
		y[i] = s
		p += s * s
	}
	g := 1500 / math.Sqrt(p/float64(n))
	out := make([]int16, n)
	for i, v := range y {
		out[i] = int16(math.Round(v * g))
	}
	return out
}

func whiteNoise(n int, seed uint64) []int16 {
	r := rand.New(rand.NewPCG(seed, 2))
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(math.Round(r.NormFloat64() * 2000))
	}
	return out
}

// run passes ear through hy in frames of frame samples and returns the mic
// stream (echo only: the mic starts silent).
func run(hy *Hybrid, ear []int16, frame int) []int16 {
	mic := make([]int16, len(ear))
	for i := 0; i < len(ear); i += frame {
		j := min(i+frame, len(ear))
		hy.Echo(ear[i:j], mic[i:j])
	}
	return mic
}

func power(x []int16) float64 {
	var p float64
	for _, v := range x {
		p += float64(v) * float64(v)
	}
	return p / float64(len(x))
}

func TestERLMatchesRequest(t *testing.T) {
	t.Parallel()
	ear := bandNoise(4*SampleRate, 7)
	for model := 1; model <= Models; model++ {
		for _, erl := range []float64{6, 12, 20} {
			hy, err := New(model, erl, 20*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			mic := run(hy, ear, 160)
			skip := SampleRate / 2 // let the history fill
			got := 10 * math.Log10(power(ear[skip:])/power(mic[skip:]))
			if math.Abs(got-erl) > 0.5 {
				t.Errorf("model %d ERL %v dB: measured %.2f dB on band-limited noise", model, erl, got)
			}
		}
	}
}

func TestDelayIsBulkPlusPeak(t *testing.T) {
	t.Parallel()
	ear := whiteNoise(SampleRate, 3)
	for model := 1; model <= Models; model++ {
		for _, d := range []time.Duration{0, 20 * time.Millisecond, 40 * time.Millisecond, MaxDelay} {
			hy, err := New(model, 6, d)
			if err != nil {
				t.Fatal(err)
			}
			mic := run(hy, ear, 160)
			best, lag := 0.0, -1
			for l := 0; l < 800; l++ {
				var c float64
				for i := l; i < len(ear); i++ {
					c += float64(ear[i-l]) * float64(mic[i])
				}
				if math.Abs(c) > best {
					best, lag = math.Abs(c), l
				}
			}
			want := int(d*SampleRate/time.Second) + Peak(model)
			if lag != want {
				t.Errorf("model %d delay %v: cross-correlation peaks at lag %d, want %d", model, d, lag, want)
			}
		}
	}
}

// The echo must not depend on how the stream is cut into frames: the
// history carries the tail of one frame into the next.
func TestFrameSizeIndependent(t *testing.T) {
	t.Parallel()
	ear := whiteNoise(4000, 5)
	var ref []int16
	for _, frame := range []int{4000, 160, 80, 8, 1, 333} {
		hy, err := New(4, 6, 37*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		mic := run(hy, ear, frame)
		if ref == nil {
			ref = mic
			if power(mic) == 0 {
				t.Fatal("no echo at all")
			}
			continue
		}
		for i := range mic {
			if mic[i] != ref[i] {
				t.Fatalf("frame %d: sample %d = %d, one-shot gave %d", frame, i, mic[i], ref[i])
			}
		}
	}
}

func TestEchoAddsAndSaturates(t *testing.T) {
	t.Parallel()
	hy, err := New(1, 0.01, 0) // almost no loss: the echo of full scale overflows
	if err != nil {
		t.Fatal(err)
	}
	ear := make([]int16, 800)
	for i := range ear {
		if i/4%2 == 0 {
			ear[i] = math.MaxInt16
		} else {
			ear[i] = math.MinInt16
		}
	}
	mic := make([]int16, len(ear))
	for i := range mic {
		mic[i] = 1000
	}
	hy.Echo(ear, mic)
	var hiClip, loClip bool
	for _, v := range mic {
		hiClip = hiClip || v == math.MaxInt16
		loClip = loClip || v == math.MinInt16
	}
	if !hiClip || !loClip {
		t.Errorf("want saturation at both rails, got max clip %v min clip %v", hiClip, loClip)
	}
	// With a silent earpiece the mic passes unchanged once the echo of the
	// past has died away.
	quiet := make([]int16, 160)
	for range 5 {
		for i := range quiet {
			quiet[i] = 1234
		}
		hy.Echo(make([]int16, 160), quiet)
	}
	for i, v := range quiet {
		if v != 1234 {
			t.Fatalf("sample %d = %d after the echo died, want 1234", i, v)
		}
	}
}

func TestPathChangeMidStream(t *testing.T) {
	t.Parallel()
	ear := bandNoise(2*SampleRate, 11)
	hy, err := New(1, 6, 0)
	if err != nil {
		t.Fatal(err)
	}
	mic1 := run(hy, ear[:SampleRate], 160)
	if err := hy.SetERL(20); err != nil {
		t.Fatal(err)
	}
	if err := hy.SetModel(5); err != nil {
		t.Fatal(err)
	}
	if err := hy.SetDelay(10 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	mic2 := run(hy, ear[SampleRate:], 160)
	e1 := 10 * math.Log10(power(ear[:SampleRate])/power(mic1[800:]))
	e2 := 10 * math.Log10(power(ear[SampleRate:])/power(mic2[800:]))
	if math.Abs(e1-6) > 0.7 || math.Abs(e2-20) > 0.7 {
		t.Errorf("ERL before/after change %.1f/%.1f dB, want 6/20", e1, e2)
	}
	if hy.Model() != 5 || hy.ERL() != 20 || hy.Delay() != 10*time.Millisecond {
		t.Errorf("path now model %d ERL %v delay %v", hy.Model(), hy.ERL(), hy.Delay())
	}
	if err := hy.SetModel(9); err == nil {
		t.Error("SetModel(9) accepted")
	}
	if hy.Model() != 5 {
		t.Error("a rejected change altered the path")
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		model int
		erl   float64
		d     time.Duration
	}{
		{0, 6, 0}, {9, 6, 0}, {1, 0, 0}, {1, -3, 0}, {1, math.NaN(), 0}, {1, math.Inf(1), 0},
		{1, 6, -time.Millisecond}, {1, 6, MaxDelay + time.Millisecond},
	} {
		if _, err := New(c.model, c.erl, c.d); err == nil {
			t.Errorf("New(%d, %v, %v) accepted", c.model, c.erl, c.d)
		}
	}
	if _, err := New(8, 6, MaxDelay); err != nil {
		t.Errorf("New(8, 6, MaxDelay): %v", err)
	}
}

func TestEchoAllocatesNothing(t *testing.T) {
	hy, err := New(4, 6, 40*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ear, mic := whiteNoise(160, 1), make([]int16, 160)
	if n := testing.AllocsPerRun(100, func() { hy.Echo(ear, mic) }); n != 0 {
		t.Errorf("Echo allocates %v times per frame", n)
	}
}

func BenchmarkEcho(b *testing.B) {
	hy, err := New(4, 6, 40*time.Millisecond)
	if err != nil {
		b.Fatal(err)
	}
	ear, mic := whiteNoise(160, 1), make([]int16, 160)
	b.ReportAllocs()
	for b.Loop() {
		hy.Echo(ear, mic)
	}
}
