package dialplan

import (
	"fmt"
	"time"
)

// Opts are the collector's timers.
type Opts struct {
	// FirstDigit: no key at all for this long after Start gives Timeout
	// (the port then plays receiver-off-hook / permanent-signal treatment).
	FirstDigit time.Duration
	// InterDigit is the short (complete-entry) timer: it dials a complete
	// number that a longer pattern could still extend, and it is the wait
	// of a pattern ending in T or a bare S.
	InterDigit time.Duration
	// Incomplete is the long (incomplete-entry) timer: digits that only
	// begin a pattern and get no further key for this long are refused.
	Incomplete time.Duration
	// MaxDigits is the most keys collected; one more is refused.
	MaxDigits int
}

// DefaultOpts returns:
//   - FirstDigit 15 s: the config's default; MGCP's partial-dial timer and
//     VOCAL's Initial_Digit_Timeout are 16 s, Cisco SPA's dial-plan timer 5 s
//     is short for someone looking a number up after lifting the handset;
//   - InterDigit 4 s: MGCP's critical timer (Tcrit) default, between Cisco
//     SPA's 3 s short timer and the 5 s "T" of many phones;
//   - Incomplete 10 s: Cisco SPA's interdigit long timer default;
//   - MaxDigits 32: E.164's 15 digits plus prefixes, access and feature codes.
func DefaultOpts() Opts {
	return Opts{
		FirstDigit: 15 * time.Second,
		InterDigit: 4 * time.Second,
		Incomplete: 10 * time.Second,
		MaxDigits:  32,
	}
}

// Validate checks that every timer is positive; the error names the field.
func (o Opts) Validate() error {
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"FirstDigit", o.FirstDigit}, {"InterDigit", o.InterDigit}, {"Incomplete", o.Incomplete}} {
		if f.v <= 0 {
			return fmt.Errorf("dialplan: Opts.%s must be positive, got %v", f.name, f.v)
		}
	}
	if o.MaxDigits <= 0 {
		return fmt.Errorf("dialplan: Opts.MaxDigits must be positive, got %d", o.MaxDigits)
	}
	return nil
}

// Kind says what the collector decided.
type Kind uint8

// Outcome kinds.
const (
	// Continue: nothing decided yet (also returned while not collecting).
	Continue Kind = iota
	// Dial: call Outcome.Number.
	Dial
	// Reject: refuse (reorder tone); Outcome.Reason says why.
	Reject
	// Timeout: no key was pressed within Opts.FirstDigit.
	Timeout
)

func (k Kind) String() string {
	switch k {
	case Continue:
		return "continue"
	case Dial:
		return "dial"
	case Reject:
		return "reject"
	case Timeout:
		return "timeout"
	}
	return fmt.Sprintf("dialplan.Kind(%d)", uint8(k))
}

// Reasons a number is rejected.
const (
	ReasonNoMatch    = "no match"   // no pattern matches
	ReasonBarred     = "barred"     // a '!' pattern matches
	ReasonIncomplete = "incomplete" // the digits only began a pattern when dialling stopped
	ReasonTooLong    = "too many digits"
)

// Outcome is the collector's decision after a key or a clock tick.
type Outcome struct {
	Kind   Kind
	Number string // Dial: the number after substitutions
	Reason string // Reject: one of the Reason constants
}

// Collector gathers keys against a plan and decides when and what to dial.
// Time is injected: every call carries the board-clock time. After a Dial,
// Reject or Timeout it ignores keys until the next Start. It is not safe for
// concurrent use.
//
// '#' is an ordinary key when the plan can use it at that point (for
// example "*xx#" or "#xx"): when the digits so far plus '#' match or begin
// a pattern. Otherwise '#' means "send now": the digits so far are dialled
// if a pattern matches them (whatever timer it has), refused if they only
// begin a pattern, match nothing, or are barred.
type Collector struct {
	plan *Plan
	o    Opts

	active   bool
	start    time.Duration
	keys     []byte
	deadline time.Duration
	armed    bool    // deadline is set
	due      Outcome // what the deadline brings
}

// NewCollector returns a collector for plan; zero or negative fields of o
// take DefaultOpts values. A nil plan refuses every number.
func NewCollector(plan *Plan, o Opts) *Collector {
	d := DefaultOpts()
	if o.FirstDigit <= 0 {
		o.FirstDigit = d.FirstDigit
	}
	if o.InterDigit <= 0 {
		o.InterDigit = d.InterDigit
	}
	if o.Incomplete <= 0 {
		o.Incomplete = d.Incomplete
	}
	if o.MaxDigits <= 0 {
		o.MaxDigits = d.MaxDigits
	}
	if plan == nil {
		plan = &Plan{}
	}
	return &Collector{plan: plan, o: o, keys: make([]byte, 0, o.MaxDigits+1)}
}

// Start begins a collection at now: clears the keys and starts the
// first-digit timer.
func (c *Collector) Start(now time.Duration) {
	c.active, c.start, c.keys, c.armed = true, now, c.keys[:0], false
}

// Stop ends the collection without an outcome.
func (c *Collector) Stop() { c.active = false }

// Collected returns the keys gathered so far.
func (c *Collector) Collected() string { return string(c.keys) }

// Digit takes a key (0-9 * #; other keys are ignored) pressed at now.
func (c *Collector) Digit(key byte, now time.Duration) Outcome {
	if !c.active || keyIndex(key) < 0 {
		return Outcome{}
	}
	c.keys = append(c.keys, key)
	r := c.plan.Match(string(c.keys))
	if key == '#' && r.Status == NoMatch {
		// Not part of any pattern here: '#' sends what was dialled.
		c.keys = c.keys[:len(c.keys)-1]
		if len(c.keys) == 0 {
			return c.finish(Outcome{Kind: Reject, Reason: ReasonNoMatch})
		}
		r = c.plan.Match(string(c.keys))
		if r.Status == Complete || r.Status == CompleteWithMore {
			return c.finish(Outcome{Kind: Dial, Number: r.Number})
		}
		return c.finish(rejectFor(r.Status))
	}
	if len(c.keys) > c.o.MaxDigits {
		return c.finish(Outcome{Kind: Reject, Reason: ReasonTooLong})
	}
	switch r.Status {
	case Partial:
		c.arm(now+c.o.Incomplete, Outcome{Kind: Reject, Reason: ReasonIncomplete})
	case Complete, CompleteWithMore:
		wait := r.Wait
		if wait == DefaultTimer {
			wait = c.o.InterDigit
		}
		dial := Outcome{Kind: Dial, Number: r.Number}
		if wait == 0 {
			return c.finish(dial)
		}
		c.arm(now+wait, dial)
	default:
		return c.finish(rejectFor(r.Status))
	}
	return Outcome{}
}

func rejectFor(s Status) Outcome {
	switch s {
	case Barred:
		return Outcome{Kind: Reject, Reason: ReasonBarred}
	case Partial:
		return Outcome{Kind: Reject, Reason: ReasonIncomplete}
	}
	return Outcome{Kind: Reject, Reason: ReasonNoMatch}
}

// Advance lets time pass to now and returns the outcome of a timer that
// expired, or Continue. The port calls it every frame; it does not allocate.
func (c *Collector) Advance(now time.Duration) Outcome {
	if !c.active {
		return Outcome{}
	}
	if len(c.keys) == 0 {
		if now-c.start >= c.o.FirstDigit {
			return c.finish(Outcome{Kind: Timeout})
		}
		return Outcome{}
	}
	if c.armed && now >= c.deadline {
		return c.finish(c.due)
	}
	return Outcome{}
}

func (c *Collector) arm(at time.Duration, o Outcome) {
	c.armed, c.deadline, c.due = true, at, o
}

func (c *Collector) finish(o Outcome) Outcome {
	c.active, c.armed = false, false
	return o
}
