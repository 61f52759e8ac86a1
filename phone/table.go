package phone

import (
	"fmt"

	"github.com/openata/ata/call"
	"github.com/openata/ata/fxs/region"
)

// Shape is what the port's call slots hold.
type Shape int

// The shapes. cur is the call the handset talks to (or dials); alt is the
// second call.
const (
	NoCalls     Shape = iota // no call
	One                      // cur only
	OneWaiting               // cur, and alt rings as call waiting
	OneHeld                  // cur, and alt on hold (after a swap)
	Consulting               // cur placed while alt is held (3-way or transfer to come)
	Both                     // cur and alt both mixed with the handset (conference)
	HeldOnly                 // no cur; alt on hold (second dial tone, a tone, recall)
	WaitingOnly              // no cur; alt waits (the active party hung up)
	numShapes
)

var shapeNames = [numShapes]string{"none", "one", "one+waiting", "one+held", "consulting", "both", "held", "waiting"}

func (s Shape) String() string {
	if s >= 0 && s < numShapes {
		return shapeNames[s]
	}
	return "unknown"
}

func (ph *Phone) shape() Shape {
	switch {
	case ph.cur == nil && ph.alt == nil:
		return NoCalls
	case ph.cur == nil && ph.alt.held:
		return HeldOnly
	case ph.cur == nil:
		return WaitingOnly
	case ph.alt == nil:
		return One
	case ph.state == Conference:
		return Both
	case !ph.alt.held:
		return OneWaiting
	case ph.cur.consult:
		return Consulting
	}
	return OneHeld
}

// Input is what happens to the port: the handset, a call, a timer.
type Input int

// The inputs the table dispatches on. Keys pressed in a call, far-end
// keys, holds and transfers are handled alike in every state (phone.go).
const (
	inOffHook     Input = iota // handset lifted
	inOnHook                   // handset put down
	inFlash                    // hook flash
	inDialed                   // the dial plan completed a number
	inDialFailed               // the dial plan refused the digits
	inDialTimeout              // nothing dialled
	inIncoming                 // a new incoming leg
	inCurProgress              // cur is alerting
	inCurEarly                 // cur has early media
	inCurAnswered              // cur answered
	inCurEnded                 // cur ended
	inAltEnded                 // alt ended
	inToneTimeout              // a tone played long enough
	inRingTimeout              // a call rang or waited long enough
	inNoAnswer                 // forward on no answer is due
	inWarmline                 // the warm line's wait for a digit is over
	numInputs
)

var inputNames = [numInputs]string{"off-hook", "on-hook", "flash", "dialed", "dial-failed", "dial-timeout",
	"incoming", "cur-progress", "cur-early-media", "cur-answered", "cur-ended", "alt-ended", "tone-timeout",
	"ring-timeout", "no-answer", "warmline"}

func (in Input) String() string {
	if in >= 0 && in < numInputs {
		return inputNames[in]
	}
	return fmt.Sprintf("Input(%d)", int(in))
}

type key struct {
	state State
	shape Shape
	in    Input
}

type action func(ph *Phone, e event)

// table is every (state, shape, input) call control acts on. Anything not
// here is ignored, except: an incoming call the table has no entry for is
// refused busy, and on-hook with no entry ends every call.
var table = map[key]action{}

// on adds entries for each listed state.
func on(states []State, sh Shape, in Input, a action) {
	for _, s := range states {
		k := key{s, sh, in}
		if _, dup := table[k]; dup {
			panic(fmt.Sprintf("phone: table entry %v/%v/%v twice", s, sh, in))
		}
		table[k] = a
	}
}

var (
	dialling   = []State{DialTone, Collecting}
	outgoing   = []State{Calling, Ringback, EarlyMedia}
	toneStates = []State{Busy, Reorder, Disconnected}
	talking    = []State{Talking}
)

func init() {
	// Idle, ringing, recall.
	on([]State{Idle}, NoCalls, inOffHook, (*Phone).offHookIdle)
	on([]State{Idle}, NoCalls, inIncoming, (*Phone).ringIncoming)
	on([]State{Ringing}, One, inOffHook, (*Phone).answerRinging)
	on([]State{Ringing}, One, inCurEnded, (*Phone).ringerGaveUp)
	on([]State{Ringing}, One, inCurAnswered, (*Phone).connected)
	on([]State{Recall}, HeldOnly, inOffHook, (*Phone).answerRecall)
	on([]State{Recall}, HeldOnly, inAltEnded, (*Phone).recallGaveUp)
	on([]State{Ringing}, One, inRingTimeout, (*Phone).ringingTimedOut)
	on([]State{Ringing}, One, inNoAnswer, (*Phone).forwardRinging)
	on([]State{DialTone}, NoCalls, inWarmline, (*Phone).warmline)
	on([]State{Recall}, HeldOnly, inRingTimeout, (*Phone).recallTimedOut)

	// Dialling, with or without a held call.
	on(dialling, NoCalls, inDialed, (*Phone).dialedFirst)
	on(dialling, HeldOnly, inDialed, (*Phone).dialedSecond)
	on(dialling, NoCalls, inDialFailed, (*Phone).dialFailed)
	on(dialling, HeldOnly, inDialFailed, (*Phone).dialFailed)
	on(dialling, NoCalls, inDialTimeout, (*Phone).dialTimeout)
	on(dialling, HeldOnly, inDialTimeout, (*Phone).dialFailed)
	on(dialling, HeldOnly, inFlash, (*Phone).backToHeld)
	on(dialling, HeldOnly, inOnHook, (*Phone).recallHeld)
	on(dialling, HeldOnly, inAltEnded, (*Phone).heldGone)
	on([]State{Calling}, HeldOnly, inFlash, (*Phone).backToHeld) // before the leg exists
	on([]State{Calling}, HeldOnly, inOnHook, (*Phone).recallHeld)
	on([]State{Calling}, HeldOnly, inAltEnded, (*Phone).heldGone)

	// An outgoing call on its way.
	for _, sh := range []Shape{One, Consulting} {
		on(outgoing, sh, inCurProgress, (*Phone).farRinging)
		on(outgoing, sh, inCurEarly, (*Phone).earlyMedia)
		on(outgoing, sh, inCurAnswered, (*Phone).connected)
		on(outgoing, sh, inCurEnded, (*Phone).callFailed)
	}
	on(outgoing, One, inOnHook, (*Phone).hangupAll)
	on(outgoing, Consulting, inOnHook, (*Phone).hangupWhileConsultRings)
	on(outgoing, Consulting, inFlash, (*Phone).dropConsult)
	on(outgoing, Consulting, inAltEnded, (*Phone).heldGone)

	// Talking to one party.
	on(talking, One, inOnHook, (*Phone).hangupAll)
	on(talking, One, inFlash, (*Phone).flashForSecondCall)
	on(talking, One, inCurEnded, (*Phone).farHungUp)
	on(talking, One, inIncoming, (*Phone).waitIncoming)

	// A call waits.
	on(talking, OneWaiting, inFlash, (*Phone).swap)
	on(talking, OneWaiting, inOnHook, (*Phone).hangupAndRingWaiting)
	on(talking, OneWaiting, inCurEnded, (*Phone).farHungUp)
	on(talking, OneWaiting, inAltEnded, (*Phone).waitingGaveUp)
	on(talking, OneWaiting, inCurAnswered, (*Phone).connected) // the answer of a swapped-in call
	on(talking, OneWaiting, inRingTimeout, (*Phone).waitingTimedOut)
	on(talking, OneWaiting, inNoAnswer, (*Phone).forwardWaiting)
	// (Only the disconnect tone can play with a call waiting.)
	on([]State{Disconnected}, WaitingOnly, inFlash, (*Phone).answerWaiting)
	on([]State{Disconnected}, WaitingOnly, inOnHook, (*Phone).ringWaiting)
	on([]State{Disconnected}, WaitingOnly, inAltEnded, (*Phone).waitingGaveUp)
	on([]State{Disconnected}, WaitingOnly, inRingTimeout, (*Phone).waitingTimedOut)

	// One talking, one held after a swap.
	on(talking, OneHeld, inFlash, (*Phone).swap)
	on(talking, OneHeld, inOnHook, (*Phone).hangupCurRecallHeld)
	on(talking, OneHeld, inCurEnded, (*Phone).farHungUp)
	on(talking, OneHeld, inAltEnded, (*Phone).heldGone)
	on(talking, OneHeld, inCurAnswered, (*Phone).connected)

	// Consulting: the second party answered, the first is held.
	on(talking, Consulting, inFlash, (*Phone).conference)
	on(talking, Consulting, inOnHook, (*Phone).hangupInConsultation)
	on(talking, Consulting, inCurEnded, (*Phone).farHungUp)
	on(talking, Consulting, inAltEnded, (*Phone).heldGone)

	// Conference.
	on([]State{Conference}, Both, inFlash, (*Phone).dropLastAdded)
	on([]State{Conference}, Both, inOnHook, (*Phone).hangupInConference)
	on([]State{Conference}, Both, inCurEnded, (*Phone).conferencePartyLeft)
	on([]State{Conference}, Both, inAltEnded, (*Phone).conferencePartyLeft)

	// Tones after a call, maybe with a held call.
	on(toneStates, NoCalls, inToneTimeout, (*Phone).toneTimedOut)
	on(toneStates, HeldOnly, inToneTimeout, (*Phone).toneTimedOut)
	on(toneStates, HeldOnly, inFlash, (*Phone).backToHeld)
	on(toneStates, HeldOnly, inOnHook, (*Phone).recallHeld)
	on(toneStates, HeldOnly, inAltEnded, (*Phone).heldGone)
	on([]State{ReceiverOffHook}, HeldOnly, inOnHook, (*Phone).recallHeld)
	on([]State{ReceiverOffHook}, HeldOnly, inAltEnded, (*Phone).heldGone)
}

// input runs the table's action for in, or the defaults.
func (ph *Phone) input(in Input, e event) {
	k := key{ph.state, ph.shape(), in}
	if a, ok := table[k]; ok {
		ph.log.Debug("phone: input", "state", k.state, "shape", k.shape, "input", in)
		a(ph, e)
		return
	}
	switch in {
	case inIncoming:
		ph.refuseIncoming(e)
	case inOnHook:
		ph.hangupAll(e)
	case inCurEnded, inAltEnded:
		// A call ended where the table expects none to: forget it.
		if e.s == ph.cur {
			ph.cur = nil
		}
		if e.s == ph.alt {
			ph.alt = nil
		}
		ph.log.Warn("phone: call ended in an unexpected state", "state", k.state, "shape", k.shape)
	}
}

// --- Actions ---

func (ph *Phone) offHookIdle(event) {
	if h := ph.opts.Hotline; h != "" && ph.opts.WarmlineAfter <= 0 {
		ph.placeCall(h, false) // a hot line: no dial tone
		return
	}
	ph.dialTone(ph.dialToneKind(), "off-hook")
	if ph.opts.Hotline != "" {
		ph.warmTimer.Reset(ph.opts.WarmlineAfter)
	}
}

func (ph *Phone) ringIncoming(e event) {
	if r := e.leg.Replaces(); r != nil {
		// A take-over of a call we do not have on this port.
		e.leg.Reject(call.Rejected)
		return
	}
	ph.cur = ph.newSlot(e.leg, "in")
	ph.ring(ph.cur, Ringing, "incoming call from "+e.leg.Remote().Number)
	ph.startNoAnswerTimer()
}

// refuseIncoming answers an incoming leg the port cannot take: busy, or,
// for a take-over of one of our calls (INVITE with Replaces), the swap.
func (ph *Phone) refuseIncoming(e event) {
	if r := e.leg.Replaces(); r != nil {
		for _, s := range []*slot{ph.cur, ph.alt} {
			if s != nil && s.leg == r {
				ph.takeOver(s, e.leg)
				return
			}
		}
	}
	ph.log.Info("phone: incoming call while busy", "from", e.leg.Remote().Number, "state", ph.state, "shape", ph.shape())
	if t := ph.opts.ForwardBusy; t != "" {
		ph.forwardCall(ph.newSlot(e.leg, "in"), t, "busy")
		return
	}
	ph.departing[ph.newSlot(e.leg, "in")] = true // logged when it ends
	e.leg.Reject(call.Busy)
}

// takeOver answers a leg that replaces s (RFC 3891) and puts it in s's place.
func (ph *Phone) takeOver(s *slot, l call.Leg) {
	n := ph.newSlot(l, "in")
	if err := l.Answer(); err != nil {
		ph.log.Warn("phone: take-over answer failed", "err", err)
		l.Hangup(call.Failed)
		return
	}
	n.answered = ph.opts.Now()
	n.held = s.held
	switch s {
	case ph.cur:
		ph.cur = n
	case ph.alt:
		ph.alt = n
	}
	ph.depart(s)
	s.leg.Hangup(call.Replaced)
	ph.log.Info("phone: call taken over", "old", s.leg.ID(), "new", l.ID())
}

func (ph *Phone) answerRinging(event) {
	if err := ph.cur.leg.Answer(); err != nil {
		ph.log.Warn("phone: answer failed", "err", err)
		ph.cur.leg.Hangup(call.Failed)
		ph.cur = nil
		ph.toneState(Reorder, region.Congestion, "answer failed")
	}
	// Talking follows the leg's Answered.
}

func (ph *Phone) ringerGaveUp(e event) {
	ph.port.StopRing()
	ph.cur = nil
	ph.to(Idle, "caller gave up: "+e.call.Cause.String())
}

// ringingTimedOut refuses a call nobody answered (480): a caller that
// never gives up must not hold the line.
func (ph *Phone) ringingTimedOut(event) {
	ph.port.StopRing()
	ph.cur.leg.Reject(call.Unavailable)
	ph.depart(ph.cur)
	ph.to(Idle, "nobody answered")
}

// recallTimedOut ends a held call nobody came back to.
func (ph *Phone) recallTimedOut(event) {
	ph.port.StopRing()
	ph.alt.leg.Hangup(call.Normal)
	ph.depart(ph.alt)
	ph.to(Idle, "recall not answered")
}

// waitingTimedOut refuses a waiting call nobody took.
func (ph *Phone) waitingTimedOut(event) {
	ph.stopCallWaiting()
	ph.alt.leg.Reject(call.Unavailable)
	ph.depart(ph.alt)
	ph.log.Info("phone: waiting call not taken", "state", ph.state)
	ph.publish()
}

func (ph *Phone) answerRecall(event) {
	ph.cur, ph.alt = ph.alt, nil
	ph.resume(ph.cur)
	ph.to(Talking, "recall answered")
}

func (ph *Phone) recallGaveUp(event) {
	ph.port.StopRing()
	ph.alt = nil
	ph.to(Idle, "held party hung up")
}

func (ph *Phone) dialedFirst(e event) {
	if ph.featureCode(e.port.Number) {
		return
	}
	ph.placeCall(e.port.Number, false)
}

func (ph *Phone) dialedSecond(e event) { ph.placeCall(e.port.Number, true) }

func (ph *Phone) dialFailed(e event) {
	ph.toneState(Reorder, region.Congestion, e.port.Reason)
}

func (ph *Phone) dialTimeout(event) { ph.howl("no digit dialled") }

// backToHeld returns to the held call: the second call is abandoned.
func (ph *Phone) backToHeld(event) {
	ph.port.StopCollecting()
	ph.port.StopTone()
	ph.dialGen++ // a dial on its way is hung up when it returns
	ph.cur, ph.alt = ph.alt, nil
	ph.resume(ph.cur)
	ph.to(Talking, "flash: back to the held call")
}

// recallHeld rings the phone back for the held call.
func (ph *Phone) recallHeld(event) {
	ph.dialGen++
	if ph.cur != nil {
		ph.cur.leg.Hangup(call.Normal)
		ph.depart(ph.cur)
	}
	ph.ring(ph.alt, Recall, "on-hook with a held call")
}

// heldGone: the held party hung up.
func (ph *Phone) heldGone(event) {
	ph.alt = nil
	if ph.cur != nil {
		ph.cur.consult = false
	}
	ph.log.Info("phone: held party hung up", "state", ph.state)
	ph.publish()
}

func (ph *Phone) farRinging(event) {
	if ph.state == Calling {
		ph.port.PlayTone(region.Ringback)
		ph.to(Ringback, "far end ringing")
	}
}

func (ph *Phone) earlyMedia(event) {
	ph.port.StopTone()
	ph.to(EarlyMedia, "early media")
}

func (ph *Phone) connected(event) {
	ph.port.StopTone()
	ph.port.StopRing()
	ph.keyDown = 0
	ph.to(Talking, "answered")
}

func (ph *Phone) callFailed(e event) {
	ph.cur = nil
	switch e.call.Cause {
	case call.Busy, call.Declined:
		ph.toneState(Busy, region.Busy, e.call.Cause.String())
	default:
		ph.toneState(Reorder, region.Congestion, e.call.Cause.String())
	}
}

// hangupAll ends every call and goes idle.
func (ph *Phone) hangupAll(event) {
	ph.dialGen++ // a dial still on its way is hung up when it returns
	for _, s := range []*slot{ph.cur, ph.alt} {
		if s != nil {
			s.leg.Hangup(call.Normal)
			ph.depart(s)
		}
	}
	ph.port.StopRing()
	ph.cwTimer.Stop()
	ph.to(Idle, "on-hook")
}

// hangupWhileConsultRings: blind transfer of the held party to the number
// still ringing (or, without transfer on hang-up, recall).
func (ph *Phone) hangupWhileConsultRings(e event) {
	if !ph.opts.TransferOnHangup {
		ph.recallHeld(e)
		return
	}
	held, ringing := ph.alt, ph.cur
	number := ringing.party().Number
	ringing.leg.Hangup(call.Cancelled)
	ph.depart(ringing)
	if err := held.leg.Transfer(number); err != nil {
		ph.log.Warn("phone: blind transfer failed", "err", err)
		held.leg.Hangup(call.Normal)
	}
	ph.depart(held)
	ph.to(Idle, "on-hook while ringing: blind transfer to "+number)
}

func (ph *Phone) dropConsult(event) {
	ph.cur.leg.Hangup(call.Cancelled)
	ph.depart(ph.cur)
	ph.cur, ph.alt = ph.alt, nil
	ph.resume(ph.cur)
	ph.port.StopTone()
	ph.to(Talking, "flash: second call dropped")
}

func (ph *Phone) flashForSecondCall(event) {
	if !ph.opts.ThreeWay {
		return
	}
	ph.alt, ph.cur = ph.cur, nil
	ph.hold(ph.alt)
	ph.dialTone(region.StutterDial, "flash: second call")
}

func (ph *Phone) farHungUp(e event) {
	ph.cur = nil
	ph.toneState(Disconnected, region.Busy, "far end hung up")
}

func (ph *Phone) waitIncoming(e event) {
	if r := e.leg.Replaces(); r != nil && r == ph.cur.leg {
		ph.takeOver(ph.cur, e.leg)
		return
	}
	if !ph.opts.CallWaiting || ph.cwOffNext {
		ph.refuseIncoming(e)
		return
	}
	ph.alt = ph.newSlot(e.leg, "in")
	ph.callWaiting(ph.alt)
	ph.startNoAnswerTimer()
	ph.log.Info("phone: call waiting", "from", e.leg.Remote().Number)
	ph.publish()
}

// swap holds the current call and takes the other: answering it if it
// waits, resuming it if it is held.
func (ph *Phone) swap(event) {
	ph.stopCallWaiting()
	old, next := ph.cur, ph.alt
	ph.hold(old)
	ph.cur, ph.alt = next, old
	if next.up() {
		ph.resume(next)
	} else if err := next.leg.Answer(); err != nil {
		ph.log.Warn("phone: answer failed", "err", err)
	}
	ph.log.Info("phone: flash: swapped", "now", next.leg.ID(), "held", old.leg.ID())
	ph.publish()
}

func (ph *Phone) hangupAndRingWaiting(event) {
	ph.stopCallWaiting()
	ph.cur.leg.Hangup(call.Normal)
	ph.depart(ph.cur)
	ph.cur, ph.alt = ph.alt, nil
	ph.ring(ph.cur, Ringing, "on-hook with a call waiting")
}

func (ph *Phone) waitingGaveUp(event) {
	ph.stopCallWaiting()
	ph.alt = nil
	ph.publish()
}

func (ph *Phone) answerWaiting(event) {
	ph.stopCallWaiting()
	ph.cur, ph.alt = ph.alt, nil
	if err := ph.cur.leg.Answer(); err != nil {
		ph.log.Warn("phone: answer failed", "err", err)
	}
	ph.to(Talking, "flash: waiting call answered")
}

func (ph *Phone) ringWaiting(event) {
	ph.stopCallWaiting()
	ph.cur, ph.alt = ph.alt, nil
	ph.ring(ph.cur, Ringing, "on-hook with a call waiting")
}

func (ph *Phone) hangupCurRecallHeld(e event) {
	ph.cur.leg.Hangup(call.Normal)
	ph.depart(ph.cur)
	ph.ring(ph.alt, Recall, "on-hook with a held call")
}

func (ph *Phone) conference(event) {
	if !ph.opts.ThreeWay {
		return
	}
	ph.resume(ph.alt)
	ph.to(Conference, "flash: 3-way conference")
}

// hangupInConsultation transfers the held party to the consulted one
// (attended), or without transfer on hang-up ends the consultation and
// rings back for the held call.
func (ph *Phone) hangupInConsultation(e event) {
	if !ph.opts.TransferOnHangup {
		ph.hangupCurRecallHeld(e)
		return
	}
	ph.transferAndLeave("attended transfer")
}

func (ph *Phone) transferAndLeave(why string) {
	held, other := ph.alt, ph.cur
	if err := held.leg.TransferTo(other.leg); err != nil {
		ph.log.Warn("phone: transfer failed; ending both calls", "err", err)
		held.leg.Hangup(call.Normal)
		other.leg.Hangup(call.Normal)
	}
	ph.depart(held)
	ph.depart(other)
	ph.to(Idle, "on-hook: "+why)
}

func (ph *Phone) dropLastAdded(event) {
	ph.cur.leg.Hangup(call.Normal)
	ph.depart(ph.cur)
	ph.cur, ph.alt = ph.alt, nil
	ph.cur.consult = false
	ph.to(Talking, "flash: last party dropped")
}

func (ph *Phone) hangupInConference(e event) {
	if !ph.opts.TransferOnHangup {
		ph.hangupAll(e)
		return
	}
	ph.transferAndLeave("conference parties joined")
}

func (ph *Phone) conferencePartyLeft(e event) {
	if e.s == ph.cur {
		ph.cur, ph.alt = ph.alt, nil
	} else {
		ph.alt = nil
	}
	ph.cur.consult = false
	ph.to(Talking, "a conference party hung up")
}

func (ph *Phone) toneTimedOut(event) { ph.howl(ph.state.String() + " timed out") }

// hold and resume signal a hold to a call's far end; its media follows
// its role (syncMedia).
func (ph *Phone) hold(s *slot) {
	s.held = true
	if err := s.leg.Hold(); err != nil {
		ph.log.Warn("phone: hold", "leg", s.leg.ID(), "err", err)
	}
}

func (ph *Phone) resume(s *slot) {
	if !s.held {
		return
	}
	s.held = false
	s.consult = false
	if err := s.leg.Resume(); err != nil {
		ph.log.Warn("phone: resume", "leg", s.leg.ID(), "err", err)
	}
}
