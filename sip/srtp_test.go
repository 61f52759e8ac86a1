package sip

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	siplib "github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/openata/ata/call"
	"github.com/openata/ata/media/rtpsession"
	"github.com/openata/ata/media/sdp"
)

// lockedBuffer is a log sink the call's goroutines write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// srtpLine is testLine with an SRTP policy, logging at debug level into
// a buffer the test reads.
func srtpLine(t *testing.T, p *peer, policy sdp.SRTPPolicy) (*Line, *lockedBuffer) {
	t.Helper()
	st := newTestStack(t, "127.0.0.1:0", false)
	acct := Account{Number: "1001", ServiceDomain: "voip.test", Registrar: p.addr(), Codecs: []string{"PCMU"}, SRTP: policy}
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l, err := NewLine(st, acct, LineOptions{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	p.ata = st.LocalAddr()
	return l, logs
}

// peerSRTPSDP is the peer's SDP on proto with one crypto attribute.
func (p *peer) srtpSDP(proto, crypto string) []byte {
	s := string(p.sdp("", ""))
	s = strings.Replace(s, " RTP/AVP ", " "+proto+" ", 1)
	if crypto != "" {
		s += "a=crypto:" + crypto + "\r\n"
	}
	return []byte(s)
}

// farKey is the peer's AES-CM key and salt.
var farKey = []byte("far-end-key-0123456789-salt-xy")

var mediaPort = regexp.MustCompile(`m=audio (\d+) `)

// ourCrypto is our crypto attribute of suite in an SDP body, and the RTP
// port it names.
func ourCrypto(t *testing.T, body []byte, suite sdp.Suite) (sdp.Crypto, int) {
	t.Helper()
	var found sdp.Crypto
	for _, line := range strings.Split(string(body), "\r\n") {
		if v, ok := strings.CutPrefix(line, "a=crypto:"); ok {
			c, err := sdp.ParseCrypto(v)
			if err != nil {
				t.Fatalf("our crypto attribute %q: %v", v, err)
			}
			if c.Suite == suite {
				found = c
			}
		}
	}
	if found.Suite == 0 {
		t.Fatalf("no %s crypto in\n%s", suite, body)
	}
	m := mediaPort.FindSubmatch(body)
	port, _ := strconv.Atoi(string(m[1]))
	return found, port
}

// An outgoing call on a mandatory line: RTP/SAVP with our keys; the
// answer's key protects what we receive and ours what we send; the call
// reports SRTP; no key ever reaches the log, even at debug level.
func TestSRTPOutgoingCall(t *testing.T) {
	p := newPeer(t)
	l, logs := srtpLine(t, p, sdp.SRTPMandatory)
	c, err := l.DialCall(context.Background(), "2000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Hangup(call.Normal) })
	inv := p.request(siplib.INVITE)
	body := inv.Body()
	if !bytes.Contains(body, []byte("m=audio ")) || !bytes.Contains(body, []byte(" RTP/SAVP ")) {
		t.Fatalf("a mandatory line's offer is not RTP/SAVP:\n%s", body)
	}
	ours, ourPort := ourCrypto(t, body, sdp.AESCM128HMACSHA180)
	tag := siplib.GenerateTagN(8)
	p.reply(inv, 200, tag, p.srtpSDP("RTP/SAVP", fmt.Sprintf("%d AES_CM_128_HMAC_SHA1_80 inline:%s", ours.Tag, base64.StdEncoding.EncodeToString(farKey))))
	p.request(siplib.ACK)
	waitEvent(t, c, call.Answered)

	// The far end's SRTP packets are taken in.
	far, err := srtp.CreateContext(farKey[:16], farKey[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	if err != nil {
		t.Fatal(err)
	}
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: ourPort}
	for i := range 5 {
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 77, SequenceNumber: uint16(100 + i), Timestamp: uint32(160 * i)}, Payload: make([]byte, 160)}
		wire, err := far.EncryptRTP(nil, mustRTP(t, pkt), nil)
		if err != nil {
			t.Fatal(err)
		}
		p.rtp.WriteToUDP(wire, to)
	}
	// What we send decrypts with the key our offer named.
	sendFrames(c, 200*time.Millisecond)
	key := ours.Key.Bytes()
	dec, err := srtp.CreateContext(key[:16], key[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	p.rtp.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _, err := p.rtp.ReadFromUDP(buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != 12+160+10 {
		t.Fatalf("a %d-byte RTP packet from us, want 182 (SRTP, 80-bit tag)", n)
	}
	if _, err := dec.DecryptRTP(nil, buf[:n], nil); err != nil {
		t.Fatalf("our packet does not decrypt with our offer's key: %v", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for sessionStats(c).PacketsReceived < 5 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if st := sessionStats(c); st.PacketsReceived != 5 || st.SRTPFailed != 0 || !st.SRTP {
		t.Fatalf("the far end's SRTP: %+v", st)
	}
	if !c.Report().SRTP {
		t.Fatal("the call's report says not encrypted")
	}
	c.Hangup(call.Normal)
	time.Sleep(100 * time.Millisecond)
	got := logs.String()
	if !strings.Contains(got, "sip: call") {
		t.Fatalf("the log caught nothing:\n%s", got)
	}
	for _, k := range [][]byte{key, farKey} {
		if strings.Contains(got, base64.StdEncoding.EncodeToString(k)) || strings.Contains(got, string(k)) ||
			strings.Contains(got, fmt.Sprintf("%x", k)) || strings.Contains(got, fmt.Sprint(k)[1:20]) {
			t.Fatalf("a key is in the log:\n%s", got)
		}
	}
	if strings.Contains(got, "inline:") {
		t.Fatalf("an SDP crypto line is in the log:\n%s", got)
	}
}

func mustRTP(t *testing.T, p rtp.Packet) []byte {
	t.Helper()
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A mandatory line hangs up an outgoing call whose answer has no key
// (ACK, then BYE; the call ends as a media failure).
func TestSRTPMandatoryHangsUpOnPlainAnswer(t *testing.T) {
	p := newPeer(t)
	l, _ := srtpLine(t, p, sdp.SRTPMandatory)
	c, err := l.DialCall(context.Background(), "2000")
	if err != nil {
		t.Fatal(err)
	}
	inv := p.request(siplib.INVITE)
	p.reply(inv, 200, siplib.GenerateTagN(8), p.sdp("", ""))
	p.request(siplib.ACK)
	bye := p.request(siplib.BYE)
	p.reply(bye, 200, "", nil)
	ev := waitEvent(t, c, call.Ended)
	if ev.Cause != call.MediaFailed || !strings.Contains(ev.Detail, "SRTP") {
		t.Fatalf("ended %v %q, want a media failure naming SRTP", ev.Cause, ev.Detail)
	}
}

// inviteBody has the peer send l an INVITE with body as its offer; it
// returns the first final response.
func (p *peer) inviteBody(l *Line, body []byte) *siplib.Response {
	p.t.Helper()
	d := &pdialog{callID: siplib.GenerateTagN(12) + "@peer", from: p.uri("2000"),
		to: siplib.Uri{Scheme: "sip", User: "1001", Host: "voip.test"}, fromTag: siplib.GenerateTagN(8),
		target: siplib.Uri{Scheme: "sip", User: "1001", Host: p.ata.Addr().String(), Port: int(p.ata.Port())}}
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
	req.AppendHeader(siplib.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(body)
	p.send(req)
	for {
		res := p.response(siplib.INVITE)
		if res.StatusCode >= 200 {
			return res
		}
	}
}

// Incoming offers: a mandatory line refuses a plain one with 488; an
// optional line answers an RTP/SAVP offer with its key, and a plain one
// plainly; an off line refuses RTP/SAVP.
func TestSRTPIncomingOffers(t *testing.T) {
	k := base64.StdEncoding.EncodeToString(farKey)
	for _, tc := range []struct {
		name    string
		policy  sdp.SRTPPolicy
		proto   string
		crypto  string
		code    int
		encrypt bool
	}{
		{"mandatory refuses plain", sdp.SRTPMandatory, "RTP/AVP", "", 488, false},
		{"mandatory refuses an unusable key", sdp.SRTPMandatory, "RTP/SAVP", "1 AES_CM_128_HMAC_SHA1_80 inline:" + k + " UNENCRYPTED_SRTP", 488, false},
		{"off refuses SAVP", sdp.SRTPOff, "RTP/SAVP", "1 AES_CM_128_HMAC_SHA1_80 inline:" + k, 488, false},
		{"optional takes SAVP", sdp.SRTPOptional, "RTP/SAVP", "5 AES_CM_128_HMAC_SHA1_32 inline:" + k, 200, true},
		{"optional takes plain", sdp.SRTPOptional, "RTP/AVP", "", 200, false},
		{"mandatory takes AVP with a key", sdp.SRTPMandatory, "RTP/AVP", "2 AES_CM_128_HMAC_SHA1_80 inline:" + k, 200, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPeer(t)
			l, _ := srtpLine(t, p, tc.policy)
			calls := make(chan *Call, 1)
			l.OnIncoming(func(c *Call) { calls <- c; c.Answer() })
			res := p.inviteBody(l, p.srtpSDP(tc.proto, tc.crypto))
			if res.StatusCode != tc.code {
				t.Fatalf("answered %d, want %d", res.StatusCode, tc.code)
			}
			if tc.code != 200 {
				return
			}
			c := nextCall(t, calls)
			t.Cleanup(func() { c.Hangup(call.Normal) })
			ans := string(res.Body())
			if hasKey := strings.Contains(ans, "a=crypto:"); hasKey != tc.encrypt {
				t.Fatalf("answer with a key: %v, want %v:\n%s", hasKey, tc.encrypt, ans)
			}
			if tc.encrypt {
				tag, _, _ := strings.Cut(tc.crypto, " ")
				if !strings.Contains(ans, " "+tc.proto+" ") || !strings.Contains(ans, "a=crypto:"+tag+" ") {
					t.Fatalf("the answer does not keep the offer's profile and tag:\n%s", ans)
				}
			}
			if c.Report().SRTP != tc.encrypt {
				t.Fatalf("report SRTP %v, want %v", c.Report().SRTP, tc.encrypt)
			}
		})
	}
}

// An optional line offers RTP/AVP with keys, and a plain answer (a peer
// without SRTP) gives a plain call.
func TestSRTPOptionalFallsBackToPlain(t *testing.T) {
	p := newPeer(t)
	l, _ := srtpLine(t, p, sdp.SRTPOptional)
	c, err := l.DialCall(context.Background(), "2000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Hangup(call.Normal) })
	inv := p.request(siplib.INVITE)
	if b := inv.Body(); !bytes.Contains(b, []byte(" RTP/AVP ")) || !bytes.Contains(b, []byte("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:")) {
		t.Fatalf("optional offer:\n%s", b)
	}
	tag := siplib.GenerateTagN(8)
	p.reply(inv, 200, tag, p.sdp("", ""))
	p.request(siplib.ACK)
	waitEvent(t, c, call.Answered)
	sendFrames(c, 100*time.Millisecond)
	buf := make([]byte, 1500)
	p.rtp.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _, err := p.rtp.ReadFromUDP(buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != 12+160 || c.Report().SRTP {
		t.Fatalf("a %d-byte packet, report SRTP %v: want plain RTP", n, c.Report().SRTP)
	}
}

// An optional line whose RTP/AVP offer with keys is refused (488: an
// SRTP-only far end) calls again once with RTP/SAVP and the same keys.
func TestSRTPOptionalOffersSAVPAfter488(t *testing.T) {
	p := newPeer(t)
	l, _ := srtpLine(t, p, sdp.SRTPOptional)
	c, err := l.DialCall(context.Background(), "2000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Hangup(call.Normal) })
	first := p.request(siplib.INVITE)
	ours, _ := ourCrypto(t, first.Body(), sdp.AESCM128HMACSHA180)
	if !bytes.Contains(first.Body(), []byte(" RTP/AVP ")) {
		t.Fatalf("first offer:\n%s", first.Body())
	}
	p.reply(first, 488, "", nil)
	p.request(siplib.ACK)
	second := p.request(siplib.INVITE)
	again, _ := ourCrypto(t, second.Body(), sdp.AESCM128HMACSHA180)
	if !bytes.Contains(second.Body(), []byte(" RTP/SAVP ")) || again.Key != ours.Key ||
		second.CSeq().SeqNo != first.CSeq().SeqNo+1 || second.CallID().Value() != first.CallID().Value() {
		t.Fatalf("second INVITE (CSeq %d after %d):\n%s", second.CSeq().SeqNo, first.CSeq().SeqNo, second.Body())
	}
	p.reply(second, 200, siplib.GenerateTagN(8), p.srtpSDP("RTP/SAVP", "1 AES_CM_128_HMAC_SHA1_80 inline:"+base64.StdEncoding.EncodeToString(farKey)))
	p.request(siplib.ACK)
	waitEvent(t, c, call.Answered)
	if !c.Report().SRTP {
		t.Fatal("the call is not encrypted")
	}
	// A second refusal ends the call: no loop.
	l2, _ := srtpLine(t, p, sdp.SRTPOptional)
	c2, err := l2.DialCall(context.Background(), "2000")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		inv := p.request(siplib.INVITE)
		p.reply(inv, 488, "", nil)
		p.request(siplib.ACK)
	}
	if ev := waitEvent(t, c2, call.Ended); !strings.Contains(ev.Detail, "488") {
		t.Fatalf("ended %q, want the 488", ev.Detail)
	}
	p.none(siplib.INVITE, 300*time.Millisecond)
}

// The far end's re-INVITE with a new key re-keys what we take in; our
// answer keeps our key (what we send is unchanged).
func TestSRTPReinviteNewKey(t *testing.T) {
	p := newPeer(t)
	l, _ := srtpLine(t, p, sdp.SRTPMandatory)
	calls := make(chan *Call, 1)
	l.OnIncoming(func(c *Call) { calls <- c; c.Answer() })
	old := []byte("old-far-key-0123456789-salt-xy")
	b64 := base64.StdEncoding.EncodeToString
	res := p.inviteBody(l, p.srtpSDP("RTP/SAVP", "1 AES_CM_128_HMAC_SHA1_80 inline:"+b64(old)))
	if res.StatusCode != 200 {
		t.Fatalf("SRTP offer answered %d", res.StatusCode)
	}
	c := nextCall(t, calls)
	t.Cleanup(func() { c.Hangup(call.Normal) })
	ours, port := ourCrypto(t, res.Body(), sdp.AESCM128HMACSHA180)
	d := &pdialog{callID: res.CallID().Value(), from: res.From().Address, to: res.To().Address,
		target: res.Contact().Address, cseq: 1, peerIsCaller: true}
	d.fromTag, _ = res.From().Params.Get("tag")
	d.toTag, _ = res.To().Params.Get("tag")
	p.ack(d, 1)
	time.Sleep(50 * time.Millisecond)

	// The re-INVITE: a new far key.
	re := p.inDialog(d, siplib.INVITE, "application/sdp", p.srtpSDP("RTP/SAVP", "1 AES_CM_128_HMAC_SHA1_80 inline:"+b64(farKey)))
	ok := p.response(siplib.INVITE)
	if ok.StatusCode != 200 {
		t.Fatalf("re-INVITE answered %d", ok.StatusCode)
	}
	again, _ := ourCrypto(t, ok.Body(), sdp.AESCM128HMACSHA180)
	if again.Key != ours.Key {
		t.Fatal("our key changed in the answer to a re-INVITE")
	}
	p.ack(d, re.CSeq().SeqNo)
	send := func(key []byte, seq uint16) {
		ctx, err := srtp.CreateContext(key[:16], key[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
		if err != nil {
			t.Fatal(err)
		}
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 99, SequenceNumber: seq, Timestamp: uint32(seq) * 160}, Payload: make([]byte, 160)}
		wire, err := ctx.EncryptRTP(nil, mustRTP(t, pkt), nil)
		if err != nil {
			t.Fatal(err)
		}
		p.rtp.WriteToUDP(wire, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	}
	wait := func(n uint64) {
		deadline := time.Now().Add(2 * time.Second)
		for sessionStats(c).PacketsReceived+sessionStats(c).SRTPFailed < n && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	send(old, 10) // under the old key: refused now
	wait(1)
	if st := sessionStats(c); st.PacketsReceived != 0 || st.SRTPFailed != 1 {
		t.Fatalf("a packet under the old key: %d received, %d failed; want it refused", st.PacketsReceived, st.SRTPFailed)
	}
	send(farKey, 11) // under the new one: taken
	wait(2)
	if st := sessionStats(c); st.PacketsReceived != 1 || st.SRTPFailed != 1 {
		t.Fatalf("a packet under the new key: %d received, %d failed; want it taken", st.PacketsReceived, st.SRTPFailed)
	}
}

// sessionStats reads the call's RTP session's figures (c.mu guards the
// session pointer).
func sessionStats(c *Call) rtpsession.Stats {
	c.mu.Lock()
	s := c.session
	c.mu.Unlock()
	return s.Stats()
}
