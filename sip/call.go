package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	siplib "github.com/emiago/sipgo/sip"

	"github.com/openata/ata/call"
	"github.com/openata/ata/media"
	"github.com/openata/ata/media/rtpsession"
	"github.com/openata/ata/media/sdp"
)

// What our INVITEs and their answers advertise.
const (
	allowMethods  = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, PRACK, REFER, NOTIFY"
	supportedTags = "100rel, timer, replaces"
)

var _ call.Leg = (*Call)(nil)

// Call is one call of a Line, outgoing or incoming: a call.Leg. Its
// methods are safe from any goroutine; progress is reported on Events.
type Call struct {
	line     *Line
	outgoing bool
	callID   string
	remote   call.Party

	evMu    sync.Mutex
	events  chan call.Event
	ended   atomic.Bool
	observe func(*Call, call.Event) // sip's own watcher (a transfer we follow)

	// Outgoing.
	uac    *sipgo.DialogClientSession
	cancel context.CancelFunc // cancels the INVITE (CANCEL) before an answer

	// Incoming.
	uas       *sipgo.DialogServerSession
	inviteTx  siplib.ServerTransaction // the INVITE's, for a refusal that does not wait for the ACK
	final     chan struct{}            // closed once the INVITE has its final response
	finalOnce sync.Once
	answered  atomic.Bool
	alerted   atomic.Bool // 180 sent
	replaces  *Call       // the call an INVITE with Replaces takes over
	authUser  string      // the local user who placed it (the users' line)
	dialled   string      // the Request-URI's user: the number the caller dialled

	contact siplib.ContactHeader
	// Session timer (RFC 4028): offered is the interval an incoming
	// INVITE asked for; timer runs once the call is up.
	offered time.Duration
	timer   *sessionTimer
	done    chan struct{} // closed when the call ends (watchdogs stop)

	// reqMu serializes our requests in the dialog: sipgo numbers each from
	// the dialog's last CSeq, which the ACK of a re-INVITE must repeat.
	reqMu    sync.Mutex
	offering atomic.Bool // our re-INVITE is out (a far-end offer now is glare)

	// Media and call state, under mu.
	local    sdp.Local
	rtp      *net.UDPConn
	rtcp     *net.UDPConn
	mu       sync.Mutex
	session  *rtpsession.Session
	media    sdp.Media
	stream   atomic.Pointer[rtpsession.Session]
	version  uint64
	startedM bool
	closedM  bool
	holding  bool       // we hold the far end
	heldBy   bool       // the far end holds us
	byeCause call.Cause // what a BYE from the far end means (Normal, Transferred, Replaced)
	endCode  int        // the final status that ended an outgoing call
	xferOut  *transferOut
	xferIn   *transferIn

	mediaPort int // the RTP port of rtp (RTCP the one above), for the stack's set; 0 before openMedia
	// An incoming call binds its sockets only at the answer
	// (openAnswerMedia): until then mediaIP is where and offer is the far
	// end's last SDP.
	mediaIP netip.Addr
	offer   []byte

	// inv is the INVITE extensions' state (invite.go): late offer, 100rel,
	// forks, redirects.
	inv inviteState
}

// ID is the call's SIP Call-ID.
func (c *Call) ID() string { return c.callID }

// Events reports the call's progress. It is closed after Ended.
func (c *Call) Events() <-chan call.Event { return c.events }

// Outgoing reports the direction.
func (c *Call) Outgoing() bool { return c.outgoing }

// Remote is the other party.
func (c *Call) Remote() call.Party {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remote
}

// Replaces is the call an incoming INVITE with Replaces takes over, or nil.
func (c *Call) Replaces() call.Leg {
	if c.replaces == nil {
		return nil
	}
	return c.replaces
}

// AuthUser is the local user who placed an incoming call on the users'
// line ("" elsewhere).
func (c *Call) AuthUser() string { return c.authUser }

// Dialled is the number an incoming call was placed to (its
// Request-URI's user part).
func (c *Call) Dialled() string { return c.dialled }

func newCall(l *Line, outgoing bool) *Call {
	return &Call{line: l, outgoing: outgoing, events: make(chan call.Event, 32), byeCause: call.Normal, done: make(chan struct{})}
}

func (c *Call) emit(ev call.Event) {
	if obs := c.observe; obs != nil {
		obs(c, ev)
	}
	c.evMu.Lock()
	defer c.evMu.Unlock()
	if c.ended.Load() {
		return
	}
	if ev.Kind != call.Ended {
		select {
		case c.events <- ev:
		default: // the buffer holds far more than a call has; never block SIP
			c.line.log.Warn("sip: call event dropped", "call", c.callID, "event", ev.Kind)
		}
		if ev.Kind != call.DTMF {
			c.line.log.Info("sip: call event", "call", c.callID, "event", ev.Kind, "detail", ev.Detail)
		}
		return
	}
	c.ended.Store(true)
	c.events <- ev
	close(c.events)
	close(c.done)
	if c.timer != nil {
		c.timer.close()
	}
	c.closeMedia()
	c.line.remove(c)
	c.line.log.Info("sip: call ended", "call", c.callID, "cause", ev.Cause, "detail", ev.Detail, "remote", ev.Remote)
}

func (c *Call) end(cause call.Cause, detail string, remote bool) {
	c.emit(call.Event{Kind: call.Ended, Cause: cause, Detail: detail, Remote: remote})
}

// Dial places a call to number (the user part of sip:number@service_domain,
// or a whole sip: URI). It returns once the INVITE is on its way; the
// call's Events tell the rest. ctx bounds only the start (DNS).
func (l *Line) Dial(ctx context.Context, number string, o call.DialOptions) (call.Leg, error) {
	uri, err := l.targetURI(number)
	if err != nil {
		return nil, fmt.Errorf("sip: dial %q: %w", number, err)
	}
	spec := dialSpec{uri: uri, anonymous: o.Anonymous}
	if (l.acct.IsTrunk() || l.opt.Locate != nil) && !o.Caller.Anonymous() {
		spec.caller = o.Caller // a trunk, or a local user's phone, is shown the caller
	}
	if l.opt.Locate != nil {
		uc, err := l.locateUser(number) // userflow.go
		if err != nil {
			return nil, fmt.Errorf("sip: dial %q: %w", number, err)
		}
		spec.uri, spec.dest, spec.party, spec.transport = uc.Contact, uc.Dest, number, uc.Transport
	}
	c, err := l.dial(ctx, spec, nil)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// DialCall is Dial returning the *Call.
func (l *Line) DialCall(ctx context.Context, number string) (*Call, error) {
	uri, err := l.targetURI(number)
	if err != nil {
		return nil, fmt.Errorf("sip: dial %q: %w", number, err)
	}
	return l.dial(ctx, dialSpec{uri: uri}, nil)
}

// targetURI is whom number names: a sip: URI as it is, else
// sip:number@service_domain.
func (l *Line) targetURI(number string) (siplib.Uri, error) {
	if number == "" {
		return siplib.Uri{}, fmt.Errorf("empty number")
	}
	lower := strings.ToLower(number)
	if strings.HasPrefix(lower, "sip:") || strings.HasPrefix(lower, "sips:") {
		var u siplib.Uri
		if err := siplib.ParseUri(number, &u); err != nil {
			return siplib.Uri{}, err
		}
		if u.Host == "" {
			return siplib.Uri{}, fmt.Errorf("%q: no host", number)
		}
		u.Headers = nil
		return u, nil
	}
	if strings.ContainsAny(number, "@<>;? \t\r\n\"") {
		return siplib.Uri{}, fmt.Errorf("%q is not a number", number)
	}
	return siplib.Uri{Scheme: "sip", User: number, Host: l.aor.Host, Port: l.aor.Port}, nil
}

// dialSpec is an outgoing call: whom, and for a transfer we follow, the
// Replaces and Referred-By headers.
type dialSpec struct {
	uri        siplib.Uri
	replaces   string
	referredBy string
	// anonymous withholds our identity (RFC 3323/3325): From anonymous,
	// Privacy: id, and who we are only in P-Preferred-Identity for the
	// provider.
	anonymous bool
	// caller, when set, is the identity presented in From instead of the
	// account's (a trunk carrying a user's or a caller's number).
	caller call.Party
	// dest, when valid, is where the INVITE goes instead of the line's
	// proxy (a local user's registered flow).
	dest netip.AddrPort
	// party, when set, is whom the call is to (the user's name) where the
	// Request-URI is a registered contact ("202-0x55ab…@host").
	party string
	// transport is how dest registered: TransportTCP sends the call over
	// the phone's connection (userflow.go).
	transport string
}

// ErrNotRegistered is Dial's error for a local user with no registered
// phone.
var ErrNotRegistered = errors.New("the user has no registered phone")

func (l *Line) dial(ctx context.Context, spec dialSpec, observe func(*Call, call.Event)) (*Call, error) {
	number := spec.uri.User
	if spec.party != "" {
		number = spec.party
	}
	var target netip.AddrPort
	var route *siplib.Uri
	var err error
	if spec.dest.IsValid() {
		target = spec.dest
	} else {
		target, route, err = l.target(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("sip: dial %s: %w", spec.uri.String(), err)
	}
	ip, err := l.localIP(target)
	if err != nil {
		return nil, fmt.Errorf("sip: dial %s: local address: %w", spec.uri.String(), err)
	}
	c := newCall(l, true)
	c.remote = call.Party{Number: number}
	c.observe = observe
	if err := c.openMedia(ip); err != nil {
		return nil, fmt.Errorf("sip: dial %s: %w", spec.uri.String(), err)
	}
	offer, err := sdp.Offer(c.local)
	if err != nil {
		c.closeMedia()
		return nil, fmt.Errorf("sip: dial %s: %w", spec.uri.String(), err)
	}
	ruri := spec.uri
	req := siplib.NewRequest(siplib.INVITE, ruri)
	req.AppendHeader(&siplib.ViaHeader{
		ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
		Host: hostString(ip), Port: int(l.st.LocalAddr().Port()),
		Params: siplib.HeaderParams{{K: "branch", V: siplib.GenerateBranch()}, {K: "rport"}},
	})
	mf := siplib.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	if route != nil {
		req.AppendHeader(&siplib.RouteHeader{Address: *route})
	}
	if !spec.dest.IsValid() {
		for _, u := range l.serviceRoute() { // RFC 3608 (serviceroute.go)
			req.AppendHeader(&siplib.RouteHeader{Address: u})
		}
	}
	from := siplib.FromHeader{DisplayName: l.acct.DisplayName, Address: l.aor,
		Params: siplib.HeaderParams{{K: "tag", V: siplib.GenerateTagN(16)}}}
	if spec.caller.Number != "" {
		from.DisplayName = spec.caller.Name
		from.Address.User = spec.caller.Number
	}
	if spec.anonymous {
		from.DisplayName = "Anonymous"
		from.Address = siplib.Uri{Scheme: "sip", User: "anonymous", Host: "anonymous.invalid"}
		ppi := siplib.Uri{Scheme: "sip", User: l.aor.User, Host: l.aor.Host, Port: l.aor.Port}
		req.AppendHeader(siplib.NewHeader("P-Preferred-Identity", "<"+ppi.String()+">"))
		req.AppendHeader(siplib.NewHeader("Privacy", "id"))
	}
	req.AppendHeader(&from)
	req.AppendHeader(&siplib.ToHeader{Address: ruri})
	c.callID = siplib.GenerateTagN(24)
	cid := siplib.CallIDHeader(c.callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&siplib.CSeqHeader{SeqNo: 1, MethodName: siplib.INVITE})
	contact := l.contact(ip)
	c.contact = contact
	req.AppendHeader(&contact)
	req.AppendHeader(siplib.NewHeader("Allow", allowMethods))
	req.AppendHeader(siplib.NewHeader("Supported", supportedTags))
	// Session timer (RFC 4028 §7.1): we ask for one and leave the refresher
	// to the far end's choice.
	req.AppendHeader(siplib.NewHeader("Session-Expires", strconv.Itoa(int(l.opt.SessionExpires/time.Second))))
	req.AppendHeader(siplib.NewHeader("Min-SE", strconv.Itoa(int(minSessionExpires/time.Second))))
	if spec.replaces != "" {
		req.AppendHeader(siplib.NewHeader("Replaces", spec.replaces))
		req.AppendHeader(siplib.NewHeader("Require", "replaces"))
	}
	if spec.referredBy != "" {
		req.AppendHeader(siplib.NewHeader("Referred-By", spec.referredBy))
	}
	if ua := l.st.cfg.UserAgent; ua != "" {
		req.AppendHeader(siplib.NewHeader("User-Agent", ua))
	}
	req.AppendHeader(siplib.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(offer)
	req.SetTransport("UDP")
	req.SetDestination(target.String())
	la := l.st.conn.LocalAddr().(*net.UDPAddr)
	req.Laddr = siplib.Addr{IP: la.IP, Port: la.Port}
	l.st.onFlow(req, &l.acct) // a TCP/TLS line: over its connection (transport_line.go)

	var dua *sipgo.DialogUA
	if spec.transport == TransportTCP {
		dua, err = l.userFlowDial(req, c, spec.dest) // over the phone's TCP connection (userflow.go)
	} else if route != nil {
		dua, err = l.dialogUA(contact, target)
	} else {
		// Without an outbound proxy the dialog's requests go where it
		// says, but a CANCEL must follow the INVITE (RFC 3261 §9.1).
		var cl *sipgo.Client
		if cl, err = l.st.clientCancelVia(target); err == nil {
			dua = &sipgo.DialogUA{Client: cl, ContactHDR: contact}
		}
	}
	if err != nil {
		c.closeMedia()
		return nil, fmt.Errorf("sip: dial %s: %w", spec.uri.String(), err)
	}
	c.tapCalls(dua) // forks' answers, the ACK's CSeq after a PRACK (invite.go)
	uac, err := dua.WriteInvite(context.Background(), req)
	if err != nil {
		c.closeMedia()
		return nil, fmt.Errorf("sip: dial %s: INVITE: %w", spec.uri.String(), err)
	}
	c.uac = uac
	wctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	// Requests of the dialog can come only after our INVITE; the line's
	// lock publishes the call with its dialog to their handlers.
	l.add(c)
	l.log.Info("sip: calling", "to", ruri.String(), "call", c.callID, "via", target, "replaces", spec.replaces != "")
	go c.waitAnswer(wctx)
	return c, nil
}

// waitAnswer follows the INVITE to its final response, answering 401/407
// with the line's credentials, PRACKing reliable 18x, and sending the
// INVITE again after a 3xx, a 422 or a short Retry-After (invite.go).
func (c *Call) waitAnswer(ctx context.Context) {
	l := c.line
	opts := sipgo.AnswerOptions{
		Username: l.acct.AuthName(),
		Password: l.acct.Password,
		OnResponse: func(res *siplib.Response) error {
			if res.IsProvisional() && !c.provisional(res) {
				return nil // a reliable 18x already taken
			}
			switch {
			case res.StatusCode == 180 || (res.StatusCode == 183 && len(res.Body()) == 0):
				c.emit(call.Event{Kind: call.Progress, Detail: statusDetail(res.StatusCode, res.Reason)})
			case res.StatusCode == 183:
				if _, err := c.applyRemote(res.Body()); err != nil {
					l.log.Warn("sip: early media SDP", "call", c.callID, "err", err)
					c.emit(call.Event{Kind: call.Progress, Detail: statusDetail(res.StatusCode, res.Reason)})
					return nil
				}
				c.emit(call.Event{Kind: call.EarlyMedia, Detail: statusDetail(res.StatusCode, res.Reason)})
			}
			return nil
		},
	}
	var err error
	for {
		err = c.uac.WaitAnswer(ctx, opts)
		if c.manyProvisionals(ctx, err) {
			continue // the INVITE is still ringing: wait on (invite.go)
		}
		var dr *sipgo.ErrDialogResponse
		if !errors.As(err, &dr) || ctx.Err() != nil {
			break
		}
		wait, again := c.retryInvite(dr.Res)
		if !again {
			break
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
			if ctx.Err() != nil {
				err = ctx.Err()
				break
			}
		}
		if rerr := c.resendInvite(ctx); rerr != nil {
			l.log.Warn("sip: INVITE not sent again", "call", c.callID, "err", rerr)
			break
		}
	}
	var dr *sipgo.ErrDialogResponse
	switch {
	case err == nil:
	case errors.As(err, &dr):
		c.mu.Lock()
		c.endCode = dr.Res.StatusCode
		c.mu.Unlock()
		c.end(causeOf(dr.Res.StatusCode), statusDetail(dr.Res.StatusCode, dr.Res.Reason), true)
		return
	case ctx.Err() != nil:
		c.mu.Lock()
		cause := c.byeCause
		c.endCode = 487
		c.mu.Unlock()
		if cause == call.Normal {
			cause = call.Cancelled
		}
		c.end(cause, "cancelled", false)
		return
	default:
		c.mu.Lock()
		c.endCode = 408
		c.mu.Unlock()
		c.end(call.NoResponse, "no answer: "+err.Error(), true)
		return
	}
	res := c.uac.InviteResponse
	c.won(res)
	if to := res.To(); to != nil && to.DisplayName != "" {
		c.mu.Lock()
		c.remote.Name = to.DisplayName
		c.mu.Unlock()
	}
	answer := res.Body()
	if len(answer) == 0 {
		answer = c.earlyAnswer(res) // the answer came in this fork's reliable 18x
	}
	if _, err := c.applyRemote(answer); err != nil {
		l.log.Warn("sip: answer SDP", "call", c.callID, "err", err)
		c.uac.Ack(context.Background())
		c.byeUAC()
		c.end(call.MediaFailed, "media: "+err.Error(), false)
		return
	}
	c.reqMu.Lock()
	if err := c.uac.Ack(context.Background()); err != nil {
		l.log.Warn("sip: ACK", "call", c.callID, "err", err)
	}
	c.reqMu.Unlock()
	if interval, refresher, ok := parseSessionExpires(res); ok {
		c.timer = newSessionTimer(l.opt.Clock, interval, refresher != "uas")
		go c.runSessionTimer(c.timer)
	}
	c.watchRTP()
	c.emit(call.Event{Kind: call.Answered, Detail: statusDetail(res.StatusCode, res.Reason)})
}

// newIncoming builds the call for a new INVITE: SDP negotiated, 180 sent.
func (l *Line) newIncoming(req *siplib.Request, tx siplib.ServerTransaction, replaced *Call) (*Call, error) {
	src, _ := netip.ParseAddrPort(req.Source())
	ip, err := l.localIP(src)
	if err != nil {
		return nil, &statusError{500, "Server Error", err}
	}
	number, name := callerID(req)
	c := newCall(l, false)
	c.remote = call.Party{Number: number, Name: name}
	c.final = make(chan struct{})
	c.replaces = replaced
	if interval, _, ok := parseSessionExpires(req); ok {
		if interval < minSessionExpires {
			return nil, &statusError{422, "Session Interval Too Small", fmt.Errorf("Session-Expires %v below our Min-SE %v", interval, minSessionExpires)}
		}
		c.offered = interval
	}
	c.callID = req.CallID().Value()
	// The offer is checked now (488), the sockets wait for the answer: a
	// call that only rings, waits or is refused holds none.
	c.mediaIP = ip
	c.local = l.localSDP(ip, 0)
	c.version = c.local.SessionVersion
	if len(req.Body()) == 0 {
		c.inv.lateOffer = true // our 200 OK will carry the offer, the ACK the answer
	} else if _, err := c.applyRemote(req.Body()); err != nil {
		c.closeMedia()
		return nil, &statusError{488, "Not Acceptable Here", err}
	}
	c.contact = l.contact(ip)
	// With an outbound proxy the INVITE came from it (the provider reaches
	// a NATed ATA through the proxy it registered through): the dialog's
	// requests go back to that source.
	var proxy netip.AddrPort
	if l.acct.OutboundProxy != "" {
		proxy = src
	}
	var dua *sipgo.DialogUA
	if l.incomingOnUserFlow(req) {
		dua, err = l.userFlowUA(&c.contact, src) // back over the phone's TCP connection (userflow.go)
	} else {
		dua, err = l.dialogUA(c.contact, proxy)
	}
	if err != nil {
		c.closeMedia()
		return nil, &statusError{500, "Server Error", err}
	}
	uas, err := dua.ReadInvite(req, tx)
	if err != nil {
		c.closeMedia()
		return nil, &statusError{500, "Server Error", err}
	}
	c.uas, c.inviteTx = uas, tx
	l.add(c)
	l.log.Info("sip: incoming call", "from", number, "name", name, "call", c.callID, "replaces", replaced != nil)
	// The caller gives up (CANCEL) or the transaction dies before an answer.
	// A call we refused ends first: the goroutine goes with it rather than
	// with the transaction, which may wait 32 s for an ACK that never comes.
	go func() {
		select {
		case <-uas.Context().Done():
		case <-c.done:
			return
		}
		if !c.answered.Load() {
			c.finish()
			c.end(call.Cancelled, "487 cancelled by the caller", true)
		}
	}()
	return c, nil
}

// waitFinal blocks the INVITE handler until the call has its final answer.
func (c *Call) waitFinal() { <-c.final }

func (c *Call) finish() { c.finalOnce.Do(func() { close(c.final) }) }

// Alert sends 180 Ringing for an incoming call not yet answered (once):
// call control alerts a call it rings or lets wait, never one it refuses
// or forwards.
func (c *Call) Alert() error {
	if c.outgoing || c.uas == nil {
		return fmt.Errorf("sip: alert: not an incoming call")
	}
	if c.answered.Load() || c.ended.Load() {
		return fmt.Errorf("sip: alert: call already answered or ended")
	}
	if c.alerted.Swap(true) {
		return nil
	}
	if c.wantsReliable() {
		return c.alertReliable() // RFC 3262 (invite.go)
	}
	// Sent here, not on a goroutine: a quick answer must not overtake it.
	if err := c.uas.Respond(180, "Ringing", nil); err != nil {
		return fmt.Errorf("sip: 180: %w", err)
	}
	return nil
}

// Answer accepts an incoming call: 200 OK with our SDP answer. It returns
// at once; Answered follows as the 200 OK leaves.
func (c *Call) Answer() error {
	if c.outgoing || c.uas == nil {
		return fmt.Errorf("sip: answer: not an incoming call")
	}
	if c.ended.Load() {
		return fmt.Errorf("sip: answer: call already ended")
	}
	if c.answered.Swap(true) {
		return fmt.Errorf("sip: answer: already answered")
	}
	if err := c.openAnswerMedia(); err != nil {
		c.answered.Store(false)
		return fmt.Errorf("sip: answer: %w", err)
	}
	answer, late, err := c.answerBody()
	if err != nil {
		c.answered.Store(false)
		return fmt.Errorf("sip: answer: %w", err)
	}
	c.startMedia()
	res := siplib.NewSDPResponseFromRequest(c.uas.InviteRequest, answer)
	if len(answer) == 0 { // offer and answer went in the reliable 180 and its PRACK (invite.go)
		res = siplib.NewResponseFromRequest(c.uas.InviteRequest, 200, "OK", nil)
	}
	res.AppendHeader(siplib.NewHeader("Allow", allowMethods))
	res.AppendHeader(siplib.NewHeader("Supported", supportedTags))
	if c.offered > 0 {
		// We accept the caller's interval and let it refresh (§9).
		for _, h := range sessionTimerHeaders(c.offered, "uac", true) {
			res.AppendHeader(h)
		}
		c.timer = newSessionTimer(c.line.opt.Clock, c.offered, false)
	} else {
		// The caller asked for none: we run one and refresh it ourselves
		// (§9: refresher uas; Require only when the caller supports timer).
		interval := c.line.opt.SessionExpires
		for _, h := range sessionTimerHeaders(interval, "uas", c.remoteSupports("timer")) {
			res.AppendHeader(h)
		}
		c.timer = newSessionTimer(c.line.opt.Clock, interval, true)
	}
	go c.runSessionTimer(c.timer)
	c.watchRTP()
	if !late {
		c.emit(call.Event{Kind: call.Answered}) // a late offer's comes with the ACK's answer
	}
	go func() {
		defer c.finish()
		if err := c.uas.WriteResponse(res); err != nil {
			c.line.log.Warn("sip: 200 OK not acknowledged", "call", c.callID, "err", err)
			c.byeUAS()
			c.end(call.NoResponse, "no ACK", true)
		}
	}()
	return nil
}

// Reject refuses an incoming call that has not been answered, with the
// status for cause (Busy 486, Declined 603, Unavailable 480...).
func (c *Call) Reject(cause call.Cause) {
	code := statusOf(cause)
	if code < 400 {
		code = 480
	}
	c.refuse(code, cause, nil)
}

func (c *Call) refuse(code int, cause call.Cause, hdrs []siplib.Header) bool {
	if c.outgoing || c.uas == nil || c.answered.Swap(true) {
		return false // no CANCEL event after our own final answer
	}
	// Sent on the INVITE transaction, which retransmits it and takes the
	// ACK by itself: the dialog's Respond would wait for that ACK, keeping
	// the call and the INVITE handler for up to 32 s from a caller that
	// never sends it (a flood).
	res := siplib.NewResponseFromRequest(c.uas.InviteRequest, code, statusPhrase(code), nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if res.Contact() == nil {
		res.AppendHeader(siplib.HeaderClone(&c.contact))
	}
	go func() {
		defer c.finish()
		if err := c.inviteTx.Respond(res); err != nil {
			c.line.log.Debug("sip: refuse", "call", c.callID, "code", code, "err", err)
		}
	}()
	c.end(cause, statusDetail(code, ""), false)
	return true
}

// Redirect sends an incoming call not yet answered to target (a number
// at the service domain, or a sip: URI): 302 with it as Contact.
func (c *Call) Redirect(target string) error {
	if c.outgoing || c.uas == nil {
		return fmt.Errorf("sip: redirect: not an incoming call")
	}
	uri, err := c.line.targetURI(target)
	if err != nil {
		return fmt.Errorf("sip: redirect: %w", err)
	}
	if !c.refuse(302, call.Redirected, []siplib.Header{&siplib.ContactHeader{Address: uri}}) {
		return fmt.Errorf("sip: redirect: call already answered or ended")
	}
	return nil
}

// Hangup ends the call: CANCEL for an outgoing call not yet answered, BYE
// for an answered one, a refusal (the status for cause, 480 by default)
// for an incoming call not answered.
func (c *Call) Hangup(cause call.Cause) { c.hangup(cause, "local hangup") }

func (c *Call) hangup(cause call.Cause, detail string) {
	if c.ended.Load() {
		return
	}
	switch {
	case c.outgoing && c.uac.LoadState() < siplib.DialogStateEstablished:
		c.mu.Lock()
		c.byeCause = cause
		c.mu.Unlock()
		c.cancel() // waitAnswer sends CANCEL and reports the end
		return
	case c.outgoing:
		go c.byeUAC()
	case !c.answered.Load():
		code := statusOf(cause)
		if code < 400 {
			code = 480
		}
		c.refuse(code, cause, nil)
		return
	default:
		go c.byeUAS()
	}
	c.end(cause, detail, false)
}

func (c *Call) byeUAC() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.reqMu.Lock()
	defer c.reqMu.Unlock()
	if err := c.uac.Bye(ctx); err != nil {
		c.byeChallenged(ctx, err) // a 401/407 (invite.go)
	}
}

func (c *Call) byeUAS() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.reqMu.Lock()
	defer c.reqMu.Unlock()
	if err := c.uas.Bye(ctx); err != nil {
		c.byeChallenged(ctx, err) // a 401/407 (invite.go)
	}
}

// remoteBye is the far end hanging up: Normal, or Transferred/Replaced
// when a transfer made it go.
func (c *Call) remoteBye(req *siplib.Request, tx siplib.ServerTransaction) {
	var err error
	if c.uac != nil {
		err = c.uac.ReadBye(req, tx)
	} else {
		err = c.uas.ReadBye(req, tx)
	}
	if err != nil {
		respond(tx, req, siplib.StatusOK, "OK")
	}
	c.mu.Lock()
	cause, out, in := c.byeCause, c.xferOut, c.xferIn
	c.mu.Unlock()
	detail := "bye"
	switch {
	case out != nil && out.succeeded.Load():
		out.done(c)
		cause, detail = call.Transferred, "bye after transfer"
	case in != nil && in.placed.Load():
		// The transferor leaves while we follow its REFER: the call goes on
		// with the transfer target.
		cause, detail = call.Transferred, "bye during transfer"
	case cause == call.Replaced:
		detail = "bye: replaced"
	}
	c.end(cause, detail, true)
}

// up reports whether the call is answered and not over.
func (c *Call) up() bool {
	if c.ended.Load() {
		return false
	}
	if c.outgoing {
		return c.uac != nil && c.uac.LoadState() >= siplib.DialogStateEstablished
	}
	return c.answered.Load() && c.uas.LoadState() >= siplib.DialogStateEstablished
}

// confirmed reports whether the dialog is past the early state.
func (c *Call) confirmed() bool {
	if c.outgoing {
		return c.uac != nil && c.uac.LoadState() >= siplib.DialogStateEstablished && c.uac.LoadState() != siplib.DialogStateEnded
	}
	s := c.uas.LoadState()
	return c.answered.Load() && s >= siplib.DialogStateEstablished && s != siplib.DialogStateEnded
}

// tags are our tag and the far end's in the dialog.
func (c *Call) tags() (local, remote string) {
	if c.outgoing {
		local, _ = c.uac.InviteRequest.From().Params.Get("tag")
		if res := c.uac.InviteResponse; res != nil {
			remote, _ = res.To().Params.Get("tag")
		}
		return local, remote
	}
	local, _ = c.uas.InviteRequest.To().Params.Get("tag")
	remote, _ = c.uas.InviteRequest.From().Params.Get("tag")
	return local, remote
}

// remoteSupports reports whether the far end's INVITE (or its 200 OK)
// listed tag in Supported or Require.
func (c *Call) remoteSupports(tag string) bool {
	if c.outgoing {
		res := c.uac.InviteResponse
		return res != nil && hasOptionTag(res, tag, "Supported", "k", "Require")
	}
	return hasOptionTag(c.uas.InviteRequest, tag, "Supported", "k", "Require")
}

// remoteURI is the far end's address (To of our INVITE, From of theirs).
func (c *Call) remoteURI() siplib.Uri {
	if c.outgoing {
		return c.uac.InviteRequest.To().Address
	}
	return c.uas.InviteRequest.From().Address
}

// do sends a request in the dialog and waits for its final response.
func (c *Call) do(ctx context.Context, req *siplib.Request) (*siplib.Response, error) {
	c.reqMu.Lock()
	defer c.reqMu.Unlock()
	return c.doLocked(ctx, req)
}

func (c *Call) doLocked(ctx context.Context, req *siplib.Request) (*siplib.Response, error) {
	if c.uac != nil {
		return c.uac.Do(ctx, req)
	}
	return c.uas.Do(ctx, req)
}

// ackLocked acknowledges the 2xx of our re-INVITE (reqMu held: the ACK
// takes the re-INVITE's CSeq, the dialog's last).
func (c *Call) ackLocked(res *siplib.Response) {
	ack := siplib.NewRequest(siplib.ACK, c.remoteTarget())
	ack.AppendHeader(siplib.HeaderClone(res.CSeq()))
	ack.CSeq().MethodName = siplib.ACK
	var err error
	if c.uac != nil {
		err = c.uac.WriteRequest(ack)
	} else {
		err = c.uas.WriteRequest(ack)
	}
	if err != nil {
		c.line.log.Warn("sip: ACK of re-INVITE", "call", c.callID, "err", err)
	}
}

// nextLocal is our SDP for a new offer or answer; the version grows each
// time. Callers hold c.mu.
func (c *Call) nextLocal() sdp.Local {
	l := c.local
	c.version++
	l.SessionVersion = c.version
	return l
}

// SendDTMF sends a key to the far end per the line's DTMF mode.
func (c *Call) SendDTMF(key byte, d time.Duration) error {
	s := c.stream.Load()
	if s == nil {
		return fmt.Errorf("sip: DTMF: no media")
	}
	switch c.line.acct.DTMFMode {
	case "inband":
		return nil // the tone itself travels in the audio
	case "info":
		return c.sendInfo(key, d)
	}
	if c.InBandDTMF() {
		return nil // no telephone-event negotiated: the tone went in-band
	}
	return s.SendDTMF(key, d)
}

// InBandDTMF reports whether keys reach the far end only as tones in the
// audio: the line's mode is "inband", or RFC 4733 was not negotiated.
func (c *Call) InBandDTMF() bool {
	switch c.line.acct.DTMFMode {
	case "inband":
		return true
	case "info":
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.media.EventPayloadType == 0
}

func (c *Call) sendInfo(key byte, d time.Duration) error {
	req := siplib.NewRequest(siplib.INFO, c.remoteTarget())
	req.AppendHeader(siplib.NewHeader("Content-Type", "application/dtmf-relay"))
	req.SetBody([]byte(fmt.Sprintf("Signal=%c\r\nDuration=%d\r\n", key, d.Milliseconds())))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := c.do(ctx, req)
	if err == nil && (res.StatusCode == 401 || res.StatusCode == 407) && c.line.acct.Password != "" {
		var h siplib.Header
		if h, err = c.authorize(res, siplib.INFO); err == nil { // a provider challenging every request
			again := siplib.NewRequest(siplib.INFO, c.remoteTarget())
			again.AppendHeader(siplib.NewHeader("Content-Type", "application/dtmf-relay"))
			again.AppendHeader(h)
			again.SetBody(req.Body())
			res, err = c.do(ctx, again)
		}
	}
	if err != nil {
		return fmt.Errorf("sip: INFO: %w", err)
	}
	if !res.IsSuccess() {
		return fmt.Errorf("sip: INFO: %d %s", res.StatusCode, res.Reason)
	}
	return nil
}

// remoteTarget is the far end's Contact: where requests in the dialog go.
func (c *Call) remoteTarget() siplib.Uri {
	if c.uac != nil {
		if res := c.uac.InviteResponse; res != nil {
			if ct := res.Contact(); ct != nil {
				return ct.Address
			}
		}
		return c.uac.InviteRequest.Recipient
	}
	return c.uas.InviteRequest.Contact().Address
}

// Media is the call's audio endpoint (its RTP session) once media has
// started; nil before.
func (c *Call) Media() media.Endpoint {
	if s := c.stream.Load(); s != nil {
		return s
	}
	return nil
}

// Report summarizes the media for the call log.
func (c *Call) Report() call.MediaReport {
	c.mu.Lock()
	s, m, started := c.session, c.media, c.startedM
	c.mu.Unlock()
	if s == nil || !started {
		return call.MediaReport{}
	}
	st := s.Stats()
	r := call.MediaReport{Codec: m.Codec.Name(), Loss: st.LossFraction, Jitter: st.Jitter, RTT: st.RTT,
		PassThrough: st.PassThrough, SRTP: st.SRTP}
	if st.PacketsReceived > 0 {
		r.MOS = st.MOS
	}
	if r.Loss < 0 {
		r.Loss = 0
	}
	return r
}

// openMedia binds the call's RTP and RTCP sockets.
func (c *Call) openMedia(ip netip.Addr) error {
	rtp, rtcp, port, err := c.line.openRTP(ip)
	if err != nil {
		return err
	}
	c.rtp, c.rtcp, c.mediaPort = rtp, rtcp, port
	c.local = c.line.localSDP(c.line.mediaAddr(rtp, ip, port)) // STUN's mapping behind a NAT (stun.go)
	c.version = c.local.SessionVersion
	return nil
}

// openAnswerMedia binds an incoming call's RTP and RTCP sockets and starts
// its session on the offer in hand, the first time our SDP must name a
// port (the answer, or an offer answered before it); then it does nothing.
func (c *Call) openAnswerMedia() error {
	c.mu.Lock()
	ip, offer, open, closed := c.mediaIP, c.offer, c.rtp != nil, c.closedM
	c.mu.Unlock()
	if open || !ip.IsValid() {
		return nil
	}
	if closed {
		return errors.New("call ended")
	}
	rtp, rtcp, port, err := c.line.openRTP(ip)
	if err != nil {
		return err
	}
	sdpIP, sdpPort := c.line.mediaAddr(rtp, ip, port) // before c.mu: STUN may take a moment (stun.go)
	c.mu.Lock()
	if c.closedM { // ended meanwhile: closeMedia did not see these
		c.mu.Unlock()
		rtp.Close()
		rtcp.Close()
		c.line.st.media.release(uint16(port), uint16(port+1))
		return errors.New("call ended")
	}
	c.rtp, c.rtcp, c.mediaPort = rtp, rtcp, port
	c.local = c.line.localSDP(sdpIP, sdpPort)
	c.version = c.local.SessionVersion
	c.mu.Unlock()
	if len(offer) == 0 {
		return nil // a late offer: ours goes in the 200 OK
	}
	_, err = c.applyRemote(offer)
	return err
}

// applyRemote negotiates the far end's SDP (an offer, or the answer to
// ours) and creates or updates the RTP session to match it; before an
// incoming call has sockets it only keeps the offer (openAnswerMedia).
func (c *Call) applyRemote(body []byte) (sdp.Media, error) {
	if len(body) == 0 {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.session != nil {
			return c.media, nil // a 200 OK without SDP after early media keeps it
		}
		return sdp.Media{}, fmt.Errorf("no SDP")
	}
	c.mu.Lock()
	local := c.local
	c.mu.Unlock()
	m, err := sdp.Negotiate(local, body)
	if err != nil {
		return sdp.Media{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closedM {
		return sdp.Media{}, fmt.Errorf("call ended")
	}
	c.media = m
	if c.rtp == nil {
		c.offer = body
		return m, nil
	}
	if c.session == nil {
		s, err := rtpsession.New(rtpsession.Config{
			Conn: c.rtp, RTCPConn: c.rtcp, Remote: m.Remote, RemoteRTCP: m.RemoteRTCP,
			Latching: c.line.st.cfg.RTPLatching, Codec: m.Codec, PayloadType: m.PayloadType,
			EventPayloadType: m.EventPayloadType, Jitter: c.line.opt.Jitter,
			ComfortNoisePayloadType: m.CNPayloadType, VAD: c.line.acct.VAD,
			PacketSamples: int(m.Ptime / (time.Second / 8000)),
			Logger:        c.line.log, SRTP: srtpKeys(m),
		})
		if err != nil {
			return sdp.Media{}, err
		}
		c.session = s
		s.SetDirection(m.Direction.Sends(), m.Direction.Receives())
		go c.relayKeys(s)
		if c.outgoing {
			c.startLocked()
		}
		return m, nil
	}
	if err := c.session.SetSRTP(srtpKeys(m)); err != nil { // new keys in a re-offer (srtp.go)
		return sdp.Media{}, err
	}
	c.session.SetRemote(m.Remote, m.RemoteRTCP)
	c.session.SetDirection(m.Direction.Sends(), m.Direction.Receives())
	return m, nil
}

// relayKeys turns the far end's RFC 4733 key presses into DTMF events,
// one per key on its release, until the session closes.
func (c *Call) relayKeys(s *rtpsession.Session) {
	for ev := range s.DTMF() {
		if ev.Down {
			continue
		}
		c.emit(call.Event{Kind: call.DTMF, Key: ev.Key, Duration: ev.Duration, Detail: "rfc4733"})
	}
}

func (c *Call) startMedia() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.startLocked()
}

func (c *Call) startLocked() {
	if c.session == nil || c.startedM || c.closedM {
		return
	}
	c.session.Start()
	c.startedM = true
	c.stream.Store(c.session)
}

// closeMedia stops the media; the session stays for Report.
func (c *Call) closeMedia() {
	c.mu.Lock()
	if c.closedM {
		c.mu.Unlock()
		return
	}
	c.closedM = true
	s := c.session
	c.stream.Store(nil)
	rtp, rtcp, port := c.rtp, c.rtcp, c.mediaPort
	c.mu.Unlock()
	if s != nil {
		s.Close()
	} else if rtp != nil {
		rtp.Close()
		rtcp.Close()
	}
	if port != 0 {
		c.line.st.media.release(uint16(port), uint16(port+1))
	}
}

func msDuration(ms int) time.Duration { return time.Duration(ms) * time.Millisecond }
