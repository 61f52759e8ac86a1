// Package rpi is the Raspberry Pi board: one FXS port made of a SLIC module
// (AG1171 or KS0835F class) whose control lines hang off the Pi's GPIOs and
// whose audio goes through a sound card.
//
// GPIO goes through periph.io: pins are looked up in gpioreg by their line
// name ("GPIO17"), registered by the gpioioctl driver (/dev/gpiochip*, the
// kernel's character device), with the line number on the first chip as a
// fallback. Tests build a board from periph's gpiotest fakes with
// NewWithPins. Wiring, profiles and the on-hardware smoke test are
// described in README.md.
package rpi

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/openata/ata/board"
	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3/gpioioctl"
)

// DefaultRingHz is the ring frequency when Opts.RingHz is zero (US, 20 Hz;
// most of Europe uses 25 Hz).
const DefaultRingHz = 20

// Ring frequencies accepted: the world's ring signals lie within 15–68 Hz.
const (
	MinRingHz = 15
	MaxRingHz = 70
)

// Opts configures New and NewWithPins.
type Opts struct {
	// Pins is the wiring, from Profile or custom. The zero value means
	// the DefaultProfile.
	Pins Pins
	// RingHz is the ring frequency, DefaultRingHz when zero.
	RingHz float64
	// FrameSamples is 80 (10 ms, the default when zero) or 160 (20 ms);
	// Audio must work in frames of this size.
	FrameSamples int
	// Audio is the voice path. Run fails without one; the smoke test
	// uses a board without audio to exercise the GPIOs only.
	Audio Audio
	// Clock stamps hook edges and paces ringing; nil means the system's
	// monotonic clock.
	Clock Clock
	// ModelPath is where to read the Pi model; "" means DefaultModelPath.
	ModelPath string
	// Logger receives the board's logs; nil means slog.Default().
	Logger *slog.Logger
}

// PinSet is the opened GPIOs of a port. Enable may be nil.
type PinSet struct {
	SHK    gpio.PinIn
	RM, FR gpio.PinOut
	Enable gpio.PinOut
}

// Board is a Raspberry Pi with one SLIC port. It implements board.Board.
type Board struct {
	name    string
	model   string
	port    *Port
	release func() // closes the pins New opened
}

var _ board.Board = (*Board)(nil)
var _ board.Port = (*Port)(nil)

// New opens the pins of opts.Pins through periph and makes the board.
func New(opts Opts) (*Board, error) {
	if opts.Pins == (Pins{}) {
		opts.Pins = profiles[DefaultProfile]
	}
	ps, release, err := OpenPins(opts.Pins)
	if err != nil {
		return nil, err
	}
	b, err := NewWithPins(opts, ps)
	if err != nil {
		release()
		return nil, err
	}
	b.release = release
	return b, nil
}

// OpenPins looks up and claims the GPIOs of p. release frees the lines
// (gpioioctl keeps them requested until then).
func OpenPins(p Pins) (ps PinSet, release func(), err error) {
	if err := p.Validate(); err != nil {
		return PinSet{}, nil, err
	}
	if _, err := driverreg.Init(); err != nil {
		return PinSet{}, nil, fmt.Errorf("rpi: gpio drivers: %w", err)
	}
	var opened []gpio.PinIO
	release = func() {
		for _, pin := range opened {
			if c, ok := pin.(interface{ Close() }); ok {
				c.Close()
			}
		}
	}
	open := func(fn string, n int) (gpio.PinIO, error) {
		pin, err := OpenGPIO(n)
		if err != nil {
			return nil, fmt.Errorf("rpi: %s: %w", fn, err)
		}
		opened = append(opened, pin)
		return pin, nil
	}
	if ps.SHK, err = open("SHK", p.SHK); err == nil {
		if ps.RM, err = open("RM", p.RM); err == nil {
			if ps.FR, err = open("FR", p.FR); err == nil && p.Enable != 0 {
				ps.Enable, err = open("Enable", p.Enable)
			}
		}
	}
	if err != nil {
		release()
		return PinSet{}, nil, err
	}
	return ps, release, nil
}

// OpenGPIO finds BCM GPIO n: by the line name the Pi's device tree gives it
// ("GPIO17"), else by line offset on the first (pinctrl) chip, which is the
// BCM number on every Pi model. Call driverreg.Init first.
func OpenGPIO(n int) (gpio.PinIO, error) {
	name := fmt.Sprintf("GPIO%d", n)
	if pin := gpioreg.ByName(name); pin != nil {
		return pin, nil
	}
	if len(gpioioctl.Chips) > 0 && n >= 0 && n < gpioioctl.Chips[0].LineCount() {
		if line := gpioioctl.Chips[0].ByNumber(n); line != nil {
			return line, nil
		}
	}
	return nil, fmt.Errorf("%s not found (no /dev/gpiochip with that line; is this a Raspberry Pi?)", name)
}

// NewWithPins makes the board from already opened pins: New uses it with
// periph's lines, tests with gpiotest fakes. It configures SHK as an input
// with edge detection and puts the outputs at rest: RM low, F/R forward,
// the module enabled.
func NewWithPins(opts Opts, ps PinSet) (*Board, error) {
	if opts.Pins == (Pins{}) {
		opts.Pins = profiles[DefaultProfile]
	}
	if err := opts.Pins.Validate(); err != nil {
		return nil, err
	}
	if ps.SHK == nil || ps.RM == nil || ps.FR == nil {
		return nil, errors.New("rpi: SHK, RM and FR pins are required")
	}
	if (opts.Pins.Enable != 0) != (ps.Enable != nil) {
		return nil, fmt.Errorf("rpi: Enable pin: profile says GPIO%d but pin set has %v", opts.Pins.Enable, ps.Enable)
	}
	switch opts.FrameSamples {
	case 0:
		opts.FrameSamples = board.FrameSamples10ms
	case board.FrameSamples10ms, board.FrameSamples20ms:
	default:
		return nil, fmt.Errorf("rpi: frame of %d samples: want %d or %d",
			opts.FrameSamples, board.FrameSamples10ms, board.FrameSamples20ms)
	}
	if opts.RingHz == 0 {
		opts.RingHz = DefaultRingHz
	}
	if !(opts.RingHz >= MinRingHz && opts.RingHz <= MaxRingHz) {
		return nil, fmt.Errorf("rpi: ring frequency %g Hz: want %d..%d Hz", opts.RingHz, MinRingHz, MaxRingHz)
	}
	if opts.Clock == nil {
		opts.Clock = newWallClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ModelPath == "" {
		opts.ModelPath = DefaultModelPath
	}
	model, err := ReadModel(opts.ModelPath)
	if err != nil {
		opts.Logger.Info("rpi: board model unknown", "err", err)
	}
	p, err := newPort(opts, ps)
	if err != nil {
		return nil, err
	}
	opts.Logger.Info("rpi: board ready", "profile", opts.Pins.Name, "model", model,
		"shk", opts.Pins.SHK, "rm", opts.Pins.RM, "fr", opts.Pins.FR, "ring_hz", opts.RingHz)
	return &Board{name: opts.Pins.Name, model: model, port: p}, nil
}

// Name implements board.Board: the profile name.
func (b *Board) Name() string { return b.name }

// Model is the Pi model from the device tree ("Raspberry Pi 4 Model B Rev
// 1.4"), or "" when unknown. The status page shows it.
func (b *Board) Model() string { return b.model }

// Ports implements board.Board.
func (b *Board) Ports() []board.Port { return []board.Port{b.port} }

// Port returns the board's single port.
func (b *Board) Port() *Port { return b.port }

// Close implements board.Board: it stops ringing, leaves the outputs at
// rest (RM low, F/R forward, module disabled) and releases the pins.
func (b *Board) Close() error {
	err := b.port.close()
	if b.release != nil {
		b.release()
		b.release = nil
	}
	return err
}
