package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/openata/ata/board"
	"github.com/openata/ata/board/rpi/alsa"
	"github.com/openata/ata/board/sim"
)

// serve puts the sim board's virtual phone on the far side of a sound card:
// what the phone says (POST /speak, /dial) is played into playDev, and what
// captureDev records is the phone's earpiece (GET /listen). With snd-aloop
// and ata on hw:Loopback,0, this side on hw:Loopback,1 is the analog phone
// the SLIC would carry. The API is the sim board's (board/sim), without
// authentication: bind it where only tests reach it. The handset starts on
// hook (a silent mouthpiece): POST /hook "off" before speaking or dialing.
func serve(addr, captureDev, playDev string) error {
	d, err := alsa.OpenDuplex(captureDev, playDev, alsa.Config{}, board.FrameSamples20ms)
	if err != nil {
		return err
	}
	defer d.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Printf("alsatest: phone on %s (ear) / %s (mouth), sim API on http://%s\n", captureDev, playDev, ln.Addr())
	return servePhone(ctx, d, ln, slog.New(slog.NewTextHandler(os.Stderr, nil)))
}

// servePhone runs the sim phone on d, its API on ln, until ctx ends or
// the card fails.
func servePhone(ctx context.Context, d *alsa.Duplex, ln net.Listener, log *slog.Logger) error {
	b, err := sim.New(sim.Opts{FrameSamples: board.FrameSamples20ms, Clock: &deviceClock{}, Logger: log})
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: b.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	br := &bridge{d: d, stop: cancel}
	err = b.Port().Run(ctx, br)
	return errors.Join(err, br.err)
}

// deviceClock lets the sound card pace the sim port: a frame is due as
// soon as it is asked for, and the bridge's blocking capture read is the
// wait. Now is the end of the last frame handed out.
type deviceClock struct{ now atomic.Int64 }

func (c *deviceClock) Now() time.Duration { return time.Duration(c.now.Load()) }

func (c *deviceClock) SleepUntil(ctx context.Context, t time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.now.Store(int64(t))
	return nil
}

// bridge joins the sim port to the sound card: the mouthpiece is played,
// the earpiece is what the card captured during the frame.
type bridge struct {
	d    *alsa.Duplex
	stop func()
	err  error // the first device error; it ends Run
}

func (br *bridge) HookEdge(board.HookEdge) {}

func (br *bridge) Frame(at time.Duration, mic, ear []int16) {
	err := br.d.Read(ear)
	if err == nil {
		err = br.d.Write(mic)
	}
	if err != nil && br.err == nil {
		br.err = fmt.Errorf("sound card: %w", err)
		br.stop()
	}
}
