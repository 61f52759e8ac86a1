// Package calltest has fakes of the call vocabulary for other packages'
// tests, in the manner of periph's gpiotest: a Leg that records what was
// asked of it and reports the events the test emits, and a Dialer.
package calltest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/openata/ata/call"
	"github.com/openata/ata/media"
)

// Leg is a fake call.Leg. Operations are recorded in Ops ("answer",
// "hangup:busy", "hold", "resume", "transfer:200", "transfer-to:L2",
// "reject:busy", "redirect:300", "dtmf:5") and only the ones that end a
// leg also emit Ended, as a real leg would.
type Leg struct {
	Name      string
	Party     call.Party
	Out       bool
	Inband    bool
	Endpoint  media.Endpoint // returned by Media once the leg has media
	ReplacesL call.Leg

	mu     sync.Mutex
	ops    []string
	ended  bool
	media  bool
	events chan call.Event
	report *call.MediaReport // set by SetReport
	Err    error             // returned by the operations that can fail
}

// SetReport sets what Report returns from now on (a real leg's figures
// change as the call goes, and stay after it ended).
func (l *Leg) SetReport(r call.MediaReport) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.report = &r
}

// Report is the media summary SetReport gave, else PCMU with no figures.
func (l *Leg) Report() call.MediaReport {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.report != nil {
		return *l.report
	}
	return call.MediaReport{Codec: "PCMU"}
}

// NewLeg makes a leg called name with party number.
func NewLeg(name, number string, outgoing bool) *Leg {
	return &Leg{Name: name, Party: call.Party{Number: number}, Out: outgoing, events: make(chan call.Event, 64)}
}

var _ call.Leg = (*Leg)(nil)

func (l *Leg) record(op string) {
	l.mu.Lock()
	l.ops = append(l.ops, op)
	l.mu.Unlock()
}

// Ops returns what was asked of the leg so far.
func (l *Leg) Ops() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.ops...)
}

// Emit reports ev as the leg's; Answered and EarlyMedia give it media,
// Ended closes the channel. Events after Ended are ignored.
func (l *Leg) Emit(ev call.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return
	}
	if ev.Kind == call.Answered || ev.Kind == call.EarlyMedia {
		l.media = true
	}
	l.events <- ev
	if ev.Kind == call.Ended {
		l.ended = true
		close(l.events)
	}
}

func (l *Leg) end(c call.Cause, detail string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return
	}
	l.ended = true
	l.events <- call.Event{Kind: call.Ended, Cause: c, Detail: detail}
	close(l.events)
}

// Ended reports whether the leg has ended.
func (l *Leg) Ended() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ended
}

func (l *Leg) ID() string                   { return l.Name }
func (l *Leg) Outgoing() bool               { return l.Out }
func (l *Leg) Remote() call.Party           { return l.Party }
func (l *Leg) Events() <-chan call.Event    { return l.events }
func (l *Leg) InBandDTMF() bool             { return l.Inband }
func (l *Leg) Replaces() call.Leg           { return l.ReplacesL }
func (l *Leg) Hold() error                  { l.record("hold"); return l.Err }
func (l *Leg) Alert() error                 { l.record("alert"); return l.Err }
func (l *Leg) Resume() error                { l.record("resume"); return l.Err }
func (l *Leg) Transfer(target string) error { l.record("transfer:" + target); return l.Err }

// Answer records the answer and reports Answered, as a SIP leg does once
// its 200 OK leaves.
func (l *Leg) Answer() error {
	l.record("answer")
	if l.Err != nil {
		return l.Err
	}
	l.Emit(call.Event{Kind: call.Answered})
	return nil
}

func (l *Leg) Reject(c call.Cause) { l.record("reject:" + c.String()); l.end(c, "rejected") }
func (l *Leg) Hangup(c call.Cause) { l.record("hangup:" + c.String()); l.end(c, "local hangup") }

func (l *Leg) Redirect(target string) error {
	l.record("redirect:" + target)
	l.end(call.Redirected, "302")
	return nil
}

func (l *Leg) TransferTo(other call.Leg) error {
	l.record("transfer-to:" + other.ID())
	return l.Err
}

func (l *Leg) SendDTMF(key byte, d time.Duration) error {
	l.record(fmt.Sprintf("dtmf:%c", key))
	return l.Err
}

// Media is Endpoint once the leg answered or has early media.
func (l *Leg) Media() media.Endpoint {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.media {
		return nil
	}
	return l.Endpoint
}

// Dialer is a fake call.Dialer: each Dial makes a new outgoing Leg, kept
// in order, or fails with Err.
type Dialer struct {
	mu   sync.Mutex
	legs []*Leg
	Err  error
	// NewEndpoint, if set, gives each new leg its media endpoint.
	NewEndpoint func(number string) media.Endpoint
	dialed      chan *Leg
}

// NewDialer makes a fake dialer.
func NewDialer() *Dialer { return &Dialer{dialed: make(chan *Leg, 16)} }

func (d *Dialer) Dial(ctx context.Context, number string, o call.DialOptions) (call.Leg, error) {
	if d.Err != nil {
		return nil, d.Err
	}
	d.mu.Lock()
	l := NewLeg(fmt.Sprintf("out%d", len(d.legs)+1), number, true)
	if d.NewEndpoint != nil {
		l.Endpoint = d.NewEndpoint(number)
	}
	d.legs = append(d.legs, l)
	d.mu.Unlock()
	d.dialed <- l
	return l, nil
}

// Dialed delivers each leg as it is dialled.
func (d *Dialer) Dialed() <-chan *Leg { return d.dialed }
