package sip

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	siplib "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/openata/ata/call"
)

// inviteNoSDP has the peer call l with an INVITE without SDP (a late
// offer) and extra headers.
func (p *peer) inviteNoSDP(extra ...siplib.Header) *pdialog {
	p.t.Helper()
	d := &pdialog{callID: siplib.GenerateTagN(12) + "@peer", from: p.uri("2000"),
		to: siplib.Uri{Scheme: "sip", User: "1001", Host: "voip.test"}, fromTag: siplib.GenerateTagN(8),
		target:       siplib.Uri{Scheme: "sip", User: "1001", Host: p.ata.Addr().String(), Port: int(p.ata.Port())},
		peerIsCaller: true, cseq: 1}
	req := siplib.NewRequest(siplib.INVITE, d.target)
	req.AppendHeader(&siplib.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
		Host: p.uri("").Host, Port: p.uri("").Port, Params: siplib.HeaderParams{{K: "branch", V: siplib.GenerateBranch()}}})
	mf := siplib.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(&siplib.FromHeader{Address: d.from, Params: siplib.HeaderParams{{K: "tag", V: d.fromTag}}})
	req.AppendHeader(&siplib.ToHeader{Address: d.to})
	cid := siplib.CallIDHeader(d.callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&siplib.CSeqHeader{SeqNo: 1, MethodName: siplib.INVITE})
	req.AppendHeader(&siplib.ContactHeader{Address: p.uri("2000")})
	for _, h := range extra {
		req.AppendHeader(h)
	}
	req.SetBody(nil)
	p.send(req)
	d.inviteRequest = req
	return d
}

// ackWith acknowledges the ATA's 2xx with body (the answer to its offer).
func (p *peer) ackWith(d *pdialog, cseq uint32, body []byte) {
	p.t.Helper()
	req := siplib.NewRequest(siplib.ACK, d.target)
	req.AppendHeader(&siplib.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
		Host: p.uri("").Host, Port: p.uri("").Port, Params: siplib.HeaderParams{{K: "branch", V: siplib.GenerateBranch()}}})
	mf := siplib.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(&siplib.FromHeader{Address: d.from, Params: siplib.HeaderParams{{K: "tag", V: d.fromTag}}})
	req.AppendHeader(&siplib.ToHeader{Address: d.to, Params: siplib.HeaderParams{{K: "tag", V: d.toTag}}})
	cid := siplib.CallIDHeader(d.callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&siplib.CSeqHeader{SeqNo: cseq, MethodName: siplib.ACK})
	if len(body) > 0 {
		req.AppendHeader(siplib.NewHeader("Content-Type", "application/sdp"))
	}
	req.SetBody(body)
	p.send(req)
}

// sdpOn is the peer's SDP naming media socket m.
func (p *peer) sdpOn(m *net.UDPConn, dir string) []byte {
	port := m.LocalAddr().(*net.UDPAddr).Port
	return []byte(strings.Replace(string(p.sdp(dir, "")), fmt.Sprintf("m=audio %d ", p.rtpPort()), fmt.Sprintf("m=audio %d ", port), 1))
}

// rtpAt counts RTP packets arriving at m within d.
func rtpAt(m *net.UDPConn, d time.Duration) int {
	buf := make([]byte, 2048)
	n := 0
	deadline := time.Now().Add(d)
	for {
		m.SetReadDeadline(deadline)
		if _, _, err := m.ReadFromUDP(buf); err != nil {
			return n
		}
		n++
	}
}

func udpSocket(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// isOffer reports whether body is an SDP offer of ours with the codecs of
// the line and a media port.
func isOffer(body []byte) bool {
	s := string(body)
	return strings.Contains(s, "m=audio ") && strings.Contains(s, "PCMU/8000") && !strings.Contains(s, "m=audio 0 ")
}

// An INVITE without SDP (late offer) is answered with our offer in the
// 200 OK; the answer in the ACK starts the media (RTP reaches the address
// it names) and only then is the call Answered. An ACK without the answer
// ends the call with a BYE.
func TestLateOfferIncoming(t *testing.T) {
	t.Parallel()
	t.Run("answered in the ACK", func(t *testing.T) {
		t.Parallel()
		p := newPeer(t)
		l := testLine(t, p)
		calls := make(chan *Call, 1)
		l.OnIncoming(func(c *Call) { calls <- c })
		d := p.inviteNoSDP()
		c := nextCall(t, calls)
		t.Cleanup(func() { c.Hangup(call.Normal) })
		if err := c.Answer(); err != nil {
			t.Fatal(err)
		}
		ok := p.response(siplib.INVITE)
		if ok.StatusCode != 200 || !isOffer(ok.Body()) {
			t.Fatalf("late offer answered:\n%s", ok)
		}
		noEvent(t, c, call.Answered, 200*time.Millisecond)
		d.toTag, _ = ok.To().Params.Get("tag")
		d.target = ok.Contact().Address
		media := udpSocket(t)
		p.ackWith(d, 1, p.sdpOn(media, ""))
		waitEvent(t, c, call.Answered)
		if c.Media() == nil {
			t.Fatal("no media after the ACK's answer")
		}
		go sendFrames(c, 400*time.Millisecond)
		if n := rtpAt(media, 400*time.Millisecond); n == 0 {
			t.Fatal("no RTP to the address the ACK's answer names")
		}
	})
	t.Run("ACK without SDP", func(t *testing.T) {
		t.Parallel()
		p := newPeer(t)
		l := testLine(t, p)
		calls := make(chan *Call, 1)
		l.OnIncoming(func(c *Call) { calls <- c })
		d := p.inviteNoSDP()
		c := nextCall(t, calls)
		c.Answer()
		ok := p.response(siplib.INVITE)
		d.toTag, _ = ok.To().Params.Get("tag")
		d.target = ok.Contact().Address
		p.ackWith(d, 1, nil)
		if ev := waitEvent(t, c, call.Ended); ev.Cause != call.MediaFailed {
			t.Fatalf("ended %+v, want media-failed", ev)
		}
		p.request(siplib.BYE)
	})
}

// A re-INVITE without SDP, in a call we placed and in one we took, gets
// our offer in its 200 OK; the ACK's answer moves the media (to a new
// port) and a sendonly answer is the far end holding us.
func TestLateOfferReinvite(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{"outgoing", "incoming"} {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			p := newPeer(t)
			l := testLine(t, p)
			var c *Call
			var d *pdialog
			if dir == "outgoing" {
				c, d = outgoing(t, p, l)
			} else {
				c, d = incoming(t, p, l)
			}
			moved := udpSocket(t)
			reinvite := p.inDialog(d, siplib.INVITE, "", nil)
			ok := p.response(siplib.INVITE)
			if ok.StatusCode != 200 || !isOffer(ok.Body()) {
				t.Fatalf("offer-less re-INVITE answered:\n%s", ok)
			}
			p.ackWith(d, reinvite.CSeq().SeqNo, p.sdpOn(moved, ""))
			go sendFrames(c, 400*time.Millisecond)
			if n := rtpAt(moved, 400*time.Millisecond); n == 0 {
				t.Fatal("no RTP to the port the ACK's answer names")
			}
			// Again, answered sendonly: the far end holds us.
			reinvite = p.inDialog(d, siplib.INVITE, "", nil)
			if ok := p.response(siplib.INVITE); ok.StatusCode != 200 || !isOffer(ok.Body()) {
				t.Fatalf("second offer-less re-INVITE answered:\n%s", ok)
			}
			p.ackWith(d, reinvite.CSeq().SeqNo, p.sdpOn(moved, "sendonly"))
			waitEvent(t, c, call.Held)
		})
	}
}

// UPDATE with SDP (RFC 3311) in the early dialog of a call we placed
// (after a reliable 183 set up early media) moves the early media; after
// the answer it holds us.
func TestUpdateWithSDPBeforeAndAfterAnswer(t *testing.T) {
	t.Parallel()
	p := newPeer(t)
	l := testLine(t, p)
	c, err := l.DialCall(context.Background(), "2000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Hangup(call.Normal) })
	inv := p.request(siplib.INVITE)
	tag := siplib.GenerateTagN(8)
	p.reply(inv, 183, tag, p.sdp("", ""), siplib.NewHeader("Require", "100rel"), siplib.NewHeader("RSeq", "1"))
	prack := p.request(siplib.PRACK)
	p.reply(prack, 200, tag, nil)
	waitEvent(t, c, call.EarlyMedia)
	fromTag, _ := inv.From().Params.Get("tag")
	d := &pdialog{callID: inv.CallID().Value(), from: inv.To().Address, to: inv.From().Address,
		fromTag: tag, toTag: fromTag, target: inv.Contact().Address, cseq: 100}
	early := udpSocket(t)
	p.inDialog(d, siplib.UPDATE, "application/sdp", p.sdpOn(early, ""))
	if res := p.response(siplib.UPDATE); res.StatusCode != 200 || sdpDirection(res.Body()) != "sendrecv" {
		t.Fatalf("early UPDATE answered:\n%s", res)
	}
	go sendFrames(c, 400*time.Millisecond)
	if n := rtpAt(early, 400*time.Millisecond); n == 0 {
		t.Fatal("no early RTP to the port the UPDATE named")
	}
	p.reply(inv, 200, tag, nil)
	p.request(siplib.ACK)
	waitEvent(t, c, call.Answered)
	p.inDialog(d, siplib.UPDATE, "application/sdp", p.sdpOn(early, "sendonly"))
	if res := p.response(siplib.UPDATE); res.StatusCode != 200 || sdpDirection(res.Body()) != "recvonly" {
		t.Fatalf("UPDATE after the answer answered:\n%s", res)
	}
	waitEvent(t, c, call.Held)
}

// A caller that supports 100rel gets a reliable 180 (Require: 100rel,
// RSeq), repeated until its PRACK, which is answered 200; a caller that
// never PRACKs is refused 5xx (RFC 3262 §3).
func TestReliable180AndPrack(t *testing.T) {
	oldT1, oldMax := relT1, relMax
	relT1, relMax = 100*time.Millisecond, 1500*time.Millisecond
	t.Cleanup(func() { relT1, relMax = oldT1, oldMax })
	t.Run("PRACKed", func(t *testing.T) {
		p := newPeer(t)
		l := testLine(t, p)
		calls := make(chan *Call, 1)
		l.OnIncoming(func(c *Call) { calls <- c })
		_, d := p.invite(l, siplib.NewHeader("Supported", "100rel, timer"))
		c := nextCall(t, calls)
		t.Cleanup(func() { c.Hangup(call.Normal) })
		if err := c.Alert(); err != nil {
			t.Fatal(err)
		}
		ringing := func() *siplib.Response {
			return p.next("180", func(m siplib.Message) bool {
				r, ok := m.(*siplib.Response)
				return ok && r.StatusCode == 180
			}).(*siplib.Response)
		}
		first := ringing()
		if !hasOptionTag(first, "100rel", "Require") || headerValue(first, "RSeq") == "" {
			t.Fatalf("180 not reliable:\n%s", first)
		}
		again := ringing() // not PRACKed: sent again
		if headerValue(again, "RSeq") != headerValue(first, "RSeq") {
			t.Fatalf("retransmission RSeq %q, first %q", headerValue(again, "RSeq"), headerValue(first, "RSeq"))
		}
		d.toTag, _ = first.To().Params.Get("tag")
		d.target = first.Contact().Address
		p.inDialog(d, siplib.PRACK, "", nil, siplib.NewHeader("RAck", headerValue(first, "RSeq")+" 1 INVITE"))
		if res := p.response(siplib.PRACK); res.StatusCode != 200 {
			t.Fatalf("PRACK answered %d", res.StatusCode)
		}
		time.Sleep(150 * time.Millisecond) // a retransmission already on its way
		p.mu.Lock()
		p.pending = nil
		p.mu.Unlock()
		deadline := time.After(600 * time.Millisecond)
	drain:
		for {
			select {
			case m := <-p.in:
				if r, ok := m.(*siplib.Response); ok && r.StatusCode == 180 {
					t.Fatal("180 still repeated after its PRACK")
				}
			case <-deadline:
				break drain
			}
		}
		// A PRACK for no reliable response of ours is 481.
		p.inDialog(d, siplib.PRACK, "", nil, siplib.NewHeader("RAck", "999999 1 INVITE"))
		if res := p.response(siplib.PRACK); res.StatusCode != 481 {
			t.Fatalf("stray PRACK answered %d", res.StatusCode)
		}
		c.Answer()
		if ok := p.response(siplib.INVITE); ok.StatusCode != 200 {
			t.Fatalf("answer %d", ok.StatusCode)
		}
		p.ack(d, 1)
		waitEvent(t, c, call.Answered)
	})
	t.Run("never PRACKed", func(t *testing.T) {
		p := newPeer(t)
		l := testLine(t, p)
		calls := make(chan *Call, 1)
		l.OnIncoming(func(c *Call) { calls <- c })
		p.invite(l, siplib.NewHeader("Require", "100rel"))
		c := nextCall(t, calls)
		c.Alert()
		res := p.next("final", func(m siplib.Message) bool {
			r, ok := m.(*siplib.Response)
			return ok && r.StatusCode >= 200
		}).(*siplib.Response)
		if res.StatusCode < 500 || res.StatusCode > 599 {
			t.Fatalf("never PRACKed: final %d, want 5xx", res.StatusCode)
		}
		waitEvent(t, c, call.Ended)
	})
}

// A provider's reliable 183 with SDP (Require: 100rel) is PRACKed in its
// early dialog (RAck, To tag) once, whatever its retransmissions; its
// early media plays; the 200 OK without SDP keeps that answer and its ACK
// takes the INVITE's CSeq, not the PRACK's.
func TestPrackProvidersReliable183(t *testing.T) {
	t.Parallel()
	p := newPeer(t)
	l := testLine(t, p)
	c, err := l.DialCall(context.Background(), "2000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Hangup(call.Normal) })
	inv := p.request(siplib.INVITE)
	if !hasOptionTag(inv, "100rel", "Supported") {
		t.Errorf("INVITE Supported %q lacks 100rel", headerValue(inv, "Supported"))
	}
	tag := siplib.GenerateTagN(8)
	early := p.reply(inv, 183, tag, p.sdp("", ""), siplib.NewHeader("Require", "100rel"), siplib.NewHeader("RSeq", "7"))
	prack := p.request(siplib.PRACK)
	toTag, _ := prack.To().Params.Get("tag")
	if headerValue(prack, "RAck") != fmt.Sprintf("7 %d INVITE", inv.CSeq().SeqNo) || toTag != tag ||
		prack.CSeq().SeqNo <= inv.CSeq().SeqNo || prack.Recipient.User != "2000" {
		t.Fatalf("PRACK:\n%s", prack)
	}
	p.reply(prack, 200, tag, nil)
	waitEvent(t, c, call.EarlyMedia)
	p.send(early) // a retransmission: not PRACKed again
	p.none(siplib.PRACK, 300*time.Millisecond)
	go sendFrames(c, 300*time.Millisecond)
	if n := rtpReceived(p, 300*time.Millisecond); n == 0 {
		t.Fatal("no early media RTP")
	}
	p.reply(inv, 200, tag, nil)
	ack := p.request(siplib.ACK)
	if ack.CSeq().SeqNo != inv.CSeq().SeqNo {
		t.Fatalf("ACK CSeq %d, INVITE's %d", ack.CSeq().SeqNo, inv.CSeq().SeqNo)
	}
	waitEvent(t, c, call.Answered)
}

// A 3xx is followed: its Contacts in q order, the INVITE sent again (new
// CSeq, same Call-ID) to each until one answers; a target already tried
// (a loop) is not called again and the call fails with the 3xx.
func TestRedirectFollowed(t *testing.T) {
	t.Parallel()
	t.Run("q order", func(t *testing.T) {
		t.Parallel()
		p := newPeer(t)
		l := testLine(t, p)
		c, err := l.DialCall(context.Background(), "2000")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Hangup(call.Normal) })
		inv := p.request(siplib.INVITE)
		p.reply(inv, 302, "", nil,
			&siplib.ContactHeader{Address: p.uri("3000"), Params: siplib.HeaderParams{{K: "q", V: "0.5"}}},
			&siplib.ContactHeader{Address: p.uri("3001"), Params: siplib.HeaderParams{{K: "q", V: "0.9"}}})
		second := p.request(siplib.INVITE)
		if second.Recipient.User != "3001" || second.CSeq().SeqNo <= inv.CSeq().SeqNo || second.CallID().Value() != inv.CallID().Value() {
			t.Fatalf("after 302, INVITE:\n%s", second)
		}
		p.reply(second, 486, "", nil)
		third := p.request(siplib.INVITE)
		if third.Recipient.User != "3000" {
			t.Fatalf("after 486 from the first target, INVITE to %s", third.Recipient.String())
		}
		tag := siplib.GenerateTagN(8)
		p.reply(third, 200, tag, p.sdp("", ""))
		p.request(siplib.ACK)
		waitEvent(t, c, call.Answered)
	})
	t.Run("loop", func(t *testing.T) {
		t.Parallel()
		p := newPeer(t)
		l := testLine(t, p)
		c, err := l.DialCall(context.Background(), "2000")
		if err != nil {
			t.Fatal(err)
		}
		inv := p.request(siplib.INVITE)
		p.reply(inv, 302, "", nil, &siplib.ContactHeader{Address: p.uri("3000")})
		second := p.request(siplib.INVITE)
		p.reply(second, 302, "", nil, &siplib.ContactHeader{Address: inv.Recipient}, &siplib.ContactHeader{Address: p.uri("3000")})
		ev := waitEvent(t, c, call.Ended)
		if !strings.Contains(ev.Detail, "302") {
			t.Fatalf("loop ended %+v, want the 302", ev)
		}
		p.none(siplib.INVITE, 300*time.Millisecond)
	})
}

// Two forks answer in early dialogs (183 each); the first 200 wins, the
// second fork's 200 gets an ACK and a BYE in its own dialog, and the call
// goes on with the first. Sent back to back, whichever 200 the stack
// takes first wins and the other is ended.
func TestForkedAnswersSecondGetsAckAndBye(t *testing.T) {
	t.Parallel()
	for _, backToBack := range []bool{false, true} {
		t.Run(fmt.Sprint("back-to-back=", backToBack), func(t *testing.T) {
			t.Parallel()
			p := newPeer(t)
			l := testLine(t, p)
			c, err := l.DialCall(context.Background(), "2000")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Hangup(call.Normal) })
			inv := p.request(siplib.INVITE)
			a, b := "forkA"+siplib.GenerateTagN(4), "forkB"+siplib.GenerateTagN(4)
			contact := map[string]string{a: "2000", b: "2001"}
			p.reply(inv, 183, a, p.sdp("", ""))
			waitEvent(t, c, call.EarlyMedia)
			p.reply(inv, 183, b, p.sdp("", ""), &siplib.ContactHeader{Address: p.uri("2001")})
			waitEvent(t, c, call.EarlyMedia)
			p.reply(inv, 200, a, p.sdp("", ""))
			if !backToBack {
				waitEvent(t, c, call.Answered)
			}
			p.reply(inv, 200, b, p.sdp("", ""), &siplib.ContactHeader{Address: p.uri("2001")})
			if backToBack {
				waitEvent(t, c, call.Answered)
			}
			_, winner := c.tags()
			loser := b
			if winner == b {
				loser = a
			}
			if !backToBack && winner != a {
				t.Fatalf("call on fork %q, want the first, %q", winner, a)
			}
			// The winner's ACK may come twice (sipgo acknowledges every
			// later 2xx in its dialog); the second fork's must come.
			acks := map[string]bool{}
			for range 3 {
				ack := p.request(siplib.ACK)
				tag, _ := ack.To().Params.Get("tag")
				acks[tag] = true
				if acks[a] && acks[b] {
					break
				}
			}
			if !acks[a] || !acks[b] {
				t.Fatalf("ACKs for tags %v, want %s and %s", acks, a, b)
			}
			bye := p.request(siplib.BYE)
			if tag, _ := bye.To().Params.Get("tag"); tag != loser || bye.Recipient.User != contact[loser] {
				t.Fatalf("BYE not for the losing fork %s:\n%s", loser, bye)
			}
			p.reply(bye, 200, loser, nil)
			noEvent(t, c, call.Ended, 300*time.Millisecond)
			if _, remote := c.tags(); remote != winner {
				t.Fatalf("call moved to fork %q", remote)
			}
		})
	}
}

// digestChallenge is a WWW-Authenticate (or Proxy-Authenticate) value.
func digestChallenge(algorithm, nonce string, stale bool) string {
	v := fmt.Sprintf(`Digest realm="voip.test", nonce="%s", algorithm=%s, qop="auth"`, nonce, algorithm)
	if stale {
		v += ", stale=true"
	}
	return v
}

// checkDigest verifies the credentials of req against password.
func checkDigest(t *testing.T, req *siplib.Request, header, nonce, algorithm string) {
	t.Helper()
	checkDigestOf(t, req, string(req.Method), header, nonce, algorithm)
}

func checkDigestOf(t *testing.T, req *siplib.Request, method, header, nonce, algorithm string) {
	t.Helper()
	v := headerValue(req, header)
	cred, err := digest.ParseCredentials(v)
	if err != nil {
		t.Fatalf("%s %q: %v", header, v, err)
	}
	if cred.Nonce != nonce || !strings.EqualFold(cred.Algorithm, algorithm) || cred.QOP != "auth" || cred.Username != "1001" {
		t.Fatalf("%s: %+v", header, cred)
	}
	h := func(s string) string {
		if algorithm == "SHA-256" {
			sum := sha256.Sum256([]byte(s))
			return hex.EncodeToString(sum[:])
		}
		sum := md5.Sum([]byte(s))
		return hex.EncodeToString(sum[:])
	}
	ha1 := h("1001:voip.test:secret")
	ha2 := h(method + ":" + cred.URI)
	want := h(fmt.Sprintf("%s:%s:%08x:%s:auth:%s", ha1, nonce, cred.Nc, cred.Cnonce, ha2))
	if cred.Response != want {
		t.Fatalf("%s response %s, want %s", header, cred.Response, want)
	}
}

// 401 on INVITE is answered with SHA-256 digest (RFC 8760), and a stale
// nonce (stale=true) is answered again with the new nonce rather than
// failing the call; 407 likewise, with MD5.
func TestInviteDigestChallenges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code              int
		challenge, answer string
		algorithm         string
	}{
		{401, "WWW-Authenticate", "Authorization", "SHA-256"},
		{407, "Proxy-Authenticate", "Proxy-Authorization", "MD5"},
	} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			t.Parallel()
			p := newPeer(t)
			l := testLine(t, p, func(a *Account) { a.Password = "secret" })
			c, err := l.DialCall(context.Background(), "2000")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Hangup(call.Normal) })
			inv := p.request(siplib.INVITE)
			p.reply(inv, tc.code, "", nil, siplib.NewHeader(tc.challenge, digestChallenge(tc.algorithm, "n1", false)))
			second := p.request(siplib.INVITE)
			checkDigest(t, second, tc.answer, "n1", tc.algorithm)
			p.reply(second, tc.code, "", nil, siplib.NewHeader(tc.challenge, digestChallenge(tc.algorithm, "n2", true)))
			third := p.request(siplib.INVITE)
			checkDigest(t, third, tc.answer, "n2", tc.algorithm)
			if third.CSeq().SeqNo <= second.CSeq().SeqNo {
				t.Fatalf("CSeq %d after %d", third.CSeq().SeqNo, second.CSeq().SeqNo)
			}
			p.reply(third, 200, siplib.GenerateTagN(8), p.sdp("", ""))
			p.request(siplib.ACK)
			waitEvent(t, c, call.Answered)
		})
	}
}

// 422 Session Interval Too Small: the INVITE goes again with its Min-SE
// as Session-Expires and Min-SE (RFC 4028 §7.4).
func TestSessionIntervalTooSmallRetried(t *testing.T) {
	t.Parallel()
	p := newPeer(t)
	l := testLine(t, p)
	c, err := l.DialCall(context.Background(), "2000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Hangup(call.Normal) })
	inv := p.request(siplib.INVITE)
	p.reply(inv, 422, "", nil, siplib.NewHeader("Min-SE", "3600"))
	again := p.request(siplib.INVITE)
	if headerValue(again, "Session-Expires") != "3600" || headerValue(again, "Min-SE") != "3600" || again.CSeq().SeqNo <= inv.CSeq().SeqNo {
		t.Fatalf("after 422, INVITE:\n%s", again)
	}
	p.reply(again, 200, siplib.GenerateTagN(8), p.sdp("", ""), siplib.NewHeader("Session-Expires", "3600;refresher=uac"))
	p.request(siplib.ACK)
	waitEvent(t, c, call.Answered)
}

// An INVITE refused 503 with a short Retry-After is sent again after it;
// one with a long Retry-After fails the call with the 503.
func TestInviteRetryAfter(t *testing.T) {
	t.Parallel()
	t.Run("short", func(t *testing.T) {
		t.Parallel()
		p := newPeer(t)
		l := testLine(t, p)
		c, err := l.DialCall(context.Background(), "2000")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Hangup(call.Normal) })
		inv := p.request(siplib.INVITE)
		at := time.Now()
		p.reply(inv, 503, "", nil, siplib.NewHeader("Retry-After", "1"))
		again := p.request(siplib.INVITE)
		if waited := time.Since(at); waited < time.Second {
			t.Fatalf("sent again after %v, want Retry-After 1 s", waited)
		}
		p.reply(again, 200, siplib.GenerateTagN(8), p.sdp("", ""))
		p.request(siplib.ACK)
		waitEvent(t, c, call.Answered)
	})
	t.Run("long", func(t *testing.T) {
		t.Parallel()
		p := newPeer(t)
		l := testLine(t, p)
		c, err := l.DialCall(context.Background(), "2000")
		if err != nil {
			t.Fatal(err)
		}
		inv := p.request(siplib.INVITE)
		p.reply(inv, 503, "", nil, siplib.NewHeader("Retry-After", "300"))
		if ev := waitEvent(t, c, call.Ended); !strings.Contains(ev.Detail, "503") {
			t.Fatalf("ended %+v", ev)
		}
		p.none(siplib.INVITE, 300*time.Millisecond)
	})
}

// The wait before a call's resend after Retry-After.
func TestCallRetrySchedule(t *testing.T) {
	b := Backoff{Rand: func() float64 { return 0.5 }}
	for _, tc := range []struct {
		after time.Duration
		n     int
		want  time.Duration
		ok    bool
	}{
		{0, 1, 0, false},
		{2 * time.Second, 1, 2100 * time.Millisecond, true},
		{10 * time.Second, 1, 10500 * time.Millisecond, true},
		{11 * time.Second, 1, 0, false},
		{2 * time.Second, 2, 0, false},
	} {
		got, ok := b.CallRetry(tc.after, tc.n)
		if got != tc.want || ok != tc.ok {
			t.Errorf("CallRetry(%v, %d) = %v, %v; want %v, %v", tc.after, tc.n, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseRAck(t *testing.T) {
	for _, tc := range []struct {
		in         string
		rseq, cseq uint32
		ok         bool
	}{
		{"776656 1 INVITE", 776656, 1, true},
		{" 1  314159 invite ", 1, 314159, true},
		{"0 1 INVITE", 0, 0, false},
		{"1 INVITE", 0, 0, false},
		{"x 1 INVITE", 0, 0, false},
		{"1 99999999999 INVITE", 0, 0, false},
	} {
		r, c, m, err := parseRAck(tc.in)
		if (err == nil) != tc.ok || (tc.ok && (r != tc.rseq || c != tc.cseq || m != siplib.INVITE)) {
			t.Errorf("parseRAck(%q) = %d %d %s %v", tc.in, r, c, m, err)
		}
	}
}

func FuzzParseRAck(f *testing.F) {
	f.Add("776656 1 INVITE")
	f.Add("1 2")
	f.Fuzz(func(t *testing.T, s string) {
		r, _, _, err := parseRAck(s)
		if err == nil && r == 0 {
			t.Fatalf("RSeq 0 accepted from %q", s)
		}
	})
}

// A 1.6 kB INVITE with a long route set (12 Record-Routes) is answered
// (our 200 OK repeats the route set: over 1300 bytes, sent as one large
// datagram), and our BYE goes with the whole route set.
func TestLargeInviteAnsweredAndByeSent(t *testing.T) {
	t.Parallel()
	p := newPeer(t)
	l := testLine(t, p)
	// The first Record-Route is the proxy nearest us (the peer): where
	// requests in the dialog go.
	rr := []siplib.Header{siplib.NewHeader("Record-Route", fmt.Sprintf("<sip:%s;lr;ftag=%s>", p.addr(), siplib.GenerateTagN(16)))}
	for i := range 11 {
		rr = append(rr, siplib.NewHeader("Record-Route",
			fmt.Sprintf("<sip:edge-proxy-%02d.carrier-core.example.net;lr;ftag=%s;did=%s>", i, siplib.GenerateTagN(16), siplib.GenerateTagN(12))))
	}
	calls := make(chan *Call, 1)
	l.OnIncoming(func(c *Call) { calls <- c })
	req, d := p.invite(l, rr...)
	if n := len(req.String()); n < 1600 {
		t.Fatalf("INVITE of %d bytes, want 1.6 kB", n)
	}
	c := nextCall(t, calls)
	if err := c.Answer(); err != nil {
		t.Fatal(err)
	}
	ok := p.response(siplib.INVITE)
	if ok.StatusCode != 200 || len(ok.GetHeaders("Record-Route")) != 12 || len(ok.String()) <= 1300 {
		t.Fatalf("answer (%d bytes):\n%s", len(ok.String()), ok)
	}
	d.toTag, _ = ok.To().Params.Get("tag")
	d.target = ok.Contact().Address
	p.ack(d, 1)
	waitEvent(t, c, call.Answered)
	time.Sleep(50 * time.Millisecond)
	c.Hangup(call.Normal)
	bye := p.request(siplib.BYE)
	if n := len(bye.GetHeaders("Route")); n != 12 {
		t.Fatalf("BYE with %d Routes, want 12:\n%s", n, bye)
	}
	p.reply(bye, 200, "", nil)
}

// A call ringing long with a 180 sent again and again (more responses
// than sipgo's WaitAnswer takes in one go) is still answered.
func TestManyProvisionalsStillAnswered(t *testing.T) {
	t.Parallel()
	p := newPeer(t)
	l := testLine(t, p)
	c, err := l.DialCall(context.Background(), "2000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Hangup(call.Normal) })
	inv := p.request(siplib.INVITE)
	tag := siplib.GenerateTagN(8)
	for range 25 {
		p.reply(inv, 180, tag, nil)
		time.Sleep(5 * time.Millisecond)
	}
	p.reply(inv, 200, tag, p.sdp("", ""))
	p.request(siplib.ACK)
	waitEvent(t, c, call.Answered)
}

// A BYE answered 401 or 407 is sent again with credentials (new CSeq),
// from a call we placed and from one we took.
func TestByeChallengedIsAnswered(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{"outgoing", "incoming"} {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			p := newPeer(t)
			l := testLine(t, p, func(a *Account) { a.Password = "secret" })
			var c *Call
			if dir == "outgoing" {
				c, _ = outgoing(t, p, l)
			} else {
				c, _ = incoming(t, p, l)
			}
			c.Hangup(call.Normal)
			bye := p.request(siplib.BYE)
			p.reply(bye, 407, "", nil, siplib.NewHeader("Proxy-Authenticate", digestChallenge("MD5", "b1", false)))
			again := p.request(siplib.BYE)
			checkDigest(t, again, "Proxy-Authorization", "b1", "MD5")
			if again.CSeq().SeqNo <= bye.CSeq().SeqNo || again.CallID().Value() != bye.CallID().Value() {
				t.Fatalf("BYE again:\n%s", again)
			}
			p.reply(again, 200, "", nil)
		})
	}
}

// A key sent by SIP INFO (dtmf_mode info) answered 401 or 407 is sent
// again with credentials.
func TestInfoChallengedIsAnswered(t *testing.T) {
	t.Parallel()
	p := newPeer(t)
	l := testLine(t, p, func(a *Account) { a.Password = "secret"; a.DTMFMode = "info" })
	c, _ := outgoing(t, p, l)
	sent := make(chan error, 1)
	go func() { sent <- c.SendDTMF('5', 100*time.Millisecond) }()
	info := p.request(siplib.INFO)
	p.reply(info, 401, "", nil, siplib.NewHeader("WWW-Authenticate", digestChallenge("SHA-256", "i1", false)))
	again := p.request(siplib.INFO)
	checkDigest(t, again, "Authorization", "i1", "SHA-256")
	if string(again.Body()) != string(info.Body()) || again.CSeq().SeqNo <= info.CSeq().SeqNo {
		t.Fatalf("INFO again:\n%s", again)
	}
	p.reply(again, 200, "", nil)
	select {
	case err := <-sent:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("SendDTMF did not return")
	}
}

// A call redirected to another address (no outbound proxy) sends its
// INVITE there, and its CANCEL follows it there; a 305 is not followed.
func TestRedirectElsewhereCancelFollows(t *testing.T) {
	t.Parallel()
	p := newPeer(t)
	other := newPeerAt(t, net.IPv4(127, 0, 0, 2))
	l := testLine(t, p)
	other.ata = p.ata
	c, err := l.DialCall(context.Background(), "2000")
	if err != nil {
		t.Fatal(err)
	}
	inv := p.request(siplib.INVITE)
	p.reply(inv, 302, "", nil, &siplib.ContactHeader{Address: other.uri("3000")})
	moved := other.request(siplib.INVITE)
	if moved.Recipient.User != "3000" {
		t.Fatalf("redirected INVITE:\n%s", moved)
	}
	other.reply(moved, 180, siplib.GenerateTagN(8), nil)
	waitEvent(t, c, call.Progress)
	c.Hangup(call.Normal)
	cancel := other.request(siplib.CANCEL)
	other.reply(cancel, 200, "", nil)
	other.reply(moved, 487, "", nil)
	if ev := waitEvent(t, c, call.Ended); ev.Cause != call.Cancelled {
		t.Fatalf("ended %+v", ev)
	}
	p.none(siplib.CANCEL, 200*time.Millisecond)

	c, err = l.DialCall(context.Background(), "2000")
	if err != nil {
		t.Fatal(err)
	}
	inv = p.request(siplib.INVITE)
	p.reply(inv, 305, "", nil, &siplib.ContactHeader{Address: other.uri("proxy")})
	if ev := waitEvent(t, c, call.Ended); !strings.Contains(ev.Detail, "305") {
		t.Fatalf("305 ended %+v", ev)
	}
	other.none(siplib.INVITE, 200*time.Millisecond)
}

// An INVITE (or re-INVITE) requiring an extension we lack (preconditions)
// is refused 420 naming it in Unsupported, and rings nothing; one
// requiring only ours is taken.
func TestRequireUnsupportedExtensionIs420(t *testing.T) {
	t.Parallel()
	p := newPeer(t)
	l := testLine(t, p)
	calls := make(chan *Call, 1)
	l.OnIncoming(func(c *Call) { calls <- c })
	p.invite(l, siplib.NewHeader("Require", "precondition, 100rel"))
	res := p.response(siplib.INVITE)
	if res.StatusCode != 420 || headerValue(res, "Unsupported") != "precondition" {
		t.Fatalf("INVITE requiring precondition answered:\n%s", res)
	}
	select {
	case <-calls:
		t.Fatal("a call rang")
	case <-time.After(100 * time.Millisecond):
	}
	c, d := incoming(t, p, l, siplib.NewHeader("Require", "timer, 100rel"), siplib.NewHeader("Session-Expires", "1800"))
	p.inDialog(d, siplib.INVITE, "application/sdp", p.sdp("", ""), siplib.NewHeader("Require", "sec-agree"))
	if res := p.response(siplib.INVITE); res.StatusCode != 420 || headerValue(res, "Unsupported") != "sec-agree" {
		t.Fatalf("re-INVITE requiring sec-agree answered:\n%s", res)
	}
	noEvent(t, c, call.Ended, 100*time.Millisecond)
}

// A late-offer INVITE that supports 100rel: our reliable 180 carries the
// offer (RFC 3262 §5), the PRACK the answer; the 200 OK has no SDP and
// the media goes where the PRACK's answer says.
func TestLateOfferInReliable180(t *testing.T) {
	t.Parallel()
	p := newPeer(t)
	l := testLine(t, p)
	calls := make(chan *Call, 1)
	l.OnIncoming(func(c *Call) { calls <- c })
	d := p.inviteNoSDP(siplib.NewHeader("Supported", "100rel"))
	c := nextCall(t, calls)
	t.Cleanup(func() { c.Hangup(call.Normal) })
	if err := c.Alert(); err != nil {
		t.Fatal(err)
	}
	ringing := p.next("180", func(m siplib.Message) bool {
		r, ok := m.(*siplib.Response)
		return ok && r.StatusCode == 180
	}).(*siplib.Response)
	if !isOffer(ringing.Body()) || headerValue(ringing, "RSeq") == "" {
		t.Fatalf("reliable 180 without our offer:\n%s", ringing)
	}
	d.toTag, _ = ringing.To().Params.Get("tag")
	d.target = ringing.Contact().Address
	media := udpSocket(t)
	p.inDialog(d, siplib.PRACK, "application/sdp", p.sdpOn(media, ""), siplib.NewHeader("RAck", headerValue(ringing, "RSeq")+" 1 INVITE"))
	if res := p.response(siplib.PRACK); res.StatusCode != 200 {
		t.Fatalf("PRACK answered %d", res.StatusCode)
	}
	c.Answer()
	ok := p.response(siplib.INVITE)
	if ok.StatusCode != 200 || len(ok.Body()) != 0 {
		t.Fatalf("200 OK after offer and answer in 180/PRACK:\n%s", ok)
	}
	p.ack(d, 1)
	waitEvent(t, c, call.Answered)
	go sendFrames(c, 400*time.Millisecond)
	if n := rtpAt(media, 400*time.Millisecond); n == 0 {
		t.Fatal("no RTP to the address the PRACK's answer names")
	}
}

// The ACK of a 2xx takes its INVITE's CSeq, not the number the dialog
// gave it after a PRACK.
func TestAckCSeqIsTheInvites(t *testing.T) {
	tap := &callTap{invites: []uint32{1, 2, 5}}
	for _, tc := range []struct{ seq, want uint32 }{
		{1, 1}, {2, 2}, {3, 2}, {4, 2}, {5, 5}, {6, 5}, {9, 5},
	} {
		if got := tap.ackCSeq(tc.seq); got != tc.want {
			t.Errorf("ackCSeq(%d) = %d, want %d", tc.seq, got, tc.want)
		}
	}
}
