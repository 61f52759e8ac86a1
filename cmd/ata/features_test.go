package main

import (
	"os"
	"path/filepath"

	"github.com/openata/ata/fxs/callerid/minimodemtest"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/internal/baresiptest"
)

// neverRang checks the port never rang (sim events).
func (r *multiRig) neverRang() {
	r.t.Helper()
	evs, err := r.f.phone.Events(r.ctx(), 0)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, e := range evs {
		if e.Kind == "ring" && e.On {
			r.t.Fatalf("the phone rang (%+v)", e)
		}
	}
}

// TestDNDRefusesCallsWithoutRinging: with do not disturb on, a caller
// gets 486 and the phone never rings; the dial tone stutters.
func TestDNDRefusesCallsWithoutRinging(t *testing.T) {
	r := newMultiRig(t, "dnd = true")
	a := r.far["2000"]
	r.callATA("2000")
	ev := a.WaitEvent(baresiptest.Closed, 10*time.Second)
	if !strings.Contains(ev.Param, "486") {
		t.Errorf("the caller's call ended with %q, want 486", ev.Param)
	}
	time.Sleep(200 * time.Millisecond)
	r.neverRang()
	r.hook("off")
	ear := r.listen(1500 * time.Millisecond)
	// US stutter dial tone: 350+440 Hz, 100 ms on / 100 ms off.
	if rr := runs(ear, 350); len(rr) < 4 {
		t.Errorf("dial tone during DND: 350 Hz runs %v, want the stutter cadence", rr)
	}
}

// TestForwardAlwaysByBridge: every call goes on to 3000 through the ATA,
// which joins the two legs: the caller and the target hear each other and
// the phone never rings.
func TestForwardAlwaysByBridge(t *testing.T) {
	r := newMultiRig(t, "forward_always = \"3000\"\nforward_method = \"bridge\"")
	r.callATA("2000")
	r.far["3000"].WaitEvent(baresiptest.Established, 10*time.Second)
	r.far["2000"].WaitEvent(baresiptest.Established, 10*time.Second)
	r.f.waitLog(t, "phone: forward joined", 5*time.Second)
	time.Sleep(500 * time.Millisecond)
	from := time.Now()
	time.Sleep(1500 * time.Millisecond)
	r.farHears("forwarded", "2000", 600, from, time.Now(), true)
	r.farHears("forwarded", "3000", 1000, from, time.Now(), true)
	r.neverRang()
	r.far["2000"].Hangup()
	r.far["3000"].WaitEvent(baresiptest.Closed, 5*time.Second)
}

// TestForwardOnNoAnswer: a call not answered within
// forward_no_answer_after rings, then goes on to the target.
func TestForwardOnNoAnswer(t *testing.T) {
	r := newMultiRig(t, "forward_no_answer = \"3000\"\nforward_no_answer_after = \"2s\"\nforward_method = \"bridge\"")
	start := time.Now()
	r.callATA("2000")
	r.f.waitLog(t, "to=ringing", 5*time.Second)
	r.far["3000"].WaitEvent(baresiptest.Established, 10*time.Second)
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("forwarded after %v, before the 2 s", took)
	}
	r.f.waitLog(t, "phone: forward joined", 5*time.Second)
	time.Sleep(500 * time.Millisecond)
	from := time.Now()
	time.Sleep(1500 * time.Millisecond)
	r.farHears("forwarded on no answer", "2000", 600, from, time.Now(), true)
	if st, err := r.f.phone.State(r.ctx()); err != nil || st.Ringing {
		t.Errorf("still ringing after the forward: %+v %v", st, err)
	}
}

// TestForwardAlwaysByRedirect: every call is answered 302 with the target
// as Contact; the caller (baresip, through Kamailio) calls the target
// itself and the phone never rings.
func TestForwardAlwaysByRedirect(t *testing.T) {
	r := newMultiRig(t, "forward_always = \"3000\"")
	r.callATA("2000")
	r.far["3000"].WaitEvent(baresiptest.Established, 10*time.Second)
	r.f.waitLog(t, "to=3000", 5*time.Second)
	r.neverRang()
}

// TestAnonymousCallRejected: with reject_anonymous, a caller without a
// number gets 433 and the phone never rings; a caller with one rings.
func TestAnonymousCallRejected(t *testing.T) {
	r := newMultiRig(t, "reject_anonymous = true")
	ata := r.f.sipAddr(t)
	done := sipp(t, freeUDPPort(t), "uac_refused.xml", map[string]string{"caller": "anonymous", "name": "Anonymous", "status": "433"}, "-s", "1001", ata)
	waitSipp(t, done, 15*time.Second)
	r.neverRang()
	r.callATA("2000")
	r.f.waitLog(t, "to=ringing", 5*time.Second)
}

// TestForwardByFeatureCode: *72 and a number from the handset (confirmed
// by three beeps) forward the next call, which rings nothing here; the
// setting is saved in the config file; *73 cancels it.
func TestForwardByFeatureCode(t *testing.T) {
	r := newMultiRig(t, "")
	r.hook("off")
	r.dial("*72")
	r.f.waitLog(t, "enter the number", 5*time.Second)
	r.dial("3000")
	ear := r.listen(600 * time.Millisecond)
	if rr := runs(ear, 600); len(rr) < 2 {
		t.Errorf("no confirmation beeps after *72: 600 Hz runs %v", rr)
	}
	r.f.waitLog(t, "ata: feature code saved", 5*time.Second)
	r.hook("on")
	time.Sleep(time.Second)                                                 // a hang-up is a break longer than flash_max
	saved, err := os.ReadFile(filepath.Join(dataDirOf(t, r.f), "ata.toml")) // saves go to the data directory
	if err != nil || !strings.Contains(string(saved), `forward_always = '3000'`) {
		t.Fatalf("the config file after *72 (%v):\n%s", err, saved)
	}
	r.callATA("2000")
	r.far["3000"].WaitEvent(baresiptest.Established, 10*time.Second)
	r.neverRang()
	r.far["2000"].Hangup()
	r.far["3000"].WaitEvent(baresiptest.Closed, 5*time.Second)
	// It survives a restart.
	r.f.restart(t)
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(r.f.log(), "to=registered") < 2 {
		if time.Now().After(deadline) {
			t.Fatal("not registered again after the restart")
		}
		time.Sleep(50 * time.Millisecond)
	}
	since := time.Now()
	r.callATA("2000")
	r.far["3000"].WaitEventAfter(baresiptest.Established, since, 10*time.Second) // 2000 followed the 302
	if n := strings.Count(r.f.log(), `msg="phone: forwarding" from=2000 to=3000`); n != 2 {
		t.Fatalf("%d forwarded calls in the log, want 2 (one after the restart)", n)
	}
	r.neverRang()
	r.far["2000"].Hangup()
	r.far["3000"].WaitEventAfter(baresiptest.Closed, since, 5*time.Second)

	r.hook("off")
	r.dial("*73")
	r.f.waitLog(t, `forward_always=""`, 5*time.Second)
	r.hook("on")
	time.Sleep(time.Second) // a hang-up is a break longer than flash_max
	r.callATA("4000")
	r.f.waitLog(t, `why="incoming call from 4000"`, 5*time.Second)
}

// TestCallerIDBlockedForOneCall: *67 and a number place the call without
// our number (From anonymous, Privacy: id); the next call shows it again.
func TestCallerIDBlockedForOneCall(t *testing.T) {
	r := newMultiRig(t, "")
	b := r.far["2000"]
	r.hook("off")
	r.dial("*67")
	r.f.waitLog(t, "enter the number", 5*time.Second)
	r.dial("2000")
	ev := b.WaitEvent(baresiptest.Incoming, 10*time.Second)
	if !strings.Contains(ev.PeerURI, "anonymous") || strings.Contains(ev.PeerURI, "1001") {
		t.Errorf("the far end saw the call from %q, want anonymous", ev.PeerURI)
	}
	b.WaitEvent(baresiptest.Established, 5*time.Second)
	r.hook("on")
	b.WaitEvent(baresiptest.Closed, 5*time.Second)
	time.Sleep(time.Second) // a hang-up is a break longer than flash_max
	r.hook("off")
	r.dial("2000")
	ev = b.WaitEvent(baresiptest.Incoming, 10*time.Second)
	if !strings.Contains(ev.PeerURI, "1001") {
		t.Errorf("the next call came from %q, want 1001", ev.PeerURI)
	}
}

// TestMessageWaitingLampAndStutterTone: an unsolicited message-summary
// NOTIFY from the provider's address (sipp) lights the phone's lamp (VMWI
// burst on hook, decoded by minimodem) and turns the dial tone into the
// stutter tone; "no" turns the lamp off and brings dial tone back.
func TestMessageWaitingLampAndStutterTone(t *testing.T) {
	r := newMultiRig(t, "")
	ata := r.f.sipAddr(t)
	notify := func(waiting, n string) []int16 {
		t.Helper()
		done := sipp(t, freeUDPPort(t), "notify_mwi.xml", map[string]string{"waiting": waiting, "new": n, "old": "1"}, "-s", "1001", ata)
		ear := r.listen(3 * time.Second) // the burst follows 1 s on hook
		waitSipp(t, done, 10*time.Second)
		return ear
	}
	if on := minimodemtest.VMWI(t, notify("yes", "2"), false); !on {
		t.Fatal("the lamp burst says off after Messages-Waiting: yes")
	}
	r.hook("off")
	if rr := runs(r.listen(1500*time.Millisecond), 350); len(rr) < 4 {
		t.Errorf("dial tone with a message waiting: 350 Hz runs %v, want the stutter cadence", rr)
	}
	r.hook("on")
	time.Sleep(time.Second)
	if on := minimodemtest.VMWI(t, notify("no", "0"), false); on {
		t.Fatal("the lamp burst says on after Messages-Waiting: no")
	}
	r.hook("off")
	ear := r.listen(1500 * time.Millisecond)
	if rr := runs(ear, 350); len(rr) > 1 || level(ear, 350) < -20 {
		t.Errorf("dial tone after the messages were read: 350 Hz runs %v, level %.1f, want steady", rr, level(ear, 350))
	}
}
