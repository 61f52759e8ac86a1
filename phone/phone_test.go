package phone

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/openata/ata/call"
	"github.com/openata/ata/call/calltest"
	"github.com/openata/ata/media"
)

func TestSwapMovesMediaBetweenCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		f := reach(r, Talking, OneWaiting)
		a, b := f.cur, f.alt
		if r.modeOf(a) != Active || r.modeOf(b) != Out {
			t.Fatalf("before flash: a %v b %v, want active/out", r.modeOf(a), r.modeOf(b))
		}
		r.flash()
		if r.modeOf(a) != Held || r.modeOf(b) != Active {
			t.Fatalf("after flash: a %v b %v, want held/active", r.modeOf(a), r.modeOf(b))
		}
		r.flash()
		if r.modeOf(a) != Active || r.modeOf(b) != Held {
			t.Fatalf("after second flash: a %v b %v, want active/held", r.modeOf(a), r.modeOf(b))
		}
		hasOps(t, a, "hold", "resume")
		hasOps(t, b, "answer", "hold")
		s := r.ph.Snapshot()
		if len(s.Calls) != 2 || s.Calls[0].Role != "active" || s.Calls[1].Role != "held" {
			t.Fatalf("snapshot calls %+v", s.Calls)
		}
	})
}

func TestConferenceMixesBothParties(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		f := reach(r, Talking, Consulting)
		if r.modeOf(f.alt) != Held || r.modeOf(f.cur) != Active {
			t.Fatalf("consulting: held %v consulted %v", r.modeOf(f.alt), r.modeOf(f.cur))
		}
		r.flash()
		if r.modeOf(f.alt) != Active || r.modeOf(f.cur) != Active {
			t.Fatalf("conference: %v %v, want both active", r.modeOf(f.alt), r.modeOf(f.cur))
		}
		r.flash() // drops the last added
		if r.modeOf(f.cur) != Out || r.modeOf(f.alt) != Active {
			t.Fatalf("after drop: consulted %v first %v", r.modeOf(f.cur), r.modeOf(f.alt))
		}
	})
}

func TestThreeWayOffIgnoresFlash(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, func(o *Opts) { o.ThreeWay = false })
		f := reach(r, Talking, One)
		r.flash()
		r.is(Talking, One)
		if ops := f.cur.Ops(); len(ops) != 0 {
			t.Fatalf("leg ops %v, want none", ops)
		}
	})
}

func TestCallWaitingOffAnswersBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, func(o *Opts) { o.CallWaiting = false })
		reach(r, Talking, One)
		l := r.incoming("900")
		r.is(Talking, One)
		hasOps(t, l, "reject:busy")
	})
}

func TestCallWaitingToneWithoutTypeII(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		r.port.cwID = false
		reach(r, Talking, One)
		r.incoming("900")
		if got := r.port.took(); !strings.Contains(got, "tone:call-waiting") || strings.Contains(got, "cwid") {
			t.Fatalf("port did %q, want the call-waiting tone and no Type II caller ID", got)
		}
	})
}

func TestTypeIIThenToneRepeats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		reach(r, Talking, One)
		r.incoming("900")
		if got := r.port.took(); got != "cwid:900" {
			t.Fatalf("port did %q, want Type II caller ID only", got)
		}
		time.Sleep(10 * time.Second)
		r.settle()
		if got := r.port.took(); got != "tone:call-waiting" {
			t.Fatalf("after 10 s port did %q, want the call-waiting tone", got)
		}
	})
}

func TestFarEndKeysPlayedToHandset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		f := reach(r, Talking, One)
		r.emit(f.cur, call.Event{Kind: call.DTMF, Key: '5', Duration: 120 * time.Millisecond})
		if got := r.port.took(); got != "dtmf:5/120ms" {
			t.Fatalf("port did %q, want dtmf:5/120ms", got)
		}
	})
}

func TestHeldCallKeysNotPlayed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		f := reach(r, Talking, OneHeld)
		r.emit(f.alt, call.Event{Kind: call.DTMF, Key: '5', Duration: 120 * time.Millisecond})
		if got := r.port.took(); strings.Contains(got, "dtmf") {
			t.Fatalf("port did %q: a held party's key reached the handset", got)
		}
	})
}

func TestFollowsFarEndTransfer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		f := reach(r, Talking, One)
		a := f.cur
		n := calltest.NewLeg("xfer", "800", true)
		n.Endpoint = endpoint("xfer")
		req := call.NewTransferRequest("800", false, func(ctx context.Context) (call.Leg, error) { return n, nil }, nil)
		r.emit(a, call.Event{Kind: call.TransferRequested, Transfer: req})
		if r.modeOf(a) != Active {
			t.Fatalf("before the new call answers the old one must stay: %v", r.modeOf(a))
		}
		r.emit(n, call.Event{Kind: call.Answered})
		if r.modeOf(n) != Active || r.modeOf(a) != Out {
			t.Fatalf("after answer: new %v old %v, want active/out", r.modeOf(n), r.modeOf(a))
		}
		r.is(Talking, One)
		r.emit(a, call.Event{Kind: call.Ended, Cause: call.Transferred})
		r.is(Talking, One)
		entries, _, err := r.log.Read(0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].Cause != "transferred" || entries[0].Leg != a.Name {
			t.Fatalf("call log %+v, want the old leg ended transferred", entries)
		}
	})
}

func TestReplacesTakesOverCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		f := reach(r, Talking, One)
		rl := calltest.NewLeg("repl", "801", false)
		rl.Endpoint = endpoint("repl")
		rl.ReplacesL = f.cur
		r.ph.Incoming(rl)
		r.settle()
		hasOps(t, rl, "answer")
		hasOps(t, f.cur, "hangup:replaced")
		if r.modeOf(rl) != Active || r.modeOf(f.cur) != Out {
			t.Fatalf("modes new %v old %v", r.modeOf(rl), r.modeOf(f.cur))
		}
		r.is(Talking, One)
	})
}

func TestEveryLegLogged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		reach(r, Conference, Both)
		r.onHook() // transfers; the legs end as their far ends go
		for _, l := range r.dialer.legs {
			r.emit(l, call.Event{Kind: call.Ended, Cause: call.Transferred})
		}
		entries, _, err := r.log.Read(0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 2 {
			t.Fatalf("call log has %d entries, want one per leg: %+v", len(entries), entries)
		}
		for _, e := range entries {
			if e.Cause != "transferred" || e.Leg == "" || e.Duration <= 0 && e.Codec == "" {
				t.Fatalf("entry %+v", e)
			}
		}
	})
}

func TestDNDRefusesWithoutRingingAndStutters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, func(o *Opts) { o.DND, o.DNDCause = true, call.Declined })
		l := r.incoming("900")
		if ops := l.Ops(); len(ops) != 1 || ops[0] != "reject:declined" {
			t.Fatalf("a call during DND got %v, want only reject:declined (no 180)", ops)
		}
		if got := r.port.took(); strings.Contains(got, "ring") {
			t.Fatalf("port did %q: a call rang during do not disturb", got)
		}
		r.is(Idle, NoCalls)
		r.offHook()
		if got := r.port.took(); !strings.Contains(got, "tone:stutter-dial") {
			t.Fatalf("dial tone during DND: %q, want the stutter tone", got)
		}
	})
}

func TestAnonymousRejected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, func(o *Opts) { o.RejectAnonymous = true })
		hasOps(t, r.incoming("anonymous"), "reject:anonymous")
		l := r.incoming("900")
		if ops := l.Ops(); len(ops) != 1 || ops[0] != "alert" {
			t.Fatalf("a caller with a number got %v, want it alerted (180)", ops)
		}
		r.is(Ringing, One)
	})
}

func TestForwardAlwaysAndBusyRedirect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, func(o *Opts) { o.ForwardAlways = "800" })
		if ops := r.incoming("900").Ops(); len(ops) != 1 || ops[0] != "redirect:800" {
			t.Fatalf("a forwarded call got %v, want only redirect:800 (no 180)", ops)
		}
		r.is(Idle, NoCalls)
		entries, _, _ := r.log.Read(0, 10)
		if len(entries) != 1 || entries[0].ForwardedTo != "800" || entries[0].Cause != "redirected" {
			t.Fatalf("call log %+v, want the call forwarded to 800", entries)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, func(o *Opts) { o.ForwardBusy, o.CallWaiting = "801", false })
		reach(r, Talking, One)
		hasOps(t, r.incoming("900"), "redirect:801")
		r.is(Talking, One)
	})
}

// TestForwardByBridge: the ATA calls the target, answers the caller when
// the target answers, and joins the two in a relay; either hanging up
// ends the other and the relay.
func TestForwardByBridge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var relays [][2]media.Endpoint
		stopped := 0
		r := newRig(t, func(o *Opts) {
			o.ForwardAlways, o.ForwardBridge = "800", true
			o.NewRelay = func(a, b media.Endpoint) func() {
				relays = append(relays, [2]media.Endpoint{a, b})
				return func() { stopped++ }
			}
		})
		in := r.incoming("900")
		out := r.lastOut()
		if out.Party.Number != "800" || len(in.Ops()) != 0 {
			t.Fatalf("onward call to %q, caller ops %v", out.Party.Number, in.Ops())
		}
		r.emit(out, call.Event{Kind: call.Answered})
		hasOps(t, in, "answer")
		if len(relays) != 1 || relays[0] != [2]media.Endpoint{in.Endpoint, out.Endpoint} {
			t.Fatalf("relays %v, want the two legs joined", relays)
		}
		if got := r.port.took(); strings.Contains(got, "ring") {
			t.Fatalf("port did %q: a forwarded call rang", got)
		}
		r.emit(out, call.Event{Kind: call.Ended, Cause: call.Normal, Remote: true})
		hasOps(t, in, "answer", "hangup:normal")
		if stopped != 1 {
			t.Fatalf("relay stopped %d times", stopped)
		}
	})
}

func TestHotlineDialsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, func(o *Opts) { o.Hotline = "911" })
		r.offHook()
		r.is(Calling, One)
		if n := r.lastOut().Party.Number; n != "911" {
			t.Fatalf("dialled %q", n)
		}
		if got := r.port.took(); strings.Contains(got, "tone:dial") {
			t.Fatalf("a hot line played dial tone: %q", got)
		}
	})
}

func TestWarmlineWaitsForADigit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, func(o *Opts) { o.Hotline, o.WarmlineAfter = "911", 5*time.Second })
		r.offHook()
		r.digit()
		time.Sleep(6 * time.Second)
		r.settle()
		r.is(Collecting, NoCalls) // a digit came: the warm line stays quiet
	})
}

var spaCodes = map[string]Action{"*72": ForwardAlwaysOn, "*73": ForwardAlwaysOff, "*78": DNDOn, "*79": DNDOff, "*70": CallWaitingOffNext}

func TestFeatureCodes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var saved []Features
		r := newRig(t, func(o *Opts) {
			o.Codes = spaCodes
			o.OnFeatures = func(f Features) { saved = append(saved, f) }
		})
		r.offHook()
		r.dial("*72") // the number after a second dial tone
		r.is(DialTone, NoCalls)
		r.port.took()
		r.dial("5551234")
		if got := r.port.took(); !strings.Contains(got, "tone:confirm") {
			t.Fatalf("port did %q, want the confirmation tone", got)
		}
		if len(saved) != 1 || saved[0].ForwardAlways != "5551234" {
			t.Fatalf("saved %+v, want forward always to 5551234", saved)
		}
		r.dial("*73")
		r.dial("*725550000") // code and number at once
		r.dial("*78")
		if len(saved) != 4 || saved[1].ForwardAlways != "" || saved[2].ForwardAlways != "5550000" || !saved[3].DND {
			t.Fatalf("saved %+v", saved)
		}
		if r.dialer.last() != nil {
			t.Fatalf("a feature code placed a call: %+v", r.dialer.last())
		}
		r.onHook()
		if ops := r.incoming("900").Ops(); len(ops) != 1 || ops[0] != "reject:busy" {
			t.Fatalf("a call after *78 got %v, want busy (DND)", ops)
		}
		r.offHook()
		r.dial("*72" + strings.Repeat("1", 33))
		r.is(Reorder, NoCalls)
		r.onHook()
		r.offHook()
		r.dial("*55") // not a code: dialled as a number
		r.is(Calling, One)
		if n := r.lastOut().Party.Number; n != "*55" {
			t.Fatalf("dialled %q", n)
		}
	})
}

func TestCallWaitingOffForTheNextCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, func(o *Opts) { o.Codes = spaCodes })
		r.offHook()
		r.dial("*70")
		r.dial("200")
		r.emit(r.lastOut(), call.Event{Kind: call.Answered})
		hasOps(t, r.incoming("900"), "reject:busy")
		r.onHook()
		reach(r, Talking, One) // a new call: call waiting is back
		if ops := r.incoming("901").Ops(); len(ops) != 1 || ops[0] != "alert" {
			t.Fatalf("the call after the next got %v, want call waiting (alert)", ops)
		}
	})
}

func TestMessageWaitingStuttersDialTone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		r.offHook()
		if got := r.port.took(); !strings.Contains(got, "tone:dial ") {
			t.Fatalf("dial tone without messages: %q", got)
		}
		r.onHook()
		r.port.mu.Lock()
		r.port.mwi = true
		r.port.mu.Unlock()
		r.port.took()
		r.offHook()
		if got := r.port.took(); !strings.Contains(got, "tone:stutter-dial") {
			t.Fatalf("dial tone with a message waiting: %q, want the stutter tone", got)
		}
	})
}

func TestVoicemailCode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, func(o *Opts) { o.Codes = map[string]Action{"*98": Voicemail}; o.VoicemailNumber = "8000" })
		r.offHook()
		r.dial("*98")
		r.is(Calling, One)
		if n := r.lastOut().Party.Number; n != "8000" {
			t.Fatalf("*98 dialled %q, want the voicemail number 8000", n)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, func(o *Opts) { o.Codes = map[string]Action{"*98": Voicemail} })
		r.offHook()
		r.dial("*98")
		r.is(Reorder, NoCalls) // no voicemail number configured
	})
}
