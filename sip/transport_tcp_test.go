package sip

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	siplib "github.com/emiago/sipgo/sip"

	"github.com/openata/ata/call"
	"github.com/openata/ata/internal/baresiptest"
	"github.com/openata/ata/internal/kamailiotest"
)

// A TCP line registers over one connection to Kamailio's TCP listener
// (Contact ;transport=tcp at our end of it), keeps it alive with CRLF
// pings Kamailio answers, and, when Kamailio restarts and the connection
// goes, connects and registers again by itself. Its SIP is in clear on
// the wire (the check TestTLSCallsBaresipBothWays makes for TLS finds it).
func TestTCPLineRegistersKeepsAliveAndReconnects(t *testing.T) {
	t.Parallel()
	k := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"alice": "pw"}, TCP: true})
	stopCapture := capture(t, fmt.Sprintf("tcp port %d", k.TCPAddr().Port()))
	cfg := testStackConfig()
	cfg.Listen, cfg.KeepAlive = "127.0.0.1:0", 500*time.Millisecond
	st, err := NewStack(cfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	acct := Account{Number: "1001", ServiceDomain: k.Addr().Addr().String(), AuthUser: "alice", Password: "pw",
		Registrar: k.TCPAddr().String(), Transport: "tcp", RegisterExpires: time.Hour}
	r, stop := runLine(t, st, acct, RegOptions{Timeout: 3 * time.Second})
	waitState(t, r, StateRegistered, 10*time.Second)
	fi := r.Flow()
	contacts, err := k.Contacts("1001")
	want := "sip:1001@" + fi.Local.String() + ";transport=tcp"
	if err != nil || len(contacts) != 1 || !strings.HasPrefix(contacts[0], want) {
		t.Fatalf("location table has %v (%v), want %s", contacts, err, want)
	}
	if fi.Transport != "tcp" || fi.Remote != k.TCPAddr() || !fi.Connected {
		t.Fatalf("flow %+v", fi)
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.Status().LastKeepAliveAnswer.IsZero() {
		if time.Now().After(deadline) {
			t.Fatal("no CRLF keep-alive answered over the TCP connection within 5 s")
		}
		time.Sleep(50 * time.Millisecond)
	}

	k.Stop() // the connection closes; the location table is lost
	k.Start()
	deadline = time.Now().Add(15 * time.Second)
	for {
		c, _ := k.Contacts("1001")
		if len(c) == 1 && r.Status().State == StateRegistered {
			if nf := r.Flow(); nf.Local == fi.Local || !nf.Connected {
				t.Fatalf("registered again on flow %+v, want a new connection (old %s)", nf, fi.Local)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not registered again within 15 s after Kamailio's restart: %+v, contacts %v", r.Status(), c)
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	if r.pongCap != pongYes { // read after Run returned
		t.Error("no CRLF pong came back over the TCP connection (the keep-alives were answered by OPTIONS only)")
	}
	pcap := stopCapture()
	if n := tsharkCount(t, pcap, clearSIP, 0); n == 0 {
		t.Error("no SIP in clear on the TCP port: the capture check cannot see SIP")
	}
}

// A UDP line's INVITE over 1300 bytes goes over TCP to a provider that
// listens on TCP on its port (RFC 3261 §18.1.1); the call to baresip
// behind it is answered, acknowledged and ended, and the ATA's UDP socket
// sends no INVITE at all.
func TestLargeInviteMovesToTCP(t *testing.T) {
	t.Parallel()
	k := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"alice": "pw", "bob": "pb"}, TCP: true})
	stopCapture := capture(t, fmt.Sprintf("port %d", k.Addr().Port()))
	far := baresiptest.Start(t, baresiptest.Opts{User: "bob", Password: "pb", Registrar: k.Addr().String(),
		Incoming: baresiptest.AutoAnswer})
	st := newTestStack(t, "127.0.0.1:0", true)
	acct := Account{Number: "1001", ServiceDomain: k.Addr().String(), AuthUser: "alice", Password: "pw",
		Registrar: k.Addr().String(), RegisterExpires: time.Hour, Codecs: []string{"PCMU"}, DisplayName: longName}
	l, err := NewLine(st, acct, LineOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := l.DialCall(t.Context(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, call.Answered)
	far.WaitEvent(baresiptest.Established, 5*time.Second)
	c.Hangup(call.Normal)
	far.WaitEvent(baresiptest.Closed, 5*time.Second)
	time.Sleep(300 * time.Millisecond)
	pcap := stopCapture()
	tcpInvites := tsharkCount(t, pcap, `tcp && frame contains "INVITE sip:bob"`, 0)
	udpInvites := tsharkCount(t, pcap, `udp.srcport == `+strconv.Itoa(int(st.LocalAddr().Port()))+` && frame contains "INVITE sip:bob"`, 0)
	tcpBye := tsharkCount(t, pcap, `tcp && frame contains "BYE sip:"`, 0)
	t.Logf("INVITEs over TCP %d, over UDP from the ATA %d; BYEs over TCP %d", tcpInvites, udpInvites, tcpBye)
	if tcpInvites == 0 || udpInvites != 0 {
		t.Errorf("the large INVITE went %d times over TCP, %d over UDP; want TCP only", tcpInvites, udpInvites)
	}
}

// Without TCP at the peer, a request over 1300 bytes goes as one large
// UDP datagram (sipgo refused to write it): the INVITE, the INVITE
// answering a challenge and its ACK all arrive.
func TestLargeUDPRequestsWithoutTCP(t *testing.T) {
	p := newPeer(t) // UDP only: its TCP port refuses
	l := testLine(t, p, func(a *Account) { a.AuthUser, a.Password, a.DisplayName = "alice", "pw", longName })
	c, err := l.DialCall(context.Background(), "2000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Hangup(call.Normal) })
	inv := p.request(siplib.INVITE)
	if n := len(inv.String()); n <= 1300 {
		t.Fatalf("INVITE of %d bytes: the test wants one over 1300", n)
	}
	p.reply(inv, 407, "", nil, siplib.NewHeader("Proxy-Authenticate", `Digest realm="voip.test", nonce="n1", algorithm=MD5, qop="auth"`))
	p.request(siplib.ACK) // the 407's
	inv2 := p.request(siplib.INVITE)
	if inv2.GetHeader("Proxy-Authorization") == nil {
		t.Fatal("the second INVITE does not answer the challenge")
	}
	tag := siplib.GenerateTagN(8)
	p.reply(inv2, 200, tag, p.sdp("", ""))
	ack := p.request(siplib.ACK)
	t.Logf("INVITE %d bytes, challenged INVITE %d, ACK %d, all over UDP", len(inv.String()), len(inv2.String()), len(ack.String()))
	waitEvent(t, c, call.Answered)
}

// longName makes our requests over 1300 bytes (its From), as a
// provider's long route set or a PBX's headers would.
var longName = strings.Repeat("Padding ", 170)
