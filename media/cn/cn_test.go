package cn

import (
	"bytes"
	"math"
	"testing"

	"github.com/openata/ata/board/pcm"
)

func rmsOf(x []int16) float64 {
	var sum float64
	for _, v := range x {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(x)))
}

func dBov(x []int16) float64 { return 20 * math.Log10(rmsOf(x)/fullScale) }

func TestPayloadRoundTrip(t *testing.T) {
	wire := []byte{50, 130, 4, 250}
	var p Payload
	if err := p.Unmarshal(wire); err != nil {
		t.Fatal(err)
	}
	if p.Level != 50 || !bytes.Equal(p.Spectral, wire[1:]) {
		t.Fatalf("parsed %+v from % x", p, wire)
	}
	var b [8]byte
	n, err := p.MarshalTo(b[:])
	if err != nil || !bytes.Equal(b[:n], wire) {
		t.Fatalf("marshal: % x, %v; want % x", b[:n], err, wire)
	}
	// The top bit of the level byte is unused: ignored.
	if err := p.Unmarshal([]byte{0x80 | 70}); err != nil || p.Level != 70 || len(p.Spectral) != 0 {
		t.Fatalf("level byte 0xC6: %+v, %v", p, err)
	}
}

func TestPayloadErrors(t *testing.T) {
	var p Payload
	if err := p.Unmarshal(nil); err == nil {
		t.Error("empty payload accepted")
	}
	if err := p.Unmarshal(make([]byte, 2+MaxSpectral)); err == nil {
		t.Error("payload with 65 coefficients accepted")
	}
	if _, err := (Payload{Level: 128}).MarshalTo(make([]byte, 4)); err == nil {
		t.Error("level 128 marshalled")
	}
	if _, err := (Payload{Level: 3, Spectral: []byte{1, 2}}).MarshalTo(make([]byte, 2)); err == nil {
		t.Error("3-byte payload marshalled into 2 bytes")
	}
}

func TestLevelConversions(t *testing.T) {
	// 0 dBov is a full-scale square wave; a full-scale sine is 3.01 dB
	// under it, and RFC 3389 puts 0 dBov at 6.18 dBm0 for µ-law.
	if l := LevelOf(32767 / math.Sqrt2); l != 3 {
		t.Errorf("full-scale sine: level %d, want 3", l)
	}
	if d := pcm.RMSLevel(LevelRMS(0)); math.Abs(d-6.18) > 0.01 {
		t.Errorf("0 dBov is %.2f dBm0, want 6.18", d)
	}
	for _, l := range []uint8{0, 30, 50, 70, 127} {
		if got := LevelOf(LevelRMS(l)); got != l {
			t.Errorf("LevelOf(LevelRMS(%d)) = %d", l, got)
		}
	}
	if LevelOf(0) != MaxLevel || LevelOf(1e-9) != MaxLevel || LevelOf(1e9) != 0 {
		t.Error("levels outside 0..127 not clamped")
	}
}

// The noise plays at the level a payload names, within ±0.5 dB over a
// second and ±2 dB in every 20 ms frame, with no DC.
func TestNoiseLevel(t *testing.T) {
	for _, level := range []uint8{20, 50, 70} {
		var n Noise
		n.SetLevel(level)
		out := make([]int16, 8000)
		n.Fill(out)
		if got := dBov(out); math.Abs(got+float64(level)) > 0.5 {
			t.Errorf("level %d: noise at %.2f dBov", level, got)
		}
		for f := 0; f < len(out); f += 160 {
			if got := dBov(out[f : f+160]); math.Abs(got+float64(level)) > 2 {
				t.Errorf("level %d: frame %d at %.2f dBov", level, f/160, got)
				break
			}
		}
		var mean float64
		for _, v := range out {
			mean += float64(v)
		}
		mean /= float64(len(out))
		if math.Abs(mean) > LevelRMS(level)*0.05 {
			t.Errorf("level %d: DC %.2f", level, mean)
		}
	}
	var silent Noise
	out := []int16{1, 2, 3}
	silent.Fill(out)
	if out[0] != 0 || out[1] != 0 || out[2] != 0 {
		t.Errorf("zero Noise filled %v, want silence", out)
	}
}

func TestNoiseNoAllocs(t *testing.T) {
	var n Noise
	n.SetLevel(50)
	out := make([]int16, 160)
	if a := testing.AllocsPerRun(100, func() { n.Fill(out) }); a != 0 {
		t.Fatalf("%v allocs per frame", a)
	}
}

func tone(dBm0 float64, n int) []int16 {
	s := pcm.NewSine(440, pcm.Amplitude(dBm0), 8000)
	out := make([]int16, n)
	for i := range out {
		out[i] = pcm.Clip16(s.Next())
	}
	return out
}

// Speech keeps the detector on; 200 ms of quiet turn it off; the first
// loud frame turns it on at once; the level it measures is the quiet
// frames', not the speech before them.
func TestDetectorHangover(t *testing.T) {
	var d Detector
	speech := tone(-20, 160)
	var bg Noise
	bg.SetLevel(60)
	quiet := make([]int16, 160)
	for range 10 {
		if !d.Frame(speech) {
			t.Fatal("speech frame classed as silence")
		}
	}
	frames := 0
	for {
		bg.Fill(quiet)
		frames++
		if !d.Frame(quiet) {
			break
		}
		if frames > 50 {
			t.Fatal("no silence after 1 s of quiet")
		}
	}
	if frames != 10 {
		t.Errorf("silence after %d quiet frames of 20 ms, want 10 (200 ms)", frames)
	}
	if l := d.Level(); l < 59 || l > 61 {
		t.Errorf("background level %d, want 60 ±1", l)
	}
	if !d.Frame(speech) {
		t.Error("speech after silence not detected at once")
	}
	// A pause shorter than the hangover stays speech.
	for range 9 {
		bg.Fill(quiet)
		if !d.Frame(quiet) {
			t.Fatal("180 ms pause classed as silence")
		}
	}
	d.Reset()
	if !d.Frame(nil) {
		t.Error("reset detector in silence")
	}
}

// A background above the threshold is never suppressed.
func TestDetectorLoudBackground(t *testing.T) {
	d := Detector{Threshold: 50}
	var bg Noise
	bg.SetLevel(40)
	f := make([]int16, 80)
	for range 100 {
		bg.Fill(f)
		if !d.Frame(f) {
			t.Fatal("−40 dBov noise suppressed with a −50 dBov threshold")
		}
	}
}

func BenchmarkNoiseFill(b *testing.B) {
	var n Noise
	n.SetLevel(50)
	out := make([]int16, 160)
	b.ReportAllocs()
	for b.Loop() {
		n.Fill(out)
	}
}

func BenchmarkDetectorFrame(b *testing.B) {
	var d Detector
	f := tone(-20, 160)
	b.ReportAllocs()
	for b.Loop() {
		d.Frame(f)
	}
}
