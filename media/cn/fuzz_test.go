package cn

import (
	"bytes"
	"testing"
)

// FuzzPayload parses arbitrary CN payloads: whatever is accepted must
// marshal back to the same bytes (top bit of the level cleared) and its
// level must be one the generator can play.
func FuzzPayload(f *testing.F) {
	f.Add([]byte{50})
	f.Add([]byte{70, 130, 4, 250, 0, 127, 128, 1, 2, 3, 4, 5})
	f.Add([]byte{0xFF})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Payload
		if err := p.Unmarshal(b); err != nil {
			if len(b) != 0 && len(b) <= 1+MaxSpectral {
				t.Fatalf("% x rejected: %v", b, err)
			}
			return
		}
		if p.Level > MaxLevel {
			t.Fatalf("level %d", p.Level)
		}
		out := make([]byte, p.MarshalSize())
		n, err := p.MarshalTo(out)
		if err != nil || n != len(b) || out[0] != b[0]&0x7F || !bytes.Equal(out[1:], b[1:]) {
			t.Fatalf("round trip % x → % x, %v", b, out[:n], err)
		}
		var g Noise
		g.SetLevel(p.Level)
		frame := make([]int16, 160)
		g.Fill(frame)
	})
}
