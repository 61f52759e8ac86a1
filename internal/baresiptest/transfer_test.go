package baresiptest

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Blind transfer: alice REFERs bob to carol. baresip 1.0.0 follows a
// REFER by default (no setting, no module), sends NOTIFYs with
// message/sipfrag bodies, and Kamailio relays REFER and NOTIFY in the
// dialog. The transferee ends with two calls; Heard joins them by time,
// CallHeard keeps them apart.
func TestBlindTransfer(t *testing.T) {
	t.Parallel()
	tr := startTrio(t, "alice") // her SIP trace shows the NOTIFYs
	tr.alice.Dial(tr.uri("bob"))
	first := tr.bob.WaitEvent(Established, 5*time.Second)
	tr.alice.WaitEvent(Established, 5*time.Second)
	time.Sleep(time.Second)

	refer := time.Now()
	tr.alice.Transfer(tr.uri("carol"))
	ev := tr.bob.WaitEvent(Transfer, 5*time.Second)
	if ev.CallID != first.CallID || ev.Param != tr.uri("carol") {
		t.Errorf("bob's transfer event %v, want call %s to %s", ev, first.CallID, tr.uri("carol"))
	}
	in := tr.carol.WaitEvent(Incoming, 5*time.Second)
	if in.Number != "bob" {
		t.Errorf("carol's call is from %q, want bob (the transferee)", in.Number)
	}
	second := tr.bob.WaitCallEvent(Established, in.CallID, 5*time.Second)
	if ev := tr.alice.WaitEvent(Closed, 5*time.Second); ev.Param != "Call transfered" {
		t.Errorf("alice's call closed with %v, want \"Call transfered\"", ev)
	}
	if ev := tr.bob.WaitCallEvent(Closed, first.CallID, 5*time.Second); ev.Param != "Connection reset by peer" {
		t.Errorf("bob's first call closed with %v, want alice's BYE", ev)
	}
	t.Logf("REFER to bob's new call established: %v", second.Time.Sub(refer))
	if ids := tr.bob.CallIDs(); len(ids) != 2 || ids[0] != first.CallID || ids[1] != second.CallID {
		t.Errorf("bob's calls %v", ids)
	}
	for _, f := range []string{"REFER sip:", "Refer-To: " + tr.uri("carol"), "SIP/2.0 202 Accepted", "Event: refer",
		"Content-Type: message/sipfrag", "\n\nSIP/2.0 100 Trying", "\n\nSIP/2.0 200 OK",
		"Subscription-State: terminated;reason=noresource", "BYE sip:"} {
		if !strings.Contains(trace(tr.alice), f) {
			t.Errorf("alice's SIP trace lacks %q", f)
		}
	}

	// bob heard alice, then carol; carol hears bob.
	a, _, c := tones(t, "bob", tr.bob, refer.Add(-700*time.Millisecond), refer)
	hears(t, "bob hearing alice before the transfer", a)
	silent(t, "bob hearing carol before the transfer", c)
	a, _, c = tones(t, "bob", tr.bob, second.Time.Add(200*time.Millisecond), second.Time.Add(1200*time.Millisecond))
	hears(t, "bob hearing carol after the transfer", c)
	silent(t, "bob hearing alice after the transfer", a)
	_, b, _ := tones(t, "carol", tr.carol, second.Time.Add(200*time.Millisecond), second.Time.Add(1200*time.Millisecond))
	hears(t, "carol hearing bob", b)
	// Per call: the first call has alice only, the second carol only.
	if x := tr.bob.CallHeard(first.CallID); BlockLevel(x, aliceHz) < toneDBm0-1.5 || BlockLevel(x, carolHz) > -40 {
		t.Errorf("bob's first call: alice %.1f, carol %.1f dBm0", BlockLevel(x, aliceHz), BlockLevel(x, carolHz))
	}
	time.Sleep(500 * time.Millisecond)
	if x := tr.bob.CallHeard(second.CallID); BlockLevel(x, carolHz) < toneDBm0-1.5 || BlockLevel(x, aliceHz) > -40 {
		t.Errorf("bob's second call: carol %.1f, alice %.1f dBm0", BlockLevel(x, carolHz), BlockLevel(x, aliceHz))
	}
}

// trace is a phone's log (with Opts.Verbose: its SIP trace) with LF line ends.
func trace(p *Phone) string { return strings.ReplaceAll(p.Log(), "\r\n", "\n") }

// A REFER to a target that does not exist: the transferee's new call
// fails, its last NOTIFY carries "SIP/2.0 404 Not Found", the transferor
// reports TRANSFER_FAILED and (baresip 1.0.0) hangs up the original call
// anyway, without a CALL_CLOSED event for it.
func TestFailedBlindTransfer(t *testing.T) {
	t.Parallel()
	tr := startTrio(t, "alice")
	tr.alice.Dial(tr.uri("bob"))
	first := tr.bob.WaitEvent(Established, 5*time.Second)
	tr.alice.WaitEvent(Established, 5*time.Second)
	tr.alice.Transfer(tr.uri("nobody"))
	if ev := tr.bob.WaitEvent(Transfer, 5*time.Second); ev.Param != tr.uri("nobody") {
		t.Errorf("bob's transfer event %v", ev)
	}
	if ev := tr.alice.WaitEvent(TransferFailed, 5*time.Second); ev.Status != 404 {
		t.Errorf("alice's %v, want 404", ev)
	}
	if ev := tr.bob.WaitCallEvent(Closed, first.CallID, 5*time.Second); ev.Param != "Connection reset by peer" {
		t.Errorf("bob's first call closed with %v, want alice's BYE", ev)
	}
	if !strings.Contains(trace(tr.alice), "\n\nSIP/2.0 404 Not Found") {
		t.Error("no NOTIFY with a 404 sipfrag in alice's trace")
	}
	if n := tr.alice.Calls(); n != 0 {
		t.Errorf("alice has %d calls after the failed transfer", n)
	}
	for _, e := range tr.alice.Events() {
		if e.Kind == Closed {
			t.Errorf("alice reported %v (1.0.0 did not)", e)
		}
	}
}

// Attended transfer as the ATA will do it (REFER with Refer-To:
// <target?Replaces=...>) against baresip 1.0.0: the transferee follows
// the REFER but puts the whole URI, "?Replaces=..." included (its %3B and
// %3D turned into '?'), in the new INVITE's Request-URI, with no Replaces
// header; the target takes it as one more call and keeps the consultation
// call. No Replaces support, and no "Supported: replaces".
func TestReferWithReplacesBecomesAPlainCall(t *testing.T) {
	t.Parallel()
	tr := startTrio(t, "alice", "bob")
	tr.alice.Dial(tr.uri("bob"))
	first := tr.bob.WaitEvent(Established, 5*time.Second)
	tr.alice.WaitEvent(Established, 5*time.Second)
	tr.alice.Hold()
	tr.alice.Dial(tr.uri("carol"))
	consult := tr.carol.WaitEvent(Established, 5*time.Second)
	tr.alice.WaitCallEvent(Established, consult.CallID, 5*time.Second)
	if n := tr.alice.Calls(); n != 2 {
		t.Fatalf("alice has %d calls, want 2", n)
	}
	from, to := dialogTags(t, trace(tr.alice), consult.CallID)
	target := fmt.Sprintf("%s?Replaces=%s%%3Bto-tag%%3D%s%%3Bfrom-tag%%3D%s", tr.uri("carol"), consult.CallID, to, from)
	tr.alice.SelectCall(first.CallID)
	tr.alice.Transfer(target)

	in := tr.carol.WaitEvent(Incoming, 5*time.Second) // consult call's
	in = tr.carol.WaitEvent(Incoming, 5*time.Second)
	if in.Number != "bob" || in.CallID == consult.CallID {
		t.Errorf("carol's second incoming call %v", in)
	}
	tr.bob.WaitCallEvent(Established, in.CallID, 5*time.Second)
	tr.alice.WaitEvent(Closed, 5*time.Second) // the transferred call
	time.Sleep(500 * time.Millisecond)
	for _, e := range tr.carol.Events() {
		if e.Kind == Closed {
			t.Errorf("carol closed %v: she replaced a call", e)
		}
	}
	if n := tr.carol.Calls(); n != 2 {
		t.Errorf("carol has %d calls, want 2 (the consultation call and bob's)", n)
	}
	bob := trace(tr.bob)
	mangled := "INVITE " + tr.uri("carol") + "?Replaces=" + consult.CallID + "?to-tag?" + to + "?from-tag?" + from + " SIP/2.0"
	if !strings.Contains(bob, mangled) {
		t.Errorf("bob's INVITE is not %q", mangled)
	}
	if regexp.MustCompile(`(?mi)^(Replaces|Supported:.*replaces)`).MatchString(bob) {
		t.Error("bob sent a Replaces header or Supported: replaces")
	}
	if !strings.Contains(bob, "\nSupported:\n") {
		t.Error("bob's INVITE has no empty Supported header")
	}
}

// An INVITE with a Replaces header for an established call (sent raw,
// straight to carol): baresip 1.0.0 takes it as a new incoming call and
// keeps the old one; with "Require: replaces" it answers 420 Bad Extension.
func TestInviteWithReplacesIsANewCall(t *testing.T) {
	t.Parallel()
	tr := startTrio(t, "alice")
	tr.alice.Dial(tr.uri("carol"))
	up := tr.carol.WaitEvent(Established, 5*time.Second)
	tr.alice.WaitEvent(Established, 5*time.Second)
	from, to := dialogTags(t, trace(tr.alice), up.CallID)
	replaces := fmt.Sprintf("Replaces: %s;to-tag=%s;from-tag=%s", up.CallID, to, from)

	if got := rawInvite(t, tr.carol, "raw-420", replaces, "Require: replaces"); !strings.HasPrefix(got, "SIP/2.0 420 ") {
		t.Errorf("INVITE requiring replaces: %q, want 420", got)
	}
	got := rawInvite(t, tr.carol, "raw-new", replaces)
	in := tr.carol.WaitCallEvent(Incoming, "raw-new", 5*time.Second)
	t.Logf("INVITE with Replaces: %s; carol: %v", got, in)
	tr.carol.WaitCallEvent(Established, "raw-new", 5*time.Second)
	time.Sleep(500 * time.Millisecond)
	for _, e := range tr.carol.Events() {
		if e.Kind == Closed {
			t.Errorf("carol closed %v: she replaced the call", e)
		}
	}
	if n := tr.carol.Calls(); n != 2 {
		t.Errorf("carol has %d calls, want 2", n)
	}
}

// rawInvite sends an INVITE with extra header lines straight to p and
// returns the first final response's status line (ACKing a 2xx).
func rawInvite(t *testing.T, p *Phone, callID string, extra ...string) string {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	la := c.LocalAddr().String()
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\na=sendrecv\r\n"
	head := fmt.Sprintf("INVITE %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\nMax-Forwards: 70\r\n"+
		"From: <sip:dave@%s>;tag=d1\r\nTo: <%s>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\nContact: <sip:dave@%s>\r\n",
		p.URI(), la, callID, la, p.URI(), callID, la)
	msg := head + strings.Join(extra, "\r\n") + "\r\nContent-Type: application/sdp\r\nContent-Length: " +
		fmt.Sprint(len(sdp)) + "\r\n\r\n" + sdp
	if _, err := c.WriteToUDPAddrPort([]byte(msg), p.Addr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8192)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no final response to the raw INVITE: %v", err)
		}
		res := string(buf[:n])
		status, _, _ := strings.Cut(res, "\r\n")
		if len(status) < 12 || status[8] == '1' {
			continue
		}
		if status[8] == '2' {
			toHdr := regexp.MustCompile(`(?m)^To: (.*)\r$`).FindStringSubmatch(res)
			ack := fmt.Sprintf("ACK %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%s-ack;rport\r\nMax-Forwards: 70\r\n"+
				"From: <sip:dave@%s>;tag=d1\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
				p.URI(), la, callID, la, toHdr[1], callID)
			c.WriteToUDPAddrPort([]byte(ack), p.Addr())
		}
		return status
	}
}

// dialogTags finds the From and To tags of the 200 OK to the INVITE of
// callID in a SIP trace (Opts.Verbose).
func dialogTags(t *testing.T, trace, callID string) (from, to string) {
	t.Helper()
	tag := regexp.MustCompile(`;tag=([^;>\s]+)`)
	for _, msg := range strings.Split(trace, "\n#\n") {
		if !strings.Contains(msg, "\nSIP/2.0 200 ") || !strings.Contains(msg, "\nCall-ID: "+callID+"\n") ||
			!regexp.MustCompile(`(?m)^CSeq: \d+ INVITE$`).MatchString(msg) {
			continue
		}
		for _, l := range strings.Split(msg, "\n") {
			if v, ok := strings.CutPrefix(l, "From: "); ok {
				if m := tag.FindStringSubmatch(v); m != nil {
					from = m[1]
				}
			}
			if v, ok := strings.CutPrefix(l, "To: "); ok {
				if m := tag.FindStringSubmatch(v); m != nil {
					to = m[1]
				}
			}
		}
		if from != "" && to != "" {
			return from, to
		}
	}
	t.Fatalf("no 200 OK to the INVITE of %s in the trace", callID)
	return "", ""
}
