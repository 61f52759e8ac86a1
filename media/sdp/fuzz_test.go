package sdp

import (
	"testing"
	"time"
)

// FuzzNegotiate feeds remote SDP to Negotiate. Whatever it accepts must be a
// sane stream, and our answer to it must negotiate back to the same codec.
// Seeds live in testdata/fuzz/FuzzNegotiate.
func FuzzNegotiate(f *testing.F) {
	f.Fuzz(func(t *testing.T, remote []byte) {
		m, err := Negotiate(local, remote)
		if err != nil {
			return
		}
		if !m.Codec.Valid() || (m.Ptime != 10*time.Millisecond && m.Ptime != 20*time.Millisecond) {
			t.Fatalf("accepted nonsense: %+v", m)
		}
		if m.Remote.Port() == 0 || m.EventPayloadType > 127 || m.PayloadType > 127 {
			t.Fatalf("bad port or payload type: %+v", m)
		}
		ans, err := Answer(local, m)
		if err != nil {
			t.Fatalf("answer to %+v: %v", m, err)
		}
		back, err := Negotiate(local, ans)
		if err != nil {
			t.Fatalf("our answer does not negotiate: %v\n%s", err, ans)
		}
		if back.Codec != m.Codec || back.EventPayloadType != m.EventPayloadType || back.Ptime != m.Ptime {
			t.Fatalf("answer renegotiates to %+v, want %+v\n%s", back, m, ans)
		}
		// With comfort noise wanted, its type is 13 or dynamic and survives
		// our answer.
		cnLocal := local
		cnLocal.ComfortNoise = true
		m, err = Negotiate(cnLocal, remote)
		if err != nil {
			t.Fatalf("accepted without comfort noise, refused with: %v", err)
		}
		if pt := m.CNPayloadType; pt != 0 && pt != 13 && (pt < 96 || pt > 127) {
			t.Fatalf("CN payload type %d", pt)
		}
		ans, err = Answer(cnLocal, m)
		if err != nil {
			t.Fatalf("answer to %+v: %v", m, err)
		}
		if back, err = Negotiate(cnLocal, ans); err != nil || back.CNPayloadType != m.CNPayloadType {
			t.Fatalf("our answer renegotiates CN to %d (%v), want %d\n%s", back.CNPayloadType, err, m.CNPayloadType, ans)
		}
	})
}
