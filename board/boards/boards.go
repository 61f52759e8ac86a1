// Package boards opens the board the configuration names: the simulated
// board or a Raspberry Pi with a SLIC module (its GPIOs, or virtual ones
// for bring-up, and its sound card). It is the board factory main uses;
// it takes options, not the config.
package boards

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/openata/ata/board"
	"github.com/openata/ata/board/rpi"
	"github.com/openata/ata/board/rpi/alsa"
	"github.com/openata/ata/board/rpi/vgpio"
	"github.com/openata/ata/board/sim"
)

// Names lists the boards Open knows.
var Names = []string{"sim", "rpi-ag1171", "rpi-ks0835"}

// Options say which board to open and how.
type Options struct {
	// Name is one of Names.
	Name string
	// SimListen is the sim board's control API address.
	SimListen string
	// GPIO pin overrides of the Pi profile (0 keeps the profile's).
	GPIOSHK, GPIORM, GPIOFR, GPIOEnable int
	// AudioCapture and AudioPlayback are the ALSA devices ("hw:0,0").
	AudioCapture, AudioPlayback string
	// VirtualGPIOListen, if set, replaces the SLIC's control lines by
	// virtual ones on this HTTP address (bring-up, QEMU tests).
	VirtualGPIOListen string
	// FlashBreak is how long the sim phone's flash opens the loop (the
	// middle of the configured flash window); 0: the sim's default.
	FlashBreak time.Duration
	// RingHz is the ring signal frequency (the region's).
	RingHz float64
	// SimEchoERL, SimEchoModel and SimEchoDelay give the sim board's line
	// an echo path (sim.Opts EchoERL, EchoModel, EchoDelay): return loss
	// in dB (0: none), G.168 echo path model 1..8, bulk delay 0..60 ms.
	SimEchoERL   float64
	SimEchoModel int
	SimEchoDelay time.Duration
	Logger       *slog.Logger
}

// Open opens the board. Errors name the setting at fault.
func Open(o Options) (board.Board, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	switch o.Name {
	case "rpi-ag1171", "rpi-ks0835":
		return openPi(o)
	case "sim":
		b, err := sim.New(sim.Opts{Listen: o.SimListen, FlashBreak: o.FlashBreak, Logger: o.Logger,
			EchoERL: o.SimEchoERL, EchoModel: o.SimEchoModel, EchoDelay: o.SimEchoDelay})
		if err != nil {
			return nil, fmt.Errorf("board sim: %w", err)
		}
		o.Logger.Info("ata: sim board control API", "url", "http://"+b.Addr())
		if o.SimEchoERL > 0 {
			o.Logger.Info("ata: sim board line echo", "erl_db", o.SimEchoERL, "model", o.SimEchoModel, "delay", o.SimEchoDelay)
		}
		return b, nil
	}
	return nil, fmt.Errorf("board %q: unknown (known: %v)", o.Name, Names)
}

// openPi opens a Raspberry Pi with a SLIC module: the profile's pins (with
// the overrides) and the sound card, in 20 ms frames to match the RTP
// packet time.
func openPi(o Options) (board.Board, error) {
	log := o.Logger
	pins, err := rpi.Profile(o.Name)
	if err != nil {
		return nil, err
	}
	for _, ov := range []struct {
		dst *int
		v   int
	}{{&pins.SHK, o.GPIOSHK}, {&pins.RM, o.GPIORM}, {&pins.FR, o.GPIOFR}, {&pins.Enable, o.GPIOEnable}} {
		if ov.v != 0 {
			*ov.dst = ov.v
		}
	}
	if err := pins.Validate(); err != nil {
		return nil, fmt.Errorf("board.gpio_*: %w", err)
	}
	const frame = board.FrameSamples20ms
	audio, err := alsa.OpenDuplex(o.AudioCapture, o.AudioPlayback, alsa.Config{}, frame)
	if err != nil {
		return nil, fmt.Errorf("board %s: audio: %w", o.Name, err)
	}
	opts := rpi.Opts{Pins: pins, RingHz: o.RingHz, FrameSamples: frame, Audio: audio, Logger: log}
	var b *rpi.Board
	var lines *vgpio.Lines
	if o.VirtualGPIOListen != "" {
		// No SLIC: virtual control lines over HTTP, the sound card for real.
		lines = vgpio.New(pins, log)
		addr, lerr := lines.Serve(o.VirtualGPIOListen)
		if lerr != nil {
			audio.Close()
			return nil, fmt.Errorf("board %s: board.virtual_gpio_listen: %w", o.Name, lerr)
		}
		log.Warn("ata: virtual GPIOs instead of the SLIC's (board.virtual_gpio_listen)", "url", "http://"+addr)
		b, err = rpi.NewWithPins(opts, lines.PinSet())
	} else {
		b, err = rpi.New(opts)
	}
	if err != nil {
		audio.Close()
		if lines != nil {
			lines.Close()
		}
		return nil, fmt.Errorf("board %s: %w", o.Name, err)
	}
	log.Info("ata: board", "name", b.Name(), "model", b.Model(), "capture", o.AudioCapture, "playback", o.AudioPlayback)
	return piBoard{b, audio, lines}, nil
}

// piBoard closes the sound card (and the virtual GPIOs' API) with the board.
type piBoard struct {
	*rpi.Board
	audio *alsa.Duplex
	lines *vgpio.Lines // nil on real GPIOs
}

// XRuns counts the sound card's overruns and underruns.
func (b piBoard) XRuns() uint64 {
	st := b.audio.Stats()
	return st.CaptureXRuns + st.PlaybackXRuns
}

func (b piBoard) Close() error {
	err := b.Board.Close()
	if aerr := b.audio.Close(); err == nil {
		err = aerr
	}
	if b.lines != nil {
		b.lines.Close()
	}
	return err
}
