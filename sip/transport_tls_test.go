package sip

import (
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/internal/kamailiotest"
)

// hostsDNS resolves the test's host names to 127.0.0.1 (no SRV records).
type hostsDNS map[string]string

func (d hostsDNS) LookupSRV(context.Context, string, string, string) (string, []*net.SRV, error) {
	return "", nil, &net.DNSError{Err: "no SRV", IsNotFound: true}
}

func (d hostsDNS) LookupHost(_ context.Context, host string) ([]string, error) {
	if a, ok := d[host]; ok {
		return []string{a}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

var testHosts = hostsDNS{"sip.test": "127.0.0.1", "wrong.test": "127.0.0.1"}

// tlsStack is a stack trusting caFile for TLS.
func tlsStack(t *testing.T, caFile string) *Stack {
	t.Helper()
	cfg := testStackConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.AcceptProxyOnly = true
	cfg.KeepAlive = 0
	cfg.TLSCAFile = caFile
	st, err := NewStack(cfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func tlsAccount(host string, k *kamailiotest.Server) Account {
	return Account{Number: "1001", ServiceDomain: "sip.test", AuthUser: "alice", Password: "pw",
		Registrar: host + ":" + strconv.Itoa(int(k.TLSAddr().Port())), Transport: "tls", RegisterExpires: time.Hour}
}

// A TLS line registers over one TLS connection to Kamailio's TLS
// listener, its certificate checked against [sip] tls_ca_file: the
// location table holds a sips: Contact at our end of the connection, and
// the status names TLS, its version and the provider's subject.
func TestTLSRegistersWithKamailio(t *testing.T) {
	t.Parallel()
	k := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"alice": "pw"}, TLS: true})
	st := tlsStack(t, k.CA().CAFile())
	r, stop := runLine(t, st, tlsAccount("sip.test", k), RegOptions{Timeout: 3 * time.Second, Resolver: testHosts})
	s := waitState(t, r, StateRegistered, 10*time.Second)
	fi := r.Flow()
	t.Logf("status %+v flow %+v", s, fi)
	if fi.Transport != "tls" || !fi.Connected || fi.Remote != k.TLSAddr() || !strings.HasPrefix(fi.TLSVersion, "TLS 1.") ||
		!strings.Contains(fi.PeerSubject, "CN=sip.test") || !fi.Verify {
		t.Fatalf("flow %+v: want a verified TLS connection to %s with the server's subject", fi, k.TLSAddr())
	}
	contacts, err := k.Contacts("1001")
	if err != nil {
		t.Fatal(err)
	}
	want := "sips:1001@" + fi.Local.String()
	if len(contacts) != 1 || !strings.HasPrefix(contacts[0], want) {
		t.Fatalf("location table has %v, want %s (our end of the TLS connection)", contacts, want)
	}
	stop() // unregisters over the connection, then closes it
	if c, err := k.Contacts("1001"); err != nil || len(c) != 0 {
		t.Fatalf("after stopping, the location table has %v (%v), want none", c, err)
	}
	if fi := r.Flow(); fi.Connected {
		t.Fatalf("flow %+v still connected after the line stopped", fi)
	}
}

// A certificate from a CA we do not trust, and one for another host name,
// each fail the registration with an error naming the problem.
func TestTLSRefusesWrongCAAndWrongHost(t *testing.T) {
	t.Parallel()
	k := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"alice": "pw"}, TLS: true})
	for _, tc := range []struct {
		name, host, want string
		ca               string
	}{
		{"wrong CA", "sip.test", "certificate signed by unknown authority", kamailiotest.NewCA(t, "another CA").CAFile()},
		{"wrong host", "wrong.test", "certificate is valid for sip.test, not wrong.test", k.CA().CAFile()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tlsStack(t, tc.ca)
			r, _ := runLine(t, st, tlsAccount(tc.host, k), RegOptions{Timeout: 3 * time.Second, Resolver: testHosts})
			s := waitState(t, r, StateFailing, 10*time.Second)
			if !strings.Contains(s.LastError, tc.want) {
				t.Fatalf("last error %q, want it to say %q", s.LastError, tc.want)
			}
			if c, _ := k.Contacts("1001"); len(c) != 0 {
				t.Fatalf("registered %v despite the bad certificate", c)
			}
		})
	}
}

// srvDNS answers _sips._tcp for the domains listed.
type srvDNS struct {
	hostsDNS
	sips map[string]string // domain -> SRV target
}

func (d srvDNS) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	if t, ok := d.sips[name]; ok && service == "sips" && proto == "tcp" {
		return "", []*net.SRV{{Target: t, Port: 5061, Priority: 1, Weight: 1}}, nil
	}
	return d.hostsDNS.LookupSRV(context.Background(), service, proto, name)
}

// A line that names only a domain takes TLS where the domain publishes
// _sips._tcp SRV records (RFC 3263), and finds the server there; an IP
// address, a port, or a domain without them stays on UDP.
func TestAutoTransportFromSRV(t *testing.T) {
	dns := srvDNS{hostsDNS: hostsDNS{"edge.sip.test": "127.0.0.1", "plain.test": "127.0.0.2"}, sips: map[string]string{"sip.test": "edge.sip.test"}}
	for hp, want := range map[string]string{"sip.test": "tls", "sip.test:5060": "udp", "plain.test": "udp", "127.0.0.1": "udp"} {
		if got := AutoTransport(t.Context(), dns, hp); got != want {
			t.Errorf("AutoTransport(%s) = %s, want %s", hp, got, want)
		}
	}
	addrs, err := resolveFor(t.Context(), dns, "sip.test", "tls")
	if err != nil || len(addrs) != 1 || addrs[0].String() != "127.0.0.1:5061" {
		t.Fatalf("sip.test over TLS resolves to %v (%v), want the SRV target 127.0.0.1:5061", addrs, err)
	}
	if addrs, err := resolveFor(t.Context(), dns, "plain.test", "tls"); err != nil || addrs[0].String() != "127.0.0.2:5061" {
		t.Fatalf("plain.test over TLS resolves to %v (%v), want its address on 5061", addrs, err)
	}
}

// A CA file that cannot be read, or holds no certificate, is an error
// naming the key, and a TLS line says so in its status.
func TestBadCAFileNamesTheKey(t *testing.T) {
	bad := t.TempDir() + "/ca.pem"
	os.WriteFile(bad, []byte("not a certificate"), 0o644)
	for _, path := range []string{bad, t.TempDir() + "/missing.pem"} {
		if _, err := LoadCAFile(path); err == nil || !strings.Contains(err.Error(), "[sip] tls_ca_file") {
			t.Errorf("LoadCAFile(%s) = %v, want an error naming [sip] tls_ca_file", path, err)
		}
	}
	k := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"alice": "pw"}, TLS: true})
	st := tlsStack(t, bad)
	r, _ := runLine(t, st, tlsAccount("sip.test", k), RegOptions{Timeout: 3 * time.Second, Resolver: testHosts})
	if s := waitState(t, r, StateFailing, 10*time.Second); !strings.Contains(s.LastError, "[sip] tls_ca_file") {
		t.Fatalf("last error %q, want it to name [sip] tls_ca_file", s.LastError)
	}
}

// A server that offers only TLS 1.1 (or older) is refused: TLS 1.2 and
// 1.3 only.
func TestTLSRefusesOldVersions(t *testing.T) {
	ca := kamailiotest.NewCA(t, "old TLS CA")
	certFile, keyFile := ca.Issue(t, t.TempDir(), "sip.test")
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert},
		MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	st := tlsStack(t, ca.CAFile())
	remote := netip.MustParseAddrPort(ln.Addr().String())
	_, err = st.dialFlow(t.Context(), TransportTLS, remote, tlsSettings{serverName: "sip.test", verify: true})
	if err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Fatalf("dial of a TLS 1.1 server: %v, want a protocol version error", err)
	}
	t.Log(err)
}

// tls_verify = false: a certificate from a CA nobody trusts is taken, and
// the flow says it was not verified (the status page warns).
func TestTLSVerifyOffTakesAnyCertificate(t *testing.T) {
	t.Parallel()
	k := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"alice": "pw"}, TLS: true})
	st := tlsStack(t, "") // the system's roots only: the test CA is unknown
	acct := tlsAccount("sip.test", k)
	acct.TLSNoVerify = true
	r, _ := runLine(t, st, acct, RegOptions{Timeout: 3 * time.Second, Resolver: testHosts})
	waitState(t, r, StateRegistered, 10*time.Second)
	if fi := r.Flow(); fi.Verify || !fi.Connected || fi.TLSVersion == "" {
		t.Fatalf("flow %+v: want a connected TLS flow marked unverified", fi)
	}
}

// Two TLS lines to one address share its connection only when they check
// it alike: a line that verifies never rides on one that was not checked.
func TestTLSSharedConnectionNeedsSameChecks(t *testing.T) {
	t.Parallel()
	k := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"alice": "pw"}, TLS: true})
	st := tlsStack(t, k.CA().CAFile())
	off := tlsSettings{serverName: "sip.test", verify: false}
	f, err := st.connectFlow(t.Context(), TransportTLS, k.TLSAddr(), off, true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.releaseFlow(f)
	if g, err := st.connectFlow(t.Context(), TransportTLS, k.TLSAddr(), off, true); err != nil || g != f {
		t.Fatalf("same checks: %v, %v; want the shared connection", g, err)
	} else {
		st.releaseFlow(g)
	}
	_, err = st.connectFlow(t.Context(), TransportTLS, k.TLSAddr(), tlsSettings{serverName: "sip.test", verify: true}, true)
	if err == nil || !strings.Contains(err.Error(), "other certificate checks") {
		t.Fatalf("a verifying line on an unverified connection: %v, want refused", err)
	}
}
