package baresiptest

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/zaf/g711"
)

func TestBindingResponseXORsTheRelayAddress(t *testing.T) {
	tid := []byte("0123456789ab")
	m := bindingResponse(tid, netip.MustParseAddrPort("127.0.0.1:40000"))
	if binary.BigEndian.Uint16(m) != 0x0101 || int(binary.BigEndian.Uint16(m[2:])) != len(m)-20 || string(m[8:20]) != string(tid) {
		t.Fatalf("header % x", m[:20])
	}
	if port := binary.BigEndian.Uint16(m[26:]) ^ 0x2112; port != 40000 {
		t.Errorf("XOR-MAPPED-ADDRESS port %d", port)
	}
	if ip := binary.BigEndian.Uint32(m[28:]) ^ stunMagic; ip != 0x7f000001 {
		t.Errorf("XOR-MAPPED-ADDRESS %x", ip)
	}
}

// ulawPacket is 20 ms of a constant ulaw sample.
func ulawPacket(at time.Time, ssrc uint32, ts uint32, v int16) packet {
	p := packet{at: at, pt: 0, ssrc: ssrc, ts: ts, payload: make([]byte, 160)}
	for i := range p.payload {
		p.payload[i] = g711.EncodeUlawFrame(v)
	}
	return p
}

// Packets are placed by RTP timestamp despite arrival jitter, a pause is
// silence, and a new talkspurt re-anchors on its arrival.
func TestPlaceAndMix(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := time.Millisecond
	pkts := []packet{
		ulawPacket(t0.Add(20*ms), 1, 0, 1000),
		ulawPacket(t0.Add(45*ms), 1, 160, 1000), // 5 ms late
		ulawPacket(t0.Add(60*ms), 1, 320, 1000),
		// 400 ms with nothing, and a sender whose clock paused too
		ulawPacket(t0.Add(500*ms), 1, 480, 2000),
		{at: t0.Add(510 * ms), pt: 101, ssrc: 1, ts: 640, payload: []byte{1, 0, 0, 160}}, // not audio
	}
	ps := place(pkts)
	if len(ps) != 4 {
		t.Fatalf("placed %d packets", len(ps))
	}
	if ps[1].start != t0.Add(20*ms) || ps[3].start != t0.Add(480*ms) {
		t.Errorf("starts %v, %v", ps[1].start.Sub(t0), ps[3].start.Sub(t0))
	}
	x := make([]int16, 8*600)
	mix(x, t0, ps)
	mix(x, t0, ps[:1]) // overlapping audio adds up
	v := func(at time.Duration) int16 { return x[int(at/ms)*8] }
	if v(10*ms) < 1900 || v(30*ms) < 900 || v(30*ms) > 1100 || v(100*ms) != 0 || v(490*ms) < 1900 || v(510*ms) != 0 {
		t.Errorf("timeline at 10/30/100/490/510 ms: %d %d %d %d %d", v(10*ms), v(30*ms), v(100*ms), v(490*ms), v(510*ms))
	}
	if got := len(concat(ps)); got != 4*160 {
		t.Errorf("concat has %d samples", got)
	}
}
