package rtpsession

import (
	"math"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/openata/ata/board/pcm"
	"github.com/openata/ata/media"
	"github.com/openata/ata/media/cn"
	"github.com/openata/ata/media/codec"
)

// feed drives a session's receive path by hand, without sockets: packets
// go straight into handleRTP at the fake clock's time, frames come out
// of ReadFrame.
type feed struct {
	s    *Session
	clk  *fakeClock
	pkt  rtp.Packet
	wire [1500]byte
	buf  [480]byte
	from netip.AddrPort
	ear  []int16
}

func newFeed(tb testing.TB, tweak func(*Config)) *feed {
	tb.Helper()
	f := &feed{clk: &fakeClock{}, from: netip.MustParseAddrPort("192.0.2.1:4000"), ear: make([]int16, 160)}
	cfg := Config{Conn: nullConn{}, Remote: f.from, Codec: codec.PCMU, Clock: f.clk.now, Logger: quiet}
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	f.s = s
	f.pkt.Header = rtp.Header{Version: 2, SSRC: 77, SequenceNumber: 100, Timestamp: 8000}
	return f
}

// send delivers one packet of payload type pt now; the packet's timestamp
// is frame k's (160 samples per frame from the stream's start).
func (f *feed) send(pt uint8, k int, marker bool, payload []byte) {
	f.pkt.PayloadType, f.pkt.Marker = pt, marker
	f.pkt.Timestamp = 8000 + uint32(k*160)
	f.pkt.Payload = payload
	n, err := f.pkt.MarshalTo(f.wire[:])
	if err != nil {
		panic(err)
	}
	f.pkt.SequenceNumber++
	f.s.handleRTP(f.clk.now(), f.wire[:n], f.from)
}

// voice sends frame k as PCMU whose every byte is the code word 0x10+k%64:
// the frame carries its identity (see heardFrame).
func (f *feed) voice(k int, marker bool) {
	b := f.buf[:160]
	for i := range b {
		b[i] = byte(0x10 + k%64)
	}
	f.send(0, k, marker, b)
}

// tone sends frame k as a 1000 Hz tone at −20 dBm0.
func (f *feed) tone(k int, marker bool) {
	s := pcm.NewSine(1000, pcm.Amplitude(-20), 8000)
	var x [160]int16
	for i := range x {
		x[i] = pcm.Clip16(s.Next()) // 1000 Hz: 8 samples a period, so frames join in phase
	}
	codec.PCMU.Encode(f.buf[:160], x[:])
	f.send(0, k, marker, f.buf[:160])
}

// cnPacket sends an RFC 3389 payload at level, in place of frame k.
func (f *feed) cnPacket(pt uint8, k int, level uint8) {
	n, _ := cn.Payload{Level: level}.MarshalTo(f.buf[:])
	f.send(pt, k, false, f.buf[:n])
}

// read plays one frame and moves the clock on by 20 ms.
func (f *feed) read() []int16 {
	f.s.ReadFrame(f.ear)
	f.clk.advance(20 * time.Millisecond)
	return append([]int16(nil), f.ear...)
}

// heardFrame recovers k (mod 64) from a frame of voice(k); -1 if the
// frame is not one (silence, concealment).
func heardFrame(ear []int16) int {
	var b [1]byte
	codec.PCMU.Encode(b[:], ear[:1])
	for _, v := range ear {
		if v != ear[0] {
			return -1
		}
	}
	if b[0] < 0x10 || b[0] >= 0x50 {
		return -1
	}
	return int(b[0] - 0x10)
}

func zero(x []int16) bool {
	for _, v := range x {
		if v != 0 {
			return false
		}
	}
	return true
}

func dBov(x []int16) float64 {
	var sum float64
	for _, v := range x {
		sum += float64(v) * float64(v)
	}
	return 20 * math.Log10(math.Sqrt(sum/float64(len(x)))/32767)
}

// The session is what call control finds on a leg's Media().
func TestSessionIsPassThrough(t *testing.T) {
	var ep media.Endpoint = newFeed(t, nil).s
	if _, ok := ep.(media.PassThrough); !ok {
		t.Fatal("*Session does not implement media.PassThrough")
	}
}

// Pass-through switched on mid-call from another goroutine: playout moves
// to exactly 60 ms after arrival and stays, a lost frame plays as zeros
// (not concealed), a packet 40 ms late still plays; switched off, a lost
// frame is concealed again. The report remembers pass-through.
func TestPassThroughReceive(t *testing.T) {
	f := newFeed(t, nil)
	played := make([][]int16, 0, 200)
	for n := range 200 {
		switch n {
		case 50:
			var wg sync.WaitGroup
			wg.Go(func() { f.s.SetPassThrough(true, 60*time.Millisecond) })
			wg.Wait()
		case 120:
			f.s.SetPassThrough(false, 0)
		}
		switch n {
		case 70, 140: // lost
		case 80: // 40 ms late
		case 82:
			f.voice(80, false)
			f.voice(82, false)
		default:
			f.voice(n, n == 0)
		}
		played = append(played, f.read())
		if n == 100 {
			st := f.s.Stats()
			if st.Buffer.Target != 60*time.Millisecond || st.PassThroughDepth != 60*time.Millisecond {
				t.Errorf("in pass-through: target %v, depth %v; want 60 ms", st.Buffer.Target, st.PassThroughDepth)
			}
		}
	}
	for n := 55; n < 120; n++ {
		want := (n - 3) % 64
		if n-3 == 70 {
			want = -1
		}
		if got := heardFrame(played[n]); got != want {
			t.Fatalf("pass-through: tick %d played frame %d, want %d (60 ms after arrival)", n, got, want)
		}
	}
	if !zero(played[73]) {
		t.Error("pass-through: the lost frame was not played as zeros")
	}
	// Off again: the lost frame 140 is concealed (the adaptive buffer
	// plays it somewhere in 140..150).
	concealed := false
	for n := 140; n < 150; n++ {
		if heardFrame(played[n]) == -1 && !zero(played[n]) {
			concealed = true
		}
	}
	if !concealed {
		t.Error("after pass-through: lost frame not concealed")
	}
	st := f.s.Stats()
	if !st.PassThrough || st.PassThroughDepth != 0 || st.Buffer.Late != 0 {
		t.Errorf("stats %+v: want pass-through reported, now off, nothing late", st)
	}
	if d, used := f.s.PassThrough(); d != 0 || !used {
		t.Errorf("PassThrough() = %v, %v", d, used)
	}
}

func TestPassThroughDepthDefaults(t *testing.T) {
	s := newFeed(t, nil).s
	for _, c := range []struct{ in, want time.Duration }{
		{0, DefaultPassThroughDepth}, {-time.Second, DefaultPassThroughDepth},
		{5 * time.Millisecond, MinPassThroughDepth}, {time.Hour, MaxPassThroughDepth},
		{100 * time.Millisecond, 100 * time.Millisecond},
	} {
		s.SetPassThrough(true, c.in)
		if d, _ := s.PassThrough(); d != c.want {
			t.Errorf("SetPassThrough(true, %v): depth %v, want %v", c.in, d, c.want)
		}
	}
	if st := newFeed(t, nil).s.Stats(); st.PassThrough {
		t.Error("a fresh session reports pass-through")
	}
}

// comfortNoiseRun: 1 s of speech, one CN packet at level, 3 s with nothing
// on the wire (past the jitter buffer's 2 s restart), then speech again.
func comfortNoiseRun(t *testing.T, f *feed, pt uint8, level uint8) [][]int16 {
	t.Helper()
	var played [][]int16
	for n := range 250 {
		switch {
		case n < 50:
			f.tone(n, n == 0)
		case n == 50:
			f.cnPacket(pt, n, level)
		case n >= 200:
			f.tone(n, n == 200)
		}
		played = append(played, f.read())
	}
	return played
}

// A CN packet at −50 or −70 dBov, then silence on the wire: every frame
// after the buffered speech is noise at that level ±2 dB; no frame counts
// as concealed; speech after it plays clean.
func TestComfortNoiseReceived(t *testing.T) {
	for _, cnLevel := range []uint8{50, 70} {
		f := newFeed(t, nil)
		played := comfortNoiseRun(t, f, cn.PayloadType, cnLevel)
		for n := 55; n < 200; n++ {
			if got := dBov(played[n]); math.Abs(got+float64(cnLevel)) > 2 {
				t.Fatalf("CN at −%d dBov: frame %d at %.1f dBov", cnLevel, n, got)
			}
		}
		var tail []int16
		for _, p := range played[215:] {
			tail = append(tail, p...)
		}
		if lvl, _ := level(tail); math.Abs(lvl+20) > 0.5 {
			t.Errorf("CN at −%d: speech after the noise at %.1f dBm0, want −20", cnLevel, lvl)
		}
		st := f.s.Stats()
		if st.CNReceived != 1 || st.Concealed != 0 || st.UnknownType != 0 || st.PacketsLost != 0 {
			t.Errorf("CN at −%d: stats %+v", cnLevel, st)
		}
	}
}

// The negotiated dynamic CN type is played too; another dynamic type is
// not ours; in pass-through CN plays as silence.
func TestComfortNoiseTypes(t *testing.T) {
	f := newFeed(t, func(c *Config) { c.ComfortNoisePayloadType = 105 })
	played := comfortNoiseRun(t, f, 105, 40)
	if got := dBov(played[100]); math.Abs(got+40) > 2 {
		t.Errorf("dynamic CN: %.1f dBov, want −40", got)
	}

	f = newFeed(t, nil)
	played = comfortNoiseRun(t, f, 105, 40)
	if !zero(played[100]) || f.s.Stats().UnknownType != 1 {
		t.Errorf("CN of a type not negotiated played (%.1f dBov) or not counted: %+v", dBov(played[100]), f.s.Stats())
	}

	f = newFeed(t, nil)
	f.s.SetPassThrough(true, 0)
	played = comfortNoiseRun(t, f, cn.PayloadType, 40)
	for n := 60; n < 200; n++ {
		if !zero(played[n]) {
			t.Fatalf("pass-through: frame %d not silent after CN (%.1f dBov)", n, dBov(played[n]))
		}
	}

	if _, err := New(Config{Conn: nullConn{}, Codec: codec.PCMU, ComfortNoisePayloadType: 14}); err == nil {
		t.Error("CN payload type 14 accepted")
	}
}

// A malformed (empty) CN payload is counted, not played.
func TestComfortNoiseMalformed(t *testing.T) {
	f := newFeed(t, nil)
	f.tone(0, true)
	f.send(cn.PayloadType, 1, false, nil)
	if st := f.s.Stats(); st.Malformed != 1 || st.CNReceived != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// capConn records the packets a session sends.
type capConn struct {
	nullConn
	mu   sync.Mutex
	pkts []rtp.Packet
}

func (c *capConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	var p rtp.Packet
	if err := p.Unmarshal(append([]byte(nil), b...)); err != nil {
		return 0, err
	}
	c.mu.Lock()
	c.pkts = append(c.pkts, p)
	c.mu.Unlock()
	return len(b), nil
}

// vadRun sends 1 s of speech, 6 s of −60 dBov background, then 0.4 s of
// speech, and returns what went on the wire.
func vadRun(t *testing.T, tweak func(*Config), before func(*Session)) ([]rtp.Packet, Stats) {
	t.Helper()
	conn := &capConn{}
	clk := &fakeClock{}
	cfg := Config{Conn: conn, Remote: netip.MustParseAddrPort("192.0.2.1:4000"), Codec: codec.PCMU,
		Clock: clk.now, Logger: quiet}
	tweak(&cfg)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if before != nil {
		before(s)
	}
	tone := pcm.NewSine(440, pcm.Amplitude(-20), 8000)
	var bg cn.Noise
	bg.SetLevel(60)
	mic := make([]int16, 160)
	for n := range 370 {
		if n < 50 || n >= 350 {
			for i := range mic {
				mic[i] = pcm.Clip16(tone.Next())
			}
		} else {
			bg.Fill(mic)
		}
		s.WriteFrame(mic)
		clk.advance(20 * time.Millisecond)
	}
	return conn.pkts, s.Stats()
}

// VAD on: 200 ms into the background one CN packet (its level measured
// from it) replaces the speech packets, another 5 s later, nothing else;
// speech resumes with the marker bit; sequence numbers and timestamps
// stay continuous.
func TestVADSendsComfortNoise(t *testing.T) {
	pkts, st := vadRun(t, func(c *Config) { c.VAD, c.ComfortNoisePayloadType = true, cn.PayloadType }, nil)
	var cns []rtp.Packet
	voice := 0
	for i, p := range pkts {
		if i > 0 && p.SequenceNumber != pkts[i-1].SequenceNumber+1 {
			t.Fatalf("sequence gap at packet %d: %d after %d", i, p.SequenceNumber, pkts[i-1].SequenceNumber)
		}
		if p.PayloadType == cn.PayloadType {
			cns = append(cns, p)
		} else {
			voice++
		}
	}
	// 50 speech, 9 background frames (180 ms) before the silence counts,
	// the 10th replaced by CN; 20 speech at the end.
	if voice != 50+9+20 || len(cns) != 2 {
		t.Fatalf("%d voice and %d CN packets, want 79 and 2", voice, len(cns))
	}
	start := pkts[0].Timestamp
	first := cns[0]
	var p cn.Payload
	if err := p.Unmarshal(first.Payload); err != nil || p.Level < 59 || p.Level > 61 || len(p.Spectral) != 0 {
		t.Errorf("CN payload % x (%v): want level 60 ±1, no spectral parameters", first.Payload, err)
	}
	if first.Timestamp != start+59*160 || first.Marker {
		t.Errorf("first CN at timestamp +%d (marker %v), want +%d", first.Timestamp-start, first.Marker, 59*160)
	}
	if d := cns[1].Timestamp - first.Timestamp; d != 40000 {
		t.Errorf("CN refreshed after %d samples, want 40000 (5 s)", d)
	}
	resumed := pkts[len(pkts)-20]
	if !resumed.Marker || resumed.Timestamp != start+350*160 || resumed.PayloadType != 0 {
		t.Errorf("speech resumed with %+v, want marker at timestamp +%d", resumed.Header, 350*160)
	}
	if st.CNSent != 2 || st.Suppressed != 291-2 || st.PacketsSent != 81 {
		t.Errorf("stats: %d CN sent, %d suppressed, %d packets; want 2, 289, 81", st.CNSent, st.Suppressed, st.PacketsSent)
	}
}

// No suppression with VAD off, with no CN negotiated, or in pass-through.
func TestVADOff(t *testing.T) {
	for name, c := range map[string]struct {
		tweak  func(*Config)
		before func(*Session)
	}{
		"vad off":      {func(c *Config) { c.ComfortNoisePayloadType = cn.PayloadType }, nil},
		"no CN":        {func(c *Config) { c.VAD = true }, nil},
		"pass-through": {func(c *Config) { c.VAD, c.ComfortNoisePayloadType = true, cn.PayloadType }, func(s *Session) { s.SetPassThrough(true, 0) }},
	} {
		pkts, st := vadRun(t, c.tweak, c.before)
		if len(pkts) != 370 || st.CNSent != 0 {
			t.Errorf("%s: %d packets, %d CN; want 370 voice", name, len(pkts), st.CNSent)
		}
	}
}

// End to end over UDP: A suppresses its silence, B plays A's CN at the
// level of A's background, then A's speech again.
func TestVADToComfortNoiseOverUDP(t *testing.T) {
	clk := &fakeClock{}
	a, b, _ := pair(t, clk, 0, func(ca, cb *Config) {
		ca.VAD, ca.ComfortNoisePayloadType = true, cn.PayloadType
	})
	tone := pcm.NewSine(1000, pcm.Amplitude(-20), 8000)
	var bg cn.Noise
	bg.SetLevel(55)
	mic, ear := make([]int16, 160), make([]int16, 160)
	var heard [][]int16
	for n := range 150 {
		if n < 25 || n >= 125 {
			for i := range mic {
				mic[i] = pcm.Clip16(tone.Next())
			}
		} else {
			bg.Fill(mic)
		}
		sent := a.Stats().PacketsSent
		a.WriteFrame(mic)
		if got := a.Stats().PacketsSent; got > sent {
			waitFor(t, "B to receive A's packet", func() bool { return rtpReceived(b) >= got })
		}
		b.ReadFrame(ear)
		heard = append(heard, append([]int16(nil), ear...))
		clk.advance(20 * time.Millisecond)
	}
	// Frames 25-34 are A's background sent as speech (hangover); from
	// about 37 (the jitter buffer's delay) B plays CN until A speaks.
	for n := 40; n < 125; n++ {
		if got := dBov(heard[n]); math.Abs(got+55) > 2 {
			t.Fatalf("B heard %.1f dBov in frame %d of A's silence, want −55 ±2", got, n)
		}
	}
	if st := b.Stats(); st.CNReceived != 1 || st.Concealed != 0 {
		t.Errorf("B: %+v", st)
	}
	if sa := a.Stats(); sa.CNSent != 1 || sa.Suppressed == 0 {
		t.Errorf("A: %+v", sa)
	}
}
