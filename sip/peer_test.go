package sip

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	siplib "github.com/emiago/sipgo/sip"

	"github.com/openata/ata/call"
)

// peer is a scripted SIP far end on a loopback socket: the line's
// registrar (so the ATA's INVITEs come to it) and the other party of its
// calls. It parses what it receives and sends what the test builds.
type peer struct {
	t    *testing.T
	conn *net.UDPConn
	rtp  *net.UDPConn // its media socket, named in its SDP
	ata  netip.AddrPort

	mu      sync.Mutex
	pending []siplib.Message
	in      chan siplib.Message
}

func newPeer(t *testing.T) *peer {
	t.Helper()
	return newPeerAt(t, net.IPv4(127, 0, 0, 1))
}

// newPeerAt is a peer on another loopback address (a trunk's, a stranger's).
func newPeerAt(t *testing.T, ip net.IP) *peer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
	if err != nil {
		t.Fatal(err)
	}
	r, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{t: t, conn: c, rtp: r, in: make(chan siplib.Message, 64)}
	t.Cleanup(func() { c.Close(); r.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, _, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if strings.TrimSpace(string(buf[:n])) == "" {
				continue
			}
			msg, err := siplib.ParseMessage(append([]byte(nil), buf[:n]...))
			if err != nil {
				t.Logf("peer: unparsable datagram: %v\n%s", err, buf[:n])
				continue
			}
			p.in <- msg
		}
	}()
	return p
}

func (p *peer) addr() string { return p.conn.LocalAddr().String() }

func (p *peer) rtpPort() int { return p.rtp.LocalAddr().(*net.UDPAddr).Port }

// next returns the first message (held back or arriving within 5 s) that
// match accepts; the others are kept for later.
func (p *peer) next(what string, match func(siplib.Message) bool) siplib.Message {
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
	deadline := time.After(5 * time.Second)
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
			p.t.Fatalf("peer: no %s within 5 s", what)
			return nil
		}
	}
}

// request waits for a request of method.
func (p *peer) request(method siplib.RequestMethod) *siplib.Request {
	p.t.Helper()
	return p.next(string(method), func(m siplib.Message) bool {
		r, ok := m.(*siplib.Request)
		return ok && r.Method == method
	}).(*siplib.Request)
}

// response waits for a response to a request of method.
func (p *peer) response(method siplib.RequestMethod) *siplib.Response {
	p.t.Helper()
	return p.next("response to "+string(method), func(m siplib.Message) bool {
		r, ok := m.(*siplib.Response)
		return ok && r.CSeq().MethodName == method && r.StatusCode >= 200
	}).(*siplib.Response)
}

// none checks that no request of method arrives within d.
func (p *peer) none(method siplib.RequestMethod, d time.Duration) {
	p.t.Helper()
	deadline := time.After(d)
	for {
		p.mu.Lock()
		for _, m := range p.pending {
			if r, ok := m.(*siplib.Request); ok && r.Method == method {
				p.mu.Unlock()
				p.t.Fatalf("peer: unexpected %s:\n%s", method, r)
			}
		}
		p.mu.Unlock()
		select {
		case m := <-p.in:
			if r, ok := m.(*siplib.Request); ok && r.Method == method {
				p.t.Fatalf("peer: unexpected %s:\n%s", method, r)
			}
			p.mu.Lock()
			p.pending = append(p.pending, m)
			p.mu.Unlock()
		case <-deadline:
			return
		}
	}
}

func (p *peer) send(m siplib.Message) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDPAddrPort([]byte(m.String()), p.ata); err != nil {
		p.t.Fatal(err)
	}
}

// reply answers req; a response creating a dialog gets tag and a Contact.
func (p *peer) reply(req *siplib.Request, code int, tag string, body []byte, hdrs ...siplib.Header) *siplib.Response {
	p.t.Helper()
	res := siplib.NewResponseFromRequest(req, code, statusPhrase(code), body)
	if tag != "" { // NewResponseFromRequest made up one
		res.To().Params.Add("tag", tag)
	}
	if code >= 180 && code < 300 && res.Contact() == nil {
		res.AppendHeader(&siplib.ContactHeader{Address: p.uri("2000")})
	}
	if len(body) > 0 && res.ContentType() == nil {
		res.AppendHeader(siplib.NewHeader("Content-Type", "application/sdp"))
	}
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	p.send(res)
	return res
}

func (p *peer) uri(user string) siplib.Uri {
	a := netip.MustParseAddrPort(p.addr())
	return siplib.Uri{Scheme: "sip", User: user, Host: a.Addr().String(), Port: int(a.Port())}
}

// sdp is the peer's offer or answer with direction dir ("" is sendrecv)
// on address addr ("" is 127.0.0.1).
func (p *peer) sdp(dir, addr string) []byte {
	if addr == "" {
		addr = "127.0.0.1"
	}
	if dir == "" {
		dir = "sendrecv"
	}
	return []byte(fmt.Sprintf("v=0\r\no=far 1 %d IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=%s\r\n",
		time.Now().UnixNano()%1e6, addr, p.rtpPort(), dir))
}

// pdialog is the peer's side of a dialog with the ATA.
type pdialog struct {
	callID        string
	from, to      siplib.Uri // the peer's address, the ATA's
	fromTag       string     // the peer's tag
	toTag         string     // the ATA's tag
	target        siplib.Uri // the ATA's Contact
	cseq          uint32
	peerIsCaller  bool
	inviteRequest *siplib.Request
}

// inDialog sends a request of method in d from the peer.
func (p *peer) inDialog(d *pdialog, method siplib.RequestMethod, ctype string, body []byte, hdrs ...siplib.Header) *siplib.Request {
	p.t.Helper()
	d.cseq++
	req := siplib.NewRequest(method, d.target)
	req.AppendHeader(&siplib.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
		Host: p.uri("").Host, Port: p.uri("").Port, Params: siplib.HeaderParams{{K: "branch", V: siplib.GenerateBranch()}}})
	mf := siplib.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(&siplib.FromHeader{Address: d.from, Params: siplib.HeaderParams{{K: "tag", V: d.fromTag}}})
	req.AppendHeader(&siplib.ToHeader{Address: d.to, Params: siplib.HeaderParams{{K: "tag", V: d.toTag}}})
	cid := siplib.CallIDHeader(d.callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&siplib.CSeqHeader{SeqNo: d.cseq, MethodName: method})
	req.AppendHeader(&siplib.ContactHeader{Address: p.uri("2000")})
	if ctype != "" {
		req.AppendHeader(siplib.NewHeader("Content-Type", ctype))
	}
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	req.SetBody(body)
	p.send(req)
	return req
}

// ack acknowledges the ATA's 2xx to our INVITE.
func (p *peer) ack(d *pdialog, cseq uint32) {
	p.t.Helper()
	req := siplib.NewRequest(siplib.ACK, d.target)
	req.AppendHeader(&siplib.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
		Host: p.uri("").Host, Port: p.uri("").Port, Params: siplib.HeaderParams{{K: "branch", V: siplib.GenerateBranch()}}})
	mf := siplib.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(&siplib.FromHeader{Address: d.from, Params: siplib.HeaderParams{{K: "tag", V: d.fromTag}}})
	req.AppendHeader(&siplib.ToHeader{Address: d.to, Params: siplib.HeaderParams{{K: "tag", V: d.toTag}}})
	cid := siplib.CallIDHeader(d.callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&siplib.CSeqHeader{SeqNo: cseq, MethodName: siplib.ACK})
	req.SetBody(nil)
	p.send(req)
}

// testLine is a line whose registrar (and so every call) is peer p.
func testLine(t *testing.T, p *peer, mutate ...func(*Account)) *Line {
	t.Helper()
	st := newTestStack(t, "127.0.0.1:0", false)
	acct := Account{Number: "1001", ServiceDomain: "voip.test", Registrar: p.addr(), Codecs: []string{"PCMU"}}
	for _, m := range mutate {
		m(&acct)
	}
	l, err := NewLine(st, acct, LineOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	p.ata = st.LocalAddr()
	return l
}

// outgoing places a call from l to the peer, which answers it with
// extra headers in its 200 OK.
func outgoing(t *testing.T, p *peer, l *Line, extra ...siplib.Header) (*Call, *pdialog) {
	t.Helper()
	c, err := l.DialCall(context.Background(), "2000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Hangup(call.Normal) })
	inv := p.request(siplib.INVITE)
	tag := siplib.GenerateTagN(8)
	p.reply(inv, 180, tag, nil)
	p.reply(inv, 200, tag, p.sdp("", ""), extra...)
	p.request(siplib.ACK)
	waitEvent(t, c, call.Answered)
	fromTag, _ := inv.From().Params.Get("tag")
	return c, &pdialog{callID: inv.CallID().Value(), from: inv.To().Address, to: inv.From().Address,
		fromTag: tag, toTag: fromTag, target: inv.Contact().Address, cseq: 100, inviteRequest: inv}
}

// incoming has the peer call l with extra headers; the test answers.
func (p *peer) invite(l *Line, extra ...siplib.Header) (*siplib.Request, *pdialog) {
	p.t.Helper()
	d := &pdialog{callID: siplib.GenerateTagN(12) + "@peer", from: p.uri("2000"),
		to: siplib.Uri{Scheme: "sip", User: "1001", Host: "voip.test"}, fromTag: siplib.GenerateTagN(8),
		target:       siplib.Uri{Scheme: "sip", User: "1001", Host: p.ata.Addr().String(), Port: int(p.ata.Port())},
		peerIsCaller: true}
	d.cseq = 0
	req := p.inDialogNoToTag(d, extra...)
	d.inviteRequest = req
	return req, d
}

func (p *peer) inDialogNoToTag(d *pdialog, extra ...siplib.Header) *siplib.Request {
	d.cseq++
	req := siplib.NewRequest(siplib.INVITE, d.target)
	req.AppendHeader(&siplib.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
		Host: p.uri("").Host, Port: p.uri("").Port, Params: siplib.HeaderParams{{K: "branch", V: siplib.GenerateBranch()}}})
	mf := siplib.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(&siplib.FromHeader{DisplayName: "Far", Address: d.from, Params: siplib.HeaderParams{{K: "tag", V: d.fromTag}}})
	req.AppendHeader(&siplib.ToHeader{Address: d.to})
	cid := siplib.CallIDHeader(d.callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&siplib.CSeqHeader{SeqNo: d.cseq, MethodName: siplib.INVITE})
	req.AppendHeader(&siplib.ContactHeader{Address: p.uri("2000")})
	req.AppendHeader(siplib.NewHeader("Content-Type", "application/sdp"))
	for _, h := range extra {
		req.AppendHeader(h)
	}
	req.SetBody(p.sdp("", ""))
	p.send(req)
	return req
}

// incoming has the peer call l and the test answer: an established call.
func incoming(t *testing.T, p *peer, l *Line, extra ...siplib.Header) (*Call, *pdialog) {
	t.Helper()
	calls := make(chan *Call, 1)
	l.OnIncoming(func(c *Call) { calls <- c })
	_, d := p.invite(l, extra...)
	c := nextCall(t, calls)
	t.Cleanup(func() { c.Hangup(call.Normal) })
	if err := c.Answer(); err != nil {
		t.Fatal(err)
	}
	ok := p.response(siplib.INVITE)
	if ok.StatusCode != 200 {
		t.Fatalf("answer %d", ok.StatusCode)
	}
	d.toTag, _ = ok.To().Params.Get("tag")
	d.target = ok.Contact().Address
	p.ack(d, 1)
	waitEvent(t, c, call.Answered)
	time.Sleep(50 * time.Millisecond) // the ACK confirms the dialog
	return c, d
}

func nextCall(t *testing.T, calls <-chan *Call) *Call {
	t.Helper()
	select {
	case c := <-calls:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no incoming call")
		return nil
	}
}

// nextEvent returns the call's next event other than DTMF... or any
// event when kinds is empty, failing after 5 s.
func nextEvent(t *testing.T, c *Call) call.Event {
	t.Helper()
	select {
	case ev, ok := <-c.Events():
		if !ok {
			t.Fatal("events closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
		return call.Event{}
	}
}

// noEvent checks that the call reports nothing of kind within d.
func noEvent(t *testing.T, c *Call, kind call.EventKind, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				return
			}
			if ev.Kind == kind {
				t.Fatalf("unexpected %v event: %+v", kind, ev)
			}
		case <-deadline:
			return
		}
	}
}

func sdpDirection(body []byte) string {
	for _, d := range []string{"sendrecv", "sendonly", "recvonly", "inactive"} {
		if strings.Contains(string(body), "a="+d+"\r\n") {
			return d
		}
	}
	return ""
}

func hdr(m interface{ GetHeader(string) siplib.Header }, name string) string {
	if h := m.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}
