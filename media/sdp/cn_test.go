package sdp

import (
	"strings"
	"testing"
)

// With ComfortNoise (a line with vad = true) the offer lists CN/8000 as
// payload type 13; without, it does not.
func TestOfferComfortNoise(t *testing.T) {
	l := local
	l.ComfortNoise = true
	b, err := Offer(l)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"m=audio 40000 RTP/AVP 0 8 13 101\r\n", "a=rtpmap:13 CN/8000\r\n"} {
		if !strings.Contains(string(b), line) {
			t.Errorf("offer lacks %q:\n%s", line, b)
		}
	}
	if m, err := Negotiate(l, b); err != nil || m.CNPayloadType != 13 {
		t.Errorf("self-negotiation: CN %d, %v; want 13", m.CNPayloadType, err)
	}
	b, _ = Offer(local)
	if strings.Contains(string(b), "CN") || strings.Contains(string(b), " 13") {
		t.Errorf("offer without comfort noise lists it:\n%s", b)
	}
}

// CN is taken from a remote offer (static 13 with or without rtpmap, or a
// dynamic type at 8 kHz; not at 16 kHz) only when we want it, and the
// answer then lists it with the remote's payload type.
func TestNegotiateComfortNoise(t *testing.T) {
	withCN := local
	withCN.ComfortNoise = true
	for _, c := range []struct {
		name   string
		local  Local
		remote []byte
		want   uint8
	}{
		{"static 13 without rtpmap", withCN, offer("0 13 101", "a=rtpmap:101 telephone-event/8000"), 13},
		{"static 13 with rtpmap", withCN, offer("8 13", "a=rtpmap:13 CN/8000"), 13},
		{"dynamic", withCN, offer("0 98 101", "a=rtpmap:98 CN/8000\na=rtpmap:101 telephone-event/8000"), 98},
		{"wideband only", withCN, offer("0 99", "a=rtpmap:99 CN/16000"), 0},
		{"not offered", withCN, offer("0 101", "a=rtpmap:101 telephone-event/8000"), 0},
		{"offered, vad off", local, offer("0 13 101", "a=rtpmap:13 CN/8000\na=rtpmap:101 telephone-event/8000"), 0},
	} {
		m, err := Negotiate(c.local, c.remote)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if m.CNPayloadType != c.want {
			t.Errorf("%s: CN payload type %d, want %d", c.name, m.CNPayloadType, c.want)
		}
		ans, err := Answer(c.local, m)
		if err != nil {
			t.Fatalf("%s: answer: %v", c.name, err)
		}
		hasCN := strings.Contains(string(ans), " CN/8000")
		if hasCN != (c.want != 0) {
			t.Errorf("%s: answer lists CN %v, want %v:\n%s", c.name, hasCN, c.want != 0, ans)
		}
		if c.want == 98 && !strings.Contains(string(ans), "a=rtpmap:98 CN/8000\r\n") {
			t.Errorf("%s: answer does not keep the remote's type 98:\n%s", c.name, ans)
		}
	}
}

// A static type of another codec named CN is not taken as comfort noise.
func TestNegotiateComfortNoiseStaticMisnamed(t *testing.T) {
	withCN := local
	withCN.ComfortNoise = true
	m, err := Negotiate(withCN, offer("0 8", "a=rtpmap:8 CN/8000"))
	if err != nil || m.CNPayloadType != 0 {
		t.Fatalf("CN on payload type 8: %d, %v; want none", m.CNPayloadType, err)
	}
}
