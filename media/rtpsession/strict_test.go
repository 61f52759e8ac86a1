package rtpsession

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/openata/ata/media/codec"
)

// sendRTP sends one PCMU packet of silence from c to to.
func sendRTP(t *testing.T, c *net.UDPConn, to netip.AddrPort, ssrc uint32, seq uint16) {
	t.Helper()
	if _, err := c.WriteToUDPAddrPort(rtpPacket(ssrc, seq), to); err != nil {
		t.Fatal(err)
	}
}

func rtpPacket(ssrc uint32, seq uint16) []byte {
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: ssrc, SequenceNumber: seq,
		Timestamp: uint32(seq) * 160}, Payload: make([]byte, 160)}
	b, err := p.Marshal()
	if err != nil {
		panic(err)
	}
	return b
}

// strictSession is a session whose far end's SDP says sdp, fed through
// handleRTP with made-up source addresses (no packet crosses a socket).
func strictSession(t *testing.T, sdp string, mode Latching) (*Session, *fakeClock) {
	t.Helper()
	clk := &fakeClock{}
	conn := listen(t)
	s, err := New(Config{Conn: conn, Remote: netip.MustParseAddrPort(sdp), Latching: mode,
		Codec: codec.PCMU, Clock: clk.now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clk
}

// feedFrom hands the session n packets of one stream from from, 20 ms
// apart, and returns how many strict RTP let through to be played.
func feedFrom(s *Session, clk *fakeClock, from string, ssrc uint32, seq uint16, n int) (played int) {
	src := netip.MustParseAddrPort(from)
	for i := range n {
		before := s.Stats().StrictDropped
		s.handleRTP(clk.now(), rtpPacket(ssrc, seq+uint16(i)), src)
		if s.Stats().StrictDropped == before {
			played++
		}
		clk.advance(20 * time.Millisecond)
	}
	return played
}

func wantState(t *testing.T, s *Session, source, remote string, dropped uint64) {
	t.Helper()
	st := s.Stats()
	var src netip.AddrPort
	if source != "" {
		src = netip.MustParseAddrPort(source)
	}
	if st.Source != src || st.Remote != netip.MustParseAddrPort(remote) || st.StrictDropped != dropped {
		t.Fatalf("source %v, sending to %v, %d dropped; want %v, %s, %d", st.Source, st.Remote, st.StrictDropped, src, remote, dropped)
	}
}

// The SDP address's packets are the far end's from the first one; another
// source sending a consistent stream (its own SSRC, sequence numbers in
// order) into the port while the far end talks is never played, and RTP
// keeps going to the far end even with latching "always".
func TestStrictRTPDropsForeignSource(t *testing.T) {
	s, clk := strictSession(t, "198.51.100.10:4000", LatchAlways)
	if n := feedFrom(s, clk, "198.51.100.10:4000", 1, 100, 1); n != 1 {
		t.Fatalf("the SDP address's first packet was not played")
	}
	for i := range 50 {
		feedFrom(s, clk, "198.51.100.10:4000", 1, uint16(101+i), 1)
		if n := feedFrom(s, clk, "192.0.2.66:6000", 0xbad, uint16(7000+i), 1); n != 0 {
			t.Fatalf("foreign packet %d played", i)
		}
	}
	wantState(t, s, "198.51.100.10:4000", "198.51.100.10:4000", 50)
	if st := s.Stats(); st.PacketsReceived != 51 || st.PacketsLost != 0 {
		t.Fatalf("far end's stream: %d received, %d lost; want 51, 0", st.PacketsReceived, st.PacketsLost)
	}
}

// A far end behind a NAT: its SDP names its LAN address and its packets
// come from the NAT's. After StrictProbation consistent packets the source
// is learned; where RTP then goes depends on the latching mode and on
// whether the SDP address can be reached from here.
func TestStrictRTPLearnsNATedSourceAndLatches(t *testing.T) {
	const nat = "203.0.113.7:30000"
	for _, tc := range []struct {
		sdp    string
		mode   Latching
		sendTo string
	}{
		{"192.168.1.20:4000", LatchAuto, nat},
		{"10.1.2.3:4000", LatchAuto, nat},
		{"100.64.0.9:4000", LatchAuto, nat},
		{"[fd00::20]:4000", LatchAuto, nat},
		{"0.0.0.0:4000", LatchAuto, nat},
		{"127.0.0.1:4000", LatchAuto, nat},
		{"198.51.100.10:4000", LatchAuto, "198.51.100.10:4000"}, // public: as given
		{"198.51.100.10:4000", LatchAlways, nat},
		{"192.168.1.20:4000", LatchNever, "192.168.1.20:4000"},
	} {
		t.Run(tc.sdp+"/"+tc.mode.String(), func(t *testing.T) {
			s, clk := strictSession(t, tc.sdp, tc.mode)
			if n := feedFrom(s, clk, nat, 77, 500, StrictProbation-1); n != 0 {
				t.Fatalf("%d packets played during probation", n)
			}
			wantState(t, s, "", tc.sdp, StrictProbation-1)
			if n := feedFrom(s, clk, nat, 77, 500+StrictProbation-1, 10); n != 10 {
				t.Fatalf("%d of 10 packets played after probation", n)
			}
			wantState(t, s, nat, tc.sendTo, StrictProbation-1)
		})
	}
}

// Probation wants one run: a sequence gap, a new SSRC or another address
// in between starts it over.
func TestStrictRTPProbationNeedsConsistentRun(t *testing.T) {
	const a, b = "203.0.113.7:30000", "203.0.113.8:30000"
	s, clk := strictSession(t, "192.168.1.20:4000", LatchAuto)
	feedFrom(s, clk, a, 1, 10, 3)
	feedFrom(s, clk, a, 1, 14, 1) // 13 missing
	feedFrom(s, clk, a, 1, 15, 2)
	feedFrom(s, clk, a, 2, 17, 1) // another SSRC
	feedFrom(s, clk, a, 2, 18, 2)
	feedFrom(s, clk, b, 2, 20, 1) // another address
	feedFrom(s, clk, a, 2, 21, 2)
	feedFrom(s, clk, a, 2, 22, 1) // a duplicate
	feedFrom(s, clk, a, 2, 23, 2)
	wantState(t, s, "", "192.168.1.20:4000", 15)
	if n := feedFrom(s, clk, a, 2, 25, 1); n != 1 {
		t.Fatal("the fourth packet of a clean run was not played")
	}
	wantState(t, s, a, a, 15)
}

// A NAT that rebinds the far end's mapping mid-call: the old source falls
// silent and the new one is followed after its probation run. While the
// learned source still talks, no run takes it over however long.
func TestStrictRTPFollowsRebinding(t *testing.T) {
	const old, moved = "203.0.113.7:30000", "203.0.113.7:31044"
	s, clk := strictSession(t, "192.168.1.20:4000", LatchAuto)
	feedFrom(s, clk, old, 5, 1000, StrictProbation+20)
	for i := range 100 { // interleaved with the learned source: never
		feedFrom(s, clk, old, 5, uint16(1024+i), 1)
		if n := feedFrom(s, clk, moved, 5, uint16(3000+i), 1); n != 0 {
			t.Fatalf("a second source took over while the first talked (packet %d)", i)
		}
	}
	wantState(t, s, old, old, StrictProbation-1+100)
	clk.advance(StrictSilence - 20*time.Millisecond) // the old mapping is gone
	if n := feedFrom(s, clk, moved, 5, 4000, 20); n != 20-StrictProbation+1 {
		t.Fatalf("%d of the moved source's 20 packets played, want %d", n, 20-StrictProbation+1)
	}
	wantState(t, s, moved, moved, StrictProbation-1+100+StrictProbation-1)
	if st := s.Stats(); st.SourceChanges != 1 {
		t.Fatalf("%d source changes, want 1", st.SourceChanges)
	}
}

// A source that went silent less than StrictSilence ago keeps its place.
func TestStrictRTPShortGapKeepsSource(t *testing.T) {
	const src, other = "203.0.113.7:30000", "192.0.2.66:6000"
	s, clk := strictSession(t, "192.168.1.20:4000", LatchAuto)
	feedFrom(s, clk, src, 5, 1000, StrictProbation)
	clk.advance(StrictSilence - 100*time.Millisecond)
	if n := feedFrom(s, clk, other, 9, 1, 3); n != 0 {
		t.Fatalf("%d packets of another source played within the silence limit", n)
	}
	clk.advance(100 * time.Millisecond)
	if n := feedFrom(s, clk, other, 9, 4, StrictProbation); n != 1 {
		t.Fatalf("after the limit a fresh run of %d played %d, want 1", StrictProbation, n)
	}
}

// The SDP address takes the source back at once from a learned one (it is
// what signalling said), and a re-INVITE with the same address keeps
// what was learned while a new address starts over.
func TestStrictRTPSDPAddressAndSetRemote(t *testing.T) {
	const sdp, nat = "192.168.1.20:4000", "203.0.113.7:30000"
	s, clk := strictSession(t, sdp, LatchAuto)
	feedFrom(s, clk, nat, 5, 1, StrictProbation)
	wantState(t, s, nat, nat, StrictProbation-1)
	if n := feedFrom(s, clk, sdp, 6, 1, 1); n != 1 {
		t.Fatal("the SDP address's packet was not played")
	}
	wantState(t, s, sdp, sdp, StrictProbation-1)
	feedFrom(s, clk, nat, 5, StrictProbation+1, 1) // now foreign
	wantState(t, s, sdp, sdp, StrictProbation)

	s2, clk2 := strictSession(t, sdp, LatchAuto)
	feedFrom(s2, clk2, nat, 5, 1, StrictProbation)
	s2.SetRemote(netip.MustParseAddrPort(sdp), netip.AddrPort{}) // hold, 200 after 183...
	wantState(t, s2, nat, nat, StrictProbation-1)
	s2.SetRemote(netip.MustParseAddrPort("198.51.100.30:5000"), netip.AddrPort{}) // moved
	wantState(t, s2, "", "198.51.100.30:5000", StrictProbation-1)
	if n := feedFrom(s2, clk2, nat, 5, StrictProbation+1, 1); n != 0 {
		t.Fatal("the old source was played at once after the SDP address changed")
	}
}

// RTCP is taken from the learned source's host or the SDP's, and goes
// where RTP goes; anyone else's reports are dropped.
func TestStrictRTCP(t *testing.T) {
	const sdp, nat, natRTCP = "192.168.1.20:4000", "203.0.113.7:30000", "203.0.113.7:30077"
	s, clk := strictSession(t, sdp, LatchAuto)
	rr := func(from string) {
		b, err := (&rtcp.ReceiverReport{SSRC: 5, Reports: []rtcp.ReceptionReport{{SSRC: s.ssrc, Jitter: 800}}}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		s.handleRTCP(clk.now(), b, netip.MustParseAddrPort(from))
	}
	rr("192.0.2.66:6001")
	rr(natRTCP) // before the NAT's RTP source is learned: not yet the far end
	if st := s.Stats(); st.StrictDroppedRTCP != 2 || st.RemoteJitter != 0 {
		t.Fatalf("foreign RTCP: %d dropped, remote jitter %v; want 2 dropped, none taken", st.StrictDroppedRTCP, st.RemoteJitter)
	}
	feedFrom(s, clk, nat, 5, 1, StrictProbation)
	if s.remoteRTCP != netip.MustParseAddrPort("203.0.113.7:30001") {
		t.Fatalf("RTCP goes to %v, want the source's port+1", s.remoteRTCP)
	}
	rr(natRTCP)
	if st := s.Stats(); st.StrictDroppedRTCP != 2 || st.RemoteJitter != 100*time.Millisecond {
		t.Fatalf("source's RTCP: %d dropped, remote jitter %v; want 2, 100ms", st.StrictDroppedRTCP, st.RemoteJitter)
	}
	if s.remoteRTCP != netip.MustParseAddrPort(natRTCP) {
		t.Fatalf("RTCP goes to %v, want the source's RTCP %v", s.remoteRTCP, natRTCP)
	}
}

func TestParseLatching(t *testing.T) {
	for in, want := range map[string]Latching{"": LatchAuto, "auto": LatchAuto, "always": LatchAlways, "never": LatchNever} {
		if got, err := ParseLatching(in); err != nil || got != want {
			t.Errorf("ParseLatching(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseLatching("yes"); err == nil {
		t.Error("ParseLatching(yes) took it")
	}
}

// Over real sockets: a foreign source spraying packets of another SSRC
// into the port while the far end talks changes nothing the handset hears
// and costs no allocation.
func TestStrictRTPForeignSourceNoAllocs(t *testing.T) {
	r := newReceiver(t)
	foreign := listen(t)
	defer foreign.Close()
	spray := rtpPacket(0xbad, 1)
	step := func() {
		foreign.WriteToUDPAddrPort(spray, r.to)
		r.s.readRTP()
		spray[3]++ // the next sequence number (low byte)
		r.step()
	}
	for range 200 {
		step()
	}
	if a := testing.AllocsPerRun(500, step); a != 0 {
		t.Fatalf("%v allocs per frame with a foreign source", a)
	}
	st := r.s.Stats()
	if st.PacketsReceived != 701 || st.PacketsLost != 0 || st.StrictDropped != 701 || st.Source != addrOf(r.peer) {
		t.Fatalf("stats %+v", st)
	}
	if l, _ := level(r.ear); l < -20 {
		t.Fatalf("the far end's tone is gone (%.1f dBm0)", l)
	}
}

// FuzzStrictRTP drives the source rules with arbitrary runs of packets from
// four addresses (the SDP address among them), SSRCs, sequence steps and
// gaps, checking after each packet: the SDP address is always played; a
// packet from another address while the learned source spoke less than
// StrictSilence ago never is; every packet is played or counted dropped;
// the learned source is one that sent.
func FuzzStrictRTP(f *testing.F) {
	f.Add([]byte{1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1})
	f.Add([]byte{0, 5, 1, 2, 0, 5, 1, 2, 1, 9, 1, 30, 1, 9, 1, 2, 1, 9, 1, 2, 1, 9, 1, 2})
	addrs := []netip.AddrPort{
		netip.MustParseAddrPort("192.168.1.20:4000"), // the SDP address
		netip.MustParseAddrPort("203.0.113.7:30000"),
		netip.MustParseAddrPort("203.0.113.7:31000"),
		netip.MustParseAddrPort("192.0.2.66:6000"),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		clk := &fakeClock{}
		s, err := New(Config{Conn: nullConn{}, Remote: addrs[0], Codec: codec.PCMU, Clock: clk.now, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		seqs := map[netip.AddrPort]uint16{}
		last := map[netip.AddrPort]time.Duration{}
		played := uint64(0)
		clk.advance(time.Millisecond) // a zero time means "never" below
		for i := 0; i+3 < len(data) && i < 4*200; i += 4 {
			from := addrs[int(data[i])%len(addrs)]
			ssrc := uint32(data[i+1] % 3)
			seqs[from] += uint16(data[i+2] % 3) // repeat, next, or skip one
			clk.advance(time.Duration(data[i+3]) * 10 * time.Millisecond)
			now := clk.now()
			before := s.Stats()
			s.handleRTP(now, rtpPacket(ssrc, seqs[from]), from)
			after := s.Stats()
			admitted := after.StrictDropped == before.StrictDropped
			if admitted {
				played++
			}
			switch {
			case from == addrs[0] && !admitted:
				t.Fatalf("packet %d from the SDP address dropped", i/4)
			case admitted && before.Source.IsValid() && from != before.Source && from != addrs[0] &&
				now-last[before.Source] < StrictSilence:
				t.Fatalf("packet %d from %v played while %v spoke %v ago", i/4, from, before.Source, now-last[before.Source])
			case after.StrictDropped+played != uint64(i/4+1):
				t.Fatalf("%d dropped + %d played after %d packets", after.StrictDropped, played, i/4+1)
			case after.Source.IsValid() && last[after.Source] == 0 && after.Source != from:
				t.Fatalf("learned %v, which never sent", after.Source)
			}
			if admitted || from == before.Source {
				last[from] = now
			}
			if last[from] == 0 {
				last[from] = -1 // sent, not played: never learned from it alone
			}
		}
	})
}
