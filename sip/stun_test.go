package sip

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	siplib "github.com/emiago/sipgo/sip"
	"github.com/pion/stun/v3"

	"github.com/openata/ata/internal/stuntest"
)

var natPublic = netip.MustParseAddr("198.51.100.77")

func stunStack(t *testing.T, server string) *Stack {
	t.Helper()
	cfg := testStackConfig()
	cfg.Listen, cfg.AcceptProxyOnly, cfg.KeepAlive, cfg.STUNServer = "127.0.0.1:0", false, 0, server
	st, err := NewStack(cfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func bindingSuccess(t testing.TB, mapped netip.AddrPort) []byte {
	m, err := stun.Build(stun.TransactionID, stun.BindingSuccess,
		&stun.XORMappedAddress{IP: mapped.Addr().AsSlice(), Port: int(mapped.Port())}, stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

// What the SIP socket's read filter takes for STUN: binding messages, not
// SIP requests, responses or keep-alives, nor a message without the magic
// cookie.
func TestSTUNMessagesAreNotSIP(t *testing.T) {
	req, err := stunRequest()
	if err != nil {
		t.Fatal(err)
	}
	noCookie := append([]byte(nil), req.Raw...)
	noCookie[5] ^= 0xff
	for _, tc := range []struct {
		name string
		b    []byte
		stun bool
	}{
		{"binding request", req.Raw, true},
		{"binding success", bindingSuccess(t, netip.MustParseAddrPort("198.51.100.77:4000")), true},
		{"REGISTER", []byte("REGISTER sip:voip.test SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2:5060\r\n\r\n"), false},
		{"response", []byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.2:5060\r\n\r\n"), false},
		{"CRLF keep-alive", []byte("\r\n\r\n"), false},
		{"no magic cookie", noCookie, false},
		{"CRLFs the size of a header", bytes.Repeat([]byte("\r\n"), 20), false},
	} {
		if got := isSTUN(tc.b); got != tc.stun {
			t.Errorf("%s: isSTUN %v, want %v", tc.name, got, tc.stun)
		}
	}
}

// The stack asks from its SIP socket itself (the server sees the SIP
// port), learns the NAT's mapping, and SIP on the same socket goes on:
// an OPTIONS is answered while stray STUN messages arrive, which never
// reach the SIP parser (nothing answers them).
func TestSTUNPublicAddressOfTheSIPSocket(t *testing.T) {
	srv := stuntest.Start(t, stuntest.FakeNAT(natPublic))
	st := stunStack(t, srv.Addr().String())
	pub, ok := st.stunPublic()
	want := netip.AddrPortFrom(natPublic, stuntest.NATPort(st.LocalAddr().Port()))
	if !ok || pub != want {
		t.Fatalf("public address %v (%v), want %v", pub, ok, want)
	}
	if seen := srv.Seen(); len(seen) == 0 || seen[0] != st.LocalAddr() {
		t.Fatalf("the STUN server saw requests from %v, want the SIP socket %v", seen, st.LocalAddr())
	}

	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.WriteToUDPAddrPort(bindingSuccess(t, netip.MustParseAddrPort("192.0.2.1:1")), st.LocalAddr())
	la := c.LocalAddr().String()
	c.WriteToUDPAddrPort([]byte("OPTIONS sip:"+st.LocalAddr().String()+" SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP "+la+";branch=z9hG4bK-stun1\r\nFrom: <sip:t@"+la+">;tag=1\r\nTo: <sip:"+st.LocalAddr().String()+">\r\n"+
		"Call-ID: stun-options-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"), st.LocalAddr())
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 4096)
	n, _, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("no answer to OPTIONS after a stray STUN message: %v", err)
	}
	if !bytes.HasPrefix(buf[:n], []byte("SIP/2.0 200 ")) {
		t.Fatalf("the first datagram back is not the OPTIONS' 200: %q", buf[:min(n, 80)])
	}
	if got, _ := st.stunPublic(); got != want {
		t.Fatalf("a stray STUN answer changed the public address to %v", got)
	}
}

// A call's RTP socket learns its own mapping from the socket itself.
func TestSTUNBindOnRTPSocket(t *testing.T) {
	srv := stuntest.Start(t, stuntest.FakeNAT(natPublic))
	st := stunStack(t, srv.Addr().String())
	if _, ok := st.stunPublic(); !ok {
		t.Fatal("no public address")
	}
	rtp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rtp.Close()
	port := rtp.LocalAddr().(*net.UDPAddr).Port
	got, err := st.stun.bindOn(rtp, stunRTPBudget)
	if want := netip.AddrPortFrom(natPublic, stuntest.NATPort(uint16(port))); err != nil || got != want {
		t.Fatalf("RTP mapping %v (%v), want %v", got, err, want)
	}
	// The socket reads normally afterwards (no deadline left behind).
	rtp.WriteToUDPAddrPort([]byte("x"), rtp.LocalAddr().(*net.UDPAddr).AddrPort())
	time.Sleep(10 * time.Millisecond)
	if _, _, err := rtp.ReadFromUDPAddrPort(make([]byte, 10)); err != nil {
		t.Fatalf("read after STUN: %v", err)
	}
}

// A server that never answers: no public address after the tries, and a
// call's RTP wait is bounded.
func TestSTUNServerSilent(t *testing.T) {
	silent, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	st := stunStack(t, silent.LocalAddr().String())
	t0 := time.Now()
	if pub, ok := st.stunPublic(); ok {
		t.Fatalf("public address %v from a silent server", pub)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Fatalf("waited %v for a silent server", d)
	}
	rtp, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer rtp.Close()
	t0 = time.Now()
	if _, err := st.stun.bindOn(rtp, stunRTPBudget); err == nil {
		t.Fatal("an RTP mapping from a silent server")
	}
	if d := time.Since(t0); d > stunRTPBudget+200*time.Millisecond {
		t.Fatalf("the RTP socket's STUN took %v, budget %v", d, stunRTPBudget)
	}
}

// A registrar that does not fix NATs with rport (no received/rport in its
// Via): the REGISTER's Contact carries STUN's mapping from the first
// REGISTER on, and so do the line's calls (PublicAddr).
func TestSTUNContactWhenRegistrarIgnoresRport(t *testing.T) {
	srv := stuntest.Start(t, stuntest.FakeNAT(natPublic))
	f := startReg(t, func(req *siplib.Request) *siplib.Response {
		res := grant(120)(req)
		res.Via().Params.Remove("received")
		res.Via().Params.Remove("rport")
		return res
	}, func(c *StackConfig, _ *Account, _ *RegOptions) { c.STUNServer = srv.Addr().String() })
	want := fmt.Sprintf("198.51.100.77:%d", stuntest.NATPort(f.st.LocalAddr().Port()))
	if got := contactOf(f.reg.next(t)); got != "<sip:1001@"+want+">" {
		t.Fatalf("first Contact %s, want <sip:1001@%s>", got, want)
	}
	waitState(t, f.r, StateRegistered, 5*time.Second)
	if got := f.r.PublicAddr().String(); got != want {
		t.Fatalf("calls' Contact address %s, want %s", got, want)
	}
}

// A registrar that reports received/rport other than STUN's mapping (a
// symmetric NAT maps each destination apart): its own view wins for the
// Contact, as without STUN.
func TestSTUNRegistrarRportWins(t *testing.T) {
	srv := stuntest.Start(t, stuntest.FakeNAT(natPublic))
	f := startReg(t, func(req *siplib.Request) *siplib.Response {
		res := grant(120)(req)
		via := res.Via()
		via.Params.Remove("received")
		via.Params.Remove("rport")
		via.Params.Add("received", "203.0.113.7")
		via.Params.Add("rport", "40123")
		return res
	}, func(c *StackConfig, _ *Account, _ *RegOptions) { c.STUNServer = srv.Addr().String() })
	f.reg.next(t)
	if got := contactOf(f.reg.next(t)); !strings.HasPrefix(got, "<sip:1001@203.0.113.7:40123>") {
		t.Fatalf("Contact after the registrar's received/rport %s, want 203.0.113.7:40123 first", got)
	}
	waitState(t, f.r, StateRegistered, 5*time.Second)
	if got := f.r.PublicAddr().String(); got != "203.0.113.7:40123" {
		t.Fatalf("calls' Contact address %s", got)
	}
}

// FuzzSTUNOnSIPSocket: whatever arrives on the SIP socket, the STUN check
// and decoding never panic, SIP text is never taken for STUN, and a
// decoded mapping is a usable address.
func FuzzSTUNOnSIPSocket(f *testing.F) {
	req, _ := stunRequest()
	f.Add(req.Raw)
	f.Add(bindingSuccess(f, netip.MustParseAddrPort("198.51.100.77:4000")))
	f.Add(bindingSuccess(f, netip.MustParseAddrPort("[2001:db8::1]:5060")))
	f.Add([]byte("INVITE sip:1001@10.0.0.2 SIP/2.0\r\n\r\n"))
	f.Add([]byte("\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !isSTUN(b) {
			return
		}
		if b[0] >= 'A' { // SIP starts with a method or "SIP/2.0"
			t.Fatalf("%q taken for STUN", b)
		}
		if _, mapped, err := stunMapped(b); err == nil && (!mapped.IsValid() || mapped.Port() == 0) {
			t.Fatalf("mapped address %v from %x", mapped, b)
		}
	})
}

// An incoming call answered behind the NAT: the 200 OK's SDP names the
// answering call's RTP socket as STUN maps it.
func TestSTUNInTheAnswer(t *testing.T) {
	srv := stuntest.Start(t, stuntest.FakeNAT(natPublic))
	st := stunStack(t, srv.Addr().String())
	p := newPeer(t)
	l, err := NewLine(st, Account{Number: "1001", ServiceDomain: "voip.test", Registrar: p.addr(), Codecs: []string{"PCMU"}},
		LineOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	p.ata = st.LocalAddr()
	_, ok := incomingAnswer(t, p, l)
	body := string(ok.Body())
	if !strings.Contains(body, "c=IN IP4 198.51.100.77\r\n") {
		t.Fatalf("answer's SDP without STUN's address:\n%s", body)
	}
	var rtp uint16
	for _, s := range srv.Seen() {
		if s.Port() != st.LocalAddr().Port() {
			rtp = s.Port()
		}
	}
	if want := fmt.Sprintf("m=audio %d ", stuntest.NATPort(rtp)); rtp == 0 || !strings.Contains(body, want) {
		t.Fatalf("answer's SDP without %q (STUN saw %v):\n%s", want, srv.Seen(), body)
	}
}
