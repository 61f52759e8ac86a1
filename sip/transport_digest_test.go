package sip

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"hash"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	siplib "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/openata/ata/internal/kamailiotest"
)

// digestRegistrar is a scripted registrar on UDP, TCP and TLS (sipgo's
// server): each REGISTER is challenged (401, qop=auth, algorithm alg), the
// first correct answer is told its nonce is stale (401 stale=true, a new
// nonce), and the correct answer to that is registered. It checks every
// response itself (RFC 2617 / RFC 8760 arithmetic).
type digestRegistrar struct {
	t      *testing.T
	alg    string // "MD5" or "SHA-256"
	user   string
	pw     string
	udp    net.PacketConn
	tcp    net.Listener
	tls    net.Listener
	mu     sync.Mutex
	nonces int
	stale  map[string]bool // nonces already declared stale
	log    []string        // what each REGISTER carried, in order
	regs   int             // REGISTERs registered
}

func startDigestRegistrar(t *testing.T, alg string, ca *kamailiotest.CA) *digestRegistrar {
	t.Helper()
	d := &digestRegistrar{t: t, alg: alg, user: "alice", pw: "pw", stale: map[string]bool{}}
	ua, err := sipgo.NewUA()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	srv.OnRegister(d.register)
	if d.udp, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if d.tcp, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := ca.Issue(t, t.TempDir(), "sip.test")
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if d.tls, err = tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}); err != nil {
		t.Fatal(err)
	}
	go srv.ServeUDP(d.udp)
	go srv.ServeTCP(d.tcp)
	go srv.ServeTLS(d.tls)
	t.Cleanup(func() { d.udp.Close(); d.tcp.Close(); d.tls.Close(); ua.Close() })
	return d
}

func (d *digestRegistrar) h(s string) string {
	var f hash.Hash = md5.New()
	if d.alg == "SHA-256" {
		f = sha256.New()
	}
	f.Write([]byte(s))
	return hex.EncodeToString(f.Sum(nil))
}

func (d *digestRegistrar) challenge(req *siplib.Request, tx siplib.ServerTransaction, stale bool) {
	d.nonces++
	nonce := fmt.Sprintf("nonce-%d-%d", d.nonces, time.Now().UnixNano())
	res := siplib.NewResponseFromRequest(req, 401, "Unauthorized", nil)
	v := fmt.Sprintf(`Digest realm="sip.test", nonce="%s", qop="auth", algorithm=%s`, nonce, d.alg)
	if stale {
		v += ", stale=true"
	}
	res.AppendHeader(siplib.NewHeader("WWW-Authenticate", v))
	tx.Respond(res)
}

func (d *digestRegistrar) register(req *siplib.Request, tx siplib.ServerTransaction) {
	d.mu.Lock()
	defer d.mu.Unlock()
	h := req.GetHeader("Authorization")
	if h == nil {
		d.log = append(d.log, req.Transport()+" none")
		d.challenge(req, tx, false)
		return
	}
	c, err := digest.ParseCredentials(h.Value())
	if err != nil {
		d.t.Errorf("unparsable Authorization %q: %v", h.Value(), err)
		tx.Respond(siplib.NewResponseFromRequest(req, 400, "Bad Authorization", nil))
		return
	}
	ha1 := d.h(d.user + ":sip.test:" + d.pw)
	ha2 := d.h("REGISTER:" + c.URI)
	want := d.h(fmt.Sprintf("%s:%s:%08x:%s:auth:%s", ha1, c.Nonce, c.Nc, c.Cnonce, ha2))
	ok := c.Username == d.user && c.Response == want && c.QOP == "auth" && strings.EqualFold(c.Algorithm, d.alg)
	d.log = append(d.log, fmt.Sprintf("%s %s ok=%v", req.Transport(), c.Algorithm, ok))
	switch {
	case !ok:
		tx.Respond(siplib.NewResponseFromRequest(req, 403, "Wrong Digest", nil))
	case !d.stale[c.Nonce] && len(d.stale) == 0:
		d.stale[c.Nonce] = true // the first good answer: its nonce has expired
		d.challenge(req, tx, true)
	default:
		d.regs++
		res := siplib.NewResponseFromRequest(req, 200, "OK", nil)
		if ct := req.Contact(); ct != nil {
			ct = ct.Clone()
			ct.Params.Add("expires", "3600")
			res.AppendHeader(ct)
		}
		tx.Respond(res)
	}
}

func (d *digestRegistrar) addr(transport string) string {
	switch transport {
	case "tcp":
		return d.tcp.Addr().String()
	case "tls":
		return "sip.test:" + fmt.Sprint(d.tls.Addr().(*net.TCPAddr).Port)
	}
	return d.udp.LocalAddr().String()
}

// Digest with MD5 and SHA-256 (RFC 8760), qop=auth, and a stale nonce
// answered again without counting as a failure, over UDP, TCP and TLS.
func TestDigestOverEveryTransport(t *testing.T) {
	ca := kamailiotest.NewCA(t, "digest test CA")
	for _, alg := range []string{"MD5", "SHA-256"} {
		for _, tr := range []string{"udp", "tcp", "tls"} {
			t.Run(alg+"/"+tr, func(t *testing.T) {
				reg := startDigestRegistrar(t, alg, ca)
				st := tlsStack(t, ca.CAFile())
				acct := Account{Number: "1001", ServiceDomain: "sip.test", AuthUser: "alice", Password: "pw",
					Registrar: reg.addr(tr), Transport: tr, RegisterExpires: time.Hour}
				r, _ := runLine(t, st, acct, RegOptions{Timeout: 3 * time.Second, Resolver: testHosts})
				waitState(t, r, StateRegistered, 5*time.Second)
				reg.mu.Lock()
				defer reg.mu.Unlock()
				up := strings.ToUpper(tr)
				want := []string{up + " none", up + " " + alg + " ok=true", up + " " + alg + " ok=true"}
				if strings.Join(reg.log, "|") != strings.Join(want, "|") || reg.regs != 1 {
					t.Fatalf("REGISTERs carried %q (registered %d), want %q: challenge, stale, registered", reg.log, reg.regs, want)
				}
				if c := r.Counters(); c.Registers != 3 {
					t.Errorf("%d REGISTERs counted, want 3", c.Registers)
				}
			})
		}
	}
}
