package router

import (
	"context"
	"reflect"
	"sync"
	"time"

	"github.com/openata/ata/call"
	"github.com/openata/ata/media"
)

// Record is one routed call: both legs, the route, who hung up. It is the
// call log's entry and, while the call lasts, the status page's.
type Record struct {
	Start      time.Time   `json:"start"`
	Answered   time.Time   `json:"answered,omitzero"`
	End        time.Time   `json:"end,omitzero"`
	From       string      `json:"from"`   // "line:1", "trunk:carrier", "user:201"
	Caller     string      `json:"caller"` // the caller's number or user name
	To         string      `json:"to"`     // the extensions alerted, or the number sent out
	Route      string      `json:"route,omitempty"`
	AnsweredBy string      `json:"answered_by,omitempty"` // the extension that took it
	EndedBy    string      `json:"ended_by,omitempty"`    // "caller" or "callee": who hung up first
	Cause      string      `json:"end_cause,omitempty"`
	Detail     string      `json:"detail,omitempty"`
	Legs       []LegReport `json:"legs,omitempty"`
}

// LegReport is one leg of a routed call and its media figures.
type LegReport struct {
	ID    string           `json:"id"`
	Side  string           `json:"side"` // "caller" or "callee"
	Media call.MediaReport `json:"media"`
}

// active is a call in progress.
type active struct {
	mu   sync.Mutex
	rec  *Record
	legs map[string]call.Leg // side → leg
}

func (a *active) snapshot() Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	rec := *a.rec
	rec.Legs = nil
	for _, side := range []string{"caller", "callee"} {
		if l := a.legs[side]; l != nil {
			rec.Legs = append(rec.Legs, LegReport{ID: l.ID(), Side: side, Media: l.Report()})
		}
	}
	return rec
}

func (r *Router) track(rec *Record, caller call.Leg) *active {
	a := &active{rec: rec, legs: map[string]call.Leg{"caller": caller}}
	r.mu.Lock()
	r.calls[a] = struct{}{}
	r.mu.Unlock()
	return a
}

func (r *Router) untrack(a *active) {
	r.mu.Lock()
	delete(r.calls, a)
	r.mu.Unlock()
	rec := a.snapshot()
	r.record(&rec)
}

func (a *active) set(f func(rec *Record)) {
	a.mu.Lock()
	f(a.rec)
	a.mu.Unlock()
}

// attempt is one endpoint being alerted for a call.
type attempt struct {
	ext      string
	leg      call.Leg
	port     *portLeg    // when the endpoint is the port
	user     *User       // when the endpoint is a local user
	depth    int         // forwards followed to get here
	noAnswer *time.Timer // a user's no-answer forwarding, or nil
}

func (t *attempt) stopTimer() {
	if t.noAnswer != nil {
		t.noAnswer.Stop()
	}
}

// ring alerts every extension in exts for in; the first to answer takes
// the call and the others are cancelled. A user's do-not-disturb and
// forwarding apply here: a user in DND is not alerted, one forwarding
// always is replaced by the target, one forwarding on busy or on no
// answer hands over to the target when that happens.
func (r *Router) ring(ctx context.Context, rec *Record, in call.Leg, exts []string) {
	act := r.track(rec, in)
	defer r.untrack(act)
	var tries []*attempt
	last := call.Unavailable
	for _, ext := range exts {
		t, cause := r.alert(ctx, in, ext, 0)
		if t != nil {
			tries = append(tries, t)
		} else if cause != call.Unavailable {
			last = cause
		}
	}
	if len(tries) == 0 {
		in.Reject(last)
		act.set(func(rec *Record) { rec.Cause, rec.Detail = last.String(), "no extension reachable" })
		return
	}
	alerted := false
	for len(tries) > 0 {
		cases := []reflect.SelectCase{{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(in.Events())}}
		for _, t := range tries {
			ch := reflect.ValueOf(t.leg.Events())
			if t.port != nil {
				ch = reflect.ValueOf(t.port.ops)
			}
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: ch})
		}
		for _, t := range tries { // no-answer forwarding timers, after the legs
			var ch <-chan time.Time
			if t.noAnswer != nil {
				ch = t.noAnswer.C
			}
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
		}
		i, v, ok := reflect.Select(cases)
		if i == 0 { // the caller
			ev, _ := v.Interface().(call.Event)
			if !ok || ev.Kind == call.Ended {
				for _, t := range tries {
					t.cancel()
				}
				act.set(func(rec *Record) { rec.EndedBy, rec.Cause, rec.Detail = "caller", call.Cancelled.String(), ev.Detail })
				return
			}
			continue
		}
		if i > len(tries) { // a user did not answer in time: forward
			t := tries[i-1-len(tries)]
			t.cancel()
			tries = remove(tries, t)
			r.log.Info("router: no answer, forwarding", "ext", t.ext, "to", t.user.ForwardNoAnswer)
			if f, _ := r.forward(ctx, in, *t.user, t.user.ForwardNoAnswer, t.depth); f != nil {
				tries = append(tries, f)
			}
			continue
		}
		t := tries[i-1]
		if t.port != nil {
			op := v.Interface().(portOp)
			switch {
			case op.kind == opAlert && !alerted:
				alerted = true
				in.Alert()
			case op.kind == opAnswer:
				r.dropOthers(tries, t)
				act.set(func(rec *Record) { rec.AnsweredBy, rec.Answered = t.ext, time.Now() })
				r.portCall(act, in, t.port)
				return
			case op.kind == opReject:
				last = op.cause
				tries = remove(tries, t)
			}
			continue
		}
		ev, _ := v.Interface().(call.Event)
		switch {
		case !ok || ev.Kind == call.Ended:
			if ok {
				last = ev.Cause
			}
			t.stopTimer()
			tries = remove(tries, t)
			if t.user != nil && t.user.ForwardBusy != "" && ev.Cause == call.Busy {
				r.log.Info("router: busy, forwarding", "ext", t.ext, "to", t.user.ForwardBusy)
				if f, _ := r.forward(ctx, in, *t.user, t.user.ForwardBusy, t.depth); f != nil {
					tries = append(tries, f)
				}
			}
		case ev.Kind == call.Progress && !alerted:
			alerted = true
			in.Alert()
		case ev.Kind == call.Answered:
			r.dropOthers(tries, t)
			act.set(func(rec *Record) { rec.AnsweredBy, rec.Answered = t.ext, time.Now() })
			r.anchorIn(act, in, t.leg, true)
			return
		}
	}
	if last == call.Normal || last == call.Cancelled {
		last = call.Unavailable
	}
	in.Reject(last)
	act.set(func(rec *Record) { rec.EndedBy, rec.Cause = "callee", last.String() })
}

// forward alerts a user's forwarding target. Only a user that may call
// out forwards to numbers outside: forwarding is calling out on the
// caller's behalf.
func (r *Router) forward(ctx context.Context, in call.Leg, u User, target string, depth int) (*attempt, call.Cause) {
	if !r.isExtension(target) && !u.External {
		r.log.Warn("router: a user who may not call out forwards outside", "user", u.Name, "to", target)
		return nil, call.Rejected
	}
	return r.alert(ctx, in, target, depth+1)
}

// maxForwards bounds a chain of forwards (201 to 202 to 201 ... is cut).
const maxForwards = 3

// alert starts ringing target for in: the port, a user (with its DND
// and forwarding) or, for a forward, any number the routes take. It
// returns nil and the reason when nothing rings.
func (r *Router) alert(ctx context.Context, in call.Leg, target string, depth int) (*attempt, call.Cause) {
	if depth > maxForwards {
		r.log.Warn("router: too many forwards", "at", target)
		return nil, call.Unavailable
	}
	if target == r.o.PortExtension {
		p := newPortLeg(in)
		r.o.Port.Incoming(p)
		return &attempt{ext: target, leg: p, port: p, depth: depth}, 0
	}
	opts := call.DialOptions{Caller: in.Remote(), Anonymous: in.Remote().Anonymous()}
	u, isUser := r.users[target]
	switch {
	case isUser && u.DND:
		r.log.Info("router: do not disturb", "ext", target)
		return nil, call.Busy
	case isUser && u.ForwardAlways != "":
		r.log.Info("router: forwarding always", "ext", target, "to", u.ForwardAlways)
		return r.forward(ctx, in, u, u.ForwardAlways, depth)
	case !isUser: // a forward to an outside number: out by the routes
		kind, via, send, err := r.Resolve(target)
		if err != nil || kind != "link" {
			r.log.Info("router: forward target not reachable", "to", target, "err", err)
			return nil, call.NotFound
		}
		leg, err := r.links[via].Dialer.Dial(ctx, send, opts)
		if err != nil {
			r.log.Info("router: forward out failed", "to", target, "via", via, "err", err)
			return nil, call.Congestion
		}
		return &attempt{ext: target, leg: leg, depth: depth}, 0
	}
	leg, err := r.o.UserDialer.Dial(ctx, target, opts)
	if err != nil {
		r.log.Info("router: extension not reachable", "ext", target, "err", err)
		if u.ForwardBusy != "" { // no phone registered counts as busy for forwarding
			return r.forward(ctx, in, u, u.ForwardBusy, depth)
		}
		return nil, call.Unavailable
	}
	t := &attempt{ext: target, leg: leg, user: &u, depth: depth}
	if u.ForwardNoAnswer != "" {
		after := u.ForwardNoAnswerAfter
		if after <= 0 {
			after = 20 * time.Second
		}
		t.noAnswer = time.NewTimer(after)
	}
	return t, 0
}

func remove(tries []*attempt, t *attempt) []*attempt {
	out := tries[:0:0]
	for _, x := range tries {
		if x != t {
			out = append(out, x)
		}
	}
	return out
}

func (t *attempt) cancel() {
	t.stopTimer()
	if t.port != nil {
		t.port.cancel()
		return
	}
	t.leg.Hangup(call.Cancelled)
}

func (r *Router) dropOthers(tries []*attempt, winner *attempt) {
	for _, t := range tries {
		if t != winner {
			t.cancel()
		}
	}
}

// portCall follows a call the port answered: the port's leg talks to the
// caller's leg directly; the router passes the caller's events on.
func (r *Router) portCall(act *active, in call.Leg, p *portLeg) {
	act.mu.Lock()
	act.legs["callee"] = p
	act.mu.Unlock()
	p.win()
	for ev := range in.Events() {
		p.deliver(ev)
		if ev.Kind == call.Ended {
			act.set(func(rec *Record) {
				rec.Cause, rec.Detail = ev.Cause.String(), ev.Detail
				if ev.Remote {
					rec.EndedBy = "caller"
				} else {
					rec.EndedBy = "callee"
				}
			})
			break
		}
	}
	p.close()
}

// anchor joins a caller's leg to the leg placed for it and tracks the call.
func (r *Router) anchor(rec *Record, in, out call.Leg) {
	act := r.track(rec, in)
	defer r.untrack(act)
	r.anchorIn(act, in, out, false)
}

// anchorIn relays between in (the caller's leg, not yet answered) and out
// (the callee's), until either ends: progress and the answer go back to
// the caller, keys and holds across, the end to the other side.
func (r *Router) anchorIn(act *active, in, out call.Leg, outAnswered bool) {
	act.mu.Lock()
	act.legs["callee"] = out
	act.mu.Unlock()
	var stop func()
	answered := false
	answer := func() {
		if answered {
			return
		}
		answered = true
		if err := in.Answer(); err != nil {
			r.log.Warn("router: answering the caller failed", "err", err)
		}
		act.set(func(rec *Record) {
			if rec.Answered.IsZero() {
				rec.Answered = time.Now()
			}
		})
	}
	startRelay := func() {
		if stop != nil {
			return
		}
		a, b := in.Media(), out.Media()
		if a == nil || b == nil {
			return
		}
		stop = r.o.Relay(a, b)
	}
	if outAnswered {
		answer()
	}
	inEv, outEv := in.Events(), out.Events()
	endedBy := ""
	end := func(who string, ev call.Event) {
		if endedBy != "" {
			return
		}
		endedBy = who
		act.set(func(rec *Record) { rec.EndedBy, rec.Cause, rec.Detail = who, ev.Cause.String(), ev.Detail })
	}
	for inEv != nil || outEv != nil {
		select {
		case ev, ok := <-inEv:
			if !ok || ev.Kind == call.Ended {
				inEv = nil
				end("caller", ev)
				if !answered {
					out.Hangup(call.Cancelled)
				} else {
					out.Hangup(call.Normal)
				}
				continue
			}
			switch ev.Kind {
			case call.Answered:
				startRelay()
			case call.DTMF:
				passKey(out, ev)
			case call.Held:
				out.Hold()
			case call.Resumed:
				out.Resume()
			}
		case ev, ok := <-outEv:
			if !ok || ev.Kind == call.Ended {
				outEv = nil
				end("callee", ev)
				if !answered {
					in.Reject(ev.Cause)
				} else {
					in.Hangup(call.Normal)
				}
				continue
			}
			switch ev.Kind {
			case call.Progress, call.EarlyMedia:
				in.Alert()
			case call.Answered:
				answer()
				startRelay()
			case call.DTMF:
				passKey(in, ev)
			case call.Held:
				in.Hold()
			case call.Resumed:
				in.Resume()
			}
		}
	}
	if stop != nil {
		stop()
	}
}

// passKey sends a key event (RFC 4733 or INFO) on; a leg that carries keys
// in band hears them in the relayed audio already.
func passKey(to call.Leg, ev call.Event) {
	if to.InBandDTMF() {
		return
	}
	d := ev.Duration
	if d <= 0 {
		d = 100 * time.Millisecond
	}
	to.SendDTMF(ev.Key, d)
}

type opKind int

const (
	opAlert opKind = iota + 1
	opAnswer
	opReject
)

type portOp struct {
	kind  opKind
	cause call.Cause
}

// portLeg is a caller's leg as the port sees it while it rings among
// other extensions: the port's answer is a bid the router decides on,
// and once the port has the call every operation goes to the caller's
// leg itself.
type portLeg struct {
	in     call.Leg
	ops    chan portOp
	events chan call.Event
	wonCh  chan struct{} // closed when the port has the call
	doneCh chan struct{} // closed when the port's side is over

	mu     sync.Mutex
	won    bool
	closed bool
}

func newPortLeg(in call.Leg) *portLeg {
	return &portLeg{in: in, ops: make(chan portOp, 4), events: make(chan call.Event, 16),
		wonCh: make(chan struct{}), doneCh: make(chan struct{})}
}

var _ call.Leg = (*portLeg)(nil)

func (p *portLeg) op(o portOp) {
	select {
	case p.ops <- o:
	default: // the router has gone: the call is over
	}
}

func (p *portLeg) win() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.won {
		p.won = true
		close(p.wonCh)
	}
}

func (p *portLeg) hasWon() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.won
}

// deliver passes the caller's event to the port.
func (p *portLeg) deliver(ev call.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.events <- ev
	if ev.Kind == call.Ended {
		p.closeLocked()
	}
}

func (p *portLeg) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closeLocked()
	}
}

func (p *portLeg) closeLocked() {
	p.closed = true
	close(p.events)
	close(p.doneCh)
}

// cancel ends the port's ringing: another extension answered, or the
// caller gave up.
func (p *portLeg) cancel() {
	p.deliver(call.Event{Kind: call.Ended, Cause: call.Cancelled, Remote: true, Detail: "answered elsewhere or cancelled"})
}

func (p *portLeg) ID() string                             { return p.in.ID() + "@port" }
func (p *portLeg) Outgoing() bool                         { return false }
func (p *portLeg) Remote() call.Party                     { return p.in.Remote() }
func (p *portLeg) Events() <-chan call.Event              { return p.events }
func (p *portLeg) InBandDTMF() bool                       { return p.in.InBandDTMF() }
func (p *portLeg) Replaces() call.Leg                     { return nil }
func (p *portLeg) Media() media.Endpoint                  { return p.in.Media() }
func (p *portLeg) Report() call.MediaReport               { return p.in.Report() }
func (p *portLeg) Hold() error                            { return p.in.Hold() }
func (p *portLeg) Resume() error                          { return p.in.Resume() }
func (p *portLeg) Transfer(target string) error           { return p.in.Transfer(target) }
func (p *portLeg) TransferTo(o call.Leg) error            { return p.in.TransferTo(o) }
func (p *portLeg) SendDTMF(k byte, d time.Duration) error { return p.in.SendDTMF(k, d) }
func (p *portLeg) Redirect(target string) error {
	if p.hasWon() {
		return p.in.Redirect(target)
	}
	p.op(portOp{kind: opReject, cause: call.Redirected})
	p.deliver(call.Event{Kind: call.Ended, Cause: call.Redirected})
	return nil
}

func (p *portLeg) Alert() error {
	p.op(portOp{kind: opAlert})
	return nil
}

// Answer bids for the call; the caller's leg answers when the port wins,
// and its Answered event reaches the port.
func (p *portLeg) Answer() error {
	if p.hasWon() {
		return nil
	}
	p.op(portOp{kind: opAnswer})
	return p.awaitAnswer()
}

// awaitAnswer answers the caller once the router has given the port the
// call, or fails when another extension took it first.
func (p *portLeg) awaitAnswer() error {
	select {
	case <-p.wonCh:
		return p.in.Answer()
	case <-p.doneCh:
		return errAnsweredElsewhere
	}
}

func (p *portLeg) Reject(c call.Cause) {
	if p.hasWon() {
		p.in.Hangup(c)
		return
	}
	p.op(portOp{kind: opReject, cause: c})
	p.deliver(call.Event{Kind: call.Ended, Cause: c, Detail: "rejected"})
}

func (p *portLeg) Hangup(c call.Cause) {
	if p.hasWon() {
		p.in.Hangup(c)
		return
	}
	p.Reject(c)
}

var errAnsweredElsewhere = errorString("router: the call was answered elsewhere or cancelled")

type errorString string

func (e errorString) Error() string { return string(e) }
