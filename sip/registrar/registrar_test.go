package registrar

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/openata/ata/sip/registrar/registrartest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// start runs a registrar on loopback with user alice (password "secret")
// and bob, a fake clock and no keep-alives unless opts says otherwise
// (KeepAlive 0 is off).
func start(t *testing.T, opts Options) (*Registrar, *registrartest.Clock) {
	t.Helper()
	clock := registrartest.NewClock()
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	if opts.Users == nil {
		opts.Users = []User{{Name: "alice", Password: "secret", DisplayName: "Alice", External: true},
			{Name: "bob", Password: "bobpass"}}
	}
	if opts.Clock == nil {
		opts.Clock = clock
	}
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	r, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r, clock
}

// want checks the (response, error) of a request: answered with code.
func want(t *testing.T, code int, what string) func(*sip.Response, error) *sip.Response {
	t.Helper()
	return func(res *sip.Response, err error) *sip.Response {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if res.StatusCode != code {
			t.Fatalf("%s: %d %s, want %d", what, res.StatusCode, res.Reason, code)
		}
		return res
	}
}

// contactExpires maps each Contact URI of a 200 to its expires.
func contactExpires(t *testing.T, res *sip.Response) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, h := range res.GetHeaders("Contact") {
		ch := h.(*sip.ContactHeader)
		s, _ := ch.Params.Get("expires")
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("Contact %q: expires %q", ch.Value(), s)
		}
		out[ch.Address.String()] = n
	}
	return out
}

func TestRegisterWithDigest(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"SHA-256", "MD5"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			r, clock := start(t, Options{})
			p := registrartest.NewPhone(t, r.LocalAddr(), "alice", "secret")
			p.Algorithm = alg

			res := want(t, 401, "unauthenticated REGISTER")(p.Do(registrartest.Req{Expires: "600"}))
			chals := res.GetHeaders("WWW-Authenticate")
			if len(chals) != 2 {
				t.Fatalf("%d challenges, want SHA-256 and MD5", len(chals))
			}
			for i, want := range []string{"SHA-256", "MD5"} {
				c, err := digest.ParseChallenge(chals[i].Value())
				if err != nil || c.Algorithm != want || !c.SupportsQOP("auth") || c.Realm != DefaultRealm || c.Stale {
					t.Errorf("challenge %d %q (%v), want algorithm %s, qop auth, realm %s", i, chals[i].Value(), err, want, DefaultRealm)
				}
			}
			if got := r.Lookup("alice"); len(got) != 0 {
				t.Fatalf("bindings before authentication: %+v", got)
			}
			auth, err := p.Answer(res, sip.REGISTER)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(auth, "algorithm="+alg) {
				t.Fatalf("answered %q, want algorithm %s", auth, alg)
			}
			ok := want(t, 200, "authenticated REGISTER")(p.Do(registrartest.Req{Expires: "600", Auth: auth}))
			if got := contactExpires(t, ok); got[p.Contact()] != 600 || len(got) != 1 {
				t.Errorf("200 lists %v, want %s expires 600", got, p.Contact())
			}
			b := r.Lookup("alice")
			if len(b) != 1 {
				t.Fatalf("Lookup: %+v, want one binding", b)
			}
			want := Binding{AOR: "sip:alice@" + r.LocalAddr().String(), Contact: p.Contact(), Source: p.Addr(),
				Transport: "UDP", Expires: clock.Now().Add(600 * time.Second), Q: 1, UserAgent: "registrartest",
				Registered: clock.Now()}
			got := b[0]
			got.callID, got.cseq, got.keyStr = "", 0, ""
			if got != want {
				t.Errorf("binding\n %+v\nwant\n %+v", got, want)
			}
			if s := r.Stats(); s.Registrations != 1 || s.AuthFailures != 0 || s.Bindings != 1 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

func TestStoredHA1(t *testing.T) {
	t.Parallel()
	md5hex, shahex := HA1("carol", DefaultRealm, "c4rol")
	r, _ := start(t, Options{Users: []User{
		{Name: "carol", HA1: md5hex, HA1SHA256: strings.ToUpper(shahex)},
		{Name: "dave", HA1: func() string { m, _ := HA1("dave", DefaultRealm, "d4ve"); return m }()},
	}})
	for _, alg := range []string{"SHA-256", "MD5"} {
		p := registrartest.NewPhone(t, r.LocalAddr(), "carol", "c4rol")
		p.Algorithm = alg
		want(t, 200, "carol "+alg)(p.Register(registrartest.Req{}))
	}
	// dave has only the MD5 HA1: a SHA-256 answer cannot verify.
	d := registrartest.NewPhone(t, r.LocalAddr(), "dave", "d4ve")
	d.Algorithm = "MD5"
	want(t, 200, "dave MD5")(d.Register(registrartest.Req{}))
	d.Algorithm = "SHA-256"
	want(t, 401, "dave SHA-256")(d.Register(registrartest.Req{}))
}

func TestWrongPasswordNeverRegistersAndBlocksTheSource(t *testing.T) {
	t.Parallel()
	r, clock := start(t, Options{})
	bad := registrartest.NewPhone(t, r.LocalAddr(), "alice", "guess")
	for i := 1; i < DefaultFailLimit; i++ {
		res := want(t, 401, "wrong password "+strconv.Itoa(i))(bad.Register(registrartest.Req{}))
		if len(res.GetHeaders("WWW-Authenticate")) != 2 {
			t.Fatalf("failure %d: no fresh challenge", i)
		}
	}
	// An unknown user is answered exactly like a wrong password.
	ghost := registrartest.NewPhone(t, r.LocalAddr(), "mallory", "guess")
	res := want(t, 401, "unknown user")(ghost.Register(registrartest.Req{}))
	if len(res.GetHeaders("WWW-Authenticate")) != 2 || res.Reason != "Unauthorized" {
		t.Fatalf("unknown user answered %d %s with %d challenges", res.StatusCode, res.Reason, len(res.GetHeaders("WWW-Authenticate")))
	}
	if b := r.Lookup("alice"); len(b) != 0 {
		t.Fatalf("wrong password registered: %+v", b)
	}
	s := r.Stats()
	if s.AuthFailures != DefaultFailLimit || s.BlockedSources != 1 {
		t.Fatalf("after %d failures: %+v, want the source blocked", DefaultFailLimit, s)
	}
	// Blocked: even the right password, even OPTIONS, get no answer.
	good := registrartest.NewPhone(t, r.LocalAddr(), "alice", "secret")
	good.Timeout = 300 * time.Millisecond
	if res, err := good.Do(registrartest.Req{}); !errors.Is(err, registrartest.ErrNoAnswer) {
		t.Fatalf("blocked source got %v %v", res, err)
	}
	if res, err := good.Do(registrartest.Req{Method: sip.OPTIONS}); !errors.Is(err, registrartest.ErrNoAnswer) {
		t.Fatalf("blocked source's OPTIONS got %v %v", res, err)
	}
	clock.Advance(DefaultBlockFor - time.Second)
	if _, err := good.Do(registrartest.Req{}); !errors.Is(err, registrartest.ErrNoAnswer) {
		t.Fatalf("answered before BlockFor passed: %v", err)
	}
	if r.Stats().DroppedBlocked < 3 {
		t.Errorf("dropped blocked %d, want at least 3", r.Stats().DroppedBlocked)
	}
	clock.Advance(time.Second)
	good.Timeout = 2 * time.Second
	want(t, 200, "right password after the block")(good.Register(registrartest.Req{}))
	if s := r.Stats(); s.BlockedSources != 0 {
		t.Errorf("still blocked: %+v", s)
	}
}

func TestFailuresOutsideTheWindowDoNotBlock(t *testing.T) {
	t.Parallel()
	r, clock := start(t, Options{FailLimit: 3})
	bad := registrartest.NewPhone(t, r.LocalAddr(), "alice", "guess")
	for i := range 6 {
		want(t, 401, "wrong password "+strconv.Itoa(i))(bad.Register(registrartest.Req{}))
		clock.Advance(31 * time.Second) // never 3 within a minute
	}
	if s := r.Stats(); s.BlockedSources != 0 || s.AuthFailures != 6 {
		t.Fatalf("%+v, want 6 failures and nobody blocked", s)
	}
}

func TestStaleNonce(t *testing.T) {
	t.Parallel()
	r, clock := start(t, Options{})
	p := registrartest.NewPhone(t, r.LocalAddr(), "alice", "secret")
	want(t, 200, "register")(p.Register(registrartest.Req{}))

	// The next request on the same nonce with the next nc is fine.
	auth, _ := p.Reanswer(sip.REGISTER)
	want(t, 200, "nonce reused, nc 2")(p.Do(registrartest.Req{Auth: auth}))
	// The same nc again is a replay: stale, not a failure.
	res := want(t, 401, "nc replayed")(p.Do(registrartest.Req{Auth: auth}))
	if c, _ := digest.ParseChallenge(res.GetHeader("WWW-Authenticate").Value()); c == nil || !c.Stale {
		t.Errorf("replayed nc: challenge %q, want stale=true", res.GetHeader("WWW-Authenticate").Value())
	}

	clock.Advance(DefaultNonceTTL + time.Second)
	auth, _ = p.Reanswer(sip.REGISTER)
	res = want(t, 401, "expired nonce")(p.Do(registrartest.Req{Auth: auth}))
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		if c, err := digest.ParseChallenge(h.Value()); err != nil || !c.Stale {
			t.Errorf("challenge %q, want stale=true", h.Value())
		}
	}
	auth, _ = p.Answer(res, sip.REGISTER)
	want(t, 200, "fresh nonce")(p.Do(registrartest.Req{Auth: auth}))

	// A wrong password with an expired nonce is a failure, not stale.
	bad := registrartest.NewPhone(t, r.LocalAddr(), "alice", "guess")
	res = want(t, 401, "first")(bad.Do(registrartest.Req{}))
	bad.Answer(res, sip.REGISTER)
	clock.Advance(DefaultNonceTTL + time.Second)
	auth, _ = bad.Reanswer(sip.REGISTER)
	res = want(t, 401, "wrong password, old nonce")(bad.Do(registrartest.Req{Auth: auth}))
	if c, _ := digest.ParseChallenge(res.GetHeader("WWW-Authenticate").Value()); c == nil || c.Stale {
		t.Errorf("wrong password answered stale=true")
	}
	if s := r.Stats(); s.AuthFailures != 1 {
		t.Errorf("auth failures %d, want 1 (stale answers are not failures)", s.AuthFailures)
	}
}

func TestExpiryLimits(t *testing.T) {
	t.Parallel()
	r, clock := start(t, Options{DefaultExpires: 1800 * time.Second})
	p := registrartest.NewPhone(t, r.LocalAddr(), "alice", "secret")

	res := want(t, 423, "Expires 30")(p.Register(registrartest.Req{Expires: "30"}))
	if h := res.GetHeader("Min-Expires"); h == nil || h.Value() != "60" {
		t.Errorf("423 without Min-Expires: 60: %v", res.GetHeader("Min-Expires"))
	}
	want(t, 423, "contact expires=59")(p.Register(registrartest.Req{
		Contacts: []string{"<" + p.Contact() + ">;expires=59"}, Expires: "3600"}))
	if b := r.Lookup("alice"); len(b) != 0 {
		t.Fatalf("423 left a binding: %+v", b)
	}
	cases := []struct {
		name    string
		req     registrartest.Req
		granted int
	}{
		{"capped at max", registrartest.Req{Expires: "7200"}, 3600},
		{"min is enough", registrartest.Req{Expires: "60"}, 60},
		{"param wins over header", registrartest.Req{Contacts: []string{"<" + p.Contact() + ">;expires=120"}, Expires: "3600"}, 120},
		{"default", registrartest.Req{}, 1800},
	}
	for _, c := range cases {
		res := want(t, 200, c.name)(p.Register(c.req))
		if got := contactExpires(t, res)[p.Contact()]; got != c.granted {
			t.Errorf("%s: granted %d, want %d", c.name, got, c.granted)
		}
		if b := r.Lookup("alice"); len(b) != 1 || !b[0].Expires.Equal(clock.Now().Add(time.Duration(c.granted)*time.Second)) {
			t.Errorf("%s: binding %+v", c.name, b)
		}
	}
	clock.Advance(1800 * time.Second)
	if b := r.Lookup("alice"); len(b) != 0 {
		t.Errorf("binding outlived its expiry: %+v", b)
	}
}

func TestSeveralContacts(t *testing.T) {
	t.Parallel()
	r, _ := start(t, Options{})
	p := registrartest.NewPhone(t, r.LocalAddr(), "alice", "secret")
	desk := "sip:alice@192.168.1.20:5060"
	mobile := "sip:alice@192.168.1.30:5062;transport=tcp"
	res := want(t, 200, "two contacts")(p.Register(registrartest.Req{Expires: "600", Contacts: []string{
		"<" + desk + ">;q=0.5",
		`<` + mobile + `>;expires=300;+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>";reg-id=1`,
	}}))
	if got := contactExpires(t, res); len(got) != 2 || got[desk] != 600 || got[mobile] != 300 {
		t.Fatalf("200 lists %v", got)
	}
	for _, h := range res.GetHeaders("Contact") {
		ch := h.(*sip.ContactHeader)
		if q, _ := ch.Params.Get("q"); ch.Address.String() == desk && q != "0.5" {
			t.Errorf("200 gives the desk phone q=%q, want 0.5", q)
		}
		inst, _ := ch.Params.Get("+sip.instance")
		if want := `"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"`; ch.Address.String() == mobile && inst != want {
			t.Errorf("200 gives the mobile +sip.instance=%s, want %s", inst, want)
		}
	}
	// Another phone of the same user, another Call-ID: a third binding.
	p2 := registrartest.NewPhone(t, r.LocalAddr(), "alice", "secret")
	res = want(t, 200, "second phone")(p2.Register(registrartest.Req{Expires: "900"}))
	if got := contactExpires(t, res); len(got) != 3 || got[p2.Contact()] != 900 || got[desk] != 600 {
		t.Fatalf("200 lists %v, want all three", got)
	}
	b := r.Lookup("alice")
	if len(b) != 3 {
		t.Fatalf("Lookup: %+v", b)
	}
	if b[2].Contact != desk || b[2].Q != 0.5 {
		t.Errorf("lowest q not last: %+v", b)
	}
	var inst *Binding
	for i := range b {
		if b[i].Contact == mobile {
			inst = &b[i]
		}
	}
	if inst == nil || inst.Instance != "urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF" || inst.RegID != 1 || inst.Source != p.Addr() {
		t.Errorf("instance binding %+v", inst)
	}
	// The same instance with a new contact (the phone's address changed)
	// replaces its binding instead of adding one.
	moved := "sip:alice@192.168.1.31:5062;transport=tcp"
	res = want(t, 200, "instance moved")(p.Register(registrartest.Req{Expires: "600", Contacts: []string{
		`<` + moved + `>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>";reg-id=1`}}))
	if got := contactExpires(t, res); len(got) != 3 || got[moved] != 600 {
		t.Errorf("after the move: %v", got)
	}
	if u := r.Users(); len(u) != 2 || u[0].Name != "alice" || u[0].DisplayName != "Alice" || !u[0].External || len(u[0].Bindings) != 3 || len(u[1].Bindings) != 0 {
		t.Errorf("Users: %+v", u)
	}
}

func TestQueryListsBindings(t *testing.T) {
	t.Parallel()
	r, _ := start(t, Options{})
	p := registrartest.NewPhone(t, r.LocalAddr(), "alice", "secret")
	want(t, 200, "register")(p.Register(registrartest.Req{Expires: "600"}))
	res := want(t, 200, "query")(p.Register(registrartest.Req{Contacts: []string{}}))
	if got := contactExpires(t, res); len(got) != 1 || got[p.Contact()] != 600 {
		t.Errorf("query lists %v", got)
	}
}

func TestUnregister(t *testing.T) {
	t.Parallel()
	r, _ := start(t, Options{})
	p := registrartest.NewPhone(t, r.LocalAddr(), "alice", "secret")
	other := "<sip:alice@192.168.1.20>"
	want(t, 200, "register two")(p.Register(registrartest.Req{Expires: "600",
		Contacts: []string{"<" + p.Contact() + ">", other}}))

	res := want(t, 200, "Expires: 0 for one")(p.Register(registrartest.Req{Expires: "0"}))
	if got := contactExpires(t, res); len(got) != 1 || got["sip:alice@192.168.1.20"] != 600 {
		t.Errorf("after removing one: %v", got)
	}
	want(t, 200, "register again")(p.Register(registrartest.Req{Expires: "600"}))
	res = want(t, 200, "expires=0 param")(p.Register(registrartest.Req{Expires: "600",
		Contacts: []string{"<" + p.Contact() + ">;expires=0"}}))
	if got := contactExpires(t, res); len(got) != 1 {
		t.Errorf("after expires=0: %v", got)
	}

	want(t, 400, "* without Expires: 0")(p.Register(registrartest.Req{Contacts: []string{"*"}}))
	want(t, 400, "* with another contact")(p.Register(registrartest.Req{Expires: "0",
		Contacts: []string{"*", other}}))
	if b := r.Lookup("alice"); len(b) != 1 {
		t.Fatalf("a refused * removed bindings: %+v", b)
	}
	res = want(t, 200, "*")(p.Register(registrartest.Req{Expires: "0", Contacts: []string{"*"}}))
	if len(res.GetHeaders("Contact")) != 0 || len(r.Lookup("alice")) != 0 {
		t.Errorf("* left %v / %+v", res.GetHeaders("Contact"), r.Lookup("alice"))
	}
}

func TestCSeqOrdering(t *testing.T) {
	t.Parallel()
	r, clock := start(t, Options{})
	p := registrartest.NewPhone(t, r.LocalAddr(), "alice", "secret")
	want(t, 200, "register")(p.Register(registrartest.Req{Expires: "600"}))
	granted := r.Lookup("alice")[0].Expires
	clock.Advance(10 * time.Second)

	// An older CSeq of the same Call-ID (a delayed request) fails and
	// changes nothing: neither a refresh nor a removal.
	for _, exp := range []string{"300", "0"} {
		auth, _ := p.Reanswer(sip.REGISTER)
		want(t, 400, "old CSeq, Expires "+exp)(p.Do(registrartest.Req{Expires: exp, CSeq: 1, Auth: auth}))
		if b := r.Lookup("alice"); len(b) != 1 || !b[0].Expires.Equal(granted) {
			t.Fatalf("old CSeq changed the binding: %+v", b)
		}
	}
	auth, _ := p.Reanswer(sip.REGISTER)
	want(t, 400, "old CSeq, *")(p.Do(registrartest.Req{Expires: "0", Contacts: []string{"*"}, CSeq: 1, Auth: auth}))
	// A new Call-ID may start its CSeq anywhere.
	auth, _ = p.Reanswer(sip.REGISTER)
	want(t, 200, "other Call-ID, low CSeq")(p.Do(registrartest.Req{Expires: "300", CSeq: 1, CallID: "other", Auth: auth}))
	if b := r.Lookup("alice"); len(b) != 1 || !b[0].Expires.Equal(clock.Now().Add(300*time.Second)) {
		t.Fatalf("new Call-ID did not refresh: %+v", b)
	}
}

func TestAnotherUsersCredentialsAreForbidden(t *testing.T) {
	t.Parallel()
	r, _ := start(t, Options{})
	p := registrartest.NewPhone(t, r.LocalAddr(), "bob", "bobpass")
	want(t, 403, "bob registering alice")(p.Register(registrartest.Req{ToUser: "alice"}))
	if b := r.Lookup("alice"); len(b) != 0 {
		t.Fatalf("bob registered alice: %+v", b)
	}
}

func TestSourceOutsideAllowNetworksGetsNoAnswer(t *testing.T) {
	t.Parallel()
	r, _ := start(t, Options{AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	out := registrartest.NewPhoneOn(t, "127.0.0.2:0", r.LocalAddr(), "alice", "secret")
	out.Timeout = 300 * time.Millisecond
	for _, m := range []sip.RequestMethod{sip.REGISTER, sip.OPTIONS, sip.INVITE} {
		if res, err := out.Do(registrartest.Req{Method: m}); !errors.Is(err, registrartest.ErrNoAnswer) {
			t.Errorf("%s from outside: %v %v, want no answer", m, res, err)
		}
	}
	// Over TCP the connection is closed at once, with nothing sent.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: time.Second}
	c, err := d.Dial("tcp", r.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte(out.Build(registrartest.Req{Method: sip.OPTIONS})))
	c.SetReadDeadline(time.Now().Add(time.Second))
	var ne net.Error
	if n, err := c.Read(make([]byte, 100)); n != 0 || err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("TCP from outside: read %d bytes, %v; want the connection closed", n, err)
	}
	if s := r.Stats(); s.DroppedOutside < 4 {
		t.Errorf("dropped outside %d, want at least 4", s.DroppedOutside)
	}
	in := registrartest.NewPhone(t, r.LocalAddr(), "alice", "secret")
	want(t, 200, "REGISTER from inside")(in.Register(registrartest.Req{}))
}

func TestOptionsAnswered(t *testing.T) {
	t.Parallel()
	r, _ := start(t, Options{UserAgent: "openata-test"})
	p := registrartest.NewPhone(t, r.LocalAddr(), "nobody", "")
	res := want(t, 200, "OPTIONS")(p.Do(registrartest.Req{Method: sip.OPTIONS, Contacts: []string{}}))
	allow := res.GetHeader("Allow")
	if allow == nil || !strings.Contains(allow.Value(), "REGISTER") || !strings.Contains(allow.Value(), "OPTIONS") {
		t.Errorf("Allow %v, want REGISTER and OPTIONS", allow)
	}
	if h := res.GetHeader("Server"); h == nil || h.Value() != "openata-test" {
		t.Errorf("Server %v", h)
	}
	// A method nobody handles is refused with the Allow list.
	res = want(t, 405, "SUBSCRIBE")(p.Do(registrartest.Req{Method: sip.SUBSCRIBE}))
	if res.GetHeader("Allow") == nil {
		t.Error("405 without Allow")
	}
}

func TestKeepAliveAndDeadBindingDropped(t *testing.T) {
	t.Parallel()
	r, _ := start(t, Options{KeepAlive: 100 * time.Millisecond, KeepAliveTimeout: 150 * time.Millisecond, KeepAliveMisses: 2})
	p := registrartest.NewPhone(t, r.LocalAddr(), "alice", "secret")
	want(t, 200, "register")(p.Register(registrartest.Req{Expires: "600"}))
	deadline := time.Now().Add(5 * time.Second)
	var ping *sip.Request
	for ping == nil {
		select {
		case req := <-p.Requests():
			if req.Method == sip.OPTIONS {
				ping = req
			}
		case <-time.After(time.Until(deadline)):
			t.Fatal("no keep-alive OPTIONS within 5 s")
		}
	}
	if ping.Recipient.String() != p.Contact() {
		t.Errorf("OPTIONS to %s, want the contact %s", ping.Recipient.String(), p.Contact())
	}
	if via := ping.Via(); via == nil || via.Host != "127.0.0.1" || via.Port != int(r.LocalAddr().Port()) {
		t.Errorf("OPTIONS Via %v, want the registrar's address", ping.Via())
	}
	for p.OptionsReceived() < 4 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if b := r.Lookup("alice"); len(b) != 1 {
		t.Fatalf("answered pings, binding gone: %+v", b)
	}
	p.Ignore(true)
	for len(r.Lookup("alice")) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("unanswered pings: binding still there after 5 s (%d OPTIONS)", p.OptionsReceived())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := r.Stats(); s.KeepAliveDrops != 1 {
		t.Errorf("keep-alive drops %d", s.KeepAliveDrops)
	}
}

func TestAuthenticateForTheRouter(t *testing.T) {
	t.Parallel()
	r, _ := start(t, Options{FailLimit: 3})
	users := make(chan string, 10)
	r.Handle(sip.INVITE, func(req *sip.Request, tx sip.ServerTransaction) {
		user, ok := r.Authenticate(req, tx)
		if !ok {
			return
		}
		users <- user
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBusyHere, "Busy Here", nil))
	})
	if !strings.Contains(r.Allow(), "INVITE") {
		t.Errorf("Allow %q lacks the router's INVITE", r.Allow())
	}
	p := registrartest.NewPhone(t, r.LocalAddr(), "alice", "secret")
	res := want(t, 401, "INVITE without credentials")(p.Do(registrartest.Req{Method: sip.INVITE}))
	auth, _ := p.Answer(res, sip.INVITE)
	want(t, 486, "INVITE with credentials")(p.Do(registrartest.Req{Method: sip.INVITE, Auth: auth}))
	if u := <-users; u != "alice" {
		t.Errorf("authenticated %q", u)
	}
	// Guessing by INVITE counts towards the block like REGISTER does.
	bad := registrartest.NewPhone(t, r.LocalAddr(), "alice", "guess")
	for i := range 3 {
		res := want(t, 401, "INVITE")(bad.Do(registrartest.Req{Method: sip.INVITE}))
		auth, _ := bad.Answer(res, sip.INVITE)
		want(t, 401, "INVITE, wrong password "+strconv.Itoa(i))(bad.Do(registrartest.Req{Method: sip.INVITE, Auth: auth}))
	}
	if s := r.Stats(); s.AuthFailures != 3 || s.BlockedSources != 1 {
		t.Errorf("%+v, want 3 failures and the source blocked", s)
	}
	if len(users) != 0 {
		t.Errorf("a wrong password reached the router")
	}
}

func TestSetUsers(t *testing.T) {
	t.Parallel()
	r, _ := start(t, Options{})
	a := registrartest.NewPhone(t, r.LocalAddr(), "alice", "secret")
	b := registrartest.NewPhone(t, r.LocalAddr(), "bob", "bobpass")
	want(t, 200, "alice")(a.Register(registrartest.Req{}))
	want(t, 200, "bob")(b.Register(registrartest.Req{}))

	// bob removed; alice unchanged (renamed display only) keeps hers.
	if err := r.SetUsers([]User{{Name: "alice", Password: "secret", DisplayName: "Kitchen"}}); err != nil {
		t.Fatal(err)
	}
	if len(r.Lookup("bob")) != 0 || len(r.Lookup("alice")) != 1 {
		t.Fatalf("after removing bob: bob %+v alice %+v", r.Lookup("bob"), r.Lookup("alice"))
	}
	want(t, 401, "removed bob")(b.Register(registrartest.Req{}))
	// A reset password logs alice's phone out; the new one works.
	if err := r.SetUsers([]User{{Name: "alice", Password: "n3w"}}); err != nil {
		t.Fatal(err)
	}
	if len(r.Lookup("alice")) != 0 {
		t.Fatalf("password changed, binding kept")
	}
	want(t, 401, "old password")(a.Register(registrartest.Req{}))
	a.Password = "n3w"
	want(t, 200, "new password")(a.Register(registrartest.Req{}))

	for _, bad := range [][]User{{{Name: "x"}}, {{Name: "x", Password: "p"}, {Name: "x", Password: "q"}},
		{{Name: "a b", Password: "p"}}, {{Name: "x", HA1: "abc"}}} {
		if err := r.SetUsers(bad); err == nil {
			t.Errorf("SetUsers(%+v) accepted", bad)
		}
	}
}

func TestRegisterOverTCP(t *testing.T) {
	t.Parallel()
	r, _ := start(t, Options{})
	c, err := net.Dial("tcp", r.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	p := registrartest.NewPhone(t, r.LocalAddr(), "alice", "secret") // builds and answers; the socket is TCP's
	send := func(req registrartest.Req) *sip.Response {
		t.Helper()
		text := strings.Replace(p.Build(req), "SIP/2.0/UDP", "SIP/2.0/TCP", 1)
		if _, err := c.Write([]byte(text)); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		var msg bytes.Buffer
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the answer: %v (so far %q)", err, msg.String())
			}
			msg.WriteString(line)
			if line == "\r\n" {
				break
			}
		}
		m, err := sip.ParseMessage(msg.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		return m.(*sip.Response)
	}
	contact := "<sip:alice@" + c.LocalAddr().String() + ";transport=tcp>"
	res := send(registrartest.Req{Contacts: []string{contact}})
	if res.StatusCode != 401 {
		t.Fatalf("first: %d", res.StatusCode)
	}
	auth, _ := p.Answer(res, sip.REGISTER)
	if res = send(registrartest.Req{Contacts: []string{contact}, Auth: auth}); res.StatusCode != 200 {
		t.Fatalf("authenticated: %d %s", res.StatusCode, res.Reason)
	}
	b := r.Lookup("alice")
	local := c.LocalAddr().(*net.TCPAddr).AddrPort()
	if len(b) != 1 || b[0].Transport != "TCP" || b[0].Source != netip.AddrPortFrom(local.Addr().Unmap(), local.Port()) {
		t.Errorf("TCP binding %+v, want source %v", b, local)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]Options{
		"min above max": {Listen: "127.0.0.1:0", MinExpires: time.Hour, MaxExpires: time.Minute},
		"bad realm":     {Listen: "127.0.0.1:0", Realm: `a"b`},
		"bad listen":    {Listen: "nowhere:xx"},
		"duplicate":     {Listen: "127.0.0.1:0", Users: []User{{Name: "a", Password: "p"}, {Name: "a", Password: "p"}}},
	} {
		o.Logger = quiet
		if r, err := New(o); err == nil {
			r.Close()
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestChallengeAlgorithms(t *testing.T) {
	t.Parallel()
	algs := func(res *sip.Response) []string {
		var out []string
		for _, h := range res.GetHeaders("WWW-Authenticate") {
			c, err := digest.ParseChallenge(h.Value())
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, c.Algorithm)
		}
		return out
	}
	libre := "User-Agent: baresip v1.0.0 (x86_64/linux)"
	r, _ := start(t, Options{})
	p := registrartest.NewPhone(t, r.LocalAddr(), "alice", "secret")
	res := want(t, 401, "libre 1.x")(p.Do(registrartest.Req{Extra: []string{libre}}))
	if got := algs(res); len(got) != 1 || got[0] != "MD5" {
		t.Errorf("baresip 1.0 challenged with %v, want MD5 alone", got)
	}
	res = want(t, 401, "newer baresip")(p.Do(registrartest.Req{Extra: []string{"User-Agent: baresip v3.10.0 (x86_64/linux)"}}))
	if got := algs(res); len(got) != 2 {
		t.Errorf("baresip 3 challenged with %v, want both", got)
	}

	// SHA-256 only: MD5 answers fail, whatever the phone.
	r, _ = start(t, Options{Algorithms: []string{"SHA-256"}})
	p = registrartest.NewPhone(t, r.LocalAddr(), "alice", "secret")
	res = want(t, 401, "SHA-256 only")(p.Do(registrartest.Req{Extra: []string{libre}}))
	if got := algs(res); len(got) != 1 || got[0] != "SHA-256" {
		t.Errorf("challenged with %v, want SHA-256 alone", got)
	}
	md5 := strings.Replace(res.GetHeader("WWW-Authenticate").Value(), "SHA-256", "MD5", 1)
	forged := sip.NewResponse(401, "Unauthorized")
	forged.AppendHeader(sip.NewHeader("WWW-Authenticate", md5))
	auth, err := p.Answer(forged, sip.REGISTER)
	if err != nil {
		t.Fatal(err)
	}
	want(t, 401, "MD5 answer to a SHA-256-only registrar")(p.Do(registrartest.Req{Auth: auth}))
	if r.Stats().AuthFailures != 1 || len(r.Lookup("alice")) != 0 {
		t.Errorf("MD5 answer accepted: %+v", r.Stats())
	}
	for _, bad := range [][]string{{}, {"SHA-512"}, {"MD5", "MD5"}} {
		if r, err := New(Options{Listen: "127.0.0.1:0", Algorithms: bad, Logger: quiet}); err == nil {
			r.Close()
			t.Errorf("Algorithms %v accepted", bad)
		}
	}
}

// On a wildcard address the keep-alive names the address the phone
// reaches us at, not 0.0.0.0 (the phone answers to the Via).
func TestWildcardListenPingsFromTheRoutedAddress(t *testing.T) {
	t.Parallel()
	r, _ := start(t, Options{Listen: "0.0.0.0:0", KeepAlive: 50 * time.Millisecond})
	server := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), r.LocalAddr().Port())
	if got, err := r.LocalAddrFor(netip.MustParseAddrPort("127.0.0.1:5060")); err != nil || got != server {
		t.Errorf("LocalAddrFor: %v %v, want %v", got, err, server)
	}
	p := registrartest.NewPhone(t, server, "alice", "secret")
	want(t, 200, "register")(p.Register(registrartest.Req{}))
	select {
	case req := <-p.Requests():
		if via := req.Via(); via == nil || via.Host != "127.0.0.1" || via.Port != int(server.Port()) {
			t.Errorf("keep-alive Via %v, want %v", req.Via(), server)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no keep-alive within 5 s")
	}
}

func TestMaxBindings(t *testing.T) {
	t.Parallel()
	r, _ := start(t, Options{MaxBindings: 2})
	p := registrartest.NewPhone(t, r.LocalAddr(), "alice", "secret")
	want(t, 200, "two contacts")(p.Register(registrartest.Req{Contacts: []string{"<sip:a@10.0.0.1>", "<sip:a@10.0.0.2>"}}))
	want(t, 403, "a third")(p.Register(registrartest.Req{Contacts: []string{"<sip:a@10.0.0.3>"}}))
	if b := r.Lookup("alice"); len(b) != 2 {
		t.Errorf("after the refused third: %+v", b)
	}
	// Replacing one within the cap is fine.
	want(t, 200, "swap")(p.Register(registrartest.Req{Contacts: []string{"<sip:a@10.0.0.1>;expires=0", "<sip:a@10.0.0.3>"}}))
}
