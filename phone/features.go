package phone

import (
	"github.com/openata/ata/call"
	"github.com/openata/ata/fxs/region"
	"github.com/openata/ata/media"
)

// The features that act before a call reaches the port: do not disturb,
// anonymous call rejection, forwarding (always, busy, no answer; by
// redirect or by bridging two legs here), and the hot/warm line.

// forward is an incoming call sent on to another number by bridging: the
// ATA calls the target and joins the two legs in a relay of their own
// (the port is not in it).
type forward struct {
	in, out   *slot
	stopRelay func()
}

// screen handles an incoming leg the port must not ring: do not disturb,
// an anonymous caller refused, forward always. It reports whether it did.
func (ph *Phone) screen(l call.Leg) bool {
	if l.Replaces() != nil {
		return false // a take-over of one of our calls is never screened
	}
	f := ph.opts.Features
	switch {
	case f.DND:
		c := f.DNDCause
		if c == call.Normal {
			c = call.Busy // the zero value: busy, as 486 is the default
		}
		ph.refuse(l, c, "do not disturb")
	case f.RejectAnonymous && l.Remote().Anonymous():
		ph.refuse(l, call.Anonymous, "anonymous call rejected")
	case f.ForwardAlways != "":
		ph.forwardCall(ph.newSlot(l, "in"), f.ForwardAlways, "always")
	default:
		return false
	}
	return true
}

// refuse answers an incoming leg with cause without ringing; the call log
// says why.
func (ph *Phone) refuse(l call.Leg, c call.Cause, why string) {
	s := ph.newSlot(l, "in")
	s.entry.Detail = why
	ph.departing[s] = true
	ph.log.Info("phone: incoming call refused", "from", l.Remote().Number, "why", why)
	l.Reject(c)
}

// forwardCall sends an incoming, unanswered call on to target: by 302
// (the provider calls the target) or by calling the target here and
// joining the two.
func (ph *Phone) forwardCall(s *slot, target, why string) {
	s.entry.ForwardedTo = target
	ph.log.Info("phone: forwarding", "from", s.party().Number, "to", target, "why", why, "bridge", ph.opts.ForwardBridge)
	if !ph.opts.ForwardBridge || ph.opts.NewRelay == nil || ph.opts.Line == nil {
		ph.departing[s] = true
		if err := s.leg.Redirect(target); err != nil {
			ph.log.Warn("phone: redirect failed", "err", err)
			s.leg.Reject(call.Unavailable)
		}
		return
	}
	f := &forward{in: s}
	ph.fwds[s] = f
	line, ctx := ph.opts.Line, ph.ctx
	go func() {
		l, err := line.Dial(ctx, target, call.DialOptions{})
		ph.fwdDialed <- fwdDial{f, l, err}
	}()
}

type fwdDial struct {
	f   *forward
	leg call.Leg
	err error
}

func (ph *Phone) forwardDialed(d fwdDial) {
	f := d.f
	if d.err != nil {
		ph.log.Warn("phone: forward call failed", "err", d.err)
		delete(ph.fwds, f.in)
		ph.departing[f.in] = true
		f.in.leg.Reject(call.Unavailable)
		return
	}
	if ph.fwds[f.in] != f { // the caller gave up meanwhile
		d.leg.Hangup(call.Cancelled)
		return
	}
	f.out = ph.newSlot(d.leg, "out")
	f.out.entry.Detail = "forwarded call from " + f.in.party().Number
	ph.fwds[f.out] = f
}

// forwardEvent follows the two legs of a bridged forward.
func (ph *Phone) forwardEvent(f *forward, s *slot, ev call.Event) {
	switch ev.Kind {
	case call.Progress, call.EarlyMedia:
		if s == f.out {
			ph.alert(f.in) // the caller hears ringback while the target rings
		}
	case call.Answered:
		if s.answered.IsZero() {
			s.answered = ph.opts.Now()
		}
		if s == f.out {
			if err := f.in.leg.Answer(); err != nil {
				ph.log.Warn("phone: forward: answer failed", "err", err)
				f.out.leg.Hangup(call.Normal)
			}
		}
		ph.startRelay(f)
	case call.Ended:
		ph.logLeg(s, ev)
		delete(ph.fwds, s)
		other := f.out
		if s == f.out {
			other = f.in
		}
		if f.stopRelay != nil {
			f.stopRelay()
			f.stopRelay = nil
		}
		if other != nil && ph.fwds[other] == f {
			// The other leg ends too; its own Ended is logged when it comes.
			if other == f.in && other.answered.IsZero() {
				other.leg.Reject(ev.Cause)
			} else {
				other.leg.Hangup(call.Normal)
			}
		}
	}
}

// startRelay joins the two legs once both have media.
func (ph *Phone) startRelay(f *forward) {
	if f.stopRelay != nil || f.out == nil {
		return
	}
	var a, b media.Endpoint = f.in.leg.Media(), f.out.leg.Media()
	if a == nil || b == nil || f.in.answered.IsZero() || f.out.answered.IsZero() {
		return
	}
	f.stopRelay = ph.opts.NewRelay(a, b)
	ph.log.Info("phone: forward joined", "from", f.in.party().Number, "to", f.out.party().Number)
}

// dialToneKind is the dial tone: stuttered while do not disturb is on or
// a message waits.
func (ph *Phone) dialToneKind() region.Kind {
	if ph.opts.DND || ph.port.MessageWaiting() {
		return region.StutterDial
	}
	return region.Dial
}

// noAnswerTimer starts the forward-on-no-answer timer for a ringing call.
func (ph *Phone) startNoAnswerTimer() {
	if ph.opts.ForwardNoAnswer != "" && ph.opts.ForwardNoAnswerAfter > 0 {
		ph.fwdTimer.Reset(ph.opts.ForwardNoAnswerAfter)
	}
}

// forwardRinging forwards the ringing call nobody answered.
func (ph *Phone) forwardRinging(event) {
	ph.port.StopRing()
	s := ph.cur
	ph.cur = nil
	ph.forwardCall(s, ph.opts.ForwardNoAnswer, "no answer")
	ph.to(Idle, "no answer: forwarded")
}

// forwardWaiting forwards the waiting call nobody took.
func (ph *Phone) forwardWaiting(event) {
	ph.stopCallWaiting()
	s := ph.alt
	ph.alt = nil
	ph.forwardCall(s, ph.opts.ForwardNoAnswer, "no answer")
	ph.publish()
}

// warmline dials the hot line after the warm-line wait without a digit.
func (ph *Phone) warmline(event) {
	ph.port.StopCollecting()
	ph.port.StopTone()
	ph.placeCall(ph.opts.Hotline, false)
}
