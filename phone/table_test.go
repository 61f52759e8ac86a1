package phone

import (
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/openata/ata/call"
	"github.com/openata/ata/call/calltest"
	"github.com/openata/ata/fxs"
)

// fx is a phone driven into a (state, shape): cur and alt are the legs in
// those slots.
type fx struct {
	cur, alt *calltest.Leg
}

// reach drives a fresh rig into st/sh through the handset and the legs,
// as a person and the far ends would.
func reach(r *rig, st State, sh Shape) fx {
	r.t.Helper()
	var f fx
	talkingOne := func() {
		r.offHook()
		r.dial("200")
		f.cur = r.lastOut()
		r.emit(f.cur, call.Event{Kind: call.Answered})
	}
	heldDialTone := func() { talkingOne(); r.flash(); f.alt, f.cur = f.cur, nil }
	consultOut := func() { heldDialTone(); r.dial("300"); f.cur = r.lastOut() }
	consultTalking := func() { consultOut(); r.emit(f.cur, call.Event{Kind: call.Answered}) }
	waiting := func() { talkingOne(); f.alt = r.incoming("400") }
	swapped := func() { waiting(); r.flash(); f.cur, f.alt = f.alt, f.cur }
	switch (key{st, sh, 0}) {
	case key{Idle, NoCalls, 0}:
	case key{DialTone, NoCalls, 0}:
		r.offHook()
	case key{Collecting, NoCalls, 0}:
		r.offHook()
		r.digit()
	case key{Ringing, One, 0}:
		f.cur = r.incoming("500")
	case key{Recall, HeldOnly, 0}:
		swapped()
		r.onHook()
		f.cur = nil
	case key{Calling, One, 0}:
		r.offHook()
		r.dial("200")
		f.cur = r.lastOut()
	case key{Ringback, One, 0}:
		r.offHook()
		r.dial("200")
		f.cur = r.lastOut()
		r.emit(f.cur, call.Event{Kind: call.Progress})
	case key{EarlyMedia, One, 0}:
		r.offHook()
		r.dial("200")
		f.cur = r.lastOut()
		r.emit(f.cur, call.Event{Kind: call.EarlyMedia})
	case key{Talking, One, 0}:
		talkingOne()
	case key{DialTone, HeldOnly, 0}:
		heldDialTone()
	case key{Collecting, HeldOnly, 0}:
		heldDialTone()
		r.digit()
	case key{Calling, HeldOnly, 0}:
		heldDialTone()
		r.dialer.mu.Lock()
		r.dialer.hold = true
		r.dialer.mu.Unlock()
		r.dial("300")
	case key{Calling, Consulting, 0}:
		consultOut()
	case key{Ringback, Consulting, 0}:
		consultOut()
		r.emit(f.cur, call.Event{Kind: call.Progress})
	case key{EarlyMedia, Consulting, 0}:
		consultOut()
		r.emit(f.cur, call.Event{Kind: call.EarlyMedia})
	case key{Talking, Consulting, 0}:
		consultTalking()
	case key{Conference, Both, 0}:
		consultTalking()
		r.flash()
	case key{Talking, OneWaiting, 0}:
		waiting()
	case key{Talking, OneHeld, 0}:
		swapped()
	case key{Disconnected, WaitingOnly, 0}:
		waiting()
		r.emit(f.cur, call.Event{Kind: call.Ended, Cause: call.Normal, Remote: true})
		f.cur = nil
	case key{Busy, NoCalls, 0}:
		r.offHook()
		r.dial("200")
		r.emit(r.lastOut(), call.Event{Kind: call.Ended, Cause: call.Busy})
	case key{Reorder, NoCalls, 0}:
		r.offHook()
		r.port_(fxs.DialFailed, func(e *fxs.Event) { e.Reason = "no match" })
	case key{Disconnected, NoCalls, 0}:
		talkingOne()
		r.emit(f.cur, call.Event{Kind: call.Ended, Cause: call.Normal, Remote: true})
		f.cur = nil
	case key{Busy, HeldOnly, 0}:
		consultOut()
		r.emit(f.cur, call.Event{Kind: call.Ended, Cause: call.Busy})
		f.cur = nil
	case key{Reorder, HeldOnly, 0}:
		heldDialTone()
		r.port_(fxs.DialFailed, func(e *fxs.Event) { e.Reason = "no match" })
	case key{Disconnected, HeldOnly, 0}:
		consultTalking()
		r.emit(f.cur, call.Event{Kind: call.Ended, Cause: call.Normal, Remote: true})
		f.cur = nil
	case key{ReceiverOffHook, HeldOnly, 0}:
		consultOut()
		r.emit(f.cur, call.Event{Kind: call.Ended, Cause: call.Busy})
		f.cur = nil
		time.Sleep(31 * time.Second)
		r.settle()
	default:
		r.t.Fatalf("no fixture for %v/%v", st, sh)
	}
	r.is(st, sh)
	r.port.took()
	return f
}

// fire gives the phone one input.
func fire(r *rig, f fx, in Input) {
	switch in {
	case inOffHook:
		r.offHook()
	case inOnHook:
		r.onHook()
	case inFlash:
		r.flash()
	case inDialed:
		r.dial("600")
	case inDialFailed:
		r.port_(fxs.DialFailed, func(e *fxs.Event) { e.Reason = "no match" })
	case inDialTimeout:
		r.port_(fxs.DialFailed, func(e *fxs.Event) { e.Reason = "timeout" })
	case inIncoming:
		r.incoming("700")
	case inCurProgress:
		r.emit(f.cur, call.Event{Kind: call.Progress})
	case inCurEarly:
		r.emit(f.cur, call.Event{Kind: call.EarlyMedia})
	case inCurAnswered:
		if f.cur.Outgoing() {
			r.emit(f.cur, call.Event{Kind: call.Answered})
		} else {
			// An incoming leg answers once asked (the answer is its event).
			r.emit(f.cur, call.Event{Kind: call.Answered})
		}
	case inCurEnded:
		r.emit(f.cur, call.Event{Kind: call.Ended, Cause: call.Busy, Remote: true})
	case inAltEnded:
		r.emit(f.alt, call.Event{Kind: call.Ended, Cause: call.Normal, Remote: true})
	case inToneTimeout:
		time.Sleep(31 * time.Second)
		r.settle()
	case inRingTimeout:
		time.Sleep(121 * time.Second)
		r.settle()
	case inNoAnswer:
		time.Sleep(21 * time.Second)
		r.settle()
	case inWarmline:
		time.Sleep(6 * time.Second)
		r.settle()
	}
}

// outcome is what an entry must do.
type outcome struct {
	state State
	shape Shape
	// check, if set, looks at legs, port and mixer after the input.
	check func(t *testing.T, r *rig, f fx)
}

func ops(l *calltest.Leg, want ...string) func(t *testing.T, r *rig, f fx) {
	return func(t *testing.T, r *rig, f fx) { hasOps(t, l, want...) }
}

// TestTableEntries walks every (state, shape, input) of the table: each
// has a case here, reached the way a person would get there, and each
// case's outcome is checked. An entry added without a case fails.
func TestTableEntries(t *testing.T) {
	type tc struct {
		k    key
		want outcome
		// check gets the fixture (legs known only after reach).
		check func(t *testing.T, r *rig, f fx)
	}
	fwdNoAnswer := func(o *Opts) { o.ForwardNoAnswer, o.ForwardNoAnswerAfter = "800", 20*time.Second }
	// needs are the features an entry acts on only when they are set.
	needs := map[key]func(*Opts){
		{Ringing, One, inNoAnswer}:        fwdNoAnswer,
		{Talking, OneWaiting, inNoAnswer}: fwdNoAnswer,
		{DialTone, NoCalls, inWarmline}:   func(o *Opts) { o.Hotline, o.WarmlineAfter = "911", 5*time.Second },
	}
	cur := func(want ...string) func(t *testing.T, r *rig, f fx) {
		return func(t *testing.T, r *rig, f fx) { hasOps(t, f.cur, want...) }
	}
	alt := func(want ...string) func(t *testing.T, r *rig, f fx) {
		return func(t *testing.T, r *rig, f fx) { hasOps(t, f.alt, want...) }
	}
	both := func(a, b func(t *testing.T, r *rig, f fx)) func(t *testing.T, r *rig, f fx) {
		return func(t *testing.T, r *rig, f fx) { a(t, r, f); b(t, r, f) }
	}
	portDid := func(want string) func(t *testing.T, r *rig, f fx) {
		return func(t *testing.T, r *rig, f fx) {
			if got := r.port.took(); !strings.Contains(got, want) {
				t.Fatalf("port did %q, want %q in it", got, want)
			}
		}
	}
	cases := []tc{
		{key{Idle, NoCalls, inOffHook}, outcome{DialTone, NoCalls, nil}, portDid("tone:dial collect")},
		{key{Idle, NoCalls, inIncoming}, outcome{Ringing, One, nil}, portDid("ring:700")},
		{key{Ringing, One, inOffHook}, outcome{Talking, One, nil}, cur("answer")},
		{key{Ringing, One, inCurEnded}, outcome{Idle, NoCalls, nil}, portDid("stop-ring")},
		{key{Ringing, One, inCurAnswered}, outcome{Talking, One, nil}, nil},
		{key{Recall, HeldOnly, inOffHook}, outcome{Talking, One, nil}, cur()},
		{key{Recall, HeldOnly, inAltEnded}, outcome{Idle, NoCalls, nil}, portDid("stop-ring")},
		{key{Ringing, One, inRingTimeout}, outcome{Idle, NoCalls, nil}, both(cur("reject:unavailable"), portDid("stop-ring"))},
		{key{Recall, HeldOnly, inRingTimeout}, outcome{Idle, NoCalls, nil}, both(alt("hangup:normal"), portDid("stop-ring"))},

		{key{DialTone, NoCalls, inDialed}, outcome{Calling, One, nil}, nil},
		{key{Collecting, NoCalls, inDialed}, outcome{Calling, One, nil}, nil},
		{key{DialTone, HeldOnly, inDialed}, outcome{Calling, Consulting, nil}, nil},
		{key{Collecting, HeldOnly, inDialed}, outcome{Calling, Consulting, nil}, nil},
		{key{DialTone, NoCalls, inDialFailed}, outcome{Reorder, NoCalls, nil}, portDid("tone:congestion")},
		{key{Collecting, NoCalls, inDialFailed}, outcome{Reorder, NoCalls, nil}, nil},
		{key{DialTone, HeldOnly, inDialFailed}, outcome{Reorder, HeldOnly, nil}, nil},
		{key{Collecting, HeldOnly, inDialFailed}, outcome{Reorder, HeldOnly, nil}, nil},
		{key{DialTone, NoCalls, inDialTimeout}, outcome{ReceiverOffHook, NoCalls, nil}, portDid("tone:receiver-off-hook")},
		{key{Collecting, NoCalls, inDialTimeout}, outcome{ReceiverOffHook, NoCalls, nil}, nil},
		{key{DialTone, HeldOnly, inDialTimeout}, outcome{Reorder, HeldOnly, nil}, nil},
		{key{Collecting, HeldOnly, inDialTimeout}, outcome{Reorder, HeldOnly, nil}, nil},
		{key{DialTone, HeldOnly, inFlash}, outcome{Talking, One, nil}, cur("hold", "resume")},
		{key{Collecting, HeldOnly, inFlash}, outcome{Talking, One, nil}, cur("hold", "resume")},
		{key{DialTone, HeldOnly, inOnHook}, outcome{Recall, HeldOnly, nil}, portDid("ring:200")},
		{key{Collecting, HeldOnly, inOnHook}, outcome{Recall, HeldOnly, nil}, portDid("ring:200")},
		{key{DialTone, HeldOnly, inAltEnded}, outcome{DialTone, NoCalls, nil}, nil},
		{key{Collecting, HeldOnly, inAltEnded}, outcome{Collecting, NoCalls, nil}, nil},
		{key{Calling, HeldOnly, inFlash}, outcome{Talking, One, nil}, cur("hold", "resume")},
		{key{Calling, HeldOnly, inOnHook}, outcome{Recall, HeldOnly, nil}, portDid("ring:200")},
		{key{Calling, HeldOnly, inAltEnded}, outcome{Calling, NoCalls, nil}, nil},
	}
	for _, st := range outgoing {
		ringback := Ringback
		if st == EarlyMedia {
			ringback = EarlyMedia // the far end's own audio goes on
		}
		cases = append(cases,
			tc{key{st, One, inCurProgress}, outcome{ringback, One, nil}, nil},
			tc{key{st, One, inCurEarly}, outcome{EarlyMedia, One, nil}, nil},
			tc{key{st, One, inCurAnswered}, outcome{Talking, One, nil}, nil},
			tc{key{st, One, inCurEnded}, outcome{Busy, NoCalls, nil}, portDid("tone:busy")},
			tc{key{st, One, inOnHook}, outcome{Idle, NoCalls, nil}, cur("hangup:normal")},
			tc{key{st, Consulting, inCurProgress}, outcome{ringback, Consulting, nil}, nil},
			tc{key{st, Consulting, inCurEarly}, outcome{EarlyMedia, Consulting, nil}, nil},
			tc{key{st, Consulting, inCurAnswered}, outcome{Talking, Consulting, nil}, nil},
			tc{key{st, Consulting, inCurEnded}, outcome{Busy, HeldOnly, nil}, nil},
			tc{key{st, Consulting, inOnHook}, outcome{Idle, NoCalls, nil},
				both(cur("hangup:cancelled"), alt("hold", "transfer:300"))},
			tc{key{st, Consulting, inFlash}, outcome{Talking, One, nil}, both(cur("hangup:cancelled"), alt("hold", "resume"))},
			tc{key{st, Consulting, inAltEnded}, outcome{st, One, nil}, nil},
		)
	}
	cases = append(cases,
		tc{key{Talking, One, inOnHook}, outcome{Idle, NoCalls, nil}, cur("hangup:normal")},
		tc{key{Talking, One, inFlash}, outcome{DialTone, HeldOnly, nil}, both(cur("hold"), portDid("tone:stutter-dial collect"))},
		tc{key{Talking, One, inCurEnded}, outcome{Disconnected, NoCalls, nil}, portDid("tone:busy")},
		tc{key{Talking, One, inIncoming}, outcome{Talking, OneWaiting, nil}, portDid("cwid:700")},

		tc{key{Talking, OneWaiting, inFlash}, outcome{Talking, OneHeld, nil}, both(cur("hold"), alt("answer"))},
		tc{key{Talking, OneWaiting, inOnHook}, outcome{Ringing, One, nil}, both(cur("hangup:normal"), portDid("ring:400"))},
		tc{key{Talking, OneWaiting, inCurEnded}, outcome{Disconnected, WaitingOnly, nil}, nil},
		tc{key{Talking, OneWaiting, inAltEnded}, outcome{Talking, One, nil}, portDid("stop-tone")},
		tc{key{Talking, OneWaiting, inCurAnswered}, outcome{Talking, OneWaiting, nil}, nil},
		tc{key{Talking, OneWaiting, inRingTimeout}, outcome{Talking, One, nil}, alt("reject:unavailable")},
		tc{key{Disconnected, WaitingOnly, inRingTimeout}, outcome{Disconnected, NoCalls, nil}, alt("reject:unavailable")},
		tc{key{Disconnected, WaitingOnly, inFlash}, outcome{Talking, One, nil}, alt("answer")},
		tc{key{Disconnected, WaitingOnly, inOnHook}, outcome{Ringing, One, nil}, portDid("ring:400")},
		tc{key{Disconnected, WaitingOnly, inAltEnded}, outcome{Disconnected, NoCalls, nil}, nil},

		tc{key{Talking, OneHeld, inFlash}, outcome{Talking, OneHeld, nil}, both(cur("answer", "hold"), alt("hold", "resume"))},
		tc{key{Talking, OneHeld, inOnHook}, outcome{Recall, HeldOnly, nil}, both(cur("hangup:normal"), portDid("ring:200"))},
		tc{key{Talking, OneHeld, inCurEnded}, outcome{Disconnected, HeldOnly, nil}, nil},
		tc{key{Talking, OneHeld, inAltEnded}, outcome{Talking, One, nil}, nil},
		tc{key{Talking, OneHeld, inCurAnswered}, outcome{Talking, OneHeld, nil}, nil},

		tc{key{Talking, Consulting, inFlash}, outcome{Conference, Both, nil}, alt("hold", "resume")},
		tc{key{Talking, Consulting, inOnHook}, outcome{Idle, NoCalls, nil}, alt("hold", "transfer-to:out2")},
		tc{key{Talking, Consulting, inCurEnded}, outcome{Disconnected, HeldOnly, nil}, nil},
		tc{key{Talking, Consulting, inAltEnded}, outcome{Talking, One, nil}, nil},

		tc{key{Conference, Both, inFlash}, outcome{Talking, One, nil}, cur("hangup:normal")},
		tc{key{Conference, Both, inOnHook}, outcome{Idle, NoCalls, nil}, alt("transfer-to:out2")},
		tc{key{Conference, Both, inCurEnded}, outcome{Talking, One, nil}, nil},
		tc{key{Conference, Both, inAltEnded}, outcome{Talking, One, nil}, nil},
	)
	for _, st := range toneStates {
		next := st
		cases = append(cases,
			tc{key{st, NoCalls, inToneTimeout}, outcome{ReceiverOffHook, NoCalls, nil}, portDid("tone:receiver-off-hook")},
			tc{key{st, HeldOnly, inToneTimeout}, outcome{ReceiverOffHook, HeldOnly, nil}, nil},
			tc{key{st, HeldOnly, inFlash}, outcome{Talking, One, nil}, cur("hold", "resume")},
			tc{key{st, HeldOnly, inOnHook}, outcome{Recall, HeldOnly, nil}, portDid("ring:200")},
			tc{key{st, HeldOnly, inAltEnded}, outcome{next, NoCalls, nil}, nil},
		)
	}
	cases = append(cases,
		tc{key{Ringing, One, inNoAnswer}, outcome{Idle, NoCalls, nil}, both(cur("redirect:800"), portDid("stop-ring"))},
		tc{key{Talking, OneWaiting, inNoAnswer}, outcome{Talking, One, nil}, alt("redirect:800")},
		tc{key{DialTone, NoCalls, inWarmline}, outcome{Calling, One, nil}, func(t *testing.T, r *rig, f fx) {
			if n := r.lastOut().Party.Number; n != "911" {
				t.Fatalf("the warm line dialled %q, want 911", n)
			}
		}},
	)
	cases = append(cases,
		tc{key{ReceiverOffHook, HeldOnly, inOnHook}, outcome{Recall, HeldOnly, nil}, portDid("ring:200")},
		tc{key{ReceiverOffHook, HeldOnly, inAltEnded}, outcome{ReceiverOffHook, NoCalls, nil}, nil},
	)

	covered := map[key]bool{}
	for _, c := range cases {
		c := c
		covered[c.k] = true
		t.Run(fmt.Sprintf("%v/%v/%v", c.k.state, c.k.shape, c.k.in), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRig(t, needs[c.k])
				f := reach(r, c.k.state, c.k.shape)
				if c.k.in == inFlash || c.k.in == inOffHook || c.k.in == inOnHook {
					// fixtures with a held call: the handset's "cur" for checks is the held leg once it returns
					if f.cur == nil && f.alt != nil {
						f.cur = f.alt
					}
				}
				fire(r, f, c.k.in)
				r.is(c.want.state, c.want.shape)
				if c.check != nil {
					c.check(t, r, f)
				}
			})
		})
	}
	for k := range table {
		if !covered[k] {
			t.Errorf("table entry %v/%v/%v has no test case", k.state, k.shape, k.in)
		}
	}
}
