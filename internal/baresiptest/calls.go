package baresiptest

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// More call events (see the constants in control.go).
const (
	// DTMFEnd: an RFC 4733 key press ended (Param is empty in 1.0.0).
	DTMFEnd Kind = "CALL_DTMF_END"
	// RTPEstablished: the first RTP packet of the call arrived.
	RTPEstablished Kind = "CALL_RTPESTAB"
	// RemoteSDP: an SDP offer or answer arrived (Param "offer"/"answer");
	// the only sign of a hold or resume re-INVITE from the far end: see
	// AudioDir for the direction.
	RemoteSDP Kind = "CALL_REMOTE_SDP"
	// LocalSDP: baresip sent an offer or answer. An outgoing call's first
	// one has no CallID yet.
	LocalSDP Kind = "CALL_LOCAL_SDP"
	// Transfer: the far end sent a REFER and baresip accepted it (202)
	// and is calling Param, the Refer-To URI, in a new call (on the
	// transferee). CallID is the call the REFER came in.
	Transfer Kind = "TRANSFER"
	// TransferFailed: our REFER failed (on the transferor): Param is the
	// REFER's error response or the final sipfrag status of the NOTIFYs.
	TransferFailed Kind = "TRANSFER_FAILED"
)

// Hold puts the current call on hold: a re-INVITE with a=sendonly. While
// on hold this baresip sends no RTP at all (it does not play music on
// hold), and the far end, answering a=recvonly, sends none either.
func (p *Phone) Hold() {
	p.t.Helper()
	p.mustCommand("hold", "")
}

// Resume takes the current call off hold: a re-INVITE with a=sendrecv.
func (p *Phone) Resume() {
	p.t.Helper()
	p.mustCommand("resume", "")
}

// Transfer blind-transfers the current call to uri: a REFER with
// Refer-To: uri. The far end (baresip: at once) answers 202, calls uri
// and reports the result in NOTIFYs with a message/sipfrag body ("SIP/2.0
// 100 Trying", then the new call's final status); on a 2xx this phone
// closes the call itself (Closed, Param "Call transfered") with a BYE; on
// a failure ("SIP/2.0 404 Not Found" in the last NOTIFY) it reports
// TransferFailed (Param "404 Not Found") and still sends the BYE, with no
// Closed event for that call. baresip's `transfer` sends uri verbatim, so
// "sip:c@host?Replaces=..." puts a Replaces in the Refer-To (what an
// attended transfer sends; baresip 1.0.0 has no command for attended
// transfer and does not support Replaces: see the package doc).
func (p *Phone) Transfer(uri string) {
	p.t.Helper()
	p.mustCommand("transfer", uri)
}

// SelectCall makes the call with this ID (Event.CallID) the current one,
// the one Answer, Hangup, Hold, Resume, Transfer and SendDTMF act on
// ("callfind"). baresip makes a new call current when it is created.
func (p *Phone) SelectCall(callID string) {
	p.t.Helper()
	p.mustCommand("callfind", callID)
}

// HangupCall ends the call with this ID (SelectCall, then Hangup).
func (p *Phone) HangupCall(callID string) {
	p.t.Helper()
	p.SelectCall(callID)
	p.Hangup()
}

var audioDir = regexp.MustCompile(`audio dir=(\w+)`)

// AudioDir is the negotiated direction of the current call's audio as
// baresip sees it ("audio_debug"): "sendrecv", "sendonly" (we hold),
// "recvonly" (the far end holds us with a=sendonly), "inactive".
func (p *Phone) AudioDir() string {
	p.t.Helper()
	out, err := p.Command("audio_debug", "")
	if err != nil {
		p.t.Fatalf("baresiptest: %s: %v", p.aor, err)
	}
	m := audioDir.FindStringSubmatch(out)
	if m == nil {
		p.t.Fatalf("baresiptest: %s: no audio direction in %q", p.aor, out)
	}
	return m[1]
}

// Calls is the number of calls baresip has ("listcalls").
func (p *Phone) Calls() int {
	p.t.Helper()
	out, err := p.Command("listcalls", "")
	if err != nil {
		p.t.Fatalf("baresiptest: %s: %v", p.aor, err)
	}
	m := regexp.MustCompile(`Active calls \((\d+)\)`).FindStringSubmatch(out)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// WaitCallEvent waits for an event of kind for the call with this ID,
// scanning from the first event (so it returns the call's first such
// event, already received or not) and failing the test after timeout.
func (p *Phone) WaitCallEvent(kind Kind, callID string, timeout time.Duration) Event {
	p.t.Helper()
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		for _, e := range p.events {
			if e.Kind == kind && e.CallID == callID {
				p.mu.Unlock()
				return e
			}
		}
		ch, readErr := p.changed, p.readErr
		p.mu.Unlock()
		if readErr != nil {
			p.t.Fatalf("baresiptest: %s: no %s for call %s: control connection lost: %v", p.aor, kind, callID, readErr)
		}
		select {
		case <-ch:
		case <-deadline:
			p.t.Fatalf("baresiptest: %s: no %s for call %s within %v; events so far: %s", p.aor, kind, callID, timeout, p.eventSummary())
		}
	}
}

// CallIDs lists the IDs of the calls seen so far, in the order they
// appeared.
func (p *Phone) CallIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	seen := map[string]bool{}
	for _, e := range p.events {
		if e.CallID != "" && !seen[e.CallID] {
			seen[e.CallID] = true
			ids = append(ids, e.CallID)
		}
	}
	return ids
}

func (e Event) String() string {
	return fmt.Sprintf("%s(%s %s %q)", e.Kind, e.CallID, e.Number, e.Param)
}

// WaitEventAfter waits for the first event of kind the harness read at or
// after since (take since := time.Now() before the command that causes
// it), failing the test after timeout. Unlike WaitEvent it ignores the
// per-kind cursor, so a call's setup events (CALL_REMOTE_SDP of the
// INVITE) are not mistaken for a later re-INVITE's.
func (p *Phone) WaitEventAfter(kind Kind, since time.Time, timeout time.Duration) Event {
	p.t.Helper()
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		for _, e := range p.events {
			if e.Kind == kind && !e.Time.Before(since) {
				p.mu.Unlock()
				return e
			}
		}
		ch, readErr := p.changed, p.readErr
		p.mu.Unlock()
		if readErr != nil {
			p.t.Fatalf("baresiptest: %s: no %s: control connection lost: %v", p.aor, kind, readErr)
		}
		select {
		case <-ch:
		case <-deadline:
			p.t.Fatalf("baresiptest: %s: no %s since %s within %v; events so far: %s", p.aor, kind,
				since.Format("15:04:05.000"), timeout, p.eventSummary())
		}
	}
}
