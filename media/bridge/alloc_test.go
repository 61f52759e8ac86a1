package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/openata/ata/board/pcm"
	"github.com/openata/ata/media/bridge/bridgetest"
	"github.com/openata/ata/media/codec"
	"github.com/openata/ata/media/rtpsession"
)

func mixerOf(tb testing.TB, held int, eps ...*bridgetest.FakeEndpoint) *Mixer {
	tb.Helper()
	m := new(Mixer)
	for i, e := range eps {
		mode := Active
		if i < held {
			mode = Held
		}
		if err := m.Add(e, mode); err != nil {
			tb.Fatal(err)
		}
	}
	return m
}

func tones(n int) []*bridgetest.FakeEndpoint {
	eps := make([]*bridgetest.FakeEndpoint, n)
	for i := range eps {
		eps[i] = bridgetest.Tone(400+200*float64(i), -10)
	}
	return eps
}

func toneFrame() []int16 {
	s, f := pcm.NewSine(1000, pcm.Amplitude(-10), 8000), make([]int16, 160)
	for i := range f {
		f[i] = pcm.Clip16(s.Next())
	}
	return f
}

func TestExchangeNoAllocs(t *testing.T) {
	for _, c := range []struct {
		name    string
		parties int
		held    int
	}{{"port+2", 2, 0}, {"port+3", 3, 0}, {"port+3 one held", 3, 1}} {
		m := mixerOf(t, c.held, tones(c.parties)...)
		mic, ear := toneFrame(), make([]int16, 160)
		if a := testing.AllocsPerRun(200, func() { m.Exchange(mic, ear) }); a != 0 {
			t.Errorf("%s: %v allocs per frame", c.name, a)
		}
	}
}

// The self-paced tick body: the relay fast path and the full mix.
func TestTickNoAllocs(t *testing.T) {
	for _, c := range []struct {
		name    string
		parties int
		held    int
	}{{"relay", 2, 0}, {"relay one held", 2, 1}, {"3 legs", 3, 0}} {
		m := mixerOf(t, c.held, tones(c.parties)...)
		if a := testing.AllocsPerRun(200, func() { m.mix(nil, nil, 160) }); a != 0 {
			t.Errorf("%s: %v allocs per frame", c.name, a)
		}
	}
}

// Run's loop around the tick (timer, deadlines) allocates nothing either:
// the heap's allocation count does not move over 1 s of frames. The count
// is process-wide, so a stray allocation elsewhere (the test runner) gets
// two more tries; an allocation per frame would show in every one.
func TestRunNoAllocs(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("%dlegs", n), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := mixerOf(t, 0, tones(n)...)
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				go m.Run(ctx, 20*time.Millisecond)
				time.Sleep(105 * time.Millisecond) // warm up: first timer, Done channel
				var mallocs []uint64
				for range 3 {
					var before, after runtime.MemStats
					runtime.ReadMemStats(&before)
					time.Sleep(time.Second)
					runtime.ReadMemStats(&after)
					mallocs = append(mallocs, after.Mallocs-before.Mallocs)
					if mallocs[len(mallocs)-1] == 0 {
						break
					}
				}
				if mallocs[len(mallocs)-1] != 0 {
					t.Errorf("%d legs: %v allocations in 50 frames", n, mallocs)
				}
				if f, want := m.Stats().Frames, uint64(6+50*len(mallocs)); f != want {
					t.Errorf("%d legs: %d frames, want %d", n, f, want)
				}
			})
		})
	}
}

// frameEndpoint says a precomputed frame and drops what it hears: the
// benchmarks measure the mixer, not a fake's oscillator and lock.
type frameEndpoint struct {
	said  []int16
	heard int
}

func (e *frameEndpoint) ReadFrame(f []int16)  { copy(f, e.said) }
func (e *frameEndpoint) WriteFrame(f []int16) { e.heard += len(f) }

func benchMixer(b *testing.B, parties int) *Mixer {
	m := new(Mixer)
	for range parties {
		if err := m.Add(&frameEndpoint{said: toneFrame()}, Active); err != nil {
			b.Fatal(err)
		}
	}
	return m
}

// BenchmarkRelay is the self-paced tick of two legs: ns per 20 ms frame.
func BenchmarkRelay(b *testing.B) {
	m := benchMixer(b, 2)
	b.ReportAllocs()
	for b.Loop() {
		m.mix(nil, nil, 160)
	}
}

// BenchmarkConference3 is a three-party conference per 20 ms frame: the
// port and two legs, and three legs on the mixer's own clock.
func BenchmarkConference3(b *testing.B) {
	b.Run("port+2", func(b *testing.B) {
		m := benchMixer(b, 2)
		mic, ear := toneFrame(), make([]int16, 160)
		b.ReportAllocs()
		for b.Loop() {
			m.Exchange(mic, ear)
		}
	})
	b.Run("3legs", func(b *testing.B) {
		m := benchMixer(b, 3)
		b.ReportAllocs()
		for b.Loop() {
			m.mix(nil, nil, 160)
		}
	})
}

// benchClock is the sessions' shared audio clock, advanced per frame.
type benchClock struct{ now time.Duration }

func (c *benchClock) Now() time.Duration { return c.now }

// BenchmarkRelayRTP relays two real RTP sessions over loopback UDP: far
// end A ↔ leg A ⇄ mixer ⇄ leg B ↔ far end B. Per frame both far ends send
// and play a frame and the mixer relays one: four encodes and sends, four
// jitter-buffer reads. Receiving runs in the sessions' goroutines, so
// ns/op is the frame goroutines' share; packets are not awaited.
func BenchmarkRelayRTP(b *testing.B) {
	clk := &benchClock{}
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	session := func(conn, peer *net.UDPConn) *rtpsession.Session {
		s, err := rtpsession.New(rtpsession.Config{Conn: conn, Remote: peer.LocalAddr().(*net.UDPAddr).AddrPort(),
			Codec: codec.PCMU, Clock: clk.Now, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		s.Start()
		b.Cleanup(func() { s.Close() })
		return s
	}
	// Each pair of sockets is a session pair.
	farAConn, legAConn, legBConn, farBConn := listen(), listen(), listen(), listen()
	farA, legA := session(farAConn, legAConn), session(legAConn, farAConn)
	legB, farB := session(legBConn, farBConn), session(farBConn, legBConn)
	var m Mixer
	if err := m.Add(legA, Active); err != nil {
		b.Fatal(err)
	}
	if err := m.Add(legB, Active); err != nil {
		b.Fatal(err)
	}
	mic, earA, earB := toneFrame(), make([]int16, 160), make([]int16, 160)
	b.ReportAllocs()
	for b.Loop() {
		farA.Exchange(mic, earA)
		farB.Exchange(mic, earB)
		m.mix(nil, nil, 160)
		clk.now += 20 * time.Millisecond
	}
	b.StopTimer()
	if legA.Stats().PacketsReceived == 0 || farB.Stats().PacketsReceived == 0 {
		b.Fatal("no packet went through the relay")
	}
}
