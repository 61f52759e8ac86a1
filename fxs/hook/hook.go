// Package hook turns the raw loop edges of an FXS port into telephone
// events: off-hook, on-hook (hang-up), hook flash and rotary (pulse) digits.
//
// The detector works only on the timestamps the board gives it: it never
// reads a clock. Raw edges go to Edge; Advance lets time pass (the port calls
// it once per audio frame) so that timeouts — a hang-up, the end of a rotary
// digit, the end of a debounce period — fire without a further edge.
//
// A raw change becomes a debounced transition once it has lasted Debounce;
// the transition is dated at the raw edge, not at the moment it was
// confirmed, so every duration below (break, make, flash) is measured
// edge to edge and frame granularity does not blur it.
//
// Classification of a break (loop open) by its length d:
//
//	d < FlashMin, in [PulseBreakMin, PulseBreakMax]   one dial pulse
//	d < FlashMin, outside that range                  spoils the pulse train it belongs to
//	FlashMin <= d <= FlashMax                         hook flash
//	d > FlashMax                                      hang-up (OnHook, dated at the break's start)
//
// A pulse train ends when the loop stays closed for PulseInterDigit; it
// yields a digit only if every break, every make between breaks and every
// pulse period was in range and there were 1 to 10 breaks (10 = '0').
package hook

import (
	"fmt"
	"time"

	"github.com/openata/ata/board"
)

// Kind is what an Event reports.
type Kind uint8

// Event kinds.
const (
	// OffHook: the handset was lifted (loop closed after being on-hook).
	OffHook Kind = iota + 1
	// OnHook: the handset was put down: a break longer than FlashMax.
	OnHook
	// Flash: a break inside the flash window.
	Flash
	// PulseDigit: a rotary (decadic) digit; Event.Digit holds '0'..'9'.
	PulseDigit
)

func (k Kind) String() string {
	switch k {
	case OffHook:
		return "off-hook"
	case OnHook:
		return "on-hook"
	case Flash:
		return "flash"
	case PulseDigit:
		return "pulse-digit"
	}
	return fmt.Sprintf("hook.Kind(%d)", uint8(k))
}

// Event is one debounced hook event.
type Event struct {
	Kind Kind
	// Digit is '0'..'9' for PulseDigit, 0 otherwise.
	Digit byte
	// At is the board-clock time the signal began: the loop closing for
	// OffHook, the loop opening for OnHook and Flash, the first break of
	// the train for PulseDigit. Events are reported later than At (after
	// debounce, the flash window or the inter-digit pause).
	At time.Duration
}

// Opts are the detector's timing limits. Start from DefaultOpts.
type Opts struct {
	// Debounce: a raw state that lasts less than this is a contact glitch.
	Debounce time.Duration
	// FlashMin..FlashMax (inclusive) is the flash window; longer is a hang-up.
	FlashMin, FlashMax time.Duration
	// PulseBreakMin..PulseBreakMax is the length of one dial-pulse break.
	PulseBreakMin, PulseBreakMax time.Duration
	// PulseMakeMin..PulseMakeMax is the make between two breaks of a digit.
	PulseMakeMin, PulseMakeMax time.Duration
	// PulsePeriodMin..PulsePeriodMax bounds break+make of one pulse (the rate).
	PulsePeriodMin, PulsePeriodMax time.Duration
	// PulseInterDigit: a make at least this long ends a digit.
	PulseInterDigit time.Duration
}

// DefaultOpts returns limits for 8–12 pulses/s with a 55–70 % break ratio,
// widened by about 10 %, and the Cisco SPA flash window of 100–900 ms.
//
//	break:  12 pps·55 % = 45.8 ms … 8 pps·70 % = 87.5 ms   → 40–95 ms
//	make:   12 pps·30 % = 25.0 ms … 8 pps·45 % = 56.3 ms   → 20–75 ms
//	period: 83.3 ms (12 pps) … 125 ms (8 pps)              → 75–140 ms (13.3–7.1 pps)
//
// PulseInterDigit is 200 ms: more than 3× the longest in-spec make (56 ms)
// and longer than a whole pulse at the slowest rate (125 ms), so a slow dial
// never splits a digit, yet a quarter of the usual 800 ms interdigital pause
// of dials and pulse keypads, so two digits never merge; the digit is
// reported 200 ms after its last pulse, which nobody notices.
// Debounce (10 ms) is under half the shortest in-spec make (25 ms).
func DefaultOpts() Opts {
	return Opts{
		Debounce:        10 * time.Millisecond,
		FlashMin:        100 * time.Millisecond,
		FlashMax:        900 * time.Millisecond,
		PulseBreakMin:   40 * time.Millisecond,
		PulseBreakMax:   95 * time.Millisecond,
		PulseMakeMin:    20 * time.Millisecond,
		PulseMakeMax:    75 * time.Millisecond,
		PulsePeriodMin:  75 * time.Millisecond,
		PulsePeriodMax:  140 * time.Millisecond,
		PulseInterDigit: 200 * time.Millisecond,
	}
}

// Validate checks that the limits are positive and do not overlap; the
// error names the offending field.
func (o Opts) Validate() error {
	pos := []struct {
		name string
		v    time.Duration
	}{
		{"Debounce", o.Debounce}, {"FlashMin", o.FlashMin}, {"FlashMax", o.FlashMax},
		{"PulseBreakMin", o.PulseBreakMin}, {"PulseBreakMax", o.PulseBreakMax},
		{"PulseMakeMin", o.PulseMakeMin}, {"PulseMakeMax", o.PulseMakeMax},
		{"PulsePeriodMin", o.PulsePeriodMin}, {"PulsePeriodMax", o.PulsePeriodMax},
		{"PulseInterDigit", o.PulseInterDigit},
	}
	for _, f := range pos {
		if f.v <= 0 {
			return fmt.Errorf("hook: Opts.%s must be positive, got %v", f.name, f.v)
		}
	}
	// Each rule: field a must be below (or at most) field b, and why.
	order := []struct {
		a, b   string
		va, vb time.Duration
		strict bool
		why    string
	}{
		{"FlashMin", "FlashMax", o.FlashMin, o.FlashMax, false, "the flash window is empty"},
		{"PulseBreakMax", "FlashMin", o.PulseBreakMax, o.FlashMin, true, "a flash that short cannot be told from a dial pulse"},
		{"PulseBreakMin", "PulseBreakMax", o.PulseBreakMin, o.PulseBreakMax, false, "the pulse break range is empty"},
		{"PulseMakeMin", "PulseMakeMax", o.PulseMakeMin, o.PulseMakeMax, false, "the pulse make range is empty"},
		{"PulsePeriodMin", "PulsePeriodMax", o.PulsePeriodMin, o.PulsePeriodMax, false, "the pulse period range is empty"},
		{"PulseMakeMax", "PulseInterDigit", o.PulseMakeMax, o.PulseInterDigit, true, "an in-train make would end the digit"},
		{"Debounce", "PulseMakeMin", o.Debounce, o.PulseMakeMin, true, "debounce would swallow pulse makes"},
		{"Debounce", "PulseBreakMin", o.Debounce, o.PulseBreakMin, true, "debounce would swallow pulse breaks"},
	}
	for _, r := range order {
		if r.va > r.vb || (r.strict && r.va == r.vb) {
			rel := "at most"
			if r.strict {
				rel = "below"
			}
			return fmt.Errorf("hook: Opts.%s (%v) must be %s Opts.%s (%v): %s", r.a, r.va, rel, r.b, r.vb, r.why)
		}
	}
	return nil
}

// state is the debounced line state machine's state.
type state uint8

const (
	idle      state = iota // on-hook
	offHook                // loop closed, no pulse train running
	broken                 // loop open: pulse, flash or hang-up, not known yet
	pulseMake              // loop closed inside a pulse train
)

// Detector turns raw edges into Events. It is not safe for concurrent use;
// the port calls it from its single goroutine.
type Detector struct {
	o Opts

	raw    bool          // last raw state reported by the board
	rawAt  time.Duration // when raw began
	stable bool          // debounced state
	last   time.Duration // latest time seen, so time never runs backwards

	st         state
	breakStart time.Duration // broken: when the loop opened
	makeStart  time.Duration // pulseMake: when the loop closed

	// The pulse train in progress.
	pulses     int
	trainStart time.Duration
	lastBreak  time.Duration // length of the train's latest break
	trainBad   bool

	out []Event
}

// New returns a detector with the line on-hook. o should pass Validate; the
// port checks it before building the detector.
func New(o Opts) *Detector {
	return &Detector{o: o, out: make([]Event, 0, 8)}
}

// OffHook reports the debounced long-term state: true from an OffHook event
// to the next OnHook event (flash and dial pulses do not change it).
func (d *Detector) OffHook() bool { return d.st != idle }

// LoopOpen reports the board's latest raw state: the loop open, whatever
// debouncing and timing will make of it (a glitch, a pulse, a flash or a
// hang-up). The mouthpiece carries nothing then.
func (d *Detector) LoopOpen() bool { return !d.raw }

// Edge takes one raw edge and returns the events it completes. The slice is
// reused by the next call to Edge or Advance.
func (d *Detector) Edge(e board.HookEdge) []Event {
	d.out = d.out[:0]
	at := d.clamp(e.At)
	if e.OffHook == d.raw { // repeated report of the same state
		d.advance(at)
		return d.out
	}
	if d.raw != d.stable { // a change is pending confirmation
		if at-d.rawAt < d.o.Debounce {
			// It did not last: a glitch. The line is back in its stable state.
			d.raw = e.OffHook
			d.advance(at)
			return d.out
		}
		d.commit(d.raw, d.rawAt)
	}
	d.raw, d.rawAt = e.OffHook, at
	d.timeouts(at) // the stable state held at least until now
	return d.out
}

// Advance lets time pass to now and returns the events that became due: a
// confirmed change, a hang-up, the end of a pulse digit. The slice is reused
// by the next call to Edge or Advance.
func (d *Detector) Advance(now time.Duration) []Event {
	d.out = d.out[:0]
	d.advance(d.clamp(now))
	return d.out
}

func (d *Detector) clamp(t time.Duration) time.Duration {
	if t < d.last {
		return d.last
	}
	d.last = t
	return t
}

func (d *Detector) advance(now time.Duration) {
	if d.raw != d.stable && now-d.rawAt >= d.o.Debounce {
		d.commit(d.raw, d.rawAt)
	}
	known := now // how long the stable state is known to have lasted
	if d.raw != d.stable {
		known = d.rawAt
	}
	d.timeouts(known)
}

// commit applies a debounced transition to off (true = loop closed) dated at.
func (d *Detector) commit(off bool, at time.Duration) {
	d.timeouts(at)
	d.stable = off
	switch d.st {
	case idle:
		if off {
			d.st = offHook
			d.emit(OffHook, 0, at)
		}
	case offHook:
		if !off {
			d.st, d.breakStart = broken, at
		}
	case pulseMake:
		if !off {
			d.endMake(at - d.makeStart)
			d.st, d.breakStart = broken, at
		}
	case broken:
		if off {
			d.endBreak(at - d.breakStart)
			if d.st == broken { // not a flash: a pulse (good or bad)
				d.st, d.makeStart = pulseMake, at
			}
		}
	}
}

// endBreak classifies a break of length b that ended with the loop closing.
func (d *Detector) endBreak(b time.Duration) {
	if b >= d.o.FlashMin { // b <= FlashMax, or timeouts would have hung up
		// A flash; a pulse train it interrupts is lost.
		d.pulses, d.trainBad = 0, false
		d.st = offHook
		d.emit(Flash, 0, d.breakStart)
		return
	}
	if d.pulses == 0 && !d.trainBad {
		d.trainStart = d.breakStart
	}
	if b < d.o.PulseBreakMin || b > d.o.PulseBreakMax {
		d.trainBad = true // e.g. a 20 pps dial or a stray short break
	} else {
		d.pulses++
	}
	d.lastBreak = b
}

// endMake checks a make of length m inside a pulse train (a break follows).
func (d *Detector) endMake(m time.Duration) {
	p := d.lastBreak + m
	if m < d.o.PulseMakeMin || m > d.o.PulseMakeMax ||
		p < d.o.PulsePeriodMin || p > d.o.PulsePeriodMax {
		d.trainBad = true
	}
}

// timeouts fires what is due given that the stable state lasted until t.
func (d *Detector) timeouts(t time.Duration) {
	switch d.st {
	case broken:
		if t-d.breakStart > d.o.FlashMax {
			d.pulses, d.trainBad = 0, false // a train cut by hang-up is lost
			d.st = idle
			d.emit(OnHook, 0, d.breakStart)
		}
	case pulseMake:
		if t-d.makeStart >= d.o.PulseInterDigit {
			if !d.trainBad && d.pulses >= 1 && d.pulses <= 10 {
				d.emit(PulseDigit, byte('0'+d.pulses%10), d.trainStart)
			}
			d.pulses, d.trainBad = 0, false
			d.st = offHook
		}
	}
}

func (d *Detector) emit(k Kind, digit byte, at time.Duration) {
	d.out = append(d.out, Event{Kind: k, Digit: digit, At: at})
}
