package pcm

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

func TestSineMatchesMathSin(t *testing.T) {
	for _, f := range []float64{350, 440, 697, 1633, 2600, 3999} {
		s := NewSine(f, 10000, 8000)
		var worst float64
		for n := 0; n < 8000; n++ {
			want := 10000 * math.Sin(2*math.Pi*f*float64(n)/8000)
			if d := math.Abs(s.Next() - want); d > worst {
				worst = d
			}
		}
		// 10000 × 10^(−100/20) = 0.1: well below one 16-bit step.
		if worst > 0.1 {
			t.Errorf("%v Hz: worst error %.4f", f, worst)
		}
		// The fixed-point step is the frequency to within 2⁻³³ of a cycle per sample.
		if got := float64(s.step) / (1 << 32) * 8000; math.Abs(got-f) > 1e-5 {
			t.Errorf("%v Hz: oscillator runs at %v Hz", f, got)
		}
	}
}

func TestLevels(t *testing.T) {
	if a := Amplitude(FullScaleSineDBm0); math.Abs(a-32767) > 0.01 {
		t.Fatalf("full scale = %v", a)
	}
	if l := Level(Amplitude(-13)); math.Abs(l+13) > 1e-9 {
		t.Fatalf("Level(Amplitude(-13)) = %v", l)
	}
	if l := RMSLevel(Amplitude(-20) / math.Sqrt2); math.Abs(l+20) > 1e-9 {
		t.Fatalf("RMSLevel = %v", l)
	}
	if Clip16(40000) != 32767 || Clip16(-40000) != -32768 || Clip16(1.5) != 2 || Clip16(-1.5) != -2 {
		t.Fatal("Clip16")
	}
}

func TestDTMFFrequencies(t *testing.T) {
	lo, hi, ok := DTMFFrequencies('5')
	if !ok || lo != 770 || hi != 1336 {
		t.Fatalf("5 = %v %v %v", lo, hi, ok)
	}
	if lo, hi, ok = DTMFFrequencies('d'); !ok || lo != 941 || hi != 1633 {
		t.Fatalf("d = %v %v %v", lo, hi, ok)
	}
	if _, _, ok = DTMFFrequencies('E'); ok {
		t.Fatal("E accepted")
	}
}

func TestWAVRoundTripAndRejects(t *testing.T) {
	in := []int16{0, 1, -1, 32767, -32768, 1234}
	out, err := DecodeWAV(bytes.NewReader(EncodeWAV(in, 8000)))
	if err != nil || len(out) != len(in) {
		t.Fatalf("round trip: %v %v", out, err)
	}
	for i := range in {
		if in[i] != out[i] {
			t.Fatalf("sample %d: %d != %d", i, out[i], in[i])
		}
	}
	if _, err := DecodeWAV(bytes.NewReader(EncodeWAV(in, 16000))); !errors.Is(err, ErrWAVFormat) {
		t.Fatalf("16 kHz accepted: %v", err)
	}
	if _, err := DecodeWAV(bytes.NewReader([]byte("not a wav at all"))); !errors.Is(err, ErrWAVFormat) {
		t.Fatalf("garbage accepted: %v", err)
	}
}

func BenchmarkSine160(b *testing.B) {
	s := NewSine(440, 10000, 8000)
	var sum float64
	for b.Loop() {
		for range 160 {
			sum += s.Next()
		}
	}
	_ = sum
}

func TestToneLevel(t *testing.T) {
	x := make([]int16, 8000)
	a, b := NewSine(350, Amplitude(-13), 8000), NewSine(440, Amplitude(-20), 8000)
	for i := range x {
		x[i] = Clip16(a.Next() + b.Next())
	}
	for _, c := range []struct{ f, want float64 }{{350, -13}, {440, -20}} {
		if got := ToneLevel(x, c.f); math.Abs(got-c.want) > 0.1 {
			t.Errorf("ToneLevel(%g Hz) = %.2f dBm0, want %.1f", c.f, got, c.want)
		}
	}
	if got := ToneLevel(x, 1000); got > -60 {
		t.Errorf("ToneLevel(1000 Hz) = %.1f dBm0 with no 1000 Hz in the signal", got)
	}
	if got := ToneLevel(nil, 1000); !math.IsInf(got, -1) {
		t.Errorf("ToneLevel(nil) = %v", got)
	}
}
