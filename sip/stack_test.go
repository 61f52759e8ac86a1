package sip

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	siplib "github.com/emiago/sipgo/sip"
)

// rawRequest sends a request from a socket bound to from (e.g.
// "127.0.0.2:0") and returns the first datagram received back within wait
// ("" when none came).
func rawRequest(t *testing.T, from string, to netip.AddrPort, method, ruri string) string {
	t.Helper()
	la, err := net.ResolveUDPAddr("udp", from)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp", la)
	if err != nil {
		t.Fatalf("bind %s: %v", from, err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	id := time.Now().UnixNano()
	msg := fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%d;rport\r\nMax-Forwards: 70\r\n"+
		"From: <sip:scanner@%s>;tag=%d\r\nTo: <%s>\r\nCall-ID: %d@test\r\nCSeq: 1 %s\r\n"+
		"Contact: <sip:scanner@%s>\r\nContent-Length: 0\r\n\r\n",
		method, ruri, local, id, local, id, ruri, id, method, local)
	if _, err := c.WriteToUDPAddrPort([]byte(msg), to); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(700 * time.Millisecond))
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return ""
		}
		if !strings.HasPrefix(string(buf[:n]), "SIP/2.0 100 ") { // skip 100 Trying
			return string(buf[:n])
		}
	}
}

func TestOptionsAnsweredWithAllowAndAccept(t *testing.T) {
	st := newTestStack(t, "127.0.0.1:0", false)
	st.Handle(siplib.INVITE, func(req *siplib.Request, tx siplib.ServerTransaction) {})
	res := rawRequest(t, "127.0.0.1:0", st.LocalAddr(), "OPTIONS", "sip:1001@"+st.LocalAddr().String())
	for _, want := range []string{"SIP/2.0 200 OK", "Allow: INVITE, OPTIONS", "Accept: application/sdp"} {
		if !strings.Contains(res, want) {
			t.Fatalf("OPTIONS answer lacks %q:\n%s", want, res)
		}
	}
	res = rawRequest(t, "127.0.0.1:0", st.LocalAddr(), "SUBSCRIBE", "sip:1001@"+st.LocalAddr().String())
	if !strings.HasPrefix(res, "SIP/2.0 405 ") || !strings.Contains(res, "Allow: INVITE, OPTIONS") {
		t.Fatalf("unrouted method answer:\n%s", res)
	}
}

func TestProxyOnlyDropsUntrustedSources(t *testing.T) {
	st := newTestStack(t, "127.0.0.1:0", true)
	var invites atomic.Int32
	st.Handle(siplib.INVITE, func(req *siplib.Request, tx siplib.ServerTransaction) {
		invites.Add(1)
		tx.Respond(siplib.NewResponseFromRequest(req, 486, "Busy Here", nil))
	})
	ruri := "sip:1001@" + st.LocalAddr().String()
	st.SetTrustedSources("line1", []netip.Addr{netip.MustParseAddr("127.0.0.1")})
	if res := rawRequest(t, "127.0.0.1:0", st.LocalAddr(), "OPTIONS", ruri); !strings.HasPrefix(res, "SIP/2.0 200 ") {
		t.Fatalf("trusted source got %q, want 200", res)
	}
	for _, m := range []string{"OPTIONS", "INVITE"} {
		if res := rawRequest(t, "127.0.0.2:0", st.LocalAddr(), m, ruri); res != "" {
			t.Fatalf("%s from an untrusted source was answered:\n%s", m, res)
		}
	}
	if invites.Load() != 0 || st.Dropped() != 2 {
		t.Fatalf("invites handled %d, dropped %d; want 0 and 2", invites.Load(), st.Dropped())
	}
	st.SetTrustedSources("line1", nil) // line gone: nobody is trusted
	if res := rawRequest(t, "127.0.0.1:0", st.LocalAddr(), "OPTIONS", ruri); res != "" {
		t.Fatalf("answered with no trusted source:\n%s", res)
	}

	open := newTestStack(t, "127.0.0.1:0", false) // accept_proxy_only off: same request is answered
	if res := rawRequest(t, "127.0.0.2:0", open.LocalAddr(), "OPTIONS", "sip:1001@"+open.LocalAddr().String()); !strings.HasPrefix(res, "SIP/2.0 200 ") {
		t.Fatalf("with the filter off got %q, want 200", res)
	}
}

func TestAcceptsResponsesAndKeepAlivesFromAnywhere(t *testing.T) {
	st := &Stack{}
	st.cfg.AcceptProxyOnly = true
	empty := map[netip.Addr]struct{}{}
	st.allowed.Store(&empty)
	src := netip.MustParseAddr("192.0.2.9")
	for _, tc := range []struct {
		data string
		want bool
	}{
		{"SIP/2.0 200 OK\r\n", true}, {"\r\n\r\n", true}, {"\r\n", true},
		{"INVITE sip:100@1.2.3.4 SIP/2.0\r\n", false}, {"OPTIONS sip:x SIP/2.0\r\n", false}, {"SIP/2.0X", false},
	} {
		if got := st.accepts(src, []byte(tc.data)); got != tc.want {
			t.Errorf("accepts(%q) = %v, want %v", tc.data, got, tc.want)
		}
	}
}

func TestRequestURIMatches(t *testing.T) {
	for _, tc := range []struct {
		uri  string
		want bool
	}{
		{"sip:1001@192.0.2.1:5060", true}, {"sip:c-7f3a@192.0.2.1", true},
		{"sip:100@192.0.2.1", false}, {"sip:192.0.2.1", false}, {"sip:10011@192.0.2.1", false},
	} {
		var u siplib.Uri
		if err := siplib.ParseUri(tc.uri, &u); err != nil {
			t.Fatal(err)
		}
		req := siplib.NewRequest(siplib.INVITE, u)
		if got := RequestURIMatches(req, "1001", "c-7f3a"); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.uri, got, tc.want)
		}
	}
}
