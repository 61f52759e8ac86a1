package sip

import (
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	siplib "github.com/emiago/sipgo/sip"

	"github.com/openata/ata/call"
	"github.com/openata/ata/media/rfc4733"
)

// Our INVITE and our answer advertise the methods and extensions the
// transfer features need.
func TestAdvertisesReferAndReplaces(t *testing.T) {
	p := newPeer(t)
	l := testLine(t, p)
	_, d := outgoing(t, p, l)
	check := func(what string, m interface{ GetHeader(string) siplib.Header }) {
		t.Helper()
		allow := hdr(m, "Allow")
		for _, method := range []string{"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "UPDATE", "REFER", "NOTIFY"} {
			if !strings.Contains(allow, method) {
				t.Errorf("%s Allow %q lacks %s", what, allow, method)
			}
		}
		if s := hdr(m, "Supported"); !strings.Contains(s, "replaces") || !strings.Contains(s, "timer") {
			t.Errorf("%s Supported %q, want timer and replaces", what, s)
		}
	}
	check("INVITE", d.inviteRequest)
	_, ok := incomingAnswer(t, p, l)
	check("200 OK", ok)
}

// incomingAnswer is incoming, returning the 200 OK for header checks.
func incomingAnswer(t *testing.T, p *peer, l *Line) (*Call, *siplib.Response) {
	t.Helper()
	calls := make(chan *Call, 1)
	l.OnIncoming(func(c *Call) { calls <- c })
	_, d := p.invite(l)
	c := nextCall(t, calls)
	t.Cleanup(func() { c.Hangup(call.Normal) })
	if c.Media() != nil {
		t.Error("Media() before the answer")
	}
	c.Answer()
	ok := p.response(siplib.INVITE)
	d.toTag, _ = ok.To().Params.Get("tag")
	d.target = ok.Contact().Address
	p.ack(d, 1)
	if c.Media() == nil {
		t.Error("no Media() after the answer")
	}
	return c, ok
}

// rtpReceived counts RTP packets arriving at the peer's media socket
// within d.
func rtpReceived(p *peer, d time.Duration) int {
	buf := make([]byte, 2048)
	n := 0
	deadline := time.Now().Add(d)
	for {
		p.rtp.SetReadDeadline(deadline)
		if _, _, err := p.rtp.ReadFromUDP(buf); err != nil {
			return n
		}
		n++
	}
}

// sendFrames plays silence into the call's media endpoint for d.
func sendFrames(c *Call, d time.Duration) {
	f := make([]int16, 160)
	for range int(d / (20 * time.Millisecond)) {
		if m := c.Media(); m != nil {
			m.WriteFrame(f)
			m.ReadFrame(f)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Hold sends a re-INVITE with a=sendonly, Resume one with a=sendrecv; the
// far end's answers set the session's direction.
func TestHoldAndResumeOut(t *testing.T) {
	p := newPeer(t)
	l := testLine(t, p)
	c, _ := outgoing(t, p, l)
	for _, tc := range []struct {
		op         func() error
		offer, ans string
		sends      bool
	}{{c.Hold, "sendonly", "recvonly", true}, {c.Resume, "sendrecv", "sendrecv", true}} {
		if err := tc.op(); err != nil {
			t.Fatal(err)
		}
		re := p.request(siplib.INVITE)
		if got := sdpDirection(re.Body()); got != tc.offer {
			t.Fatalf("re-INVITE SDP direction %q, want %q:\n%s", got, tc.offer, re.Body())
		}
		p.reply(re, 200, "", p.sdp(tc.ans, ""))
		p.request(siplib.ACK)
		time.Sleep(50 * time.Millisecond)
		c.mu.Lock()
		dir := c.media.Direction.String()
		c.mu.Unlock()
		if dir != tc.offer {
			t.Fatalf("session direction %s after the answer, want %s", dir, tc.offer)
		}
	}
	// The far end answers a hold with inactive: we neither send nor hear.
	c.Hold()
	re := p.request(siplib.INVITE)
	p.reply(re, 200, "", p.sdp("inactive", ""))
	p.request(siplib.ACK)
	time.Sleep(50 * time.Millisecond)
	rtpReceived(p, 50*time.Millisecond) // drain
	go sendFrames(c, 300*time.Millisecond)
	if n := rtpReceived(p, 300*time.Millisecond); n != 0 {
		t.Fatalf("%d RTP packets sent while the far end answered inactive", n)
	}
}

// The far end holds us with a re-INVITE (sendonly, inactive, c=0.0.0.0)
// or an UPDATE: we answer recvonly/inactive, report Held and stop
// sending; sendrecv again is Resumed.
func TestFarEndHoldAndResume(t *testing.T) {
	for _, tc := range []struct {
		name         string
		method       siplib.RequestMethod
		dir, addr    string
		wantAnswered string
	}{
		{"reinvite-sendonly", siplib.INVITE, "sendonly", "", "recvonly"},
		{"reinvite-inactive", siplib.INVITE, "inactive", "", "inactive"},
		{"reinvite-c0", siplib.INVITE, "sendrecv", "0.0.0.0", "recvonly"},
		{"update-sendonly", siplib.UPDATE, "sendonly", "", "recvonly"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPeer(t)
			l := testLine(t, p)
			c, d := incoming(t, p, l)
			go sendFrames(c, 200*time.Millisecond)
			if n := rtpReceived(p, 200*time.Millisecond); n == 0 {
				t.Fatal("no RTP before the hold")
			}
			offer := func(dir, addr string) *siplib.Response {
				req := p.inDialog(d, tc.method, "application/sdp", p.sdp(dir, addr))
				res := p.response(tc.method)
				if tc.method == siplib.INVITE && res.StatusCode == 200 {
					p.ack(d, req.CSeq().SeqNo)
				}
				if res.StatusCode != 200 {
					t.Fatalf("%s answered %d", tc.method, res.StatusCode)
				}
				return res
			}
			res := offer(tc.dir, tc.addr)
			if got := sdpDirection(res.Body()); got != tc.wantAnswered {
				t.Fatalf("answer direction %q, want %q", got, tc.wantAnswered)
			}
			if ev := waitEvent(t, c, call.Held); ev.Kind != call.Held {
				t.Fatal(ev)
			}
			rtpReceived(p, 50*time.Millisecond)
			go sendFrames(c, 300*time.Millisecond)
			if n := rtpReceived(p, 300*time.Millisecond); n != 0 {
				t.Fatalf("%d RTP packets sent to a far end that holds us", n)
			}
			res = offer("sendrecv", "")
			if got := sdpDirection(res.Body()); got != "sendrecv" {
				t.Fatalf("resume answer direction %q", got)
			}
			waitEvent(t, c, call.Resumed)
			go sendFrames(c, 300*time.Millisecond)
			if n := rtpReceived(p, 300*time.Millisecond); n == 0 {
				t.Fatal("no RTP after the resume")
			}
		})
	}
}

// A re-INVITE refused with 491 (glare) is retried after the RFC 3261
// §14.1 wait with a new CSeq.
func TestReinviteGlareRetried(t *testing.T) {
	old := glareWait
	var owner []bool
	glareWait = func(o bool) time.Duration { owner = append(owner, o); return 300 * time.Millisecond }
	t.Cleanup(func() { glareWait = old })
	p := newPeer(t)
	l := testLine(t, p)
	c, d := incoming(t, p, l)
	c.Hold()
	first := p.request(siplib.INVITE)
	at := time.Now()
	p.reply(first, 491, "", nil)
	p.request(siplib.ACK) // the transaction acknowledges the 491
	// While ours waits, the far end's own offer is answered normally.
	second := p.request(siplib.INVITE)
	if waited := time.Since(at); waited < 250*time.Millisecond {
		t.Fatalf("retried after %v, want the glare wait", waited)
	}
	if second.CSeq().SeqNo <= first.CSeq().SeqNo || sdpDirection(second.Body()) != "sendonly" {
		t.Fatalf("retry CSeq %d after %d, direction %q", second.CSeq().SeqNo, first.CSeq().SeqNo, sdpDirection(second.Body()))
	}
	if len(owner) != 1 || owner[0] {
		t.Fatalf("glare wait asked as owner=%v; the callee does not own the Call-ID", owner)
	}
	p.reply(second, 200, "", p.sdp("recvonly", ""))
	p.request(siplib.ACK)
	_ = d
}

// While our re-INVITE is out, the far end's offer is glare: 491.
func TestFarOfferDuringOursIs491(t *testing.T) {
	p := newPeer(t)
	l := testLine(t, p)
	c, d := incoming(t, p, l)
	c.Hold()
	ours := p.request(siplib.INVITE)
	p.inDialog(d, siplib.INVITE, "application/sdp", p.sdp("sendonly", ""))
	if res := p.response(siplib.INVITE); res.StatusCode != 491 {
		t.Fatalf("far offer during ours answered %d, want 491", res.StatusCode)
	}
	p.reply(ours, 200, "", p.sdp("recvonly", ""))
}

// A far-end key by SIP INFO becomes one DTMF event with its duration.
func TestInfoDTMF(t *testing.T) {
	p := newPeer(t)
	l := testLine(t, p)
	c, d := incoming(t, p, l)
	for _, tc := range []struct {
		ctype, body string
		code        int
		key         byte
		dur         time.Duration
	}{
		{"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", 200, '5', 160 * time.Millisecond},
		{"application/dtmf-relay", "Signal= #\r\n", 200, '#', 250 * time.Millisecond},
		{"application/dtmf", "9", 200, '9', 250 * time.Millisecond},
		{"application/dtmf-relay", "Duration=100\r\n", 400, 0, 0},
		{"text/plain", "hello", 415, 0, 0},
	} {
		p.inDialog(d, siplib.INFO, tc.ctype, []byte(tc.body))
		if res := p.response(siplib.INFO); res.StatusCode != tc.code {
			t.Fatalf("INFO %s %q answered %d, want %d", tc.ctype, tc.body, res.StatusCode, tc.code)
		}
		if tc.key == 0 {
			noEvent(t, c, call.DTMF, 100*time.Millisecond)
			continue
		}
		ev := waitEvent(t, c, call.DTMF)
		if ev.Key != tc.key || ev.Duration != tc.dur {
			t.Fatalf("INFO %q: event %q %v, want %q %v", tc.body, ev.Key, ev.Duration, tc.key, tc.dur)
		}
	}
}

// RFC 4733 key presses from the far end become one DTMF event per key,
// on release, with the sender's duration.
func TestRFC4733DTMF(t *testing.T) {
	p := newPeer(t)
	l := testLine(t, p)
	c, _ := outgoing(t, p, l)
	c.mu.Lock()
	ours := c.local.Port
	c.mu.Unlock()
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: ours}
	seq := uint16(1)
	send := func(key byte, ts uint32, dur uint16, end bool) {
		code, _ := rfc4733.KeyCode(key)
		pkt := make([]byte, 16)
		pkt[0] = 0x80
		pkt[1] = 101
		binary.BigEndian.PutUint16(pkt[2:], seq)
		seq++
		binary.BigEndian.PutUint32(pkt[4:], ts)
		binary.BigEndian.PutUint32(pkt[8:], 0x1234)
		rfc4733.Event{Code: code, End: end, Volume: 10, Duration: dur}.MarshalTo(pkt[12:])
		p.rtp.WriteToUDP(pkt, to)
	}
	for i, key := range []byte{'7', '#'} {
		ts := uint32(8000 * (i + 1))
		for d := uint16(160); d <= 640; d += 160 {
			send(key, ts, d, false)
		}
		for range 3 {
			send(key, ts, 800, true)
		}
		ev := waitEvent(t, c, call.DTMF)
		if ev.Key != key || ev.Duration != 100*time.Millisecond {
			t.Fatalf("RFC 4733 key %q: event %q %v, want 100ms", key, ev.Key, ev.Duration)
		}
	}
	noEvent(t, c, call.DTMF, 100*time.Millisecond)
}

// Redirect answers an unanswered incoming call 302 with the target as
// Contact and ends it Redirected.
func TestRedirect302(t *testing.T) {
	p := newPeer(t)
	l := testLine(t, p)
	calls := make(chan *Call, 1)
	l.OnIncoming(func(c *Call) { calls <- c })
	p.invite(l)
	c := nextCall(t, calls)
	if err := c.Redirect("3000"); err != nil {
		t.Fatal(err)
	}
	res := p.response(siplib.INVITE)
	if res.StatusCode != 302 || res.Contact() == nil || res.Contact().Address.String() != "sip:3000@voip.test" {
		t.Fatalf("redirect answered:\n%s", res)
	}
	if ev := waitEvent(t, c, call.Ended); ev.Cause != call.Redirected {
		t.Fatalf("Ended %+v", ev)
	}
	if err := c.Redirect("3000"); err == nil {
		t.Fatal("second Redirect accepted")
	}
}
