package registrar

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/openata/ata/sip/registrar/registrartest"
)

// FuzzRequest feeds arbitrary bytes, parsed as a SIP message, through
// the registrar's request handling (REGISTER, OPTIONS and the router's
// Authenticate path): it must never panic, and nothing but a verified
// REGISTER may create a binding.
func FuzzRequest(f *testing.F) {
	// A clock that stands still keeps the seeds' nonce fresh however long
	// the fuzzer runs.
	r, err := New(Options{Listen: "127.0.0.1:0", Logger: quiet, Clock: registrartest.NewClock(),
		Users: []User{{Name: "alice", Password: "secret"}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { r.Close() })

	head := "REGISTER sip:127.0.0.1:5062 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1;rport\r\n" +
		"From: <sip:alice@127.0.0.1>;tag=1\r\nTo: <sip:alice@127.0.0.1>\r\n" +
		"Call-ID: c1\r\nCSeq: 2 REGISTER\r\nMax-Forwards: 70\r\n"
	// A valid answer to one of the registrar's nonces, for the fuzzer to
	// bend.
	chal := &digest.Challenge{Realm: DefaultRealm, Nonce: r.digest.nonce(), Algorithm: "SHA-256", QOP: []string{"auth"}}
	cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:127.0.0.1:5062",
		Username: "alice", Password: "secret", Count: 1, Cnonce: "0a4f113b"})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		head + "Contact: <sip:alice@127.0.0.1:5070>\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n",
		head + "Contact: <sip:alice@127.0.0.1:5070>;expires=30;q=0.7, <sip:alice@10.0.0.1>;+sip.instance=\"<urn:uuid:1>\";reg-id=1\r\n" +
			"Authorization: " + cred.String() + "\r\nContent-Length: 0\r\n\r\n",
		head + "Contact: *\r\nExpires: 0\r\nAuthorization: " + cred.String() + "\r\nContent-Length: 0\r\n\r\n",
		head + "Authorization: Digest username=\"alice\", realm=\"openata\", nonce=\"x\", nc=zz\r\nContent-Length: 0\r\n\r\n",
		strings.Replace(head, "REGISTER", "OPTIONS", 2) + "Content-Length: 0\r\n\r\n",
		strings.Replace(head, "REGISTER", "INVITE", 2) + "Authorization: " + cred.String() + "\r\nContent-Length: 0\r\n\r\n",
		"SIP/2.0 200 OK\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	src := netip.MustParseAddrPort("127.0.0.1:5070")
	f.Fuzz(func(t *testing.T, data []byte) {
		// Forget the nonce counts, so that inputs carrying the seeds'
		// valid credentials get past authentication into the binding code.
		r.digest.mu.Lock()
		clear(r.digest.ncs)
		r.digest.mu.Unlock()
		msg, err := sip.ParseMessage(data)
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		var res *sip.Response
		switch req.Method {
		case sip.REGISTER:
			res = r.register(req, src, "UDP")
		case sip.OPTIONS:
			res = r.optionsResponse(req)
		default:
			if v := r.Check(req); v.Result != AuthOK {
				res = r.Challenge(req, v.Result == AuthStale)
			}
		}
		if res != nil {
			_ = res.String()
		}
		// Only REGISTERs answered 200 may leave bindings, and only alice's.
		for _, u := range r.Users() {
			for _, b := range u.Bindings {
				if b.Expires.Sub(b.Registered) > r.opts.MaxExpires {
					t.Fatalf("binding beyond MaxExpires: %+v", b)
				}
			}
		}
		r.mu.Lock()
		for name := range r.bindings {
			if name != "alice" {
				t.Fatalf("binding for %q", name)
			}
		}
		r.mu.Unlock()
	})
}
