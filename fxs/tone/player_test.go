package tone

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/openata/ata/board/pcm"
)

const rate = 8000

// render plays t at its own level for n samples in frames of frame samples.
func render(t *Tone, n, frame int) []int16 {
	var p Player
	p.Play(t, t.Level)
	out := make([]int16, n)
	for i := 0; i < n; i += frame {
		p.Fill(out[i:min(n, i+frame)])
	}
	return out
}

// amplitudeAt is a single-bin DFT: the peak amplitude of the f Hz component
// of x (exact for windows holding whole cycles of every component).
func amplitudeAt(x []int16, f float64) float64 {
	var re, im float64
	for n, v := range x {
		ph := 2 * math.Pi * f * float64(n) / rate
		re += float64(v) * math.Cos(ph)
		im -= float64(v) * math.Sin(ph)
	}
	return 2 * math.Hypot(re, im) / float64(len(x))
}

func dB(a, b float64) float64 { return 20 * math.Log10(a/b) }

func TestPlayerFrameSizeIndependent(t *testing.T) {
	tn := MustParse("!350+440/100,!0/100,480+620/500,0/500,400*16/300")
	whole := render(&tn, 3*rate, 3*rate)
	for _, frame := range []int{160, 80, 37, 1} {
		if got := render(&tn, 3*rate, frame); !slices.Equal(got, whole) {
			t.Errorf("rendering in %d-sample frames differs from one buffer", frame)
		}
	}
}

func TestPlayerCadenceExactBySamples(t *testing.T) {
	tn := MustParse("440/500,0/250")
	x := render(&tn, 3*6000, 160)
	for period := 0; period < 3; period++ {
		on, off := x[period*6000:period*6000+4000], x[period*6000+4000:(period+1)*6000]
		for i, v := range off {
			if v != 0 {
				t.Fatalf("period %d: sample %d of the pause is %d, want 0", period, i, v)
			}
		}
		// The fades sit inside the 4000 on-samples: sound reaches both ends.
		if !slices.ContainsFunc(on[:8], func(v int16) bool { return v != 0 }) ||
			!slices.ContainsFunc(on[4000-8:], func(v int16) bool { return v != 0 }) {
			t.Fatalf("period %d: on segment does not span exactly samples 0..3999", period)
		}
		if a := amplitudeAt(on[RampSamples:4000-RampSamples], 440); math.Abs(dB(a, pcm.Amplitude(DefaultLevel))) > 0.1 {
			t.Fatalf("period %d: 440 Hz at %.2f dB from nominal", period, dB(a, pcm.Amplitude(DefaultLevel)))
		}
	}
}

func TestPlayerLevel(t *testing.T) {
	tn := MustParse("1004@-20")
	for _, level := range []float64{tn.Level, -13, 0} {
		var p Player
		p.Play(&tn, level)
		x := make([]int16, rate+RampSamples)
		p.Fill(x)
		var sum float64
		for _, v := range x[RampSamples:] {
			sum += float64(v) * float64(v)
		}
		got := pcm.RMSLevel(math.Sqrt(sum / rate))
		if math.Abs(got-level) > 0.05 {
			t.Errorf("Play at %g dBm0 measured %.3f dBm0", level, got)
		}
	}
}

func TestPlayerAmplitudeModulation(t *testing.T) {
	tn := MustParse("425*25")
	x := render(&tn, rate+RampSamples, 160)[RampSamples:]
	A := pcm.Amplitude(DefaultLevel)
	for _, c := range []struct{ f, want float64 }{
		{425, A}, {400, A * ModDepth / 2}, {450, A * ModDepth / 2}, {375, 0}, {475, 0},
	} {
		got := amplitudeAt(x, c.f)
		if math.Abs(got-c.want) > 0.01*A {
			t.Errorf("%g Hz: amplitude %.1f, want %.1f", c.f, got, c.want)
		}
	}
}

func TestPlayerOnceThenRepeat(t *testing.T) {
	tn := MustParse("!440/100,!0/100,620/200,0/200")
	x := render(&tn, 2*rate, 160)
	A := pcm.Amplitude(DefaultLevel)
	has := func(from, to int, f float64) bool {
		return amplitudeAt(x[from+RampSamples:to-RampSamples], f) > 0.9*A
	}
	if !has(0, 800, 440) || has(0, 800, 620) {
		t.Error("first 100 ms is not 440 Hz")
	}
	// After the once-parts, 620/200,0/200 repeats from 200 ms on.
	for start := 1600; start+3200 <= len(x); start += 3200 {
		if !has(start, start+1600, 620) || has(start, start+1600, 440) {
			t.Errorf("burst at sample %d is not 620 Hz", start)
		}
		for i, v := range x[start+1600 : start+3200] {
			if v != 0 {
				t.Fatalf("pause after sample %d has sample %d = %d", start, i, v)
			}
		}
	}
}

func TestPlayerFiniteTone(t *testing.T) {
	tn := MustParse("!425/100,!0/50,!425/100")
	var p Player
	p.Play(&tn, tn.Level)
	buf := make([]int16, 40) // 5 ms frames
	for i := 0; i < 50; i++ {
		if !p.Playing() {
			t.Fatalf("stopped after %v, want 250 ms", p.Elapsed())
		}
		p.Fill(buf)
	}
	p.Fill(buf)
	if p.Playing() {
		t.Fatal("still playing after all once-parts")
	}
	if p.Elapsed() != 250*time.Millisecond {
		t.Errorf("Elapsed = %v, want 250ms", p.Elapsed())
	}
	for _, v := range buf {
		if v != 0 {
			t.Fatal("sound after the tone ended")
		}
	}
}

func TestPlayerStopFades(t *testing.T) {
	tn := MustParse("350+440")
	var p Player
	p.Play(&tn, tn.Level)
	buf := make([]int16, 163)
	p.Fill(buf)
	p.Stop()
	if p.Playing() {
		t.Fatal("Playing after Stop")
	}
	el := p.Elapsed()
	after := make([]int16, 160)
	p.Fill(after)
	if el != p.Elapsed() || el != 163*time.Second/rate {
		t.Errorf("Elapsed %v then %v, want %v frozen", el, p.Elapsed(), 163*time.Second/rate)
	}
	if !slices.ContainsFunc(after[:RampSamples], func(v int16) bool { return v != 0 }) {
		t.Error("no fade after Stop")
	}
	for i, v := range after[RampSamples:] {
		if v != 0 {
			t.Fatalf("sample %d after the fade is %d", RampSamples+i, v)
		}
	}
	A := pcm.Amplitude(tn.Level)
	checkNoClicks(t, "stop", slices.Concat(buf, after), []float64{350, 440}, []float64{A, A})
}

// annihilate filters x with Π(1 - 2cos(ω_k)z⁻¹ + z⁻²), which cancels any
// steady mix of sines at freqs: what is left is where the signal is not a
// steady tone, i.e. part edges. A hard edge (a click) leaves far more than
// a smooth fade.
func annihilate(x []float64, freqs []float64) []float64 {
	h := []float64{1}
	for _, f := range freqs {
		c := -2 * math.Cos(2*math.Pi*f/rate)
		nh := make([]float64, len(h)+2)
		for i, v := range h {
			nh[i] += v
			nh[i+1] += c * v
			nh[i+2] += v
		}
		h = nh
	}
	y := make([]float64, len(x))
	for n := len(h) - 1; n < len(x); n++ {
		for i, v := range h {
			y[n] += v * x[n-i]
		}
	}
	return y
}

func maxAbs(y []float64) (m float64) {
	for _, v := range y {
		m = max(m, math.Abs(v))
	}
	return m
}

// checkNoClicks fails if an edge in x disturbs the annihilator by more than
// a quarter of what cutting the same steady tone dead does (the worst of 16
// cut positions).
func checkNoClicks(t *testing.T, name string, x []int16, freqs, amps []float64) {
	t.Helper()
	var ref float64
	for cut := 400; cut < 416; cut++ {
		hard := make([]float64, 800)
		for n := range cut {
			for k, f := range freqs {
				hard[n] += amps[k] * math.Sin(2*math.Pi*f*float64(n)/rate)
			}
		}
		ref = max(ref, maxAbs(annihilate(hard, freqs)))
	}
	xf := make([]float64, len(x))
	for i, v := range x {
		xf[i] = float64(v)
	}
	if got := maxAbs(annihilate(xf, freqs)); got > ref/4 {
		t.Errorf("%s: edge disturbance %.0f, a hard cut gives %.0f: clicks", name, got, ref)
	}
}

func TestPlayerNoClicks(t *testing.T) {
	m := ModDepth / 2
	for _, c := range []struct {
		spec        string
		freqs, amps []float64
	}{
		{"480+620/500,0/500", []float64{480, 620}, []float64{1, 1}},
		{"!350+440/100,!0/100,!350+440/100,!0/100,350+440", []float64{350, 440}, []float64{1, 1}},
		{"350+440/750,440/750", []float64{350, 440}, []float64{1, 1}},
		{"950/330,1400/330,1800/330,0/1000", []float64{950, 1400, 1800}, []float64{1, 1, 1}},
		{"400*16/1000,0/2000", []float64{400, 384, 416}, []float64{1, m, m}},
		{"1400+2060+2450+2600/100,0/100@-9", []float64{1400, 2060, 2450, 2600}, []float64{1, 1, 1, 1}},
		{"425/40,0/1960", []float64{425}, []float64{1}},
	} {
		tn := MustParse(c.spec)
		A := pcm.Amplitude(tn.Level)
		amps := make([]float64, len(c.amps))
		for i, a := range c.amps {
			amps[i] = a * A
		}
		checkNoClicks(t, c.spec, render(&tn, 5*rate, 160), c.freqs, amps)
	}
}

func TestPlayerSharedFrequencyContinues(t *testing.T) {
	// UK special dial tone: 440 Hz runs on while 350 Hz is cut every 750 ms,
	// so across the boundary at 6000 samples 440 keeps full amplitude.
	tn := MustParse("350+440/750,440/750")
	x := render(&tn, 2*rate, 160)
	A := pcm.Amplitude(tn.Level)
	// 200 samples are 11 whole cycles of 440 Hz; a fade-in would cost 0.5 dB.
	if g := dB(amplitudeAt(x[6000:6200], 440), A); math.Abs(g) > 0.05 {
		t.Errorf("440 Hz right after the part boundary at %.2f dB, want 0", g)
	}
	if a := amplitudeAt(x[6000+RampSamples:12000-RampSamples], 350); a > 0.001*A {
		t.Errorf("350 Hz present in the 440-only part: %.1f", a)
	}
}

func TestPlayerPlayNilAndRestart(t *testing.T) {
	var p Player
	p.Play(nil, -13)
	buf := make([]int16, 160)
	p.Fill(buf)
	if p.Playing() || slices.ContainsFunc(buf, func(v int16) bool { return v != 0 }) {
		t.Fatal("Play(nil) makes sound")
	}
	tn := MustParse("425/100,0/100")
	p.Play(&tn, tn.Level)
	p.Fill(buf)
	p.Play(&tn, tn.Level)
	if p.Elapsed() != 0 || !p.Playing() {
		t.Fatal("Play does not restart")
	}
}

func TestPlayerFillAllocs(t *testing.T) {
	tn := MustParse("!350+440/100,!0/100,400*16/20,480+620/20,0/40")
	var p Player
	p.Play(&tn, tn.Level)
	buf := make([]int16, 160)
	if n := testing.AllocsPerRun(200, func() { p.Fill(buf) }); n != 0 {
		t.Fatalf("Fill allocates %.1f times per frame", n)
	}
}

func BenchmarkPlayerFill20ms(b *testing.B) {
	tn := MustParse("350+440")
	var p Player
	p.Play(&tn, tn.Level)
	buf := make([]int16, 160)
	b.ReportAllocs()
	for b.Loop() {
		p.Fill(buf)
	}
}
