package rtpsession

import (
	"math"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/openata/ata/media/codec"
)

// sendOnly is a session sending to a sink socket, with a fake clock.
func sendOnly(tb testing.TB) (*Session, *fakeClock) {
	conn, sink := listenTB(tb), listenTB(tb)
	tb.Cleanup(func() { sink.Close() })
	clk := &fakeClock{}
	s, err := New(Config{Conn: conn, Remote: addrOf(sink), Codec: codec.PCMU, EventPayloadType: 101,
		Clock: clk.now, Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s, clk
}

func listenTB(tb testing.TB) *net.UDPConn {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func toneFrame() []int16 {
	mic := make([]int16, 160)
	for i := range mic {
		mic[i] = int16(8000 * math.Sin(2*math.Pi*float64(i)/8))
	}
	return mic
}

// The steady-state send path (encode → marshal → write) allocates nothing.
func TestSendPathNoAllocs(t *testing.T) {
	s, clk := sendOnly(t)
	mic, ear := toneFrame(), make([]int16, 160)
	for range 10 {
		s.Exchange(mic, ear)
	}
	if a := testing.AllocsPerRun(500, func() {
		s.Exchange(mic, ear)
		clk.advance(20 * time.Millisecond)
	}); a != 0 {
		t.Fatalf("%v allocs per frame sent", a)
	}
	if s.Stats().PacketsSent < 510 {
		t.Fatal("packets were not sent")
	}
}

// The same paths driven as a bridge party, WriteFrame and ReadFrame
// separately, allocate nothing either.
func TestEndpointPathsNoAllocs(t *testing.T) {
	s, clk := sendOnly(t)
	mic, ear := toneFrame(), make([]int16, 160)
	for range 10 {
		s.WriteFrame(mic)
		s.ReadFrame(ear)
	}
	if a := testing.AllocsPerRun(500, func() {
		s.WriteFrame(mic)
		s.ReadFrame(ear)
		clk.advance(20 * time.Millisecond)
	}); a != 0 {
		t.Fatalf("%v allocs per frame sent through WriteFrame", a)
	}
	if s.Stats().PacketsSent < 510 {
		t.Fatal("packets were not sent")
	}

	r := newReceiver(t)
	r.endpoint = true
	for range 200 {
		r.step()
	}
	if a := testing.AllocsPerRun(500, r.step); a != 0 {
		t.Fatalf("%v allocs per frame received through ReadFrame", a)
	}
	if st := r.s.Stats(); st.PacketsReceived != 701 || st.Buffer.Played < 690 {
		t.Fatalf("stats %+v", st)
	}
}

// receiver is a session that is fed by a peer socket and read by hand.
type receiver struct {
	s    *Session
	clk  *fakeClock
	peer *net.UDPConn
	to   netip.AddrPort
	pkt  rtp.Packet
	wire [1500]byte
	mic  []int16
	ear  []int16
	// endpoint plays through WriteFrame and ReadFrame instead of Exchange.
	endpoint bool
}

func newReceiver(tb testing.TB) *receiver {
	conn, peer := listenTB(tb), listenTB(tb)
	tb.Cleanup(func() { peer.Close() })
	clk := &fakeClock{}
	s, err := New(Config{Conn: conn, Remote: addrOf(peer), Codec: codec.PCMU, Clock: clk.now, Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	s.SetDirection(false, true)
	r := &receiver{s: s, clk: clk, peer: peer, to: addrOf(conn), mic: make([]int16, 160), ear: make([]int16, 160)}
	r.pkt.Header = rtp.Header{Version: 2, PayloadType: 0, SSRC: 42, SequenceNumber: 65000, Timestamp: 1 << 31}
	r.pkt.Payload = make([]byte, 160)
	codec.PCMU.Encode(r.pkt.Payload, toneFrame())
	return r
}

// step sends one packet from the peer, reads it (ReadFrom → Unmarshal →
// jitter buffer) and plays one frame (jitter buffer → decode → PLC).
func (r *receiver) step() {
	r.pkt.SequenceNumber++
	r.pkt.Timestamp += 160
	n, _ := r.pkt.MarshalTo(r.wire[:])
	r.peer.WriteToUDPAddrPort(r.wire[:n], r.to)
	r.s.readRTP()
	if r.endpoint {
		r.s.WriteFrame(r.mic)
		r.s.ReadFrame(r.ear)
	} else {
		r.s.Exchange(r.mic, r.ear)
	}
	r.clk.advance(20 * time.Millisecond)
}

func TestReceivePathNoAllocs(t *testing.T) {
	r := newReceiver(t)
	for range 200 { // fill the jitter buffer's delay history
		r.step()
	}
	if a := testing.AllocsPerRun(500, r.step); a != 0 {
		t.Fatalf("%v allocs per frame received", a)
	}
	st := r.s.Stats()
	if st.PacketsReceived != 701 || st.Buffer.Played < 690 || st.PacketsLost != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func BenchmarkSendPacket(b *testing.B) {
	s, clk := sendOnly(b)
	mic, ear := toneFrame(), make([]int16, 160)
	b.ReportAllocs()
	for b.Loop() {
		s.Exchange(mic, ear)
		clk.advance(20 * time.Millisecond)
	}
}

func BenchmarkReceivePacket(b *testing.B) {
	r := newReceiver(b)
	b.ReportAllocs()
	for b.Loop() {
		r.step()
	}
}

// The receive path in pass-through (fixed jitter buffer, no concealment)
// allocates nothing, switching on included.
func TestPassThroughPathNoAllocs(t *testing.T) {
	r := newReceiver(t)
	for range 200 {
		r.step()
	}
	r.s.SetPassThrough(true, 60*time.Millisecond)
	for range 10 {
		r.step()
	}
	if a := testing.AllocsPerRun(500, r.step); a != 0 {
		t.Fatalf("%v allocs per frame received in pass-through", a)
	}
	if st := r.s.Stats(); st.PassThroughDepth != 60*time.Millisecond || st.Buffer.Played < 690 {
		t.Fatalf("stats %+v", st)
	}
	if a := testing.AllocsPerRun(100, func() {
		r.s.SetPassThrough(false, 0)
		r.step()
		r.s.SetPassThrough(true, 0)
		r.step()
	}); a != 0 {
		t.Fatalf("%v allocs switching pass-through", a)
	}
}

// Receiving CN packets and playing comfort noise allocates nothing.
func TestComfortNoisePathNoAllocs(t *testing.T) {
	f := newFeed(t, nil)
	for k := range 50 {
		f.tone(k, k == 0)
		f.read()
	}
	k := 50
	step := func() {
		if k%50 == 0 {
			f.cnPacket(13, k, 50)
		}
		f.s.ReadFrame(f.ear)
		f.clk.advance(20 * time.Millisecond)
		k++
	}
	if a := testing.AllocsPerRun(500, step); a != 0 {
		t.Fatalf("%v allocs per frame of comfort noise", a)
	}
	if st := f.s.Stats(); st.CNReceived < 10 || st.Concealed != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// vadSender is a session with VAD sending to a sink, fed background noise.
func vadSender(tb testing.TB) (*Session, *fakeClock, []int16) {
	conn, sink := listenTB(tb), listenTB(tb)
	tb.Cleanup(func() { sink.Close() })
	clk := &fakeClock{}
	s, err := New(Config{Conn: conn, Remote: addrOf(sink), Codec: codec.PCMU, Clock: clk.now, Logger: quiet,
		VAD: true, ComfortNoisePayloadType: 13})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	mic := make([]int16, 160)
	for i := range mic {
		mic[i] = int16(i%7 - 3) // about −80 dBov: silence
	}
	return s, clk, mic
}

// The send path with VAD (suppressing, and sending the CN refreshes)
// allocates nothing.
func TestVADSendPathNoAllocs(t *testing.T) {
	s, clk, mic := vadSender(t)
	if a := testing.AllocsPerRun(600, func() {
		s.WriteFrame(mic)
		clk.advance(20 * time.Millisecond)
	}); a != 0 {
		t.Fatalf("%v allocs per frame with VAD", a)
	}
	if st := s.Stats(); st.CNSent < 3 || st.Suppressed < 580 {
		t.Fatalf("stats %+v: want CN refreshes and suppressed packets", st)
	}
}

func BenchmarkReceivePassThrough(b *testing.B) {
	r := newReceiver(b)
	r.s.SetPassThrough(true, 60*time.Millisecond)
	b.ReportAllocs()
	for b.Loop() {
		r.step()
	}
}

func BenchmarkReceiveComfortNoise(b *testing.B) {
	f := newFeed(b, nil)
	f.tone(0, true)
	f.cnPacket(13, 1, 50)
	b.ReportAllocs()
	for b.Loop() {
		f.s.ReadFrame(f.ear)
		f.clk.advance(20 * time.Millisecond)
	}
	if f.s.Stats().CNReceived != 1 {
		b.Fatal("no CN")
	}
}

func BenchmarkSendVADSilence(b *testing.B) {
	s, clk, mic := vadSender(b)
	b.ReportAllocs()
	for b.Loop() {
		s.WriteFrame(mic)
		clk.advance(20 * time.Millisecond)
	}
}
