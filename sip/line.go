package sip

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	siplib "github.com/emiago/sipgo/sip"

	"github.com/openata/ata/call"

	"github.com/openata/ata/media/codec"
	"github.com/openata/ata/media/jitter"
	"github.com/openata/ata/media/sdp"
)

// LineOptions tune a Line; zero values take the defaults.
type LineOptions struct {
	// Resolver finds the proxy's addresses (default net.DefaultResolver).
	Resolver Resolver
	// RTPPortMin and RTPPortMax bound the ports calls use, both included:
	// an even RTP port and the odd RTCP port above it (default the
	// stack's StackConfig range, else 10000..20000).
	RTPPortMin, RTPPortMax int
	// Jitter configures each call's jitter buffer.
	Jitter jitter.Config
	// LocalAddr finds our address towards remote when sip.listen is a
	// wildcard (default: the kernel's route choice).
	LocalAddr func(remote netip.AddrPort) (netip.Addr, error)
	// PublicAddr, when set and valid, is our address as the provider sees
	// it (Registration.PublicAddr): calls' Contact uses it so that the
	// far end's in-dialog requests reach us through the NAT.
	PublicAddr func() netip.AddrPort
	// Clock times session timers and the RTP timeout (default SystemClock).
	Clock Clock
	// SessionExpires is the session interval (RFC 4028) our INVITEs ask
	// for and our answers set when the caller asked none (default 1800 s;
	// at least the Min-SE of 90 s).
	SessionExpires time.Duration
	Logger         *slog.Logger
	// Admit, when set, makes the line the users' line of router mode: it
	// takes every new INVITE on its stack, each first checked by Admit
	// (digest credentials of a local user). Admit answers a request it
	// refuses itself (401 with a challenge, 403) or drops it, and returns
	// ok false; else the user name, which the call reports as AuthUser.
	Admit func(req *siplib.Request, tx siplib.ServerTransaction) (user string, ok bool)
	// Locate, with Admit, is where Dial finds a user: its registered
	// phones, most preferred first (none: not registered). Dial calls the
	// first it can reach (a TCP phone only over its open connection).
	Locate func(user string) []UserContact
	// ServiceRoute, when set, is the registration's Service-Route (RFC
	// 3608, Registration.ServiceRoute): the INVITEs of calls carry it as
	// their preloaded Route set.
	ServiceRoute func() []siplib.Uri
}

// Line is one SIP account's calls: it places calls through the outbound
// proxy (or the registrar) and takes the INVITEs addressed to its number.
type Line struct {
	st     *Stack
	acct   Account
	opt    LineOptions
	log    *slog.Logger
	aor    siplib.Uri
	codecs []codec.Codec

	mu         sync.Mutex
	calls      map[string]*Call // by Call-ID
	onIncoming func(*Call)
}

var _ call.Dialer = (*Line)(nil)

// NewLine prepares the calls of account acct on st and routes INVITE,
// ACK, BYE, CANCEL, INFO, UPDATE, REFER and NOTIFY to it.
func NewLine(st *Stack, acct Account, opt LineOptions) (*Line, error) {
	cfg := acct
	if opt.Resolver == nil {
		opt.Resolver = net.DefaultResolver
	}
	if opt.RTPPortMin == 0 {
		opt.RTPPortMin, opt.RTPPortMax = st.cfg.RTPPortMin, st.cfg.RTPPortMax
	}
	if opt.RTPPortMin == 0 {
		opt.RTPPortMin, opt.RTPPortMax = 10000, 20000
	}
	if opt.RTPPortMin < 1024 || opt.RTPPortMax > 65535 || rtpPairs(opt.RTPPortMin, opt.RTPPortMax) < 1 {
		return nil, fmt.Errorf("sip: line %s: RTP ports %d..%d", cfg.Number, opt.RTPPortMin, opt.RTPPortMax)
	}
	if opt.LocalAddr == nil {
		opt.LocalAddr = routeLocalAddr
	}
	if opt.Clock == nil {
		opt.Clock = SystemClock{}
	}
	if opt.SessionExpires == 0 {
		opt.SessionExpires = defaultSessionExpires
	}
	if opt.SessionExpires < minSessionExpires {
		return nil, fmt.Errorf("sip: line %s: session expires %v below the Min-SE %v", cfg.Number, opt.SessionExpires, minSessionExpires)
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	host, port, err := splitHostPort(cfg.ServiceDomain)
	if err != nil {
		return nil, fmt.Errorf("sip: line %s: service domain: %w", cfg.Number, err)
	}
	l := &Line{
		st: st, acct: acct, opt: opt,
		log:   opt.Logger.With("line", cfg.Number),
		aor:   siplib.Uri{Scheme: "sip", User: cfg.Number, Host: host, Port: int(port)},
		calls: map[string]*Call{},
	}
	for _, name := range cfg.Codecs {
		c, ok := codec.ByName(name)
		if !ok {
			return nil, fmt.Errorf("sip: line %s: unknown codec %q", cfg.Number, name)
		}
		l.codecs = append(l.codecs, c)
	}
	if acct.IsTrunk() {
		st.SetTrustedNetworks("trunk:"+acct.Number, acct.TrunkFrom)
	}
	st.lineRouter().add(l)
	return l, nil
}

// router hands each request to the line it is for: a request in a call to
// the line that has the call, a new INVITE to the line whose number its
// Request-URI names. Several lines share one stack (one socket).
type router struct {
	mu    sync.Mutex
	lines []*Line
}

// lineRouter returns the stack's router, installing it on first use.
func (st *Stack) lineRouter() *router {
	st.routerOnce.Do(func() {
		r := &router{}
		st.router = r
		st.Handle(siplib.INVITE, st.admitInvites(r.invite))
		st.Handle(siplib.ACK, r.inCall((*Line).handleAck))
		st.Handle(siplib.BYE, r.inCall((*Line).handleBye))
		st.Handle(siplib.INFO, r.inCall((*Line).handleInfo))
		st.Handle(siplib.UPDATE, r.inCall((*Line).handleUpdate))
		st.Handle(siplib.PRACK, r.inCall((*Line).handlePrack)) // invite.go
		st.Handle(siplib.REFER, r.inCall((*Line).handleRefer))
		st.Handle(siplib.NOTIFY, st.routeNotify(r)) // calls, then message waiting (mwi.go)
		st.Handle(siplib.CANCEL, func(req *siplib.Request, tx siplib.ServerTransaction) {
			// sipgo's INVITE server transaction answers the CANCEL and sends
			// 487; a CANCEL matching no transaction is answered here.
			respond(tx, req, siplib.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		})
	})
	return st.router
}

func (r *router) add(l *Line) {
	r.mu.Lock()
	r.lines = append(r.lines, l)
	r.mu.Unlock()
}

func (r *router) snapshot() []*Line {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*Line(nil), r.lines...)
}

// owner is the line with req's call, or nil.
func (r *router) owner(req *siplib.Request) *Line {
	for _, l := range r.snapshot() {
		if l.find(req) != nil {
			return l
		}
	}
	return nil
}

// inCall routes a request that belongs to a call.
func (r *router) inCall(h func(*Line, *siplib.Request, siplib.ServerTransaction)) Handler {
	return func(req *siplib.Request, tx siplib.ServerTransaction) {
		if l := r.owner(req); l != nil {
			h(l, req, tx)
			return
		}
		if !req.IsAck() {
			respond(tx, req, siplib.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		}
	}
}

func (r *router) invite(req *siplib.Request, tx siplib.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		r.inCall((*Line).handleInvite)(req, tx)
		return
	}
	lines := r.snapshot()
	for _, l := range lines {
		if l.opt.Admit != nil { // the users' line takes every new INVITE it admits
			user, ok := l.opt.Admit(req, tx)
			if !ok {
				return
			}
			l.handleInviteFrom(req, tx, user)
			return
		}
	}
	if src, err := netip.ParseAddrPort(req.Source()); err == nil {
		for _, l := range lines {
			if l.acct.IsTrunk() && inNetworks(src.Addr(), l.acct.TrunkFrom) {
				l.handleInvite(req, tx) // a trunk's calls ring whatever number they name
				return
			}
		}
	}
	for _, l := range lines {
		if !l.acct.IsTrunk() && RequestURIMatches(req, l.acct.Number) {
			l.handleInvite(req, tx)
			return
		}
	}
	// The ghost-call defence: only INVITEs for one of our numbers ring.
	if len(lines) > 0 {
		lines[0].log.Info("sip: INVITE for another user refused", "ruri", req.Recipient.String(), "src", req.Source())
	}
	respond(tx, req, siplib.StatusNotFound, "Not Found")
}

func inNetworks(a netip.Addr, nets []netip.Prefix) bool {
	for _, p := range nets {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// OnIncoming sets the function given each incoming call. It runs on the
// SIP goroutine and must not block: hand the call over and return.
func (l *Line) OnIncoming(f func(*Call)) {
	l.mu.Lock()
	l.onIncoming = f
	l.mu.Unlock()
}

// target is where out-of-dialog requests go: the outbound proxy if set,
// else the registrar (default: the service domain), resolved per RFC 3263.
func (l *Line) target(ctx context.Context) (netip.AddrPort, *siplib.Uri, error) {
	hp := l.acct.RegistrarAddr()
	var route *siplib.Uri
	if l.acct.OutboundProxy != "" {
		hp = l.acct.OutboundProxy
		h, p, err := splitHostPort(hp)
		if err != nil {
			return netip.AddrPort{}, nil, err
		}
		route = &siplib.Uri{Scheme: "sip", Host: h, Port: int(p), UriParams: siplib.HeaderParams{{K: "lr"}}}
	}
	if f := l.st.accountFlow(&l.acct); f != nil {
		return f.remote, route, nil // the registered connection
	}
	transport := l.st.transportOf(ctx, l.opt.Resolver, &l.acct)
	addrs, err := resolveFor(ctx, l.opt.Resolver, hp, transport)
	if err != nil {
		return netip.AddrPort{}, nil, err
	}
	if len(addrs) == 0 {
		return netip.AddrPort{}, nil, fmt.Errorf("%s: no address", hp)
	}
	if isStream(transport) { // not registered (yet): a connection of the call's own
		if _, err := l.st.connectFlow(ctx, transport, addrs[0], tlsSettingsOf(&l.acct), false); err != nil {
			return netip.AddrPort{}, nil, err
		}
	}
	return addrs[0], route, nil
}

// localIP is our address as the far end should see it in Contact and SDP.
func (l *Line) localIP(remote netip.AddrPort) (netip.Addr, error) {
	ip := l.st.LocalAddr().Addr()
	if !ip.IsUnspecified() {
		return ip, nil
	}
	return l.opt.LocalAddr(remote)
}

func (l *Line) contact(ip netip.Addr) siplib.ContactHeader {
	if c, ok := l.st.flowContact(&l.acct, l.acct.Number); ok {
		return c // our end of the registered TCP/TLS connection
	}
	a := netip.AddrPortFrom(ip, l.st.LocalAddr().Port())
	if l.opt.PublicAddr != nil {
		if pub := l.opt.PublicAddr(); pub.IsValid() {
			a = pub
		}
	}
	return siplib.ContactHeader{Address: siplib.Uri{Scheme: "sip", User: l.acct.Number, Host: hostString(a.Addr()), Port: int(a.Port())}}
}

func (l *Line) add(c *Call) {
	l.mu.Lock()
	l.calls[c.callID] = c
	l.mu.Unlock()
}

func (l *Line) remove(c *Call) {
	l.mu.Lock()
	if l.calls[c.callID] == c {
		delete(l.calls, c.callID)
	}
	l.mu.Unlock()
}

func (l *Line) find(req *siplib.Request) *Call {
	cid := req.CallID()
	if cid == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls[cid.Value()]
}

// Calls is the number of calls in progress.
func (l *Line) Calls() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.calls)
}

// localSDP describes our media for an offer or answer.
func (l *Line) localSDP(ip netip.Addr, port int) sdp.Local {
	ptime := l.acct.Ptime
	if ptime == 0 {
		ptime = 20
	}
	ev := 0
	if l.acct.DTMFMode != "rfc4733" && l.acct.DTMFMode != "" {
		ev = -1 // no telephone-event: digits go in-band or by INFO
	}
	return l.withSRTP(sdp.Local{
		Addr: ip, Port: port, Codecs: l.codecs, EventPayloadType: ev, ComfortNoise: l.acct.VAD,
		Ptime: msDuration(ptime), SessionID: randUint64() >> 2, SessionVersion: 1,
	}) // SRTP policy and the call's keys (srtp.go)
}

// openRTP binds an even RTP port and the RTCP port above it on ip.
func (l *Line) openRTP(ip netip.Addr) (rtp, rtcp *net.UDPConn, port int, err error) {
	span := rtpPairs(l.opt.RTPPortMin, l.opt.RTPPortMax)
	base := l.opt.RTPPortMin + l.opt.RTPPortMin%2
	start := int(randUint64() % uint64(span))
	for i := 0; i < span && i < 64; i++ {
		p := base + 2*((start+i)%span)
		rtp, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(p))))
		if err != nil {
			continue
		}
		rtcp, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(p+1))))
		if err != nil {
			rtp.Close()
			continue
		}
		l.st.media.claim(l.st.cfg.OnMediaPorts, uint16(p), uint16(p+1))
		return rtp, rtcp, p, nil
	}
	return nil, nil, 0, fmt.Errorf("sip: no free RTP port pair in %d..%d: %w", l.opt.RTPPortMin, l.opt.RTPPortMax, err)
}

// rtpPairs is how many even RTP ports, each with its RTCP port above,
// fit in first..last (both included).
func rtpPairs(first, last int) int {
	return max(last-(first+first%2)+1, 0) / 2
}

// handleInvite takes a new INVITE (or a re-INVITE of a call in progress).
func (l *Line) handleInvite(req *siplib.Request, tx siplib.ServerTransaction) {
	l.handleInviteFrom(req, tx, "")
}

// handleInviteFrom takes an INVITE; user is the local user it came from
// (the users' line), "" on a provider line.
func (l *Line) handleInviteFrom(req *siplib.Request, tx siplib.ServerTransaction, user string) {
	if l.refuseExtensions(req, tx) { // 420 (invite.go)
		return
	}
	if to := req.To(); to != nil && to.Params.Has("tag") {
		if c := l.find(req); c != nil {
			c.handleOffer(req, tx)
			return
		}
		respond(tx, req, siplib.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	l.mu.Lock()
	deliver := l.onIncoming
	l.mu.Unlock()
	if deliver == nil {
		respond(tx, req, siplib.StatusTemporarilyUnavailable, "Temporarily Unavailable")
		return
	}
	var replaced *Call
	if h := req.GetHeader("Replaces"); h != nil {
		ref, err := parseReplaces(h.Value())
		if err != nil {
			l.log.Info("sip: INVITE with a bad Replaces", "err", err)
			respond(tx, req, siplib.StatusBadRequest, "Bad Replaces")
			return
		}
		// RFC 3891 §3: only a confirmed dialog of ours can be replaced
		// (an early one, and one we do not have, are 481).
		if replaced = l.st.lineRouter().findDialog(ref); replaced == nil || ref.EarlyOnly {
			l.log.Info("sip: INVITE with Replaces for no confirmed call of ours", "replaces", h.Value())
			respond(tx, req, siplib.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
			return
		}
	}
	c, err := l.newIncoming(req, tx, replaced)
	if c != nil {
		c.authUser, c.dialled = user, req.Recipient.User
	}
	if err != nil {
		var st *statusError
		if errors.As(err, &st) && st.code == 422 {
			res := siplib.NewResponseFromRequest(req, 422, st.reason, nil)
			res.AppendHeader(siplib.NewHeader("Min-SE", strconv.Itoa(int(minSessionExpires/time.Second))))
			tx.Respond(res)
		} else if errors.As(err, &st) {
			respond(tx, req, st.code, st.reason)
		} else {
			respond(tx, req, siplib.StatusInternalServerError, "Server Error")
		}
		l.log.Warn("sip: incoming call refused", "err", err)
		return
	}
	deliver(c)
	// The transaction lives as long as this handler: wait for the final answer.
	c.waitFinal()
}

// findDialog is the call of any line whose dialog ref names, as the
// receiver of an INVITE with Replaces sees it: to-tag is our tag.
func (r *router) findDialog(ref dialogRef) *Call {
	for _, l := range r.snapshot() {
		l.mu.Lock()
		c := l.calls[ref.CallID]
		l.mu.Unlock()
		if c == nil || c.ended.Load() || !c.confirmed() {
			continue // RFC 3891 §3: early dialogs are not replaced here
		}
		if local, remote := c.tags(); local == ref.ToTag && remote == ref.FromTag {
			return c
		}
	}
	return nil
}

func (l *Line) handleAck(req *siplib.Request, tx siplib.ServerTransaction) {
	if c := l.find(req); c != nil {
		c.handleAck(req, tx) // invite.go: a late offer's answer
	}
}

func (l *Line) handleBye(req *siplib.Request, tx siplib.ServerTransaction) {
	c := l.find(req)
	if c == nil {
		respond(tx, req, siplib.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	c.remoteBye(req, tx)
}

// handleInfo answers INFO in a call: a key press (application/dtmf-relay
// or application/dtmf) becomes a DTMF event; an INFO without a body is a
// keep-alive; other contents are 415.
func (l *Line) handleInfo(req *siplib.Request, tx siplib.ServerTransaction) {
	c := l.find(req)
	if c == nil {
		respond(tx, req, siplib.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	ct := mediaType(req.ContentType())
	if len(req.Body()) == 0 && ct == "" {
		respond(tx, req, siplib.StatusOK, "OK")
		return
	}
	if ct != "application/dtmf-relay" && ct != "application/dtmf" {
		res := siplib.NewResponseFromRequest(req, 415, "Unsupported Media Type", nil)
		res.AppendHeader(siplib.NewHeader("Accept", "application/dtmf-relay, application/dtmf"))
		tx.Respond(res)
		return
	}
	key, d, err := parseDTMFInfo(ct, req.Body())
	if err != nil {
		l.log.Info("sip: INFO DTMF unreadable", "call", c.callID, "err", err)
		respond(tx, req, siplib.StatusBadRequest, "Bad Request")
		return
	}
	respond(tx, req, siplib.StatusOK, "OK")
	c.emit(call.Event{Kind: call.DTMF, Key: key, Duration: d, Detail: "info"})
}

// handleUpdate answers UPDATE: with SDP an offer (hold, resume, a new
// address), without it a session-timer refresh.
func (l *Line) handleUpdate(req *siplib.Request, tx siplib.ServerTransaction) {
	c := l.find(req)
	if c == nil {
		respond(tx, req, siplib.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	if len(req.Body()) > 0 {
		c.handleOffer(req, tx)
		return
	}
	res := siplib.NewResponseFromRequest(req, siplib.StatusOK, "OK", nil)
	c.addTimerHeaders(res)
	if err := tx.Respond(res); err != nil {
		l.log.Debug("sip: respond UPDATE", "err", err)
	}
}

func (l *Line) handleRefer(req *siplib.Request, tx siplib.ServerTransaction) {
	c := l.find(req)
	if c == nil {
		respond(tx, req, siplib.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	c.handleRefer(req, tx)
}

func (l *Line) handleNotify(req *siplib.Request, tx siplib.ServerTransaction) {
	c := l.find(req)
	if c == nil {
		respond(tx, req, siplib.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	c.handleNotify(req, tx)
}

func respond(tx siplib.ServerTransaction, req *siplib.Request, code int, reason string) {
	if tx == nil {
		return
	}
	if err := tx.Respond(siplib.NewResponseFromRequest(req, code, reason, nil)); err != nil {
		slog.Debug("sip: respond", "code", code, "err", err)
	}
}

type statusError struct {
	code   int
	reason string
	err    error
}

func (e *statusError) Error() string { return fmt.Sprintf("%d %s: %v", e.code, e.reason, e.err) }
func (e *statusError) Unwrap() error { return e.err }

// callerID reads who is calling: P-Asserted-Identity first (the provider
// vouches for it), else From.
func callerID(req *siplib.Request) (number, name string) {
	if h := req.GetHeader("P-Asserted-Identity"); h != nil {
		var addr siplib.Uri
		v := h.Value()
		if i := strings.IndexByte(v, ','); i >= 0 {
			v = v[:i]
		}
		var params siplib.HeaderParams
		dn, err := siplib.ParseAddressValue(v, &addr, &params)
		if err == nil && addr.User != "" {
			return addr.User, dn
		}
	}
	if f := req.From(); f != nil {
		return f.Address.User, f.DisplayName
	}
	return "", ""
}

func randUint64() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

// dialogUA builds the sipgo dialog user agent for one call.
// With an outbound proxy (proxy valid), every request of the dialog goes
// to it (ACK, BYE, CANCEL, re-INVITE, UPDATE), whatever the route set
// says, as the outbound_proxy key promises ("every request goes through",
// like Cisco's "Use OB Proxy In Dialog"): behind a NAT it keeps to the one
// binding the registration holds open, and a Record-Route address the ATA
// cannot reach (a proxy's inside address) cannot strand the BYE.
func (l *Line) dialogUA(contact siplib.ContactHeader, proxy netip.AddrPort) (*sipgo.DialogUA, error) {
	c := l.st.Client()
	if proxy.IsValid() {
		var err error
		if c, err = l.st.clientVia(proxy); err != nil {
			return nil, err
		}
	}
	return &sipgo.DialogUA{Client: c, ContactHDR: contact}, nil
}
