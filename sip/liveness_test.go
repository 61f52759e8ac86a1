package sip

import (
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	siplib "github.com/emiago/sipgo/sip"

	"github.com/openata/ata/call"
)

// lineWith is testLine with the stack's RTP timeout and line options set.
func lineWith(t *testing.T, p *peer, rtpTimeout time.Duration, opt LineOptions) *Line {
	t.Helper()
	cfg := testStackConfig()
	cfg.Listen, cfg.AcceptProxyOnly, cfg.KeepAlive, cfg.RTPTimeout = "127.0.0.1:0", false, 0, rtpTimeout
	st, err := NewStack(cfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	opt.Logger = testLogger(t)
	l, err := NewLine(st, Account{Number: "1001", ServiceDomain: "voip.test", Registrar: p.addr(), Codecs: []string{"PCMU"}}, opt)
	if err != nil {
		t.Fatal(err)
	}
	p.ata = st.LocalAddr()
	return l
}

// farRTP sends PCMU packets from the peer's media socket to the call's
// until stop is closed.
func farRTP(t *testing.T, p *peer, c *Call, stop <-chan struct{}) {
	c.mu.Lock()
	to := c.rtp.LocalAddr().(*net.UDPAddr)
	c.mu.Unlock()
	go func() {
		pkt := make([]byte, 12+160)
		pkt[0], pkt[1] = 0x80, 0
		binary.BigEndian.PutUint32(pkt[8:], 0x1234)
		for seq := uint16(1); ; seq++ {
			binary.BigEndian.PutUint16(pkt[2:], seq)
			binary.BigEndian.PutUint32(pkt[4:], uint32(seq)*160)
			p.rtp.WriteToUDP(pkt, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: to.Port})
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
}

// A far end that stops sending RTP (it crashed) is hung up after the RTP
// timeout: Ended with NoResponse, and a BYE.
func TestRTPTimeoutEndsSilentCall(t *testing.T) {
	p := newPeer(t)
	l := lineWith(t, p, time.Second, LineOptions{})
	c, _ := outgoing(t, p, l)
	stop := make(chan struct{})
	farRTP(t, p, c, stop)
	noEvent(t, c, call.Ended, 1500*time.Millisecond) // RTP flows: the call stays
	close(stop)
	stopped := time.Now()
	ev := waitEvent(t, c, call.Ended)
	took := time.Since(stopped)
	if ev.Cause != call.NoResponse || !strings.Contains(ev.Detail, "no RTP") {
		t.Fatalf("ended %+v, want NoResponse for no RTP", ev)
	}
	if took < 900*time.Millisecond || took > 2500*time.Millisecond {
		t.Fatalf("ended %v after the RTP stopped, want about the 1 s timeout", took)
	}
	bye := p.request(siplib.BYE)
	p.reply(bye, 200, "", nil)
}

// A held call is silent by right: the RTP timeout does not end it.
func TestRTPTimeoutNotWhileHeld(t *testing.T) {
	p := newPeer(t)
	l := lineWith(t, p, time.Second, LineOptions{})
	c, _ := outgoing(t, p, l)
	if err := c.Hold(); err != nil {
		t.Fatal(err)
	}
	re := p.request(siplib.INVITE)
	p.reply(re, 200, "", p.sdp("recvonly", ""))
	p.request(siplib.ACK)
	noEvent(t, c, call.Ended, 2500*time.Millisecond)
}

// Our INVITE asks for a session timer (RFC 4028); our answer to a caller
// that asked for none runs one that we refresh.
func TestSessionTimerAskedAndAnswered(t *testing.T) {
	p := newPeer(t)
	l := lineWith(t, p, 0, LineOptions{})
	_, d := outgoing(t, p, l)
	if se, min := hdr(d.inviteRequest, "Session-Expires"), hdr(d.inviteRequest, "Min-SE"); se != "1800" || min != "90" {
		t.Fatalf("INVITE Session-Expires %q, Min-SE %q; want 1800 and 90", se, min)
	}
	c, ok := incomingAnswer(t, p, l)
	if se := hdr(ok, "Session-Expires"); se != "1800;refresher=uas" {
		t.Fatalf("200 OK Session-Expires %q, want 1800;refresher=uas", se)
	}
	if c.timer == nil || !c.timer.weRefresh {
		t.Fatal("no session timer refreshed by us")
	}
}

// Our session refresh answered 481 (the far end lost the call): the call
// ends with NoResponse and a BYE (RFC 4028 §10). On a fake clock.
func TestSessionRefreshFailureEndsCall(t *testing.T) {
	p := newPeer(t)
	clk := newFakeClock()
	l := lineWith(t, p, 0, LineOptions{Clock: clk, SessionExpires: 90 * time.Second})
	calls := make(chan *Call, 1)
	l.OnIncoming(func(c *Call) { calls <- c })
	_, d := p.invite(l)
	c := nextCall(t, calls)
	c.Answer()
	ok := p.response(siplib.INVITE)
	if se := hdr(ok, "Session-Expires"); se != "90;refresher=uas" {
		t.Fatalf("200 OK Session-Expires %q", se)
	}
	d.toTag, _ = ok.To().Params.Get("tag")
	d.target = ok.Contact().Address
	p.ack(d, 1)
	for range 45 { // 45 s: half the interval, time to refresh
		clk.waitTimers(t, 1)
		clk.advance(time.Second)
	}
	re := p.request(siplib.INVITE)
	p.reply(re, 481, "", nil)
	ev := waitEvent(t, c, call.Ended)
	if ev.Cause != call.NoResponse {
		t.Fatalf("ended %+v, want NoResponse", ev)
	}
	p.request(siplib.BYE)
}
