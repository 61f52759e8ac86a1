// Package registrartest holds fakes for tests of the registrar and of
// code on top of it (the router): a settable clock and Phone, a scripted
// SIP phone over UDP that registers with digest, answers (or ignores)
// the registrar's keep-alive OPTIONS and shows every message it got.
package registrartest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// Clock is a clock that moves only when told (registrar.Clock).
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts a clock at a fixed date.
func NewClock() *Clock { return &Clock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// ErrNoAnswer is Do's error when nothing came back in time.
var ErrNoAnswer = errors.New("registrartest: no answer")

// Phone is a scripted SIP phone on its own UDP socket.
type Phone struct {
	t        testing.TB
	conn     *net.UDPConn
	server   netip.AddrPort
	User     string
	Password string
	// Algorithm picks the challenge answered: "SHA-256", "MD5", or ""
	// for the first one offered.
	Algorithm string
	// Timeout is how long Do waits for a final answer (default 2 s).
	Timeout time.Duration

	callID string
	cseq   atomic.Uint32
	chal   *digest.Challenge // last challenge taken, for nonce reuse
	nc     int

	responses chan *sip.Response
	requests  chan *sip.Request
	ignore    atomic.Bool // do not answer requests (a dead phone)
	optionsN  atomic.Int64
	done      chan struct{}
}

// NewPhone opens a phone on 127.0.0.1 that talks to server as user; it
// is closed when the test ends.
func NewPhone(t testing.TB, server netip.AddrPort, user, password string) *Phone {
	t.Helper()
	return NewPhoneOn(t, "127.0.0.1:0", server, user, password)
}

// NewPhoneOn is NewPhone on a local address of the caller's choice (a
// source outside the registrar's allowed networks, e.g. 127.0.0.2 when
// only 127.0.0.1/32 is allowed).
func NewPhoneOn(t testing.TB, local string, server netip.AddrPort, user, password string) *Phone {
	t.Helper()
	la, err := net.ResolveUDPAddr("udp", local)
	if err != nil {
		t.Fatalf("registrartest: %v", err)
	}
	conn, err := net.ListenUDP("udp", la)
	if err != nil {
		t.Fatalf("registrartest: listen %s: %v", local, err)
	}
	p := &Phone{t: t, conn: conn, server: server, User: user, Password: password, Timeout: 2 * time.Second,
		callID:    sip.GenerateTagN(16) + "@registrartest",
		responses: make(chan *sip.Response, 64), requests: make(chan *sip.Request, 64), done: make(chan struct{})}
	go p.read()
	t.Cleanup(func() { conn.Close(); <-p.done })
	return p
}

// Addr is the phone's socket address.
func (p *Phone) Addr() netip.AddrPort {
	ap := p.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Contact is the phone's own contact URI, sip:user@addr.
func (p *Phone) Contact() string { return "sip:" + p.User + "@" + p.Addr().String() }

// Ignore makes the phone stop (true) or resume answering requests.
func (p *Phone) Ignore(on bool) { p.ignore.Store(on) }

// OptionsReceived counts the OPTIONS requests the phone got.
func (p *Phone) OptionsReceived() int { return int(p.optionsN.Load()) }

// Requests delivers the requests the phone got (answered or not).
func (p *Phone) Requests() <-chan *sip.Request { return p.requests }

func (p *Phone) read() {
	defer close(p.done)
	buf := make([]byte, 65535)
	for {
		n, from, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		msg, err := sip.ParseMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			continue
		}
		switch m := msg.(type) {
		case *sip.Response:
			select {
			case p.responses <- m:
			default:
			}
		case *sip.Request:
			if m.Method == sip.OPTIONS {
				p.optionsN.Add(1)
			}
			select {
			case p.requests <- m:
			default:
			}
			if p.ignore.Load() || m.IsAck() {
				continue
			}
			res := sip.NewResponseFromRequest(m, sip.StatusOK, "OK", nil)
			p.conn.WriteToUDPAddrPort([]byte(res.String()), from)
		}
	}
}

// Req is one request to script. Zero fields take the phone's defaults.
type Req struct {
	Method sip.RequestMethod // default REGISTER
	// Contacts are Contact header values (nil: the phone's "<Contact()>";
	// empty non-nil: no Contact header, a query).
	Contacts []string
	// Expires is the Expires header value ("" leaves it out).
	Expires string
	CallID  string // default the phone's
	ToUser  string // the To user (default the phone's User)
	CSeq    uint32 // default the next of the phone's
	// Auth is an Authorization header value ("" leaves it out).
	Auth  string
	Extra []string // more header lines, "Name: value" (a User-Agent replaces the phone's)
}

// URI is the Request-URI the phone uses, sip:SERVER.
func (p *Phone) URI() string { return "sip:" + p.server.String() }

// Build returns the request text r describes.
func (p *Phone) Build(r Req) string {
	if r.Method == "" {
		r.Method = sip.REGISTER
	}
	if r.CallID == "" {
		r.CallID = p.callID
	}
	if r.CSeq == 0 {
		r.CSeq = p.cseq.Add(1)
	}
	if r.ToUser == "" {
		r.ToUser = p.User
	}
	if r.Contacts == nil {
		r.Contacts = []string{"<" + p.Contact() + ">"}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", r.Method, p.URI())
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=%s;rport\r\n", p.Addr(), sip.GenerateBranch())
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=%s\r\n", p.User, p.server, sip.GenerateTagN(8))
	fmt.Fprintf(&b, "To: <sip:%s@%s>\r\n", r.ToUser, p.server)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", r.CallID)
	fmt.Fprintf(&b, "CSeq: %d %s\r\n", r.CSeq, r.Method)
	for _, c := range r.Contacts {
		fmt.Fprintf(&b, "Contact: %s\r\n", c)
	}
	if r.Expires != "" {
		fmt.Fprintf(&b, "Expires: %s\r\n", r.Expires)
	}
	if r.Auth != "" {
		fmt.Fprintf(&b, "Authorization: %s\r\n", r.Auth)
	}
	ownUA := true
	for _, h := range r.Extra {
		if strings.HasPrefix(strings.ToLower(h), "user-agent:") {
			ownUA = false
		}
	}
	if ownUA {
		b.WriteString("User-Agent: registrartest\r\n")
	}
	for _, h := range r.Extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

// Send writes raw bytes to the server.
func (p *Phone) Send(b []byte) error {
	_, err := p.conn.WriteToUDPAddrPort(b, p.server)
	return err
}

// Do sends r and waits for its final answer (ErrNoAnswer after Timeout).
func (p *Phone) Do(r Req) (*sip.Response, error) {
	text := p.Build(r)
	// Answers to earlier requests that came late are not this one's.
	for len(p.responses) > 0 {
		<-p.responses
	}
	if err := p.Send([]byte(text)); err != nil {
		return nil, err
	}
	return p.await(text)
}

func (p *Phone) await(sent string) (*sip.Response, error) {
	msg, err := sip.ParseMessage([]byte(sent))
	if err != nil {
		return nil, fmt.Errorf("registrartest: own request: %w", err)
	}
	branch, _ := msg.(*sip.Request).Via().Params.Get("branch")
	deadline := time.After(p.Timeout)
	for {
		select {
		case res := <-p.responses:
			if b, _ := res.Via().Params.Get("branch"); b != branch || res.IsProvisional() {
				continue
			}
			return res, nil
		case <-deadline:
			return nil, ErrNoAnswer
		}
	}
}

// Answer computes the Authorization value for a request of method to
// the phone's URI from the challenge in res (the one of p.Algorithm),
// with the phone's password.
func (p *Phone) Answer(res *sip.Response, method sip.RequestMethod) (string, error) {
	chal, err := p.pick(res)
	if err != nil {
		return "", err
	}
	p.chal, p.nc = chal, 0
	return p.reanswer(method)
}

// Reanswer answers the last challenge again with the next nonce count
// (what a phone does for its next request before the nonce expires).
func (p *Phone) Reanswer(method sip.RequestMethod) (string, error) {
	if p.chal == nil {
		return "", errors.New("registrartest: no challenge yet")
	}
	return p.reanswer(method)
}

func (p *Phone) reanswer(method sip.RequestMethod) (string, error) {
	p.nc++
	cred, err := digest.Digest(p.chal, digest.Options{Method: string(method), URI: p.URI(),
		Username: p.User, Password: p.Password, Count: p.nc})
	if err != nil {
		return "", err
	}
	return cred.String(), nil
}

func (p *Phone) pick(res *sip.Response) (*digest.Challenge, error) {
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		c, err := digest.ParseChallenge(h.Value())
		if err != nil {
			return nil, err
		}
		if p.Algorithm == "" || strings.EqualFold(c.Algorithm, p.Algorithm) {
			return c, nil
		}
	}
	return nil, fmt.Errorf("registrartest: no %q challenge in %d %s", p.Algorithm, res.StatusCode, res.Reason)
}

// Register runs r (a REGISTER) with authentication: sent once, and again
// with credentials when challenged. It returns the final answer.
func (p *Phone) Register(r Req) (*sip.Response, error) {
	res, err := p.Do(r)
	if err != nil || res.StatusCode != sip.StatusUnauthorized {
		return res, err
	}
	if r.Auth, err = p.Answer(res, sip.REGISTER); err != nil {
		return nil, err
	}
	r.CSeq = 0
	return p.Do(r)
}
