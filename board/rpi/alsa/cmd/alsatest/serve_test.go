package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/openata/ata/board/pcm"
	"github.com/openata/ata/board/rpi/alsa"
	"github.com/openata/ata/board/sim"
)

// card is one direction of a fake 8 kHz mono sound card: capture plays
// a tone paced at the real rate, playback keeps what it is given.
type card struct {
	mu     sync.Mutex
	tone   pcm.Sine
	played []int16
	fail   error
}

func (c *card) Rate() int         { return 8000 }
func (c *card) Channels() int     { return 1 }
func (c *card) PeriodFrames() int { return 80 }
func (c *card) XRuns() uint64     { return 0 }
func (c *card) Close() error      { return nil }
func (c *card) Delay() (int, error) {
	return 160, nil
}

func (c *card) ReadFrames(buf []int16) error {
	time.Sleep(time.Duration(len(buf)) * time.Second / 8000)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return c.fail
	}
	for i := range buf {
		buf[i] = pcm.Clip16(c.tone.Next())
	}
	return nil
}

func (c *card) WriteFrames(buf []int16) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.played = append(c.played, buf...)
	return nil
}

func (c *card) playedCopy() []int16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int16(nil), c.played...)
}

func TestServePhoneBridgesTheCard(t *testing.T) {
	capture := &card{tone: pcm.NewSine(440, pcm.Amplitude(-13), 8000)}
	playback := &card{}
	d, err := alsa.NewDuplex(capture, playback, 160)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- servePhone(ctx, d, ln, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	phone := &sim.Client{BaseURL: "http://" + ln.Addr().String()}

	// The earpiece is what the card captured.
	ear, err := phone.Listen(ctx, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if l := pcm.ToneLevel(ear, 440); math.Abs(l+13) > 0.5 {
		t.Errorf("earpiece: 440 Hz at %.1f dBm0, want the card's −13", l)
	}
	// The mouthpiece (off-hook) is what the card plays: DTMF 5 is 770 + 1336 Hz.
	if err := phone.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	if err := phone.Dial(ctx, "5", "dtmf"); err != nil {
		t.Fatal(err)
	}
	played := playback.playedCopy()
	if l := pcm.ToneLevel(played, 770); l < -30 {
		t.Errorf("the card played no DTMF 5 (770 Hz at %.1f dBm0 over %d samples)", l, len(played))
	}
	// A failing card ends the phone with the card's error.
	capture.mu.Lock()
	capture.fail = errors.New("device gone")
	capture.mu.Unlock()
	select {
	case err := <-done:
		if err == nil || !errors.Is(err, capture.fail) {
			t.Fatalf("servePhone returned %v, want the card's error", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("servePhone kept running on a failed card")
	}
	cancel()
}
