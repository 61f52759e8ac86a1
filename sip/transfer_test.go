package sip

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	siplib "github.com/emiago/sipgo/sip"

	"github.com/openata/ata/call"
)

// notify sends a NOTIFY of the REFER subscription with a sipfrag status.
func (p *peer) notify(d *pdialog, frag, state string) {
	p.t.Helper()
	p.inDialog(d, siplib.NOTIFY, "message/sipfrag;version=2.0", []byte(frag+"\r\n"),
		siplib.NewHeader("Event", "refer"), siplib.NewHeader("Subscription-State", state))
	if res := p.response(siplib.NOTIFY); res.StatusCode != 200 {
		p.t.Fatalf("NOTIFY %q answered %d", frag, res.StatusCode)
	}
}

// Blind transfer: REFER with Refer-To and Referred-By, 202, NOTIFYs
// 100 then 200: TransferDone, our BYE, Ended(Transferred).
func TestBlindTransferSucceeds(t *testing.T) {
	p := newPeer(t)
	l := testLine(t, p)
	c, d := outgoing(t, p, l)
	if err := c.Transfer("3000"); err != nil {
		t.Fatal(err)
	}
	refer := p.request(siplib.REFER)
	if got := hdr(refer, "Refer-To"); got != "<sip:3000@voip.test>" {
		t.Fatalf("Refer-To %q", got)
	}
	if got := hdr(refer, "Referred-By"); got != "<sip:1001@voip.test>" {
		t.Fatalf("Referred-By %q", got)
	}
	p.reply(refer, 202, "", nil)
	p.notify(d, "SIP/2.0 100 Trying", "active;expires=60")
	p.notify(d, "SIP/2.0 180 Ringing", "active;expires=60")
	noEvent(t, c, call.TransferDone, 100*time.Millisecond)
	p.notify(d, "SIP/2.0 200 OK", "terminated;reason=noresource")
	if ev := nextEvent(t, c); ev.Kind != call.TransferDone {
		t.Fatalf("event %+v, want transfer-done", ev)
	}
	bye := p.request(siplib.BYE)
	p.reply(bye, 200, "", nil)
	if ev := nextEvent(t, c); ev.Kind != call.Ended || ev.Cause != call.Transferred || ev.Remote {
		t.Fatalf("event %+v, want Ended(transferred) by us", ev)
	}
}

// The far end may hang up itself right after the success NOTIFY.
func TestBlindTransferFarEndByes(t *testing.T) {
	old := transferByeDelay
	transferByeDelay = 3 * time.Second // the far end's BYE comes first
	t.Cleanup(func() { transferByeDelay = old })
	p := newPeer(t)
	l := testLine(t, p)
	c, d := incoming(t, p, l)
	c.Transfer("3000")
	p.reply(p.request(siplib.REFER), 202, "", nil)
	p.notify(d, "SIP/2.0 200 OK", "terminated;reason=noresource")
	p.inDialog(d, siplib.BYE, "", nil)
	evs := []call.Event{nextEvent(t, c), nextEvent(t, c)}
	if evs[0].Kind != call.TransferDone || evs[1].Kind != call.Ended || evs[1].Cause != call.Transferred {
		t.Fatalf("events %+v, want transfer-done then Ended(transferred)", evs)
	}
}

// A failure sipfrag, a refused REFER or no final NOTIFY is
// TransferFailed; the call stays up.
func TestBlindTransferFails(t *testing.T) {
	old := referFinalTimeout
	referFinalTimeout = 500 * time.Millisecond
	t.Cleanup(func() { referFinalTimeout = old })
	p := newPeer(t)
	l := testLine(t, p)
	c, d := outgoing(t, p, l)
	for _, tc := range []struct {
		name   string
		script func(refer *siplib.Request)
		detail string
	}{
		{"busy", func(refer *siplib.Request) {
			p.reply(refer, 202, "", nil)
			p.notify(d, "SIP/2.0 100 Trying", "active")
			p.notify(d, "SIP/2.0 486 Busy Here", "terminated")
		}, "486"},
		{"refused", func(refer *siplib.Request) { p.reply(refer, 403, "", nil) }, "REFER refused: 403"},
		{"silence", func(refer *siplib.Request) { p.reply(refer, 202, "", nil) }, "no final NOTIFY"},
	} {
		if err := c.Transfer("3000"); err != nil {
			t.Fatal(err)
		}
		tc.script(p.request(siplib.REFER))
		ev := waitEvent(t, c, call.TransferFailed)
		if !strings.Contains(ev.Detail, tc.detail) {
			t.Fatalf("%s: TransferFailed %q, want %q", tc.name, ev.Detail, tc.detail)
		}
		p.none(siplib.BYE, 100*time.Millisecond)
		if !c.up() {
			t.Fatalf("%s: call ended", tc.name)
		}
	}
}

// Attended transfer: the REFER to the first call's far end names the
// second call's far end with a Replaces for that dialog as its receiver
// sees it (RFC 3891 §3: to-tag its tag, from-tag ours). On success the
// first call ends Transferred and the second, BYE'd by its party,
// Replaced.
func TestAttendedTransferReplaces(t *testing.T) {
	p := newPeer(t)  // A: the party being transferred
	p2 := newPeer(t) // C: the transfer target, whose call A takes over
	l := testLine(t, p)
	a, da := outgoing(t, p, l, siplib.NewHeader("Supported", "replaces, timer"))
	p2.ata = p.ata
	cLeg, dc := incoming(t, p2, l, siplib.NewHeader("Supported", "replaces"))
	if err := a.TransferTo(cLeg); err != nil {
		t.Fatal(err)
	}
	refer := p.request(siplib.REFER)
	rt := hdr(refer, "Refer-To")
	inner := strings.TrimSuffix(strings.TrimPrefix(rt, "<"), ">")
	uri, query, ok := strings.Cut(inner, "?")
	if !ok || uri != "sip:2000@"+p2.addr() {
		t.Fatalf("Refer-To %q: want C's contact sip:2000@%s with a query", rt, p2.addr())
	}
	key, val, _ := strings.Cut(query, "=")
	replaces, err := url.PathUnescape(val)
	if key != "Replaces" || err != nil {
		t.Fatalf("Refer-To %q: header %q (%v)", rt, key, err)
	}
	// C receives the INVITE with Replaces: to-tag is C's own tag (the
	// From tag of its INVITE to us), from-tag ours (our 200's To tag).
	if want := dc.callID + ";to-tag=" + dc.fromTag + ";from-tag=" + dc.toTag; replaces != want {
		t.Fatalf("Replaces %q, want %q", replaces, want)
	}
	if strings.ContainsAny(val, ";=@") {
		t.Fatalf("Replaces not escaped in the URI: %q", val)
	}
	p.reply(refer, 202, "", nil)
	p.notify(da, "SIP/2.0 200 OK", "terminated")
	waitEvent(t, a, call.TransferDone)
	p.reply(p.request(siplib.BYE), 200, "", nil)
	if ev := waitEvent(t, a, call.Ended); ev.Cause != call.Transferred {
		t.Fatalf("transferring call Ended %+v", ev)
	}
	// C, having taken A's INVITE with Replaces, hangs up on us.
	p2.inDialog(dc, siplib.BYE, "", nil)
	if ev := waitEvent(t, cLeg, call.Ended); ev.Cause != call.Replaced || !ev.Remote {
		t.Fatalf("replaced call Ended %+v", ev)
	}
}

// If the replaced call's party does not hang up, we do, after a grace.
func TestAttendedTransferHangsUpReplacedCall(t *testing.T) {
	old := replacedGrace
	replacedGrace = 300 * time.Millisecond
	t.Cleanup(func() { replacedGrace = old })
	p := newPeer(t) // both far ends
	l := testLine(t, p)
	a, da := incoming(t, p, l, siplib.NewHeader("Supported", "replaces"))
	cLeg, _ := outgoing(t, p, l, siplib.NewHeader("Supported", "replaces"))
	a.TransferTo(cLeg)
	p.reply(p.request(siplib.REFER), 202, "", nil)
	p.notify(da, "SIP/2.0 200 OK", "terminated")
	waitEvent(t, a, call.Ended)
	if ev := waitEvent(t, cLeg, call.Ended); ev.Cause != call.Replaced || ev.Remote {
		t.Fatalf("replaced call Ended %+v, want Replaced by us", ev)
	}
}

// A far end without Replaces gets a blind REFER to the other party.
func TestAttendedTransferFallsBackToBlind(t *testing.T) {
	p := newPeer(t)
	l := testLine(t, p)
	a, _ := outgoing(t, p, l) // its 200 OK says nothing of replaces
	other, _ := incoming(t, p, l)
	a.TransferTo(other)
	refer := p.request(siplib.REFER)
	if got := hdr(refer, "Refer-To"); got != "<sip:2000@voip.test>" {
		t.Fatalf("Refer-To %q, want the other party's number at the service domain", got)
	}
	if err := a.TransferTo(fakeLeg{}); err != call.ErrNotSupported {
		t.Fatalf("TransferTo(a non-SIP leg) = %v", err)
	}
}

// A transferee that knows Replaces but a target that does not (baresip
// 1.0, which takes an INVITE with Replaces as a new call) also gets a
// blind REFER: with Replaces the target would have two calls.
func TestAttendedTransferBlindWhenTargetLacksReplaces(t *testing.T) {
	p := newPeer(t)
	l := testLine(t, p)
	a, _ := outgoing(t, p, l, siplib.NewHeader("Supported", "replaces"))
	other, _ := incoming(t, p, l) // its INVITE says nothing of replaces
	a.TransferTo(other)
	refer := p.request(siplib.REFER)
	if got := hdr(refer, "Refer-To"); got != "<sip:2000@voip.test>" {
		t.Fatalf("Refer-To %q, want a blind REFER to the other party", got)
	}
}

type fakeLeg struct{ call.Leg }

// An incoming REFER is accepted (202), NOTIFY 100 at once, and reported;
// Place dials the target (outliving its ctx) and NOTIFYs 180 and 200;
// then the transferring call is hung up as Transferred.
func TestIncomingReferFollowed(t *testing.T) {
	for _, attended := range []bool{false, true} {
		t.Run(map[bool]string{false: "blind", true: "attended"}[attended], func(t *testing.T) {
			p := newPeer(t)
			l := testLine(t, p)
			c, d := incoming(t, p, l)
			referTo := "<sip:3000@voip.test>"
			if attended {
				referTo = "<sip:3000@voip.test?Replaces=abc%40host%3Bto-tag%3Dt1%3Bfrom-tag%3Df1>"
			}
			p.inDialog(d, siplib.REFER, "", nil, siplib.NewHeader("Refer-To", referTo),
				siplib.NewHeader("Referred-By", "<sip:2000@voip.test>"))
			if res := p.response(siplib.REFER); res.StatusCode != 202 {
				t.Fatalf("REFER answered %d", res.StatusCode)
			}
			n := p.request(siplib.NOTIFY)
			if string(n.Body()) != "SIP/2.0 100 Trying\r\n" || !strings.HasPrefix(hdr(n, "Event"), "refer") ||
				!strings.HasPrefix(hdr(n, "Subscription-State"), "active") || !strings.HasPrefix(hdr(n, "Content-Type"), "message/sipfrag") {
				t.Fatalf("first NOTIFY:\n%s", n)
			}
			p.reply(n, 200, "", nil)
			ev := waitEvent(t, c, call.TransferRequested)
			tr := ev.Transfer
			if tr == nil || tr.Target != "3000" || tr.Attended != attended {
				t.Fatalf("TransferRequested %+v", tr)
			}
			ctx, cancel := context.WithCancel(context.Background())
			leg, err := tr.Place(ctx)
			cancel() // the new call outlives Place's ctx
			if err != nil {
				t.Fatal(err)
			}
			nc := leg.(*Call)
			t.Cleanup(func() { nc.Hangup(call.Normal) })
			inv := p.request(siplib.INVITE)
			if inv.Recipient.String() != "sip:3000@voip.test" || hdr(inv, "Referred-By") != "<sip:2000@voip.test>" {
				t.Fatalf("transfer INVITE:\n%s", inv)
			}
			if got := hdr(inv, "Replaces"); attended && got != "abc@host;to-tag=t1;from-tag=f1" || !attended && got != "" {
				t.Fatalf("transfer INVITE Replaces %q", got)
			}
			tag := "new1"
			p.reply(inv, 180, tag, nil)
			n = p.request(siplib.NOTIFY)
			if string(n.Body()) != "SIP/2.0 180 Ringing\r\n" {
				t.Fatalf("second NOTIFY body %q", n.Body())
			}
			p.reply(n, 200, "", nil)
			p.reply(inv, 200, tag, p.sdp("", ""))
			p.request(siplib.ACK)
			waitEvent(t, nc, call.Answered)
			n = p.request(siplib.NOTIFY)
			if string(n.Body()) != "SIP/2.0 200 OK\r\n" || !strings.HasPrefix(hdr(n, "Subscription-State"), "terminated") {
				t.Fatalf("final NOTIFY:\n%s", n)
			}
			p.reply(n, 200, "", nil)
			bye := p.request(siplib.BYE)
			if bye.CallID().Value() != d.callID {
				t.Fatalf("BYE for %s, want the transferring call %s", bye.CallID().Value(), d.callID)
			}
			p.reply(bye, 200, "", nil)
			if ev := waitEvent(t, c, call.Ended); ev.Cause != call.Transferred {
				t.Fatalf("transferring call Ended %+v", ev)
			}
			if !nc.up() {
				t.Fatal("the new call is not up")
			}
		})
	}
}

// Refuse tells the transferor 603 and ends its subscription; a failed
// new call tells it the failure. The call stays.
func TestIncomingReferRefusedOrFailed(t *testing.T) {
	p := newPeer(t)
	l := testLine(t, p)
	c, d := outgoing(t, p, l)
	refer := func() *call.TransferRequest {
		p.inDialog(d, siplib.REFER, "", nil, siplib.NewHeader("Refer-To", "<sip:3000@voip.test>"))
		p.response(siplib.REFER)
		p.reply(p.request(siplib.NOTIFY), 200, "", nil)
		return waitEvent(t, c, call.TransferRequested).Transfer
	}
	refer().Refuse(call.Declined)
	n := p.request(siplib.NOTIFY)
	if string(n.Body()) != "SIP/2.0 603 Decline\r\n" || !strings.HasPrefix(hdr(n, "Subscription-State"), "terminated") {
		t.Fatalf("refusal NOTIFY:\n%s", n)
	}
	p.reply(n, 200, "", nil)

	tr := refer()
	if _, err := tr.Place(context.Background()); err != nil {
		t.Fatal(err)
	}
	inv := p.request(siplib.INVITE)
	p.reply(inv, 486, "busy1", nil)
	n = p.request(siplib.NOTIFY)
	if string(n.Body()) != "SIP/2.0 486 Busy Here\r\n" || !strings.HasPrefix(hdr(n, "Subscription-State"), "terminated") {
		t.Fatalf("failure NOTIFY:\n%s", n)
	}
	p.reply(n, 200, "", nil)
	p.none(siplib.BYE, 200*time.Millisecond)
	if !c.up() {
		t.Fatal("the transferring call ended after a failed transfer")
	}
}

// An INVITE with Replaces for one of our confirmed calls comes in with
// Replaces() set to it; one for no call, or an early one, is 481.
func TestInviteWithReplaces(t *testing.T) {
	p := newPeer(t)
	l := testLine(t, p)
	old, d := outgoing(t, p, l)
	calls := make(chan *Call, 1)
	l.OnIncoming(func(c *Call) { calls <- c })
	// As we receive it: to-tag is ours, from-tag the far end's.
	p.invite(l, siplib.NewHeader("Replaces", d.callID+";to-tag="+d.toTag+";from-tag="+d.fromTag))
	nc := nextCall(t, calls)
	if nc.Replaces() != call.Leg(old) {
		t.Fatalf("Replaces() = %v, want the old call", nc.Replaces())
	}
	nc.Hangup(call.Normal)
	p.response(siplib.INVITE)

	for name, v := range map[string]string{
		"swapped tags": d.callID + ";to-tag=" + d.fromTag + ";from-tag=" + d.toTag,
		"other call":   "nope@x;to-tag=" + d.toTag + ";from-tag=" + d.fromTag,
		"early-only":   d.callID + ";to-tag=" + d.toTag + ";from-tag=" + d.fromTag + ";early-only",
	} {
		p.invite(l, siplib.NewHeader("Replaces", v))
		if res := p.response(siplib.INVITE); res.StatusCode != 481 {
			t.Fatalf("%s: INVITE with Replaces answered %d, want 481", name, res.StatusCode)
		}
	}
	// An early dialog of ours (ringing, not answered).
	early, err := l.DialCall(context.Background(), "2001")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { early.Hangup(call.Normal) })
	inv := p.request(siplib.INVITE)
	p.reply(inv, 180, "early1", nil)
	waitEvent(t, early, call.Progress)
	ourTag, _ := inv.From().Params.Get("tag")
	p.invite(l, siplib.NewHeader("Replaces", inv.CallID().Value()+";to-tag="+ourTag+";from-tag=early1"))
	if res := p.response(siplib.INVITE); res.StatusCode != 481 {
		t.Fatalf("INVITE replacing an early dialog answered %d, want 481", res.StatusCode)
	}
	select {
	case c := <-calls:
		t.Fatalf("a refused INVITE with Replaces came in as %s", c.ID())
	default:
	}
	early.Hangup(call.Normal)
	p.reply(p.request(siplib.CANCEL), 200, "", nil)
	p.reply(inv, 487, "early1", nil)
	if ev := waitEvent(t, early, call.Ended); ev.Cause != call.Cancelled {
		t.Fatalf("cancelled call Ended %+v", ev)
	}
}
