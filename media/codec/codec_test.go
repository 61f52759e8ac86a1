package codec

import (
	"math"
	"testing"
)

// Reference code words from ITU-T G.711 (tables 1a/2a) in the 16-bit
// scaling of the classic Sun reference implementation.
func TestKnownValues(t *testing.T) {
	enc := []struct {
		c    Codec
		in   int16
		want byte
	}{
		{PCMU, 0, 0xFF}, {PCMU, 32767, 0x80}, {PCMU, -32768, 0x00},
		{PCMA, 0, 0xD5}, {PCMA, 32767, 0xAA}, {PCMA, -32768, 0x2A},
	}
	for _, tc := range enc {
		var out [1]byte
		tc.c.Encode(out[:], []int16{tc.in})
		if out[0] != tc.want {
			t.Errorf("%v encode %d = %#02x, want %#02x", tc.c, tc.in, out[0], tc.want)
		}
	}
	dec := []struct {
		c    Codec
		in   byte
		want int16
	}{
		{PCMU, 0x80, 32124}, {PCMU, 0x00, -32124}, {PCMU, 0xFF, 0}, {PCMU, 0xF0, 120},
		{PCMA, 0xD5, 8}, {PCMA, 0x55, -8}, {PCMA, 0xAA, 32256}, {PCMA, 0x2A, -32256},
	}
	for _, tc := range dec {
		var out [1]int16
		tc.c.Decode(out[:], []byte{tc.in})
		if out[0] != tc.want {
			t.Errorf("%v decode %#02x = %d, want %d", tc.c, tc.in, out[0], tc.want)
		}
	}
}

// Every code word survives decode→encode (μ-law's negative zero 0x7F maps
// to positive zero 0xFF, the only exception).
func TestCodeWordRoundTrip(t *testing.T) {
	for _, c := range []Codec{PCMU, PCMA} {
		for i := 0; i < 256; i++ {
			var s [1]int16
			var b [1]byte
			c.Decode(s[:], []byte{byte(i)})
			c.Encode(b[:], s[:])
			want := byte(i)
			if c == PCMU && i == 0x7F {
				want = 0xFF
			}
			if b[0] != want {
				t.Errorf("%v: code %#02x → %d → %#02x", c, i, s[0], b[0])
			}
		}
	}
}

// Linear → code → linear stays within half a quantization step: about
// 3.5 % of the value above the smallest segments (G.711 is ~6-bit mantissa).
func TestSampleRoundTripError(t *testing.T) {
	for _, c := range []Codec{PCMU, PCMA} {
		for v := -32768; v <= 32767; v += 7 {
			var b [1]byte
			var s [1]int16
			c.Encode(b[:], []int16{int16(v)})
			c.Decode(s[:], b[:])
			err := math.Abs(float64(int(s[0]) - v))
			limit := math.Max(0.035*math.Abs(float64(v)), 36)
			if err > limit {
				t.Fatalf("%v: %d → %d, error %.0f > %.0f", c, v, s[0], err, limit)
			}
		}
	}
}

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Codec
	}{{"PCMU", PCMU}, {"pcma", PCMA}} {
		got, ok := ByName(tc.name)
		if !ok || got != tc.c {
			t.Errorf("ByName(%q) = %v, %v", tc.name, got, ok)
		}
	}
	if _, ok := ByName("G729"); ok {
		t.Error("ByName(G729) accepted")
	}
	if c, ok := ByPayloadType(8); !ok || c != PCMA || c.PayloadType() != 8 {
		t.Errorf("ByPayloadType(8) = %v, %v", c, ok)
	}
	if _, ok := ByPayloadType(18); ok {
		t.Error("ByPayloadType(18) accepted")
	}
}

func TestFrameNoAllocs(t *testing.T) {
	pcm := make([]int16, 160)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(float64(i)/5))
	}
	buf := make([]byte, 160)
	for _, c := range []Codec{PCMU, PCMA} {
		if a := testing.AllocsPerRun(100, func() {
			c.Encode(buf, pcm)
			c.Decode(pcm, buf)
		}); a != 0 {
			t.Errorf("%v: %v allocs per frame", c, a)
		}
	}
}

func BenchmarkEncodeFrame(b *testing.B) {
	pcm := make([]int16, 160)
	buf := make([]byte, 160)
	b.ReportAllocs()
	for b.Loop() {
		PCMU.Encode(buf, pcm)
	}
}
