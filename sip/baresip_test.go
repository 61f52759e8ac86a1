package sip

import (
	"testing"
	"time"

	"github.com/openata/ata/call"
	"github.com/openata/ata/internal/baresiptest"
	"github.com/openata/ata/media/sdp"
)

// Against a real phone (baresip, direct call): its RFC 4733 key becomes
// a DTMF event; our hold and resume are answered recvonly and sendrecv
// and set the session's direction; its hold and resume are Held and
// Resumed.
func TestBaresipHoldResumeAndKeys(t *testing.T) {
	far := baresiptest.Start(t, baresiptest.Opts{User: "2000", Incoming: baresiptest.AutoAnswer})
	p := newPeer(t) // unused registrar: the line calls baresip directly
	l := testLine(t, p, func(a *Account) { a.ServiceDomain = far.Addr().String(); a.Registrar = far.Addr().String() })
	c, err := l.DialCall(t.Context(), "2000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Hangup(call.Normal) })
	waitEvent(t, c, call.Answered)
	far.WaitEvent(baresiptest.Established, 5*time.Second)
	go sendFrames(c, 2*time.Second) // media flowing while the keys come

	far.SendDTMF("7")
	if ev := waitEvent(t, c, call.DTMF); ev.Key != '7' || ev.Duration <= 0 {
		t.Fatalf("DTMF event %+v", ev)
	}

	direction := func(want sdp.Direction) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			c.mu.Lock()
			got := c.media.Direction
			c.mu.Unlock()
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("session direction %v, want %v", got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := c.Hold(); err != nil {
		t.Fatal(err)
	}
	direction(sdp.SendOnly)
	if err := c.Resume(); err != nil {
		t.Fatal(err)
	}
	direction(sdp.SendRecv)

	if _, err := far.Command("hold", ""); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, call.Held)
	direction(sdp.RecvOnly)
	if _, err := far.Command("resume", ""); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, call.Resumed)
	direction(sdp.SendRecv)
}
