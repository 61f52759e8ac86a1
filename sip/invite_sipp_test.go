package sip

import (
	"context"
	"testing"
	"time"

	"github.com/openata/ata/call"
	"github.com/openata/ata/internal/sipptest"
)

// sipp as a provider calling us (testdata/sipp/late_offer_100rel_uac.xml):
// an INVITE without SDP that requires 100rel. Our 180 is reliable and
// carries our offer, sipp's PRACK answers it, and the call is up with
// media from the answer until sipp hangs up.
func TestSippLateOfferWith100rel(t *testing.T) {
	t.Parallel()
	st := newTestStack(t, "127.0.0.1:0", false)
	l, err := NewLine(st, Account{Number: "1001", ServiceDomain: "voip.test", Registrar: "127.0.0.1:5060", Codecs: []string{"PCMU"}},
		LineOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	calls := make(chan *Call, 1)
	l.OnIncoming(func(c *Call) { calls <- c })
	done := sipptest.Run(t, freeLoopbackPort(t), "testdata/sipp/late_offer_100rel_uac.xml", nil,
		"-s", "1001", st.LocalAddr().String())
	var c *Call
	select {
	case c = <-calls:
	case err := <-done:
		t.Fatalf("sipp ended before the call came: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no call from sipp")
	}
	if err := c.Alert(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // sipp PRACKs the 180 before the answer
	if err := c.Answer(); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, call.Answered)
	if c.Media() == nil {
		t.Fatal("no media after sipp's answer in the PRACK")
	}
	if ev := waitEvent(t, c, call.Ended); !ev.Remote {
		t.Fatalf("ended %+v, want sipp's BYE", ev)
	}
	sipptest.Wait(t, done, 10*time.Second)
}

// sipp as the provider of our call (testdata/sipp/redirect_reliable183_uas.xml):
// 302 to another user, then a reliable 183 with early media that we PRACK
// before its 200 OK; sipp checks the redirected INVITE, the PRACK's RAck
// and the ACK's CSeq, and hangs up.
func TestSippRedirectThenReliable183(t *testing.T) {
	t.Parallel()
	addr := freeLoopbackPort(t)
	done := sipptest.Run(t, addr, "testdata/sipp/redirect_reliable183_uas.xml", nil)
	time.Sleep(300 * time.Millisecond) // sipp binds
	st := newTestStack(t, "127.0.0.1:0", false)
	l, err := NewLine(st, Account{Number: "1001", ServiceDomain: "voip.test", Registrar: addr, Codecs: []string{"PCMU"}},
		LineOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := l.DialCall(context.Background(), "2000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Hangup(call.Normal) })
	waitEvent(t, c, call.EarlyMedia)
	waitEvent(t, c, call.Answered)
	if ev := waitEvent(t, c, call.Ended); !ev.Remote {
		t.Fatalf("ended %+v, want sipp's BYE", ev)
	}
	sipptest.Wait(t, done, 10*time.Second)
}
