package rtpsession

import (
	"log/slog"
	"math"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openata/ata/board/pcm"
	"github.com/openata/ata/media/codec"
	"github.com/openata/ata/media/rfc4733"
)

// fakeClock is the shared audio clock of a test: it moves only when told.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Duration      { return time.Duration(c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func listen(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func addrOf(c net.PacketConn) netip.AddrPort {
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// lossyConn drops every nth packet written through it.
type lossyConn struct {
	*net.UDPConn
	every            int
	written, dropped atomic.Int64
}

func (l *lossyConn) drop() bool {
	n := l.written.Add(1)
	if l.every > 0 && n%int64(l.every) == 0 {
		l.dropped.Add(1)
		return true
	}
	return false
}

func (l *lossyConn) WriteToUDPAddrPort(b []byte, ap netip.AddrPort) (int, error) {
	if l.drop() {
		return len(b), nil
	}
	return l.UDPConn.WriteToUDPAddrPort(b, ap)
}

var quiet = slog.New(slog.DiscardHandler)

// pair makes two sessions A and B on 127.0.0.1 that send to each other,
// A's RTP optionally through a lossy wrapper.
func pair(t *testing.T, clk *fakeClock, lossEvery int, tweak func(a, b *Config)) (a, b *Session, aConn *lossyConn) {
	t.Helper()
	aRTP, aRTCP, bRTP, bRTCP := listen(t), listen(t), listen(t), listen(t)
	aConn = &lossyConn{UDPConn: aRTP, every: lossEvery}
	ca := Config{Conn: aConn, RTCPConn: aRTCP, Remote: addrOf(bRTP), RemoteRTCP: addrOf(bRTCP),
		Codec: codec.PCMU, EventPayloadType: 101, Clock: clk.now, RTCPInterval: time.Second, Logger: quiet}
	cb := Config{Conn: bRTP, RTCPConn: bRTCP, Remote: addrOf(aRTP), RemoteRTCP: addrOf(aRTCP),
		Codec: codec.PCMU, EventPayloadType: 101, Clock: clk.now, RTCPInterval: time.Second, Logger: quiet}
	if tweak != nil {
		tweak(&ca, &cb)
	}
	var err error
	if a, err = New(ca); err != nil {
		t.Fatal(err)
	}
	if b, err = New(cb); err != nil {
		t.Fatal(err)
	}
	a.Start()
	b.Start()
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b, aConn
}

// waitFor polls cond for up to 2 s of real time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// call runs frames of 20 ms: A says tone, B says silence. After each
// frame it waits until both sides have received what was delivered, so
// the fake clock and the network stay in step. It returns B's ear audio.
func call(t *testing.T, clk *fakeClock, a, b *Session, aConn *lossyConn, frames int) []int16 {
	t.Helper()
	tone := pcm.NewSine(1000, pcm.Amplitude(-10), 8000)
	mic, silence := make([]int16, 160), make([]int16, 160)
	earA, earB := make([]int16, 160), make([]int16, 160)
	var heard []int16
	for range frames {
		for i := range mic {
			mic[i] = pcm.Clip16(tone.Next())
		}
		sentA, sentB := a.Stats().PacketsSent, b.Stats().PacketsSent
		a.Exchange(mic, earA)
		b.Exchange(silence, earB)
		heard = append(heard, earB...)
		if a.Stats().PacketsSent > sentA {
			want := uint64(aConn.written.Load() - aConn.dropped.Load())
			waitFor(t, "B to receive A's packet", func() bool { return rtpReceived(b) >= want })
		}
		if got := b.Stats().PacketsSent; got > sentB {
			waitFor(t, "A to receive B's packet", func() bool { return rtpReceived(a) >= got })
		}
		clk.advance(20 * time.Millisecond)
	}
	return heard
}

// rtpReceived counts every RTP packet taken in, voice or event.
func rtpReceived(s *Session) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.src.received
}

func level(s []int16) (dBm0, hz float64) {
	var sum float64
	crossings := 0
	for i, v := range s {
		sum += float64(v) * float64(v)
		if i > 0 && (s[i-1] < 0) != (v < 0) {
			crossings++
		}
	}
	return pcm.RMSLevel(math.Sqrt(sum / float64(len(s)))), float64(crossings) / 2 / (float64(len(s)) / 8000)
}

func TestToneArrivesOverUDP(t *testing.T) {
	clk := &fakeClock{}
	a, b, aConn := pair(t, clk, 0, nil)
	heard := call(t, clk, a, b, aConn, 100)
	lvl, hz := level(heard[len(heard)-50*160:])
	if math.Abs(lvl+10) > 0.5 || math.Abs(hz-1000) > 20 {
		t.Errorf("B heard %.2f dBm0 at %.0f Hz, want -10 dBm0 at 1000 Hz", lvl, hz)
	}
	st := b.Stats()
	if st.PacketsReceived != 100 || st.PacketsLost != 0 || st.LossFraction != 0 || st.Concealed != 0 {
		t.Errorf("B stats: %+v; want 100 received, no loss, nothing concealed", st)
	}
	if st.Jitter != 0 {
		t.Errorf("jitter %v on a fake clock with instant delivery, want 0", st.Jitter)
	}
	if st.MOS < 4.3 {
		t.Errorf("MOS %.2f without loss, want ≥ 4.3", st.MOS)
	}
	if sa := a.Stats(); sa.PacketsSent != 100 || sa.OctetsSent != 16000 {
		t.Errorf("A sent %d packets, %d octets; want 100, 16000", sa.PacketsSent, sa.OctetsSent)
	}
}

func TestLossStatsAndRTCP(t *testing.T) {
	clk := &fakeClock{}
	a, b, aConn := pair(t, clk, 10, nil)
	// 7.9 s: several RTCP intervals; the last packet lost is followed by
	// others, so every loss is visible.
	call(t, clk, a, b, aConn, 395)
	st := b.Stats()
	dropped := aConn.dropped.Load()
	if st.PacketsLost != dropped || math.Abs(st.LossFraction-0.1) > 0.003 {
		t.Errorf("B: lost %d (%.3f), A's wrapper dropped %d of %d", st.PacketsLost, st.LossFraction, dropped, aConn.written.Load())
	}
	if st.Concealed < uint64(dropped)-2 {
		t.Errorf("B concealed %d frames for %d lost packets", st.Concealed, dropped)
	}
	// B's receiver reports reach A: A learns its loss and the RTT.
	waitFor(t, "A to learn RTT and loss from B's reports", func() bool {
		sa := a.Stats()
		return sa.RTTKnown && sa.RemoteLossFraction > 0
	})
	sa := a.Stats()
	if math.Abs(sa.RemoteLossFraction-0.1) > 0.04 || sa.RTT > 100*time.Millisecond {
		t.Errorf("A: remote loss %.3f, RTT %v; want ≈0.1 and a small RTT", sa.RemoteLossFraction, sa.RTT)
	}
	if st.MOS >= 4.3 {
		t.Errorf("MOS %.2f at 10%% loss, want it clearly below the lossless 4.4", st.MOS)
	}
}

func TestMOSFallsWithLoss(t *testing.T) {
	prev := 5.0
	for _, every := range []int{0, 20, 10, 5} {
		clk := &fakeClock{}
		a, b, aConn := pair(t, clk, every, nil)
		call(t, clk, a, b, aConn, 100)
		mos := b.Stats().MOS
		if mos >= prev {
			t.Fatalf("dropping 1 in %d: MOS %.2f, not below %.2f", every, mos, prev)
		}
		prev = mos
	}
}

func TestDTMFOverRTP(t *testing.T) {
	clk := &fakeClock{}
	a, b, aConn := pair(t, clk, 0, nil)
	if err := a.SendDTMF('5', 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := a.SendDTMF('#', 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := a.SendDTMF('x', 100*time.Millisecond); err == nil {
		t.Error("key 'x' accepted")
	}
	call(t, clk, a, b, aConn, 30)
	var got []rfc4733.KeyEvent
	for len(got) < 4 {
		select {
		case e := <-b.DTMF():
			got = append(got, e)
		case <-time.After(time.Second):
			t.Fatalf("key events %+v, want 4", got)
		}
	}
	want := []rfc4733.KeyEvent{{Key: '5', Down: true}, {Key: '5', Duration: 100 * time.Millisecond},
		{Key: '#', Down: true}, {Key: '#', Duration: 100 * time.Millisecond}}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("key events %+v, want %+v", got, want)
		}
	}
	// Voice packets resumed after the events, and B counted no loss.
	if st := b.Stats(); st.PacketsLost != 0 || st.UnknownType != 0 {
		t.Errorf("B stats %+v", st)
	}
}

func TestNoTelephoneEvent(t *testing.T) {
	s, err := New(Config{Conn: listen(t), Codec: codec.PCMA})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SendDTMF('1', 100*time.Millisecond); err != ErrNoTelephoneEvent {
		t.Fatalf("SendDTMF = %v, want ErrNoTelephoneEvent", err)
	}
}

func TestSymmetricRTP(t *testing.T) {
	clk := &fakeClock{}
	nowhere := listen(t) // B believes A is here (e.g. A's private address)
	defer nowhere.Close()
	var aAddr netip.AddrPort
	a, b, aConn := pair(t, clk, 0, func(ca, cb *Config) {
		aAddr = addrOf(ca.Conn)
		cb.Remote, cb.RemoteRTCP = addrOf(nowhere), netip.AddrPort{}
		cb.Symmetric = true
	})
	// A's host speaks first: B learns its source after the probation run
	// (strict RTP) and latches onto it before B's first packet.
	for i := range StrictProbation {
		sendRTP(t, aConn.UDPConn, addrOf(b.cfg.Conn), 0x5eed, uint16(100+i))
	}
	waitFor(t, "B to learn A's source", func() bool { return rtpReceived(b) == 1 })
	call(t, clk, a, b, aConn, 20)
	if got := b.Stats().Remote; got != aAddr {
		t.Fatalf("B sends to %v, want A's source %v", got, aAddr)
	}
	if n := a.Stats().PacketsReceived; n != 20 {
		t.Fatalf("A received %d packets from B after latching, want 20", n)
	}
}

func TestHoldDirection(t *testing.T) {
	clk := &fakeClock{}
	a, b, aConn := pair(t, clk, 0, nil)
	a.SetDirection(false, true)
	call(t, clk, a, b, aConn, 10)
	if n := a.Stats().PacketsSent; n != 0 {
		t.Fatalf("A sent %d packets on hold", n)
	}
	a.SetDirection(true, true)
	call(t, clk, a, b, aConn, 10)
	if n := b.Stats().PacketsReceived; n != 10 {
		t.Fatalf("B received %d packets after resume, want 10", n)
	}
}

// TestPacketTimeSplitsFrames: with ptime 10 a 20 ms frame goes out as two
// packets (timestamps 80 apart), and the far end still hears the tone.
func TestPacketTimeSplitsFrames(t *testing.T) {
	clk := &fakeClock{}
	a, b, aConn := pair(t, clk, 0, func(ca, cb *Config) { ca.PacketSamples = 80 })
	heard := call(t, clk, a, b, aConn, 50)
	if sa := a.Stats(); sa.PacketsSent != 100 || sa.OctetsSent != 8000 {
		t.Fatalf("A sent %d packets, %d octets; want 100 packets of 80", sa.PacketsSent, sa.OctetsSent)
	}
	lvl, hz := level(heard[len(heard)-20*160:])
	if math.Abs(lvl+10) > 0.5 || math.Abs(hz-1000) > 20 {
		t.Errorf("B heard %.2f dBm0 at %.0f Hz, want -10 dBm0 at 1000 Hz", lvl, hz)
	}
	if st := b.Stats(); st.PacketsLost != 0 || st.Concealed > 2 {
		t.Errorf("B stats %+v: lost or concealed frames with 10 ms packets", st)
	}
}
