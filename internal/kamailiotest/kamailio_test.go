package kamailiotest

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"
)

// peer is a raw UDP SIP endpoint for poking the server.
type peer struct {
	t *testing.T
	c *net.UDPConn
}

func newPeer(t *testing.T) *peer {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &peer{t, c}
}

func (p *peer) addr() string { return p.c.LocalAddr().String() }

func (p *peer) send(s *Server, method, ruri string, cseq int, extra ...string) {
	p.t.Helper()
	a := p.addr()
	msg := fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%d;rport\r\nMax-Forwards: 70\r\n"+
		"From: <sip:1001@voip.test>;tag=f1\r\nTo: <%s>\r\nCall-ID: call-1@test\r\nCSeq: %d %s\r\n"+
		"Contact: <sip:1001@%s>\r\n%sContent-Length: 0\r\n\r\n",
		method, ruri, a, time.Now().UnixNano(), ruri, cseq, method, a, strings.Join(append(extra, ""), "\r\n"))
	if _, err := p.c.WriteToUDPAddrPort([]byte(msg), s.Addr()); err != nil {
		p.t.Fatal(err)
	}
}

// recv returns the next message starting with prefix ("SIP/2.0 " for
// responses, "INVITE " ...), skipping 100 Trying and retransmissions of
// other messages.
func (p *peer) recv(prefix string) string {
	p.t.Helper()
	buf := make([]byte, 8192)
	p.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		n, err := p.c.Read(buf)
		if err != nil {
			p.t.Fatalf("no %q message: %v", prefix, err)
		}
		if m := string(buf[:n]); strings.HasPrefix(m, prefix) && !strings.HasPrefix(m, "SIP/2.0 100 ") {
			return m
		}
	}
}

func header(msg, name string) string {
	m := regexp.MustCompile(`(?mi)^` + name + `:\s*(.*?)\r$`).FindStringSubmatch(msg)
	if m == nil {
		return ""
	}
	return m[1]
}

func TestChallengesAndRelaysToFarEnd(t *testing.T) {
	far := newPeer(t)
	s := Start(t, Config{Users: map[string]string{"alice": "pw"}, FarEnd: far.addr()})
	ua := newPeer(t)
	domain := "sip:" + s.Addr().String()

	ua.send(s, "REGISTER", domain, 1, "Expires: 60")
	if res := ua.recv("SIP/2.0 "); !strings.HasPrefix(res, "SIP/2.0 401 ") || header(res, "WWW-Authenticate") == "" {
		t.Fatalf("REGISTER without credentials:\n%s", res)
	}

	ruri := "sip:5551234@" + s.Addr().String()
	ua.send(s, "INVITE", ruri, 1)
	res := ua.recv("SIP/2.0 ")
	if !strings.HasPrefix(res, "SIP/2.0 407 ") {
		t.Fatalf("INVITE without credentials:\n%s", res)
	}
	chal, err := digest.ParseChallenge(header(res, "Proxy-Authenticate"))
	if err != nil {
		t.Fatal(err)
	}
	cred, err := digest.Digest(chal, digest.Options{Method: "INVITE", URI: ruri, Username: "alice", Password: "pw", Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	ua.send(s, "INVITE", ruri, 2, "Proxy-Authorization: "+cred.String())
	inv := far.recv("INVITE ")
	if !strings.HasPrefix(inv, "INVITE "+ruri) || !strings.Contains(header(inv, "Record-Route"), s.Addr().String()) {
		t.Fatalf("far end got:\n%s", inv)
	}
	if header(inv, "Proxy-Authorization") != "" {
		t.Fatalf("credentials were not consumed:\n%s", inv)
	}

	// Requests from the far end skip auth; an unknown user is 404.
	far.send(s, "INVITE", "sip:nobody@"+s.Addr().String(), 1)
	if res := far.recv("SIP/2.0 "); !strings.HasPrefix(res, "SIP/2.0 404 ") {
		t.Fatalf("far end INVITE for an unknown user:\n%s", res)
	}
}

func TestRestartOnSamePort(t *testing.T) {
	s := Start(t, Config{})
	addr := s.Addr()
	s.Stop()
	if s.ping(200 * time.Millisecond) {
		t.Fatal("answers while stopped")
	}
	s.Start()
	if s.Addr() != addr || !s.ping(time.Second) {
		t.Fatal("not answering on the same port after restart")
	}
}
