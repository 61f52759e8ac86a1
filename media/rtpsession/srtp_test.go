package rtpsession

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/openata/ata/board/pcm"
	"github.com/openata/ata/media/codec"
)

var srtpProfiles = []srtp.ProtectionProfile{
	srtp.ProtectionProfileAes128CmHmacSha1_80,
	srtp.ProtectionProfileAes128CmHmacSha1_32,
	srtp.ProtectionProfileAeadAes128Gcm,
}

// keyPair is the two sides' keys of one call: a's Local is b's Remote.
func keyPair(tb testing.TB, p srtp.ProtectionProfile) (a, b SRTPKeys) {
	kl, _ := p.KeyLen()
	sl, _ := p.SaltLen()
	x, y := make([]byte, kl+sl), make([]byte, kl+sl)
	rand.Read(x)
	rand.Read(y)
	return SRTPKeys{Profile: p, Local: x, Remote: y}, SRTPKeys{Profile: p, Local: y, Remote: x}
}

// srtpPair is a sending session whose packets a sink socket catches, and
// a receiving session fed those packets by hand.
type srtpPair struct {
	tx, rx *Session
	clk    *fakeClock
	sink   *net.UDPConn
	buf    [2048]byte
	from   netip.AddrPort
}

func newSRTPPair(tb testing.TB, p srtp.ProtectionProfile) *srtpPair {
	tb.Helper()
	ka, kb := keyPair(tb, p)
	conn, sink := listenTB(tb), listenTB(tb)
	tb.Cleanup(func() { sink.Close() })
	clk := &fakeClock{}
	tx, err := New(Config{Conn: conn, Remote: addrOf(sink), Codec: codec.PCMU, Clock: clk.now, Logger: quiet, SRTP: ka})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { tx.Close() })
	from := addrOf(conn)
	rx, err := New(Config{Conn: nullConn{}, Remote: from, Codec: codec.PCMU, Clock: clk.now, Logger: quiet, SRTP: kb})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { rx.Close() })
	return &srtpPair{tx: tx, rx: rx, clk: clk, sink: sink, from: from}
}

// next sends one frame of mic and returns the datagram as it went out.
func (p *srtpPair) next(tb testing.TB, mic []int16) []byte {
	tb.Helper()
	p.tx.WriteFrame(mic)
	p.sink.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := p.sink.Read(p.buf[:])
	if err != nil {
		tb.Fatal(err)
	}
	return p.buf[:n]
}

// toneFrames is n frames of a 1000 Hz tone at -10 dBm0, in phase across
// frames.
func toneFrames(n int) [][]int16 {
	s := pcm.NewSine(1000, pcm.Amplitude(-10), 8000)
	out := make([][]int16, n)
	for i := range out {
		out[i] = make([]int16, 160)
		for j := range out[i] {
			out[i][j] = pcm.Clip16(s.Next())
		}
	}
	return out
}

// The far end hears our tone through SRTP, in every suite, while the
// datagram on the wire is neither the G.711 payload nor its length.
func TestSRTPCarriesAudioEncrypted(t *testing.T) {
	for _, prof := range srtpProfiles {
		t.Run(prof.String(), func(t *testing.T) {
			p := newSRTPPair(t, prof)
			frames := toneFrames(50)
			tag, _ := prof.AuthTagRTPLen()
			aead, _ := prof.AEADAuthTagLen()
			var heard []int16
			ear := make([]int16, 160)
			for i, mic := range frames {
				wire := p.next(t, mic)
				plain := make([]byte, 160)
				codec.PCMU.Encode(plain, mic)
				if len(wire) != 12+160+tag+aead {
					t.Fatalf("packet %d is %d bytes, want 12+160+%d", i, len(wire), tag+aead)
				}
				if bytes.Contains(wire, plain[:16]) {
					t.Fatalf("packet %d carries the G.711 payload in clear", i)
				}
				p.rx.handleRTP(p.clk.now(), wire, p.from)
				p.rx.ReadFrame(ear)
				heard = append(heard, ear...)
				p.clk.advance(20 * time.Millisecond)
			}
			st := p.rx.Stats()
			if st.PacketsReceived != 50 || st.SRTPFailed != 0 || !st.SRTP {
				t.Fatalf("receiver stats %+v", st)
			}
			if l := pcm.ToneLevel(heard[len(heard)/2:], 1000); l < -11 || l > -9 {
				t.Fatalf("heard the 1000 Hz tone at %.1f dBm0, want -10", l)
			}
			if !p.tx.Encrypted() || !p.tx.Stats().SRTP {
				t.Fatal("the sender does not report SRTP")
			}
		})
	}
}

// A packet that fails authentication (altered, replayed, plain RTP, or
// under another key) is dropped and counted: it reaches neither the
// statistics nor the earpiece.
func TestSRTPDropsWhatFailsAuthentication(t *testing.T) {
	p := newSRTPPair(t, srtp.ProtectionProfileAes128CmHmacSha1_80)
	frames := toneFrames(4)
	first := append([]byte(nil), p.next(t, frames[0])...)
	p.rx.handleRTP(p.clk.now(), first, p.from)
	if st := p.rx.Stats(); st.PacketsReceived != 1 || st.SRTPFailed != 0 {
		t.Fatalf("the genuine packet: %+v", st)
	}
	p.clk.advance(20 * time.Millisecond)

	altered := append([]byte(nil), p.next(t, frames[1])...)
	altered[40] ^= 1
	plain := rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 5, SequenceNumber: 9, Timestamp: 99}, Payload: make([]byte, 160)}
	codec.PCMU.Encode(plain.Payload, frames[2])
	plainWire := mustMarshal(plain.Marshal())
	other, _ := keyPair(t, srtp.ProtectionProfileAes128CmHmacSha1_80)
	foreign, err := srtp.CreateContext(other.Local[:16], other.Local[16:], other.Profile)
	if err != nil {
		t.Fatal(err)
	}
	plain.SequenceNumber++
	foreignWire, err := foreign.EncryptRTP(nil, mustMarshal(plain.Marshal()), nil)
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{"altered": altered, "replayed": first, "plain RTP": plainWire, "another key": foreignWire, "short": first[:14]}
	for name, b := range bad {
		p.rx.handleRTP(p.clk.now(), b, p.from)
		st := p.rx.Stats()
		if st.PacketsReceived != 1 || st.Malformed != 0 || st.UnknownType != 0 {
			t.Fatalf("%s packet got in: %+v", name, st)
		}
	}
	if st := p.rx.Stats(); st.SRTPFailed != uint64(len(bad)) {
		t.Fatalf("%d failures counted, want %d", st.SRTPFailed, len(bad))
	}
	// Nothing of them plays: after the one genuine frame, concealment and
	// then silence, never the altered frames' tone at its level.
	ear := make([]int16, 160)
	var heard []int16
	for range 20 {
		p.rx.ReadFrame(ear)
		heard = append(heard, ear...)
		p.clk.advance(20 * time.Millisecond)
	}
	if l := pcm.ToneLevel(heard[len(heard)/2:], 1000); l > -40 {
		t.Fatalf("1000 Hz at %.1f dBm0 after only one genuine packet", l)
	}
}

// RTCP is protected too (SRTCP), and an altered report is dropped.
func TestSRTCPProtectsReports(t *testing.T) {
	for _, prof := range srtpProfiles {
		t.Run(prof.String(), func(t *testing.T) {
			p := newSRTPPair(t, prof)
			sr := mustMarshal(rtcp.CompoundPacket{
				&rtcp.SenderReport{SSRC: 7, NTPTime: 1 << 40, PacketCount: 3},
				rtcp.NewCNAMESourceDescription(7, "ata-test@openata"),
			}.Marshal())
			wire, ok := p.tx.protectRTCP(append([]byte(nil), sr...))
			if !ok {
				t.Fatal("protectRTCP failed")
			}
			if bytes.Contains(wire, []byte("ata-test@openata")) {
				t.Fatal("the CNAME is in clear on the wire")
			}
			got := p.rx.unprotectRTCP(wire)
			if !bytes.Equal(got, sr) {
				t.Fatalf("report came out as %x, want %x", got, sr)
			}
			wire[len(wire)-1] ^= 0x80
			if p.rx.unprotectRTCP(wire) != nil || p.rx.Stats().SRTPFailed != 1 {
				t.Fatal("an altered report was taken")
			}
		})
	}
}

// New keys from a re-INVITE take over at once; nil goes back to plain RTP.
func TestSetSRTPRekeys(t *testing.T) {
	p := newSRTPPair(t, srtp.ProtectionProfileAes128CmHmacSha1_80)
	frames := toneFrames(3)
	a, b := keyPair(t, srtp.ProtectionProfileAeadAes128Gcm)
	if err := p.tx.SetSRTP(a); err != nil {
		t.Fatal(err)
	}
	if err := p.rx.SetSRTP(b); err != nil {
		t.Fatal(err)
	}
	p.rx.handleRTP(p.clk.now(), p.next(t, frames[0]), p.from)
	p.tx.SetSRTP(SRTPKeys{})
	p.rx.SetSRTP(SRTPKeys{})
	wire := p.next(t, frames[1])
	if len(wire) != 172 || p.tx.Encrypted() {
		t.Fatalf("after SetSRTP(SRTPKeys{}) a %d-byte packet", len(wire))
	}
	p.rx.handleRTP(p.clk.now(), wire, p.from)
	if st := p.rx.Stats(); st.PacketsReceived != 2 || st.SRTPFailed != 0 || st.SRTP {
		t.Fatalf("stats %+v", st)
	}
	if err := p.tx.SetSRTP(SRTPKeys{Profile: srtp.ProtectionProfileAes128CmHmacSha1_80, Local: make([]byte, 5), Remote: make([]byte, 30)}); err == nil {
		t.Fatal("a 5-byte key was taken")
	}
}

// An MKI the far end announced (a=crypto ...|1:4) is expected in its
// packets.
func TestSRTPRemoteMKI(t *testing.T) {
	prof := srtp.ProtectionProfileAes128CmHmacSha1_80
	a, b := keyPair(t, prof)
	mki := []byte{0, 0, 0, 1}
	b.RemoteMKI = mki
	rx, err := New(Config{Conn: nullConn{}, Remote: netip.MustParseAddrPort("127.0.0.1:9"), Codec: codec.PCMU, Logger: quiet, SRTP: b})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	far, err := srtp.CreateContext(a.Local[:16], a.Local[16:], prof, srtp.MasterKeyIndicator(mki))
	if err != nil {
		t.Fatal(err)
	}
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 5, SequenceNumber: 9, Timestamp: 99}, Payload: make([]byte, 160)}
	wire, err := far.EncryptRTP(nil, mustMarshal(pkt.Marshal()), nil)
	if err != nil {
		t.Fatal(err)
	}
	rx.handleRTP(0, wire, netip.MustParseAddrPort("127.0.0.1:9"))
	if st := rx.Stats(); st.PacketsReceived != 1 || st.SRTPFailed != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// With SRTP on, sending a frame and receiving one allocate nothing, in
// every suite.
func TestSRTPPacketPathsNoAllocs(t *testing.T) {
	for _, prof := range srtpProfiles {
		t.Run(prof.String(), func(t *testing.T) {
			p := newSRTPPair(t, prof)
			mic := toneFrame()
			if a := testing.AllocsPerRun(300, func() {
				p.tx.WriteFrame(mic)
				p.clk.advance(20 * time.Millisecond)
			}); a != 0 {
				t.Fatalf("%v allocs per frame sent", a)
			}
			wires := farPackets(t, prof, p.rx, 400)
			i := 0
			ear := make([]int16, 160)
			if a := testing.AllocsPerRun(300, func() {
				p.rx.handleRTP(p.clk.now(), wires[i], p.from)
				p.rx.ReadFrame(ear)
				i++
				p.clk.advance(20 * time.Millisecond)
			}); a != 0 {
				t.Fatalf("%v allocs per frame received", a)
			}
			if st := p.rx.Stats(); st.PacketsReceived < 300 || st.SRTPFailed != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// farPackets are n consecutive SRTP packets of a tone, protected with the
// key rx expects.
func farPackets(tb testing.TB, prof srtp.ProtectionProfile, rx *Session, n int) [][]byte {
	tb.Helper()
	c := rx.srtp.ctx.Load()
	if c == nil {
		tb.Fatal("rx has no SRTP")
	}
	// The key rx takes is the pair's other Local: rebuild it from rx's
	// config.
	k := rx.cfg.SRTP
	kl, _ := prof.KeyLen()
	far, err := srtp.CreateContext(k.Remote[:kl], k.Remote[kl:], prof)
	if err != nil {
		tb.Fatal(err)
	}
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 0x1234, SequenceNumber: 65500, Timestamp: 1 << 30}, Payload: make([]byte, 160)}
	codec.PCMU.Encode(pkt.Payload, toneFrame())
	out := make([][]byte, n)
	for i := range out {
		pkt.SequenceNumber++
		pkt.Timestamp += 160
		if out[i], err = far.EncryptRTP(nil, mustMarshal(pkt.Marshal()), nil); err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

// BenchmarkSRTPPacket is one packet of a call with SRTP: protected and
// sent by one session, checked and taken in by the other (0 allocs/op).
func BenchmarkSRTPPacket(b *testing.B) {
	for _, prof := range srtpProfiles {
		b.Run(prof.String(), func(b *testing.B) {
			p := newSRTPPair(b, prof)
			mic := toneFrame()
			ear := make([]int16, 160)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				wire := p.next(b, mic)
				p.rx.handleRTP(p.clk.now(), wire, p.from)
				p.rx.ReadFrame(ear)
				p.clk.advance(20 * time.Millisecond)
			}
			b.StopTimer()
			if st := p.rx.Stats(); st.SRTPFailed != 0 || st.PacketsReceived != uint64(b.N) {
				b.Fatal(fmt.Sprintf("stats %+v", st))
			}
		})
	}
}

// A Config in a log shows the SRTP profile, never the keys.
func TestSRTPKeysNeverPrint(t *testing.T) {
	a, _ := keyPair(t, srtp.ProtectionProfileAes128CmHmacSha1_80)
	cfg := Config{Codec: codec.PCMU, SRTP: a}
	var out bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d", "%q"} {
		fmt.Fprintf(&out, verb+"\n", cfg)
		fmt.Fprintf(&out, verb+"\n", &cfg)
		fmt.Fprintf(&out, verb+"\n", cfg.SRTP)
	}
	got := out.String()
	if !strings.Contains(got, "[keys redacted]") {
		t.Fatalf("no redaction mark:\n%s", got)
	}
	for _, form := range []string{fmt.Sprintf("%x", a.Local), fmt.Sprint(a.Local)[1:20], fmt.Sprint(a.Remote)[1:20], fmt.Sprintf("%x", a.Remote[:8])} {
		if strings.Contains(got, form) {
			t.Fatalf("a key shows as %q in:\n%s", form, got)
		}
	}
}

// The same keys again (a session refresh, a hold) keep the contexts: a
// stream past its first sequence wrap still decrypts.
func TestSetSRTPSameKeysKeepsState(t *testing.T) {
	p := newSRTPPair(t, srtp.ProtectionProfileAes128CmHmacSha1_80)
	before := p.rx.srtp.ctx.Load()
	if err := p.rx.SetSRTP(p.rx.cfg.SRTP); err != nil {
		t.Fatal(err)
	}
	if p.rx.srtp.ctx.Load() != before {
		t.Fatal("the same keys replaced the contexts (rollover counters lost)")
	}
}

// Two SRTP sessions over loopback with their own goroutines, RTP and RTCP
// both ways: each hears the other's tone, and each learns the round trip
// from the other's protected reports (SRTCP works both ways).
func TestSRTPSessionsTalkOverLoopback(t *testing.T) {
	ka, kb := keyPair(t, srtp.ProtectionProfileAes128CmHmacSha1_32)
	rtpA, rtcpA, rtpB, rtcpB := listenTB(t), listenTB(t), listenTB(t), listenTB(t)
	mk := func(rtpC, rtcpC, peerRTP, peerRTCP *net.UDPConn, k SRTPKeys) *Session {
		s, err := New(Config{Conn: rtpC, RTCPConn: rtcpC, Remote: addrOf(peerRTP), RemoteRTCP: addrOf(peerRTCP),
			Codec: codec.PCMU, RTCPInterval: 100 * time.Millisecond, Logger: quiet, SRTP: k})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		s.Start()
		return s
	}
	a, b := mk(rtpA, rtcpA, rtpB, rtcpB, ka), mk(rtpB, rtcpB, rtpA, rtcpA, kb)
	frames := toneFrames(100)
	var heardA, heardB []int16
	ear := make([]int16, 160)
	for _, mic := range frames {
		a.Exchange(mic, ear)
		heardA = append(heardA, ear...)
		b.Exchange(mic, ear)
		heardB = append(heardB, ear...)
		time.Sleep(20 * time.Millisecond)
	}
	for name, x := range map[string][]int16{"a": heardA, "b": heardB} {
		if l := pcm.ToneLevel(x[len(x)/2:], 1000); l < -12 {
			t.Errorf("%s heard the other's tone at %.1f dBm0", name, l)
		}
	}
	for name, s := range map[string]*Session{"a": a, "b": b} {
		if st := s.Stats(); !st.RTTKnown || st.SRTPFailed != 0 || st.Malformed != 0 {
			t.Errorf("%s: RTT known %v, %d failed, %d malformed", name, st.RTTKnown, st.SRTPFailed, st.Malformed)
		}
	}
}
