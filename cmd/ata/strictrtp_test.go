package main

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openata/ata/board/pcm"
	"github.com/openata/ata/internal/baresiptest"
	"github.com/openata/ata/internal/kamailiotest"
	"github.com/openata/ata/media/codec"
)

// Strict RTP end to end (issue 13 item 5): the firmware calls a baresip
// far end through Kamailio; the SDP forwarder (callquality_test.go) tells
// the test the call's RTP port.

// strictCall dials 2000, a baresip far end playing a 1300 Hz tone, and
// returns the firmware, the far end and the ATA's RTP port; farRTP, if
// non-zero, is where the offer's media port is pointed instead of the ATA's
// (a relay).
func strictCall(t *testing.T, farRTP func(far *baresiptest.Phone) int) (*firmware, *baresiptest.Phone, int) {
	t.Helper()
	far := baresiptest.Start(t, baresiptest.Opts{User: "2000", Incoming: baresiptest.AutoAnswer,
		Audio: baresiptest.Tone(1300, -10, 40*time.Second)})
	relayPort := 0
	if farRTP != nil {
		relayPort = farRTP(far)
	}
	fwd := startSDPForwarder(t, far.Addr(), relayPort)
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "secret"}, FarEnd: fwd.addr()})
	f := startFirmware(t, lineConfig(kam, ""))
	waitRegistered(t, kam, "1001")
	ctx := context.Background()
	if err := f.phone.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	if err := f.phone.Dial(ctx, "2000", "dtmf"); err != nil {
		t.Fatal(err)
	}
	_, ataRTP := fwd.ports(t)
	return f, far, ataRTP
}

// earpiece records d of the handset's earpiece.
func (f *firmware) earpiece(t *testing.T, d time.Duration) []int16 {
	t.Helper()
	ear, err := f.phone.Listen(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	return ear
}

// loudestSecond is the highest level of hz over any one-second window of
// x (half-second steps): where in a call's recording a tone was is not
// known to the sample.
func loudestSecond(x []int16, hz float64) float64 {
	best := math.Inf(-1)
	for i := 0; i+8000 <= len(x); i += 4000 {
		best = max(best, pcm.ToneLevel(x[i:i+8000], hz))
	}
	return best
}

// TestForeignRTPSourceIsIgnored: during a call, another local address sends
// well-formed RTP (PCMU, its own SSRC, sequence numbers in order, 20 ms
// apart, a 400 Hz tone) into the call's RTP port, as an RTP bleed probe or
// a stray stream does. The handset keeps hearing the far end's 1300 Hz and
// none of the intruder's tone; the far end keeps hearing the handset, and
// the intruder gets no packet of the call.
func TestForeignRTPSourceIsIgnored(t *testing.T) {
	f, far, ataRTP := strictCall(t, nil)
	far.WaitEvent(baresiptest.Established, 10*time.Second)
	f.waitLog(t, "to=talking", 5*time.Second)
	time.Sleep(500 * time.Millisecond) // the jitter buffer fills

	intruder, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 5)})
	if err != nil {
		t.Fatal(err)
	}
	defer intruder.Close()
	ata := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(ataRTP))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // the intruder's stream, for the rest of the test
		defer wg.Done()
		sprayRTP(intruder, ata, 0x0badc0de, 400, stop)
	}()
	var got int
	go func() { // whatever reaches the intruder
		defer wg.Done()
		buf := make([]byte, 2048)
		for {
			intruder.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if _, _, err := intruder.ReadFromUDPAddrPort(buf); err == nil {
				got++
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()

	time.Sleep(300 * time.Millisecond) // the intruder is at it
	f.speak(t, 700, 3*time.Second)
	ear := f.earpiece(t, 2*time.Second)
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	if l := level(ear, 1300); l < -14 {
		t.Errorf("far end's 1300 Hz at %.1f dBm0 in the earpiece while the intruder sends, want about -10", l)
	}
	if l := level(ear, 400); l > -40 {
		t.Errorf("the intruder's 400 Hz reached the earpiece at %.1f dBm0", l)
	}
	if got > 0 {
		t.Errorf("the intruder received %d packets: the call's RTP went to it", got)
	}
	if err := f.phone.Hook(context.Background(), "on"); err != nil {
		t.Fatal(err)
	}
	far.WaitEvent(baresiptest.Closed, 5*time.Second)
	if l := loudestSecond(far.RecordedAudio(), 700); l < -14 {
		t.Errorf("the handset's 700 Hz reached the far end at %.1f dBm0 at best while the intruder sent, want about -10", l)
	}
	f.waitLog(t, "packets from other sources dropped", 5*time.Second)
}

// sprayRTP sends a PCMU stream of a hz tone at -10 dBm0 from c to to every
// 20 ms until stop is closed.
func sprayRTP(c *net.UDPConn, to netip.AddrPort, ssrc uint32, hz float64, stop <-chan struct{}) {
	tone := pcm.NewSine(hz, pcm.Amplitude(-10), 8000)
	pcmFrame := make([]int16, 160)
	pkt := make([]byte, 12+160)
	pkt[0], pkt[1] = 0x80, 0 // V=2, PT 0
	binary.BigEndian.PutUint32(pkt[8:], ssrc)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for seq := uint16(1); ; seq++ {
		binary.BigEndian.PutUint16(pkt[2:], seq)
		binary.BigEndian.PutUint32(pkt[4:], uint32(seq)*160)
		for i := range pcmFrame {
			pcmFrame[i] = pcm.Clip16(tone.Next())
		}
		codec.PCMU.Encode(pkt[12:], pcmFrame)
		c.WriteToUDPAddrPort(pkt, to)
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

// natRelay stands for a NAT in front of the far end: baresip's RTP reaches
// the ATA from the relay's "public" socket, and the ATA's RTP sent there
// goes back to baresip. rebind replaces the public socket with one on a
// new port, as a NAT does when it drops and re-creates a mapping.
type natRelay struct {
	t       *testing.T
	private *net.UDPConn // baresip's side: the offer's media port points here

	mu     sync.Mutex
	public *net.UDPConn // the ATA's side
	far    netip.AddrPort
	ata    netip.AddrPort
}

func startNATRelay(t *testing.T) *natRelay {
	t.Helper()
	r := &natRelay{t: t, private: listenLoopback(t)}
	r.public = listenLoopback(t)
	t.Cleanup(func() {
		r.private.Close()
		r.mu.Lock()
		r.public.Close()
		r.mu.Unlock()
	})
	return r
}

func listenLoopback(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (r *natRelay) privatePort() int { return r.private.LocalAddr().(*net.UDPAddr).Port }

func (r *natRelay) publicPort() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.public.LocalAddr().(*net.UDPAddr).Port
}

// run relays between baresip and the ATA's RTP port.
func (r *natRelay) run(ataRTP int) {
	r.ata = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(ataRTP))
	go func() { // baresip → ATA, from the current public socket
		buf := make([]byte, 2048)
		for {
			n, src, err := r.private.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			r.mu.Lock()
			r.far = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
			pub := r.public
			r.mu.Unlock()
			pub.WriteToUDPAddrPort(buf[:n], r.ata)
		}
	}()
	r.serve(r.publicConn())
}

func (r *natRelay) publicConn() *net.UDPConn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.public
}

// serve relays the ATA's packets arriving on pub to baresip until pub closes.
func (r *natRelay) serve(pub *net.UDPConn) {
	go func() {
		buf := make([]byte, 2048)
		for {
			n, _, err := pub.ReadFromUDPAddrPort(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				continue // an ICMP error from an earlier send
			}
			r.mu.Lock()
			far := r.far
			r.mu.Unlock()
			if far.IsValid() {
				r.private.WriteToUDPAddrPort(buf[:n], far)
			}
		}
	}()
}

// rebind moves the mapping to a new public port: the old one is gone.
func (r *natRelay) rebind() (was, now int) {
	fresh := listenLoopback(r.t)
	r.mu.Lock()
	old := r.public
	r.public = fresh
	r.mu.Unlock()
	old.Close()
	r.serve(fresh)
	return old.LocalAddr().(*net.UDPAddr).Port, fresh.LocalAddr().(*net.UDPAddr).Port
}

// TestFarEndNATRebindingIsFollowed: the far end sits behind a NAT (the
// relay) and its SDP names an address the ATA's packets do not come back
// from; the ATA learns the NAT's mapping after the probation run and, the
// SDP address being loopback (not reachable from elsewhere), latches onto
// it (rtp_latching = "auto"). Mid-call the NAT re-creates the mapping on a
// new port: the old source falls silent, the new one is followed, and the
// audio comes back both ways within about a second.
func TestFarEndNATRebindingIsFollowed(t *testing.T) {
	relay := startNATRelay(t)
	f, far, ataRTP := strictCall(t, func(*baresiptest.Phone) int { return relay.privatePort() })
	relay.run(ataRTP)
	far.WaitEvent(baresiptest.Established, 10*time.Second)
	f.waitLog(t, "to=talking", 5*time.Second)
	time.Sleep(500 * time.Millisecond)
	if l := level(f.earpiece(t, time.Second), 1300); l < -14 {
		t.Fatalf("before the rebinding: far end's 1300 Hz at %.1f dBm0 in the earpiece, want about -10", l)
	}
	was, now := relay.rebind()
	t.Logf("NAT mapping moved from port %d to %d", was, now)
	time.Sleep(1500 * time.Millisecond) // silence limit, probation, jitter buffer
	f.speak(t, 700, 3*time.Second)
	if l := level(f.earpiece(t, time.Second), 1300); l < -14 {
		t.Errorf("after the rebinding: far end's 1300 Hz at %.1f dBm0 in the earpiece, want about -10", l)
	}
	time.Sleep(2500 * time.Millisecond)
	if err := f.phone.Hook(context.Background(), "on"); err != nil {
		t.Fatal(err)
	}
	far.WaitEvent(baresiptest.Closed, 5*time.Second)
	if l := loudestSecond(far.RecordedAudio(), 700); l < -14 {
		t.Errorf("after the rebinding the handset's 700 Hz reached the far end at %.1f dBm0 at best, want about -10: the ATA did not follow the new mapping", l)
	}
	if !strings.Contains(f.log(), "the far end moved") {
		t.Errorf("no \"the far end moved\" in the firmware's log")
	}
}
