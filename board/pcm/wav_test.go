package pcm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestWAVRoundTrip(t *testing.T) {
	samples := []int16{0, 1, -1, 32767, -32768, 1234, -4321}
	wav := EncodeWAV(samples, 8000)
	if len(wav) != 44+2*len(samples) {
		t.Fatalf("WAV of %d bytes; want a 44-byte header and %d bytes of data", len(wav), 2*len(samples))
	}
	if got := binary.LittleEndian.Uint32(wav[24:]); got != 8000 {
		t.Errorf("header rate %d; want 8000", got)
	}
	got, err := DecodeWAV(bytes.NewReader(wav))
	if err != nil {
		t.Fatalf("DecodeWAV: %v", err)
	}
	if !slices.Equal(got, samples) {
		t.Errorf("round trip gave %v; want %v", got, samples)
	}
	empty, err := DecodeWAV(bytes.NewReader(EncodeWAV(nil, 8000)))
	if err != nil || len(empty) != 0 {
		t.Errorf("empty WAV: %v, %v", empty, err)
	}
}

// TestDecodeWAVSkipsChunks pins that a LIST chunk of odd size (padded to a
// word) before the data is skipped, as tools like sox write them.
func TestDecodeWAVSkipsChunks(t *testing.T) {
	wav := EncodeWAV([]int16{7, -7}, 8000)
	list := append([]byte("LIST\x03\x00\x00\x00abc"), 0) // 3 bytes + pad
	withList := slices.Concat(wav[:36], list, wav[36:])
	got, err := DecodeWAV(bytes.NewReader(withList))
	if err != nil || !slices.Equal(got, []int16{7, -7}) {
		t.Fatalf("DecodeWAV with LIST chunk = %v, %v", got, err)
	}
}

func TestDecodeWAVRefusesOtherFormats(t *testing.T) {
	base := EncodeWAV(make([]int16, 16), 8000)
	patch := func(off int, v uint32, size int) []byte {
		w := slices.Clone(base)
		if size == 2 {
			binary.LittleEndian.PutUint16(w[off:], uint16(v))
		} else {
			binary.LittleEndian.PutUint32(w[off:], v)
		}
		return w
	}
	cases := map[string][]byte{
		"16 kHz":    patch(24, 16000, 4),
		"stereo":    patch(22, 2, 2),
		"8-bit":     patch(34, 8, 2),
		"float":     patch(20, 3, 2),
		"not RIFF":  []byte("hello world, this is not a wav"),
		"truncated": base[:30],
		"no data":   base[:36],
	}
	for name, w := range cases {
		_, err := DecodeWAV(bytes.NewReader(w))
		if !errors.Is(err, ErrWAVFormat) {
			t.Errorf("%s: error %v; want one wrapping ErrWAVFormat", name, err)
			continue
		}
		if !strings.Contains(err.Error(), "8000 Hz, mono, 16-bit") {
			t.Errorf("%s: error %q does not name the expected format", name, err)
		}
	}
}

// FuzzDecodeWAV checks DecodeWAV never panics, refuses only with
// ErrWAVFormat, and that what it accepts survives a round trip.
func FuzzDecodeWAV(f *testing.F) {
	f.Add(EncodeWAV([]int16{1, -2, 3}, 8000))
	f.Add(EncodeWAV(nil, 8000))
	f.Add(EncodeWAV([]int16{1}, 16000))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEdata\xff\xff\xff\xff"))
	f.Add([]byte("RIFF\x24\x00\x00\x00WAVEfmt \x28\x00\x00\x00\xfe\xff\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00\x16\x00\x10\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71data\x02\x00\x00\x00\x01\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		samples, err := DecodeWAV(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrWAVFormat) {
				t.Fatalf("error %v does not wrap ErrWAVFormat", err)
			}
			return
		}
		again, err := DecodeWAV(bytes.NewReader(EncodeWAV(samples, 8000)))
		if err != nil || !slices.Equal(again, samples) {
			t.Fatalf("re-encoding %d samples: %v", len(samples), err)
		}
	})
}
