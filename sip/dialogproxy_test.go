package sip

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/call"
)

// fakeProxy is a scripted outbound proxy on a loopback socket.
type fakeProxy struct {
	t    *testing.T
	conn *net.UDPConn
}

func newFakeProxy(t *testing.T) *fakeProxy {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &fakeProxy{t: t, conn: c}
}

func (p *fakeProxy) addr() string { return p.conn.LocalAddr().String() }

// recv returns the next request with method (skipping others and
// responses) and where it came from.
func (p *fakeProxy) recv(method string) (string, netip.AddrPort) {
	p.t.Helper()
	buf := make([]byte, 8192)
	p.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		n, from, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			p.t.Fatalf("outbound proxy: no %s: %v", method, err)
		}
		if msg := string(buf[:n]); strings.HasPrefix(msg, method+" ") {
			return msg, from
		}
	}
}

func (p *fakeProxy) send(to netip.AddrPort, msg string) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDPAddrPort([]byte(strings.ReplaceAll(msg, "\n", "\r\n")), to); err != nil {
		p.t.Fatal(err)
	}
}

// header returns the first value of header name in msg.
func header(msg, name string) string {
	for _, l := range strings.Split(msg, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// unreachableRR is a Record-Route entry nobody answers at (TEST-NET-1):
// a proxy's inside address, as a NATed ATA would see it.
const unreachableRR = "<sip:192.0.2.1:5060;lr>"

// answerSDP is a PCMU answer with media on the loopback's discard port.
const answerSDP = "v=0\no=far 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 9 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n"

func proxiedLine(t *testing.T, proxy string) *Line {
	t.Helper()
	return proxiedLineBehind(t, proxy, netip.AddrPort{})
}

// proxiedLineBehind is proxiedLine for an ATA the provider sees at public.
func proxiedLineBehind(t *testing.T, proxy string, public netip.AddrPort) *Line {
	t.Helper()
	st := newTestStack(t, "127.0.0.1:0", false)
	l, err := NewLine(st, Account{Number: "1001", ServiceDomain: "voip.test", OutboundProxy: proxy, Codecs: []string{"PCMU"}},
		LineOptions{Logger: testLogger(t), PublicAddr: func() netip.AddrPort { return public }})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestDialogRequestsGoThroughOutboundProxy(t *testing.T) {
	p := newFakeProxy(t)
	l := proxiedLine(t, p.addr())
	c, err := l.DialCall(context.Background(), "2000")
	if err != nil {
		t.Fatal(err)
	}
	inv, from := p.recv("INVITE")
	// The answer record-routes through an address the ATA cannot reach.
	p.send(from, fmt.Sprintf("SIP/2.0 200 OK\nVia: %s\nRecord-Route: %s\nFrom: %s\nTo: %s;tag=far1\nCall-ID: %s\nCSeq: %s\n"+
		"Contact: <sip:2000@127.0.0.1:9>\nContent-Type: application/sdp\nContent-Length: %d\n\n%s",
		header(inv, "Via"), unreachableRR, header(inv, "From"), header(inv, "To"), header(inv, "Call-ID"), header(inv, "CSeq"),
		len(strings.ReplaceAll(answerSDP, "\n", "\r\n")), answerSDP))
	ack, _ := p.recv("ACK")
	if !strings.HasPrefix(ack, "ACK sip:2000@127.0.0.1:9 ") || header(ack, "Route") != unreachableRR {
		t.Fatalf("ACK at the outbound proxy, but not for the dialog's target with its route set:\n%s", ack)
	}
	waitEvent(t, c, call.Answered)
	c.Hangup(call.Normal)
	bye, from := p.recv("BYE")
	if header(bye, "Route") != unreachableRR {
		t.Fatalf("BYE lacks the route set:\n%s", bye)
	}
	p.send(from, fmt.Sprintf("SIP/2.0 200 OK\nVia: %s\nFrom: %s\nTo: %s\nCall-ID: %s\nCSeq: %s\nContent-Length: 0\n\n",
		header(bye, "Via"), header(bye, "From"), header(bye, "To"), header(bye, "Call-ID"), header(bye, "CSeq")))
	waitEvent(t, c, call.Ended)
}

func TestIncomingDialogRequestsGoBackThroughOutboundProxy(t *testing.T) {
	p := newFakeProxy(t)
	l := proxiedLine(t, p.addr())
	calls := make(chan *Call, 1)
	l.OnIncoming(func(c *Call) { calls <- c })
	ata := l.st.LocalAddr()
	sdp := strings.ReplaceAll(answerSDP, "\n", "\r\n")
	p.send(ata, fmt.Sprintf("INVITE sip:1001@%s SIP/2.0\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-in1;rport\nRecord-Route: %s\n"+
		"Max-Forwards: 70\nFrom: \"Far\" <sip:3000@voip.test>;tag=f1\nTo: <sip:1001@voip.test>\nCall-ID: in1@test\nCSeq: 1 INVITE\n"+
		"Contact: <sip:3000@127.0.0.1:9>\nContent-Type: application/sdp\nContent-Length: %d\n\n%s",
		ata, p.addr(), unreachableRR, len(sdp), answerSDP))
	var c *Call
	select {
	case c = <-calls:
	case <-time.After(3 * time.Second):
		t.Fatal("no incoming call")
	}
	if err := c.Answer(); err != nil {
		t.Fatal(err)
	}
	ok, _ := p.recv("SIP/2.0 200")
	p.send(ata, fmt.Sprintf("ACK sip:1001@%s SIP/2.0\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-in2;rport\nMax-Forwards: 70\n"+
		"From: \"Far\" <sip:3000@voip.test>;tag=f1\nTo: %s\nCall-ID: in1@test\nCSeq: 1 ACK\nContent-Length: 0\n\n",
		ata, p.addr(), header(ok, "To")))
	time.Sleep(100 * time.Millisecond) // the ACK confirms the dialog
	c.Hangup(call.Normal)
	bye, _ := p.recv("BYE")
	if !strings.HasPrefix(bye, "BYE sip:3000@127.0.0.1:9 ") || header(bye, "Route") != unreachableRR {
		t.Fatalf("BYE at the outbound proxy, but not for the caller with the route set:\n%s", bye)
	}
}

func waitEvent(t *testing.T, c *Call, kind call.EventKind) call.Event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-c.Events():
			if ev.Kind == kind {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %v event", kind)
		}
	}
}

func TestCallContactIsThePublicAddressBehindNAT(t *testing.T) {
	p := newFakeProxy(t)
	l := proxiedLineBehind(t, p.addr(), netip.MustParseAddrPort("203.0.113.7:40123"))
	c, err := l.DialCall(context.Background(), "2000")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Hangup(call.Normal)
	inv, _ := p.recv("INVITE")
	if got := header(inv, "Contact"); got != "<sip:1001@203.0.113.7:40123>" {
		t.Fatalf("INVITE Contact %s, want the address the registrar sees (203.0.113.7:40123)", got)
	}
	// The media stays at our own address (its public port is unknown).
	if !strings.Contains(inv, "c=IN IP4 127.0.0.1") {
		t.Fatalf("SDP not at our own address:\n%s", inv)
	}
}
