package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	siplib "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/openata/ata/call"
	"github.com/openata/ata/sip/registrar"
	"github.com/openata/ata/sip/registrar/registrartest"
)

// tcpPhone is a scripted phone that registers over one TCP connection to
// the registrar and listens nowhere else: whatever reaches it came over
// that connection. Its Contact names another port (its RTP socket's
// number, where no TCP listens), as a phone behind a NAT names its
// private address: a request sent where the Contact says never reaches it.
type tcpPhone struct {
	t        *testing.T
	conn     net.Conn
	server   netip.AddrPort
	user, pw string
	reg      *registrartest.Phone // builds the REGISTERs
	rtp      *net.UDPConn

	mu      sync.Mutex
	pending []siplib.Message
	in      chan siplib.Message
	gone    chan struct{} // closed when the connection ends
}

func newTCPPhone(t *testing.T, server netip.AddrPort, user, pw string) *tcpPhone {
	t.Helper()
	conn, err := net.Dial("tcp", server.String())
	if err != nil {
		t.Fatal(err)
	}
	rtp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpPhone{t: t, conn: conn, server: server, user: user, pw: pw, rtp: rtp,
		reg: registrartest.NewPhone(t, server, user, pw), in: make(chan siplib.Message, 64), gone: make(chan struct{})}
	t.Cleanup(func() { conn.Close(); rtp.Close(); <-p.gone })
	go func() {
		defer close(p.gone)
		stream := siplib.NewParser().NewSIPStream()
		buf := make([]byte, 65535)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			if strings.Trim(string(buf[:n]), "\r\n") == "" {
				continue
			}
			if err := stream.ParseSIPStream(append([]byte(nil), buf[:n]...), func(m siplib.Message) { p.in <- m }); err != nil && err != siplib.ErrParseSipPartial {
				t.Logf("tcp phone: unparsable: %v", err)
				return
			}
		}
	}()
	return p
}

func (p *tcpPhone) local() string { return p.conn.LocalAddr().String() }

// contact is the phone's Contact: not its connection's address, over TCP.
func (p *tcpPhone) contact() siplib.Uri {
	return siplib.Uri{Scheme: "sip", User: p.user, Host: "127.0.0.1", Port: p.rtp.LocalAddr().(*net.UDPAddr).Port,
		UriParams: siplib.HeaderParams{{K: "transport", V: "tcp"}}}
}

func (p *tcpPhone) send(m siplib.Message) {
	p.t.Helper()
	if _, err := p.conn.Write([]byte(m.String())); err != nil {
		p.t.Fatal(err)
	}
}

func (p *tcpPhone) next(what string, within time.Duration, match func(siplib.Message) bool) siplib.Message {
	p.t.Helper()
	p.mu.Lock()
	for i, m := range p.pending {
		if match(m) {
			p.pending = append(p.pending[:i], p.pending[i+1:]...)
			p.mu.Unlock()
			return m
		}
	}
	p.mu.Unlock()
	deadline := time.After(within)
	for {
		select {
		case m := <-p.in:
			if match(m) {
				return m
			}
			p.mu.Lock()
			p.pending = append(p.pending, m)
			p.mu.Unlock()
		case <-deadline:
			p.t.Fatalf("tcp phone %s: no %s on its connection within %v", p.user, what, within)
			return nil
		}
	}
}

func (p *tcpPhone) request(method siplib.RequestMethod) *siplib.Request {
	p.t.Helper()
	return p.next(string(method), 5*time.Second, func(m siplib.Message) bool {
		r, ok := m.(*siplib.Request)
		return ok && r.Method == method
	}).(*siplib.Request)
}

func (p *tcpPhone) response(method siplib.RequestMethod) *siplib.Response {
	p.t.Helper()
	return p.next("final response to "+string(method), 5*time.Second, func(m siplib.Message) bool {
		r, ok := m.(*siplib.Response)
		return ok && r.CSeq().MethodName == method && r.StatusCode >= 200
	}).(*siplib.Response)
}

// reply answers req; a 18x/2xx gets tag and the phone's Contact.
func (p *tcpPhone) reply(req *siplib.Request, code int, tag string, body []byte) {
	p.t.Helper()
	res := siplib.NewResponseFromRequest(req, code, statusPhrase(code), body)
	if tag != "" {
		res.To().Params.Add("tag", tag)
	}
	if code >= 180 && code < 300 {
		res.AppendHeader(&siplib.ContactHeader{Address: p.contact()})
	}
	if len(body) > 0 {
		res.AppendHeader(siplib.NewHeader("Content-Type", "application/sdp"))
	}
	p.send(res)
}

func (p *tcpPhone) sdp() []byte {
	return []byte(fmt.Sprintf("v=0\r\no=tcp 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n", p.rtp.LocalAddr().(*net.UDPAddr).Port))
}

// register binds the phone's contact (with q) over its connection.
func (p *tcpPhone) register(q string) {
	p.t.Helper()
	ct := p.contact()
	req := registrartest.Req{Contacts: []string{"<" + ct.String() + ">;q=" + q}}
	for range 2 {
		text := strings.Replace(p.reg.Build(req), "SIP/2.0/UDP "+p.reg.Addr().String(), "SIP/2.0/TCP "+p.local(), 1)
		if _, err := p.conn.Write([]byte(text)); err != nil {
			p.t.Fatal(err)
		}
		res := p.response(siplib.REGISTER)
		switch res.StatusCode {
		case 200:
			return
		case 401:
			var err error
			if req.Auth, err = p.reg.Answer(res, siplib.REGISTER); err != nil {
				p.t.Fatal(err)
			}
		default:
			p.t.Fatalf("REGISTER over TCP: %d %s", res.StatusCode, res.Reason)
		}
	}
	p.t.Fatal("REGISTER over TCP: challenged twice")
}

// invite sends an INVITE to number through the router over the
// connection, with credentials answering challenge when given.
func (p *tcpPhone) invite(number, callID, tag string, cseq uint32, challenge *siplib.Response) *siplib.Request {
	p.t.Helper()
	ruri := siplib.Uri{Scheme: "sip", User: number, Host: p.server.Addr().String(), Port: int(p.server.Port())}
	req := siplib.NewRequest(siplib.INVITE, ruri)
	la := netip.MustParseAddrPort(p.local())
	req.AppendHeader(&siplib.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "TCP",
		Host: la.Addr().String(), Port: int(la.Port()), Params: siplib.HeaderParams{{K: "branch", V: siplib.GenerateBranch()}}})
	mf := siplib.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	from := siplib.Uri{Scheme: "sip", User: p.user, Host: p.server.Addr().String(), Port: int(p.server.Port())}
	req.AppendHeader(&siplib.FromHeader{Address: from, Params: siplib.HeaderParams{{K: "tag", V: tag}}})
	req.AppendHeader(&siplib.ToHeader{Address: ruri})
	cid := siplib.CallIDHeader(callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&siplib.CSeqHeader{SeqNo: cseq, MethodName: siplib.INVITE})
	req.AppendHeader(&siplib.ContactHeader{Address: p.contact()})
	if challenge != nil {
		chal, err := digest.ParseChallenge(challenge.GetHeader("WWW-Authenticate").Value())
		if err != nil {
			p.t.Fatal(err)
		}
		cred, err := digest.Digest(chal, digest.Options{Method: "INVITE", URI: ruri.String(), Username: p.user, Password: p.pw, Count: 1})
		if err != nil {
			p.t.Fatal(err)
		}
		req.AppendHeader(siplib.NewHeader("Authorization", cred.String()))
	}
	req.AppendHeader(siplib.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(p.sdp())
	p.send(req)
	return req
}

// inDialog sends a request of method in the dialog of a call the router
// placed to the phone (inv, the router's INVITE; tag, the phone's).
func (p *tcpPhone) inDialog(inv *siplib.Request, tag string, method siplib.RequestMethod, cseq uint32) {
	p.t.Helper()
	req := siplib.NewRequest(method, inv.Contact().Address)
	la := netip.MustParseAddrPort(p.local())
	req.AppendHeader(&siplib.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "TCP",
		Host: la.Addr().String(), Port: int(la.Port()), Params: siplib.HeaderParams{{K: "branch", V: siplib.GenerateBranch()}}})
	mf := siplib.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	from := inv.To().AsFrom()
	from.Params = siplib.HeaderParams{{K: "tag", V: tag}}
	req.AppendHeader(&from)
	to := inv.From().AsTo()
	req.AppendHeader(&to)
	req.AppendHeader(siplib.HeaderClone(inv.CallID()))
	req.AppendHeader(&siplib.CSeqHeader{SeqNo: cseq, MethodName: method})
	req.SetBody(nil)
	p.send(req)
}

// usersOnRegistrar is router mode's users' line as the switchboard builds
// it: a stack mounted on a registrar serving users 201 and 202 (UDP and
// TCP on one port), INVITEs admitted by digest, users located by their
// bindings.
func usersOnRegistrar(t *testing.T) (*Line, *registrar.Registrar, chan *Call) {
	t.Helper()
	reg, err := registrar.New(registrar.Options{Listen: "127.0.0.1:0", Logger: testLogger(t),
		Users: []registrar.User{{Name: "201", Password: "pw-201"}, {Name: "202", Password: "pw-202"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	cfg := testStackConfig()
	cfg.Listen, cfg.KeepAlive = reg.LocalAddr().String(), 0
	st, err := NewStackOn(cfg, Mount{UA: reg.UserAgent(), Client: reg.Client(), Conn: reg.UDPConn(), Handle: reg.Handle},
		WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	users, err := NewLine(st, Account{Number: "router", ServiceDomain: reg.LocalAddr().String(), Codecs: []string{"PCMU", "PCMA"}},
		LineOptions{Logger: testLogger(t), Admit: reg.Authenticate, Locate: func(user string) []UserContact {
			var out []UserContact
			for _, b := range reg.Lookup(user) {
				var u siplib.Uri
				if siplib.ParseUri(b.Contact, &u) == nil {
					out = append(out, UserContact{Contact: u, Dest: b.Source, Transport: strings.ToLower(b.Transport)})
				}
			}
			return out
		}})
	if err != nil {
		t.Fatal(err)
	}
	calls := make(chan *Call, 4)
	users.OnIncoming(func(c *Call) { calls <- c })
	return users, reg, calls
}

// TestUsersLineCallsTCPPhone: a user registered over TCP is called over
// the connection it registered on (INVITE with a TCP Via and a
// ;transport=tcp Contact, ACK, re-INVITE, BYE, CANCEL all on it, though
// its Contact names a port where nothing listens), hangs up on it, calls
// out on it and gets our BYE on it; once its connection is closed, a call
// to it fails at once, and a call ringing it ends when it closes.
func TestUsersLineCallsTCPPhone(t *testing.T) {
	t.Parallel()
	users, reg, calls := usersOnRegistrar(t)
	phone := newTCPPhone(t, reg.LocalAddr(), "202", "pw-202")
	phone.register("1.0")
	ctx := context.Background()
	caller := call.DialOptions{Caller: call.Party{Number: "201"}}

	dialAnswered := func(tag string) (*Call, *siplib.Request) {
		t.Helper()
		leg, err := users.Dial(ctx, "202", caller)
		if err != nil {
			t.Fatalf("calling the TCP phone: %v", err)
		}
		inv := phone.request(siplib.INVITE)
		phone.reply(inv, 180, tag, nil)
		phone.reply(inv, 200, tag, phone.sdp())
		c := leg.(*Call)
		waitEvent(t, c, call.Answered)
		phone.request(siplib.ACK)
		return c, inv
	}

	// We call it and hang up; a hold in between is a re-INVITE.
	c, inv := dialAnswered("p1")
	if via := inv.Via(); via.Transport != "TCP" || via.Host+":"+fmt.Sprint(via.Port) != reg.LocalAddr().String() {
		t.Errorf("INVITE's Via %s, want TCP from %s", via.Value(), reg.LocalAddr())
	}
	ct := inv.Contact().Address
	if tr, _ := ct.UriParams.Get("transport"); tr != "tcp" || ct.HostPort() != reg.LocalAddr().String() {
		t.Errorf("INVITE's Contact %s, want ;transport=tcp at %s", ct.String(), reg.LocalAddr())
	}
	if want := phone.contact(); inv.Recipient.User != "202" || inv.Recipient.Port != want.Port {
		t.Errorf("INVITE's Request-URI %s, want the registered contact %s", inv.Recipient.String(), want.String())
	}
	held := make(chan error, 1)
	go func() { held <- c.Hold() }()
	reinv := phone.request(siplib.INVITE)
	if sdpDirection(reinv.Body()) != "sendonly" {
		t.Errorf("hold re-INVITE offers %q", sdpDirection(reinv.Body()))
	}
	phone.reply(reinv, 200, "", phone.sdp())
	phone.request(siplib.ACK)
	if err := <-held; err != nil {
		t.Fatalf("hold over TCP: %v", err)
	}
	c.Hangup(call.Normal)
	bye := phone.request(siplib.BYE)
	phone.reply(bye, 200, "", nil)

	// It hangs up: its BYE on the connection ends our call.
	c, inv = dialAnswered("p2")
	phone.inDialog(inv, "p2", siplib.BYE, 1)
	if res := phone.response(siplib.BYE); res.StatusCode != 200 {
		t.Errorf("the phone's BYE: %d", res.StatusCode)
	}
	if ev := waitEvent(t, c, call.Ended); !ev.Remote {
		t.Errorf("the phone's BYE ended the call as %+v", ev)
	}

	// We give up while it rings: CANCEL on the connection.
	leg, err := users.Dial(ctx, "202", caller)
	if err != nil {
		t.Fatal(err)
	}
	inv = phone.request(siplib.INVITE)
	phone.reply(inv, 180, "p3", nil)
	waitEvent(t, leg.(*Call), call.Progress)
	leg.Hangup(call.Cancelled)
	cancel := phone.request(siplib.CANCEL)
	phone.reply(cancel, 200, "", nil)
	phone.reply(inv, 487, "p3", nil)
	phone.request(siplib.ACK)
	waitEvent(t, leg.(*Call), call.Ended)

	// It calls out over the connection; we answer and hang up: our 200's
	// Contact is TCP, our BYE comes on the connection.
	first := phone.invite("201", "out-1", "q1", 1, nil)
	chal := phone.response(siplib.INVITE)
	if chal.StatusCode != 401 {
		t.Fatalf("INVITE without credentials: %d", chal.StatusCode)
	}
	phone.ack(first, chal)
	second := phone.invite("201", "out-1", "q1", 2, chal)
	in := nextCall(t, calls)
	if in.AuthUser() != "202" {
		t.Fatalf("the call over TCP is from %q", in.AuthUser())
	}
	if err := in.Answer(); err != nil {
		t.Fatal(err)
	}
	ok := phone.response(siplib.INVITE)
	if tr, _ := ok.Contact().Address.UriParams.Get("transport"); ok.StatusCode != 200 || tr != "tcp" {
		t.Fatalf("our answer over TCP: %d, Contact %s", ok.StatusCode, ok.Contact().Value())
	}
	phone.ack(second, ok)
	waitEvent(t, in, call.Answered)
	time.Sleep(50 * time.Millisecond) // the ACK confirms the dialog
	in.Hangup(call.Normal)
	bye = phone.request(siplib.BYE)
	if bye.CallID().Value() != "out-1" {
		t.Fatalf("BYE for %s", bye.CallID().Value())
	}
	phone.reply(bye, 200, "", nil)

	// It goes away while being rung: the call ends at once, not after the
	// INVITE's 32 s.
	leg, err = users.Dial(ctx, "202", caller)
	if err != nil {
		t.Fatal(err)
	}
	phone.request(siplib.INVITE)
	phone.conn.Close()
	<-phone.gone
	start := time.Now()
	select {
	case ev := <-waitEnded(leg.(*Call)):
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("the call to a phone whose connection closed ended after %v", d)
		}
		t.Logf("call ended %v after the connection closed: %s %s", time.Since(start), ev.Cause, ev.Detail)
	case <-time.After(10 * time.Second):
		t.Fatal("the call to a phone whose connection closed still rings after 10 s")
	}

	// Now gone: a call to it fails at once, as to an unregistered user.
	phone.hangUpConnection(users)
	if len(reg.Lookup("202")) != 1 {
		t.Fatalf("the binding should outlive the connection (until it expires): %+v", reg.Lookup("202"))
	}
	start = time.Now()
	if _, err := users.Dial(ctx, "202", caller); !errors.Is(err, ErrNotRegistered) || time.Since(start) > time.Second {
		t.Fatalf("a call to the phone with its connection closed: %v after %v", err, time.Since(start))
	}
}

// ack acknowledges the answer res to the phone's INVITE inv: on the
// INVITE's branch for a refusal, a new one for a 2xx (RFC 3261 §17.1.1.3,
// §13.2.2.4).
func (p *tcpPhone) ack(inv *siplib.Request, res *siplib.Response) {
	p.t.Helper()
	req := siplib.NewRequest(siplib.ACK, inv.Recipient)
	via := inv.Via().Clone()
	if res.IsSuccess() {
		via.Params = siplib.HeaderParams{{K: "branch", V: siplib.GenerateBranch()}}
	}
	req.AppendHeader(via)
	mf := siplib.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(siplib.HeaderClone(inv.From()))
	req.AppendHeader(siplib.HeaderClone(res.To()))
	req.AppendHeader(siplib.HeaderClone(inv.CallID()))
	req.AppendHeader(&siplib.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: siplib.ACK})
	req.SetBody(nil)
	p.send(req)
}

// hangUpConnection closes the phone's connection and waits until the
// users' line no longer finds it (the registrar read its end).
func (p *tcpPhone) hangUpConnection(users *Line) {
	p.t.Helper()
	p.conn.Close()
	<-p.gone
	phone := netip.MustParseAddrPort(p.local())
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, open := users.st.userFlowLocal(phone); !open {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatal("the registrar still holds the phone's closed connection after 2 s")
		}
	}
}

// waitEnded delivers the call's Ended event.
func waitEnded(c *Call) <-chan call.Event {
	ch := make(chan call.Event, 1)
	go func() {
		for ev := range c.Events() {
			if ev.Kind == call.Ended {
				ch <- ev
				return
			}
		}
	}()
	return ch
}

// TestUsersLineTCPAndUDPPhones: a user with a TCP and a UDP phone is
// rung on the registrar's most preferred one (q), over its transport;
// with the TCP phone's connection gone, the UDP phone is rung instead.
func TestUsersLineTCPAndUDPPhones(t *testing.T) {
	t.Parallel()
	users, reg, _ := usersOnRegistrar(t)
	desk := registrartest.NewPhone(t, reg.LocalAddr(), "202", "pw-202")
	if res, err := desk.Register(registrartest.Req{Contacts: []string{"<" + desk.Contact() + ">;q=0.5"}}); err != nil || res.StatusCode != 200 {
		t.Fatalf("UDP phone: %v %v", res, err)
	}
	mobile := newTCPPhone(t, reg.LocalAddr(), "202", "pw-202")
	mobile.register("0.9")
	ctx := context.Background()

	leg, err := users.Dial(ctx, "202", call.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	inv := mobile.request(siplib.INVITE)
	if inv.Via().Transport != "TCP" {
		t.Errorf("the preferred (TCP) phone got an INVITE with Via %s", inv.Via().Value())
	}
	mobile.reply(inv, 180, "m1", nil)
	waitEvent(t, leg.(*Call), call.Progress)
	leg.Hangup(call.Cancelled)
	mobile.reply(mobile.request(siplib.CANCEL), 200, "", nil)
	mobile.reply(inv, 487, "m1", nil)
	mobile.request(siplib.ACK)

	mobile.hangUpConnection(users)
	leg, err = users.Dial(ctx, "202", call.DialOptions{})
	if err != nil {
		t.Fatalf("with the TCP phone gone, the UDP one should be rung: %v", err)
	}
	defer leg.Hangup(call.Cancelled)
	deadline := time.After(5 * time.Second)
	for {
		select {
		case req := <-desk.Requests():
			if req.Method != siplib.INVITE {
				continue
			}
			if req.Via().Transport != "UDP" {
				t.Errorf("the UDP phone's INVITE has Via %s", req.Via().Value())
			}
			return
		case <-deadline:
			t.Fatal("the UDP phone was not rung after the TCP phone went away")
		}
	}
}

// TestUsersLineTwoTCPPhones: each of two users' TCP phones gets its own
// call's requests: the registrar's listening address names whichever
// connection it accepted last in sipgo's pool, so a request must find its
// connection by the phone's address alone.
func TestUsersLineTwoTCPPhones(t *testing.T) {
	t.Parallel()
	users, reg, _ := usersOnRegistrar(t)
	kitchen := newTCPPhone(t, reg.LocalAddr(), "201", "pw-201")
	kitchen.register("1.0")
	hall := newTCPPhone(t, reg.LocalAddr(), "202", "pw-202") // accepted last
	hall.register("1.0")

	leg, err := users.Dial(context.Background(), "201", call.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	inv := kitchen.request(siplib.INVITE)
	kitchen.reply(inv, 200, "k1", kitchen.sdp())
	waitEvent(t, leg.(*Call), call.Answered)
	kitchen.request(siplib.ACK)
	leg.Hangup(call.Normal)
	kitchen.reply(kitchen.request(siplib.BYE), 200, "", nil)
	hall.mu.Lock()
	stray := len(hall.pending) + len(hall.in)
	hall.mu.Unlock()
	if stray != 0 {
		t.Errorf("202's phone got %d of 201's requests", stray)
	}
}
