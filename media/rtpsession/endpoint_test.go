package rtpsession

import (
	"math"
	"testing"
	"time"

	"github.com/openata/ata/board/pcm"
)

// TestEndpointHalvesCarryAudio: a session driven as a bridge party
// (WriteFrame then ReadFrame, separately) talks with one driven by
// Exchange, both ways.
func TestEndpointHalvesCarryAudio(t *testing.T) {
	clk := &fakeClock{}
	a, b, _ := pair(t, clk, 0, nil)
	toneA, toneB := pcm.NewSine(1000, pcm.Amplitude(-10), 8000), pcm.NewSine(440, pcm.Amplitude(-20), 8000)
	micA, micB := make([]int16, 160), make([]int16, 160)
	earA, earB := make([]int16, 160), make([]int16, 160)
	var heardA, heardB []int16
	for range 60 {
		for i := range micA {
			micA[i], micB[i] = pcm.Clip16(toneA.Next()), pcm.Clip16(toneB.Next())
		}
		sentA, sentB := a.Stats().PacketsSent, b.Stats().PacketsSent
		a.WriteFrame(micA)
		b.Exchange(micB, earB)
		waitFor(t, "B to receive A's packet", func() bool { return rtpReceived(b) > sentA })
		waitFor(t, "A to receive B's packet", func() bool { return rtpReceived(a) > sentB })
		a.ReadFrame(earA)
		heardA, heardB = append(heardA, earA...), append(heardB, earB...)
		clk.advance(20 * time.Millisecond)
	}
	for _, c := range []struct {
		who      string
		heard    []int16
		hz, dBm0 float64
		otherHz  float64
	}{{"A", heardA, 440, -20, 1000}, {"B", heardB, 1000, -10, 440}} {
		tail := c.heard[len(c.heard)-30*160:]
		if l := pcm.ToneLevel(tail, c.hz); math.Abs(l-c.dBm0) > 0.5 {
			t.Errorf("%s heard %.0f Hz at %.2f dBm0, want %.0f", c.who, c.hz, l, c.dBm0)
		}
		if l := pcm.ToneLevel(tail, c.otherHz); l > -50 {
			t.Errorf("%s heard its own %.0f Hz at %.2f dBm0", c.who, c.otherHz, l)
		}
	}
}

// TestWriteFrameKicksRTCP: a party that is only written to (a bridge's
// held or listen-only leg still gets a frame each tick) sends its RTCP
// reports: A learns the round trip from B's answers to A's sender reports.
func TestWriteFrameKicksRTCP(t *testing.T) {
	clk := &fakeClock{}
	a, b, _ := pair(t, clk, 0, nil)
	mic, ear := make([]int16, 160), make([]int16, 160)
	for range 200 { // 4 s: several 1 s report intervals
		a.WriteFrame(mic)
		b.Exchange(mic, ear)
		clk.advance(20 * time.Millisecond)
		time.Sleep(100 * time.Microsecond) // let the RTCP goroutines run
	}
	waitFor(t, "A to learn the RTT", func() bool { return a.Stats().RTTKnown })
}

// TestEndpointAfterClose: a bridge may touch a party once more after call
// control closed it: ReadFrame plays silence and WriteFrame sends nothing.
func TestEndpointAfterClose(t *testing.T) {
	s, _ := sendOnly(t)
	s.Close()
	ear := []int16{1, 2, 3}
	s.WriteFrame(toneFrame())
	s.ReadFrame(ear)
	if ear[0] != 0 || ear[1] != 0 || ear[2] != 0 || s.Stats().PacketsSent != 0 {
		t.Fatalf("after Close: ear %v, %d packets sent", ear, s.Stats().PacketsSent)
	}
}
