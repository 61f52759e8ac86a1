package plc

import (
	"math"
	"testing"

	"github.com/openata/ata/board/pcm"
)

// voiced returns n samples of a 3-harmonic "vowel" at f0 Hz starting at
// sample offset off, amplitude about -10 dBm0.
func voiced(f0 float64, off, n int) []int16 {
	out := make([]int16, n)
	a := pcm.Amplitude(-10)
	for i := range out {
		t := float64(off+i) / 8000
		v := 0.6*math.Sin(2*math.Pi*f0*t) + 0.3*math.Sin(2*math.Pi*2*f0*t+0.5) + 0.1*math.Sin(2*math.Pi*3*f0*t+1)
		out[i] = pcm.Clip16(a * v)
	}
	return out
}

func rms(s []int16) float64 {
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(s)))
}

// prime feeds 200 ms of good 20 ms frames and returns the sample offset.
func prime(c *Concealer, f0 float64) int {
	off := 0
	for range 10 {
		c.Good(voiced(f0, off, 160))
		off += 160
	}
	return off
}

func TestAttenuationOver60ms(t *testing.T) {
	var c Concealer
	off := prime(&c, 140)
	ref := rms(voiced(140, 0, 1600))
	out := make([]int16, 640) // 80 ms of loss, concealed in 20 ms frames
	for f := 0; f < 4; f++ {
		c.Conceal(out[f*160 : (f+1)*160])
	}
	// Mean gain over each 10 ms block: 1, 0.9, 0.7, 0.5, 0.3, 0.1, 0, 0.
	wantGain := []float64{1, 0.9, 0.7, 0.5, 0.3, 0.1, 0, 0}
	for b, g := range wantGain {
		got := rms(out[b*80:(b+1)*80]) / ref
		if math.Abs(got-g) > 0.08 {
			t.Errorf("10 ms block %d: level %.2f of the original, want %.2f", b, got, g)
		}
	}
	for i := 480; i < 640; i++ {
		if out[i] != 0 {
			t.Fatalf("sample %d (%.1f ms into the loss) = %d, want silence after 60 ms", i, float64(i)/8, out[i])
		}
	}
	// The first 10 ms continue the waveform in phase.
	truth := voiced(140, off, 80)
	var errSum float64
	for i := range truth {
		d := float64(out[i]) - float64(truth[i])
		errSum += d * d
	}
	if snr := 10 * math.Log10(ref*ref*80/errSum); snr < 15 {
		t.Errorf("first 10 ms of concealment: SNR %.1f dB against the true continuation, want ≥ 15", snr)
	}
}

func TestPitchFound(t *testing.T) {
	for _, period := range []int{40, 57, 80, 120} {
		var c Concealer
		prime(&c, 8000/float64(period))
		if got := c.findPitch(); got%period != 0 && period%got != 0 {
			t.Errorf("period %d: pitch %d", period, got)
		}
	}
}

func TestOverlapAddAtFirstGoodFrame(t *testing.T) {
	var c Concealer
	off := prime(&c, 140)
	lost := make([]int16, 160)
	c.Conceal(lost) // 20 ms lost
	off += 160
	good := voiced(140, off, 160)
	orig := append([]int16(nil), good...)
	c.Good(good)
	// 20 ms erasure: 8 ms (64 samples) of overlap-add, then the frame as is.
	for i := 64; i < 160; i++ {
		if good[i] != orig[i] {
			t.Fatalf("sample %d changed after the 8 ms overlap", i)
		}
	}
	changed := false
	for i := 0; i < 64; i++ {
		changed = changed || good[i] != orig[i]
	}
	if !changed {
		t.Fatal("no overlap-add at the first good frame")
	}
	// No click: the join from concealment into the frame is no steeper
	// than the signal itself.
	maxStep := 0.0
	for i := 1; i < len(orig); i++ {
		maxStep = math.Max(maxStep, math.Abs(float64(orig[i])-float64(orig[i-1])))
	}
	if d := math.Abs(float64(good[0]) - float64(lost[159])); d > 1.5*maxStep {
		t.Errorf("step at the join %.0f, signal's largest step %.0f", d, maxStep)
	}
	if c.Erasing() {
		t.Error("still erasing after a good frame")
	}
}

func TestSilentHistoryConcealsSilence(t *testing.T) {
	var c Concealer
	out := make([]int16, 160)
	c.Conceal(out)
	if rms(out) != 0 {
		t.Fatal("concealment out of nothing is not silent")
	}
}

func TestNoAllocs(t *testing.T) {
	var c Concealer
	prime(&c, 140)
	frame := voiced(140, 0, 160)
	out := make([]int16, 160)
	if a := testing.AllocsPerRun(100, func() {
		c.Conceal(out)
		c.Good(frame)
	}); a != 0 {
		t.Fatalf("%v allocs", a)
	}
}

func BenchmarkConcealFrame(b *testing.B) {
	var c Concealer
	prime(&c, 140)
	out := make([]int16, 160)
	frame := voiced(140, 0, 160)
	b.ReportAllocs()
	for b.Loop() {
		c.Conceal(out)
		c.Good(frame)
	}
}
