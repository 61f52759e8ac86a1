package dtmf

import (
	"math"
	"testing"

	"github.com/openata/ata/board/pcm"
)

func TestGeneratorRoundTrip(t *testing.T) {
	var g Generator
	var x []int16
	buf := make([]int16, 160)
	for i := range len(pcm.DTMFKeys) {
		if err := g.Start(pcm.DTMFKeys[i], -9, 2); err != nil {
			t.Fatal(err)
		}
		for range 3 { // 60 ms on
			g.Fill(buf)
			x = append(x, buf...)
		}
		g.Stop()
		for range 3 { // 60 ms off
			g.Fill(buf)
			x = append(x, buf...)
		}
	}
	if got := digits(t, detect(x, 160)); got != pcm.DTMFKeys {
		t.Fatalf("generated %q, detected %q", pcm.DTMFKeys, got)
	}
}

func TestGeneratorLevelAndSilence(t *testing.T) {
	var g Generator
	buf := make([]int16, 8000)
	if g.Playing() {
		t.Fatal("zero Generator is playing")
	}
	g.Fill(buf)
	for _, v := range buf {
		if v != 0 {
			t.Fatal("zero Generator is not silent")
		}
	}
	// Low at −10 dBm0, high 2 dB louder: total power is the sum of both.
	if err := g.Start('8', -10, 2); err != nil {
		t.Fatal(err)
	}
	g.Fill(buf)
	var sum float64
	for _, v := range buf {
		sum += float64(v) * float64(v)
	}
	got := pcm.RMSLevel(math.Sqrt(sum / float64(len(buf))))
	want := 10 * math.Log10(math.Pow(10, -10.0/10)+math.Pow(10, -8.0/10))
	if math.Abs(got-want) > 0.05 {
		t.Errorf("level %.2f dBm0, want %.2f", got, want)
	}
	g.Stop()
	g.Fill(buf)
	for _, v := range buf {
		if v != 0 {
			t.Fatal("stopped Generator is not silent")
		}
	}
	if err := g.Start('x', -10, 0); err == nil {
		t.Error("Start accepted key 'x'")
	}
	if err := g.Start('d', -10, 0); err != nil {
		t.Errorf("Start refused 'd': %v", err)
	}
}

func TestFillAllocatesNothing(t *testing.T) {
	var g Generator
	if err := g.Start('#', -10, 2); err != nil {
		t.Fatal(err)
	}
	buf := make([]int16, 160)
	if a := testing.AllocsPerRun(100, func() { g.Fill(buf) }); a != 0 {
		t.Fatalf("Fill allocates %v times", a)
	}
}

func BenchmarkGenerate20ms(b *testing.B) {
	var g Generator
	if err := g.Start('#', -10, 2); err != nil {
		b.Fatal(err)
	}
	buf := make([]int16, 160)
	b.ReportAllocs()
	for b.Loop() {
		g.Fill(buf)
	}
}
