package rtpsession

import (
	"testing"
	"time"

	"github.com/pion/rtcp"

	"github.com/openata/ata/media/codec"
)

// A receiver report on our stream gives the round trip A − LSR − DLSR. On a
// LAN the far end's DLSR, rounded to its clock, can exceed the true hold
// time: a result a little below zero is a round trip under the
// measurement's resolution, not "unknown". A far end's report far off
// (a DLSR longer than the time since our SR) gives none.
func TestRTTFromReceiverReports(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trip    time.Duration // arrival − our SR
		dlsr    time.Duration // what the far end says it held our SR
		known   bool
		between [2]time.Duration
	}{
		{"wide area", 250 * time.Millisecond, 200 * time.Millisecond, true, [2]time.Duration{49 * time.Millisecond, 51 * time.Millisecond}},
		{"lan", 1001 * time.Millisecond, time.Second, true, [2]time.Duration{0, 2 * time.Millisecond}},
		{"dlsr rounded up", time.Second, 1002 * time.Millisecond, true, [2]time.Duration{0, time.Millisecond}},
		{"bogus dlsr", time.Second, 3 * time.Second, false, [2]time.Duration{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var clk fakeClock
			conn := listen(t)
			s, err := New(Config{Conn: conn, Remote: addrOf(conn), Codec: codec.PCMU, Clock: clk.now, Wall: time.Unix(1_700_000_000, 0), Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			clk.advance(3 * time.Second)
			lsr := middle32(s.ntp(clk.now())) // our SR left now
			rr := &rtcp.ReceiverReport{SSRC: 99, Reports: []rtcp.ReceptionReport{{SSRC: s.ssrc,
				LastSenderReport: lsr, Delay: uint32(tc.dlsr * 65536 / time.Second)}}}
			b, err := rr.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			s.handleRTCP(clk.now()+tc.trip, b, addrOf(conn))
			st := s.Stats()
			if st.RTTKnown != tc.known {
				t.Fatalf("RTT known %v (%v), want %v", st.RTTKnown, st.RTT, tc.known)
			}
			if tc.known && (st.RTT < tc.between[0] || st.RTT > tc.between[1]) {
				t.Fatalf("RTT %v, want %v..%v", st.RTT, tc.between[0], tc.between[1])
			}
		})
	}
}
