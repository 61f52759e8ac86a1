// Package phone is call control: the state machine that joins the analog
// port (fxs) to the telephone line. It runs in one goroutine, takes the
// port's events and its own timers as input, logs every transition and
// tells the port what to play.
//
// This first version has no SIP line yet: a completed number meets the
// reorder tone, as on a real ATA whose account is not configured.
package phone

import (
	"context"
	"log/slog"
	"time"

	"github.com/openata/ata/fxs"
	"github.com/openata/ata/fxs/region"
)

// State is where the phone is.
type State int

// The states of call control.
const (
	Idle            State = iota // on-hook, nothing happening
	DialTone                     // off-hook, dial tone, waiting for the first digit
	Collecting                   // digits arriving, dial plan not yet complete
	Reorder                      // the call could not be made: reorder tone
	ReceiverOffHook              // left off-hook too long: the howler
)

var stateNames = [...]string{"idle", "dial-tone", "collecting", "reorder", "receiver-off-hook"}

func (s State) String() string { return stateNames[s] }

// Port is what call control needs of the analog port (fxs.Port has it).
type Port interface {
	Events() <-chan fxs.Event
	PlayTone(region.Kind)
	StopTone()
	Collect()
	StopCollecting()
}

// Timer is the phone's single timer, injectable for tests.
type Timer interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

// Opts configure call control.
type Opts struct {
	// ReorderToHowler is how long the reorder tone plays before the
	// receiver-off-hook tone (US practice: about 30 s... 60 s).
	ReorderToHowler time.Duration
	Logger          *slog.Logger
	// NewTimer makes the phone's timer; nil uses a real time.Timer.
	NewTimer func() Timer
}

// Phone is the call-control state machine of one port.
type Phone struct {
	port  Port
	opts  Opts
	log   *slog.Logger
	timer Timer
	state State
	// changed, if set, is told of every transition (tests, status page).
	changed func(State)
}

// New builds call control for a port.
func New(port Port, opts Opts) *Phone {
	if opts.ReorderToHowler == 0 {
		opts.ReorderToHowler = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.NewTimer == nil {
		opts.NewTimer = newRealTimer
	}
	return &Phone{port: port, opts: opts, log: opts.Logger, timer: opts.NewTimer()}
}

// OnTransition registers f to be called, from the phone's goroutine, after
// every state change. Set it before Run.
func (ph *Phone) OnTransition(f func(State)) { ph.changed = f }

// Run handles events until ctx ends.
func (ph *Phone) Run(ctx context.Context) error {
	defer ph.timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-ph.port.Events():
			ph.handle(ev)
		case <-ph.timer.C():
			ph.timeout()
		}
	}
}

func (ph *Phone) handle(ev fxs.Event) {
	ph.log.Debug("phone: event", "state", ph.state, "event", ev.Kind, "key", string(rune(max(ev.Key, ' '))), "number", ev.Number)
	if ev.Kind == fxs.OnHook && ph.state != Idle {
		ph.port.StopCollecting()
		ph.port.StopTone()
		ph.to(Idle, "on-hook")
		return
	}
	switch ph.state {
	case Idle:
		ph.idle(ev)
	case DialTone, Collecting:
		ph.dialling(ev)
	}
}

func (ph *Phone) idle(ev fxs.Event) {
	if ev.Kind == fxs.OffHook {
		ph.port.PlayTone(region.Dial)
		ph.port.Collect()
		ph.to(DialTone, "off-hook")
	}
}

func (ph *Phone) dialling(ev fxs.Event) {
	switch ev.Kind {
	case fxs.DigitDown:
		if ph.state == DialTone {
			ph.to(Collecting, "first digit")
		}
	case fxs.Dialed:
		ph.log.Info("phone: number dialled but no SIP line is configured", "number", ev.Number)
		ph.reorder("no line")
	case fxs.DialFailed:
		if ev.Reason == "timeout" {
			ph.howl("no digit dialled")
			return
		}
		ph.reorder(ev.Reason)
	}
}

func (ph *Phone) reorder(why string) {
	ph.port.PlayTone(region.Congestion)
	ph.timer.Reset(ph.opts.ReorderToHowler)
	ph.to(Reorder, why)
}

func (ph *Phone) howl(why string) {
	ph.port.PlayTone(region.ReceiverOffHook)
	ph.to(ReceiverOffHook, why)
}

func (ph *Phone) timeout() {
	if ph.state == Reorder {
		ph.howl("reorder timed out")
	}
}

func (ph *Phone) to(s State, why string) {
	if s == ph.state {
		return
	}
	ph.log.Info("phone: transition", "from", ph.state, "to", s, "why", why)
	if ph.state == Reorder {
		ph.timer.Stop()
	}
	ph.state = s
	if ph.changed != nil {
		ph.changed(s)
	}
}

type realTimer struct{ t *time.Timer }

func newRealTimer() Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &realTimer{t}
}
func (r *realTimer) C() <-chan time.Time   { return r.t.C }
func (r *realTimer) Reset(d time.Duration) { r.t.Reset(d) }
func (r *realTimer) Stop()                 { r.t.Stop() }
