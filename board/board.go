// Package board is the hardware boundary of the firmware: what an FXS port
// needs from the board it runs on. A board gives the analog port a loop
// (hook) input with timestamped edges, ring control, optional polarity
// reversal and full-duplex 8 kHz 16-bit mono PCM in fixed frames, paced by
// the board's own clock.
//
// The interfaces are narrow on purpose (in the style of periph.io's
// gpio.PinIn/PinOut) so that the simulated board (board/sim) and the
// Raspberry Pi board sit side by side behind them.
package board

import (
	"context"
	"errors"
	"time"
)

// SampleRate is the PCM rate every board delivers and accepts, in Hz.
const SampleRate = 8000

// Frame sizes a board may use: 10 ms or 20 ms of 8 kHz audio.
const (
	FrameSamples10ms = SampleRate / 100
	FrameSamples20ms = SampleRate / 50
)

// ErrNotSupported is returned by a control the hardware does not have,
// for example polarity reversal on a SLIC module without an F/R input.
var ErrNotSupported = errors.New("board: not supported by this hardware")

// HookEdge is one raw (not yet debounced) change of the loop state.
type HookEdge struct {
	// At is the board-clock time of the edge, measured from the start of Run.
	At time.Duration
	// OffHook is the loop state after the edge: true when current flows
	// (handset lifted, or the make phase of a rotary dial pulse).
	OffHook bool
}

// Handler receives what a port's hardware produces. Both methods are called
// from the single goroutine that runs the port, never concurrently, so the
// handler needs no locking for state it touches only there.
type Handler interface {
	// HookEdge reports a raw loop change. Edges arrive in time order and
	// before the frame that covers their time.
	HookEdge(e HookEdge)
	// Frame is called once per audio period. mic holds the samples the
	// handset's mouthpiece produced during the period; the handler fills
	// ear with what the earpiece plays next. Both have FrameSamples
	// samples. at is the board-clock time of the end of the period. The
	// slices are reused: the handler must not keep them.
	Frame(at time.Duration, mic, ear []int16)
}

// Stream is full-duplex 8 kHz PCM that a port's audio can be joined to,
// such as a call's media. Exchange is called once per frame from the
// port's goroutine with the mouthpiece samples and fills ear with what the
// earpiece should play; it must not block or allocate.
type Stream interface {
	Exchange(mic, ear []int16)
}

// Port is one FXS port of a board.
type Port interface {
	// Run drives the port until ctx ends, calling h from one goroutine
	// paced by the board's clock. It reports the initial loop state as an
	// edge at time 0.
	Run(ctx context.Context, h Handler) error
	// FrameSamples is the number of samples per audio frame: 80 or 160.
	FrameSamples() int
	// SetRing applies (true) or removes (false) ringing voltage. Cadence is
	// the caller's job; the board only generates the ring signal itself.
	SetRing(on bool) error
	// SetReversed reverses the line polarity (true) or restores it. Boards
	// that cannot reverse return ErrNotSupported.
	SetReversed(reversed bool) error
}

// Board is a whole board: one or more FXS ports.
type Board interface {
	// Name is the board's name as config calls it ("sim", "rpi-ag1171", ...).
	Name() string
	// Ports lists the board's FXS ports; most boards have one.
	Ports() []Port
	// Close releases the hardware.
	Close() error
}
