package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	siplib "github.com/emiago/sipgo/sip"
)

// MWIState is a line's message-waiting state as its voicemail reports it.
type MWIState struct {
	Waiting bool // Messages-Waiting: yes
	// New and Old count voice messages; UrgentNew and UrgentOld the
	// urgent ones among them.
	New, Old, UrgentNew, UrgentOld int

	Account string // Message-Account, if given
	// Subscribed: the provider accepted our SUBSCRIBE and it is current.
	Subscribed bool
	// Expires is when the subscription runs out unless refreshed.
	Expires time.Time
	// LastError says why the last SUBSCRIBE failed ("" after a success).
	LastError string
}

// MWIOptions tune an MWI subscription; zero values take the defaults.
type MWIOptions struct {
	Clock    Clock    // default SystemClock
	Resolver Resolver // default net.DefaultResolver
	Backoff  Backoff  // default DefaultBackoff (when Cap is 0)
	// Expires is the subscription duration asked for (default 3600 s);
	// it is refreshed at 90 % of what the provider grants.
	Expires time.Duration
	// Timeout bounds one SUBSCRIBE transaction (default 32 s).
	Timeout time.Duration
	// UnsubscribeTimeout bounds the Expires: 0 SUBSCRIBE on stop (2 s).
	UnsubscribeTimeout time.Duration
	// LocalAddr finds our address towards remote when sip.listen is a
	// wildcard (default: the kernel's route choice).
	LocalAddr func(remote netip.AddrPort) (netip.Addr, error)
	// PublicAddr, when set and valid, is our address as the provider sees
	// it (Registration.PublicAddr), for the Contact.
	PublicAddr func() netip.AddrPort
	// ContactUser is the user part of our Contact (default: the number).
	ContactUser string
	// ServiceRoute, when set, is the registration's Service-Route (RFC
	// 3608): a new subscription's SUBSCRIBE carries it as its Route set.
	ServiceRoute func() []siplib.Uri
	// OnChange is called with the new state each time it changes (the
	// counts, Waiting, Subscribed or LastError), on the MWI's own or a
	// SIP goroutine; it must not block.
	OnChange func(MWIState)
	Logger   *slog.Logger
}

// MWI subscribes to a line's message summary (RFC 3842 over RFC 6665) at
// its registrar, through the outbound proxy if set, and takes the
// NOTIFYs: those of its subscription, and unsolicited ones with Event:
// message-summary for the line's number from the line's proxy or
// registrar addresses. Run drives it; State reads it from any goroutine.
type MWI struct {
	st   *Stack
	acct Account
	opt  MWIOptions
	log  *slog.Logger
	aor  siplib.Uri

	// Owned by the Run goroutine.
	route   *siplib.Uri
	target  netip.AddrPort
	localIP netip.Addr
	cseq    uint32
	expires time.Duration
	failc   int
	ever    bool

	termC chan time.Duration // a NOTIFY ended the subscription: resubscribe after this

	cbMu      sync.Mutex // orders state changes with their OnChange calls
	mu        sync.Mutex
	state     MWIState
	trusted   []netip.Addr
	callID    string // the subscription's dialog; "" before the first SUBSCRIBE
	fromTag   string
	remoteTag string
	remote    *siplib.Uri // remote target (its Contact)
	routeSet  []siplib.Uri
}

// NewMWI prepares the message-waiting subscription of acct on st and
// routes NOTIFY to it.
func NewMWI(st *Stack, acct Account, opt MWIOptions) (*MWI, error) {
	if acct.Number == "" || acct.ServiceDomain == "" {
		return nil, fmt.Errorf("sip: mwi: line needs a number and a service domain")
	}
	if opt.Clock == nil {
		opt.Clock = SystemClock{}
	}
	if opt.Resolver == nil {
		opt.Resolver = net.DefaultResolver
	}
	if opt.Backoff.Cap <= 0 {
		rnd := opt.Backoff.Rand
		opt.Backoff = DefaultBackoff
		opt.Backoff.Rand = rnd
	}
	if opt.Expires <= 0 {
		opt.Expires = time.Hour
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 32 * time.Second
	}
	if opt.UnsubscribeTimeout <= 0 {
		opt.UnsubscribeTimeout = 2 * time.Second
	}
	if opt.LocalAddr == nil {
		opt.LocalAddr = routeLocalAddr
	}
	if opt.ContactUser == "" {
		opt.ContactUser = acct.Number
	}
	if opt.Logger == nil {
		opt.Logger = st.log
	}
	host, port, err := splitHostPort(acct.ServiceDomain)
	if err != nil {
		return nil, fmt.Errorf("sip: mwi: service domain: %w", err)
	}
	m := &MWI{
		st: st, acct: acct, opt: opt,
		log:     opt.Logger.With("line", acct.Number+"@"+acct.ServiceDomain, "mwi", true),
		aor:     siplib.Uri{Scheme: "sip", User: acct.Number, Host: host, Port: int(port)},
		expires: opt.Expires,
		termC:   make(chan time.Duration, 1),
	}
	if acct.OutboundProxy != "" {
		h, p, err := splitHostPort(acct.OutboundProxy)
		if err != nil {
			return nil, fmt.Errorf("sip: mwi: outbound proxy: %w", err)
		}
		m.route = &siplib.Uri{Scheme: "sip", Host: h, Port: int(p), UriParams: siplib.HeaderParams{{K: "lr"}}}
	}
	st.lineRouter() // NOTIFY goes through the line router (routeNotify)
	return m, nil
}

// State is the current message-waiting state.
func (m *MWI) State() MWIState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state
}

func (m *MWI) id() string { return fmt.Sprintf("mwi-%p", m) }

// update changes the state under the lock and tells OnChange if it changed.
func (m *MWI) update(f func(s *MWIState)) {
	m.cbMu.Lock()
	defer m.cbMu.Unlock()
	m.mu.Lock()
	old := m.state
	f(&m.state)
	s := m.state
	m.mu.Unlock()
	changed := s.Waiting != old.Waiting || s.New != old.New || s.Old != old.Old || s.UrgentNew != old.UrgentNew ||
		s.UrgentOld != old.UrgentOld || s.Account != old.Account || s.Subscribed != old.Subscribed || s.LastError != old.LastError
	if changed && m.opt.OnChange != nil {
		m.opt.OnChange(s)
	}
}

// Run subscribes, refreshes at 90 % of the granted expiry, retries failures
// with the registration's back-off, and unsubscribes when ctx ends.
func (m *MWI) Run(ctx context.Context) error {
	mwiAdd(m.st, m)
	defer mwiRemove(m.st, m)
	defer m.st.SetTrustedSources(m.id(), nil)
	for {
		wait := m.round(ctx)
		if ctx.Err() != nil {
			break
		}
		if wait <= 0 {
			continue
		}
		t := m.opt.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C():
		case d := <-m.termC:
			t.Stop()
			if d > 0 {
				t = m.opt.Clock.NewTimer(d)
				select {
				case <-ctx.Done():
				case <-t.C():
				}
			}
		}
		t.Stop()
		if ctx.Err() != nil {
			break
		}
	}
	m.unsubscribe()
	return ctx.Err()
}

// round sends one SUBSCRIBE (new or refresh) and returns the wait before
// the next one.
func (m *MWI) round(ctx context.Context) time.Duration {
	if !m.target.IsValid() {
		if err := m.resolve(ctx); err != nil {
			return m.fail(err, FailOther, 0)
		}
	}
	m.mu.Lock()
	refresh := m.callID != "" && m.remoteTag != ""
	m.mu.Unlock()
	res, err := m.subscribe(ctx, m.expires)
	if ctx.Err() != nil {
		return 0
	}
	if refresh && res != nil && res.StatusCode == siplib.StatusCallTransactionDoesNotExists {
		// RFC 6665 §4.1.2.2: the provider forgot the subscription; a new
		// one goes out at once.
		m.log.Info("sip: message-waiting refresh got 481, subscribing anew")
		m.mu.Lock()
		m.callID = ""
		m.mu.Unlock()
		return 0
	}
	if err != nil && res == nil {
		m.target = netip.AddrPort{} // resolve again: the address may have moved
		return m.fail(err, FailTimeout, 0)
	}
	if err != nil {
		return m.fail(err, refusal(res.StatusCode), retryAfter(res))
	}
	switch code := res.StatusCode; {
	case code == siplib.StatusIntervalToBrief:
		min, ok := minExpires(res)
		if !ok || min <= m.expires {
			return m.fail(fmt.Errorf("423 Interval Too Brief with Min-Expires %v (asked %v)", min, m.expires), FailOther, 0)
		}
		m.expires = min
		return 0
	case res.IsSuccess():
		return m.subscribed(res)
	case code == siplib.StatusNotFound || code == siplib.StatusMethodNotAllowed || code == 489 || code == siplib.StatusNotImplemented:
		// The provider has no message summary for us (many answer 489 Bad
		// Event): ask again only after the longest back-off, quietly;
		// unsolicited NOTIFYs still count.
		return m.fail(fmt.Errorf("SUBSCRIBE: %d %s", code, res.Reason), FailOther, max(retryAfter(res), m.opt.Backoff.Cap))
	default:
		return m.fail(fmt.Errorf("SUBSCRIBE: %d %s", code, res.Reason), refusal(code), retryAfter(res))
	}
}

func (m *MWI) resolve(ctx context.Context) error {
	next := m.acct.RegistrarAddr()
	if m.acct.OutboundProxy != "" {
		next = m.acct.OutboundProxy
	}
	rctx, cancel := context.WithTimeout(ctx, m.opt.Timeout)
	defer cancel()
	transport := m.st.transportOf(rctx, m.opt.Resolver, &m.acct)
	targets, err := resolveFor(rctx, m.opt.Resolver, next, transport)
	if err != nil {
		return err
	}
	v4 := m.st.local.Addr().Is4()
	var trusted []netip.Addr
	for _, t := range targets {
		if t.Addr().Is4() == v4 || m.st.local.Addr().IsUnspecified() {
			if !m.target.IsValid() {
				m.target = t
			}
			trusted = append(trusted, t.Addr().Unmap())
		}
	}
	if !m.target.IsValid() {
		return fmt.Errorf("resolve %s: no address of the listening socket's family", next)
	}
	if m.acct.OutboundProxy != "" { // the registrar may send NOTIFYs directly too
		if more, err := resolveFor(rctx, m.opt.Resolver, m.acct.RegistrarAddr(), transport); err == nil {
			for _, t := range more {
				trusted = append(trusted, t.Addr().Unmap())
			}
		}
	}
	m.mu.Lock()
	m.trusted = trusted
	m.mu.Unlock()
	m.st.SetTrustedSources(m.id(), trusted)
	ip := m.st.local.Addr()
	if ip.IsUnspecified() {
		if ip, err = m.opt.LocalAddr(m.target); err != nil {
			m.target = netip.AddrPort{}
			return fmt.Errorf("local address towards %s: %w", next, err)
		}
	}
	m.localIP = ip
	return nil
}

// fail records a failed SUBSCRIBE, forgets the dialog (the next SUBSCRIBE
// starts a new subscription) and returns the back-off.
func (m *MWI) fail(err error, cause FailCause, after time.Duration) time.Duration {
	m.failc++
	m.mu.Lock()
	m.callID = ""
	m.mu.Unlock()
	wait := m.opt.Backoff.Retry(cause, m.failc, m.ever, after)
	m.log.Warn("sip: message-waiting subscription failed", "err", err, "retry_in", wait)
	m.update(func(s *MWIState) { s.Subscribed, s.LastError, s.Expires = false, err.Error(), time.Time{} })
	return wait
}

// subscribed takes a 2xx: the dialog (To tag, Contact, Record-Route) and
// the granted expiry.
func (m *MWI) subscribed(res *siplib.Response) time.Duration {
	granted := m.expires
	if h := res.GetHeader("Expires"); h != nil {
		if d, ok := parseSeconds(h.Value()); ok {
			granted = d
		}
	}
	m.mu.Lock()
	if tag, ok := res.To().Params.Get("tag"); ok && m.remoteTag == "" {
		m.remoteTag = tag
	}
	if c := res.Contact(); c != nil && m.remote == nil {
		u := c.Address.Clone()
		m.remote = u
	}
	if m.routeSet == nil {
		rr := res.GetHeaders("Record-Route")
		for i := len(rr) - 1; i >= 0; i-- {
			if h, ok := rr[i].(*siplib.RecordRouteHeader); ok {
				m.routeSet = append(m.routeSet, h.Address)
			}
		}
	}
	m.mu.Unlock()
	if granted <= 0 {
		return m.fail(errors.New("SUBSCRIBE: provider granted no subscription (expires 0)"), FailOther, 0)
	}
	m.failc, m.ever = 0, true
	exp := m.opt.Clock.Now().Add(granted)
	m.update(func(s *MWIState) { s.Subscribed, s.LastError, s.Expires = true, "", exp })
	m.log.Info("sip: message-waiting subscribed", "expires", granted)
	return granted * 9 / 10
}

// unsubscribe ends the subscription (Expires: 0) on stop.
func (m *MWI) unsubscribe() {
	m.mu.Lock()
	active := m.callID != "" && m.remoteTag != ""
	m.mu.Unlock()
	if !active || !m.target.IsValid() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.opt.UnsubscribeTimeout)
	defer cancel()
	res, err := m.subscribe(ctx, 0)
	switch {
	case err != nil:
		m.log.Warn("sip: unsubscribe message-waiting", "err", err)
	case !res.IsSuccess():
		m.log.Warn("sip: unsubscribe message-waiting", "status", res.StatusCode, "reason", res.Reason)
	}
	m.mu.Lock()
	m.callID = ""
	m.mu.Unlock()
	m.update(func(s *MWIState) { s.Subscribed, s.Expires = false, time.Time{} })
}

// subscribe sends SUBSCRIBE, in the subscription's dialog when there is
// one, answering 401/407 challenges with the line's digest credentials.
// res is nil only when no response arrived.
func (m *MWI) subscribe(ctx context.Context, expires time.Duration) (*siplib.Response, error) {
	auth := map[string]string{}
	for round := 0; ; round++ {
		req := m.newSubscribe(expires)
		for name, v := range auth {
			req.AppendHeader(siplib.NewHeader(name, v))
		}
		tctx, cancel := context.WithTimeout(ctx, m.opt.Timeout)
		res, err := m.st.request(tctx, req)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return nil, fmt.Errorf("SUBSCRIBE: no response within %v", m.opt.Timeout)
		}
		if err != nil {
			return nil, err
		}
		code := res.StatusCode
		if code == siplib.StatusCallTransactionDoesNotExists {
			// RFC 6665 §4.1.2.2: the refresh's subscription is gone; a
			// new one is the next round's (fail drops the dialog).
			return res, fmt.Errorf("SUBSCRIBE: %d %s", code, res.Reason)
		}
		if code != siplib.StatusUnauthorized && code != siplib.StatusProxyAuthRequired {
			return res, nil
		}
		crName, cred, stale, err := digestAnswer(res, siplib.SUBSCRIBE, req.Recipient.Addr(), &m.acct)
		if err != nil {
			return res, fmt.Errorf("SUBSCRIBE: %w", err)
		}
		if _, answered := auth[crName]; (answered && !stale) || round >= 4 {
			return res, fmt.Errorf("SUBSCRIBE: %d %s: %w (auth user %q)", code, res.Reason, errRejected, m.acct.AuthName())
		}
		auth[crName] = cred
	}
}

// newSubscribe builds a SUBSCRIBE: a new subscription (new Call-ID and
// tag) when there is no dialog, else a refresh in it. Either goes to the
// outbound proxy or registrar address, as every request of a call does.
func (m *MWI) newSubscribe(expires time.Duration) *siplib.Request {
	m.mu.Lock()
	if m.callID == "" {
		m.callID = siplib.GenerateTagN(24) + "@openata"
		m.fromTag = siplib.GenerateTagN(16)
		m.remoteTag, m.remote, m.routeSet = "", nil, nil
	}
	callID, fromTag, remoteTag := m.callID, m.fromTag, m.remoteTag
	ruri := m.aor
	if remoteTag != "" && m.remote != nil {
		ruri = *m.remote.Clone()
	}
	routes := slices.Clone(m.routeSet)
	m.mu.Unlock()
	if remoteTag == "" || len(routes) == 0 {
		routes = nil
		if m.route != nil {
			routes = []siplib.Uri{*m.route}
		}
		if remoteTag == "" && m.opt.ServiceRoute != nil {
			routes = append(routes, m.opt.ServiceRoute()...) // RFC 3608 (serviceroute.go)
		}
	}

	req := siplib.NewRequest(siplib.SUBSCRIBE, ruri)
	req.AppendHeader(&siplib.ViaHeader{
		ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
		Host: hostString(m.localIP), Port: int(m.st.local.Port()),
		Params: siplib.HeaderParams{{K: "branch", V: siplib.GenerateBranch()}, {K: "rport"}},
	})
	mf := siplib.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	for _, r := range routes {
		req.AppendHeader(&siplib.RouteHeader{Address: r})
	}
	req.AppendHeader(&siplib.FromHeader{DisplayName: m.acct.DisplayName, Address: m.aor, Params: siplib.HeaderParams{{K: "tag", V: fromTag}}})
	to := &siplib.ToHeader{Address: m.aor}
	if remoteTag != "" {
		to.Params = siplib.HeaderParams{{K: "tag", V: remoteTag}}
	}
	req.AppendHeader(to)
	cid := siplib.CallIDHeader(callID)
	req.AppendHeader(&cid)
	m.cseq++
	req.AppendHeader(&siplib.CSeqHeader{SeqNo: m.cseq, MethodName: siplib.SUBSCRIBE})
	req.AppendHeader(&siplib.ContactHeader{Address: m.contact()})
	req.AppendHeader(siplib.NewHeader("Event", "message-summary"))
	req.AppendHeader(siplib.NewHeader("Accept", "application/simple-message-summary"))
	exp := siplib.ExpiresHeader(expires / time.Second)
	req.AppendHeader(&exp)
	if ua := m.st.cfg.UserAgent; ua != "" {
		req.AppendHeader(siplib.NewHeader("User-Agent", ua))
	}
	req.SetBody(nil)
	req.SetTransport("UDP")
	req.SetDestination(m.target.String())
	m.st.onFlow(req, &m.acct) // a TCP/TLS line: over its connection (transport_line.go)
	return req
}

func (m *MWI) contact() siplib.Uri {
	a := netip.AddrPortFrom(m.localIP, m.st.local.Port())
	if m.opt.PublicAddr != nil {
		if pub := m.opt.PublicAddr(); pub.IsValid() {
			a = pub
		}
	}
	return siplib.Uri{Scheme: "sip", User: m.opt.ContactUser, Host: hostString(a.Addr()), Port: int(a.Port())}
}

// eventPackage is the Event header's package, lower case, without
// parameters.
func eventPackage(req *siplib.Request) string {
	h := req.GetHeader("Event")
	if h == nil {
		return ""
	}
	v, _, _ := strings.Cut(h.Value(), ";")
	return strings.ToLower(strings.TrimSpace(v))
}

// inDialog reports whether req belongs to the subscription's dialog.
func (m *MWI) inDialog(req *siplib.Request) bool {
	to := req.To()
	if to == nil || req.CallID() == nil {
		return false
	}
	tag, _ := to.Params.Get("tag")
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.callID != "" && req.CallID().Value() == m.callID && tag == m.fromTag
}

// unsolicited reports whether req is a message summary for this line
// from its proxy or registrar (Asterisk's and many PBXs' unsolicited MWI).
func (m *MWI) unsolicited(req *siplib.Request) bool {
	if eventPackage(req) != "message-summary" || !RequestURIMatches(req, m.acct.Number, m.opt.ContactUser) {
		return false
	}
	src, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Contains(m.trusted, src.Addr().Unmap())
}

// handleNotify answers a NOTIFY of this MWI; false: not ours.
func (m *MWI) handleNotify(req *siplib.Request, tx siplib.ServerTransaction) bool {
	dialog := m.inDialog(req)
	if !dialog && !m.unsolicited(req) {
		return false
	}
	if eventPackage(req) != "message-summary" {
		respond(tx, req, 489, "Bad Event")
		return true
	}
	var sum *MessageSummary
	if body := req.Body(); len(body) > 0 {
		s, err := ParseMessageSummary(body)
		if err != nil {
			m.log.Info("sip: message summary refused", "err", err, "src", req.Source())
			respond(tx, req, siplib.StatusBadRequest, "Bad Request")
			return true
		}
		sum = &s
	}
	respond(tx, req, siplib.StatusOK, "OK")
	if dialog {
		m.mu.Lock()
		if tag, ok := req.From().Params.Get("tag"); ok && m.remoteTag == "" {
			m.remoteTag = tag // the NOTIFY came before the 200
		}
		if c := req.Contact(); c != nil {
			m.remote = c.Address.Clone()
		}
		m.mu.Unlock()
		m.subscriptionState(req)
	}
	if sum != nil {
		m.log.Info("sip: message waiting", "waiting", sum.Waiting, "new", sum.New, "old", sum.Old, "unsolicited", !dialog)
		m.update(func(s *MWIState) {
			s.Waiting, s.New, s.Old, s.UrgentNew, s.UrgentOld, s.Account = sum.Waiting, sum.New, sum.Old, sum.UrgentNew, sum.UrgentOld, sum.Account
		})
	}
	return true
}

// subscriptionState follows Subscription-State: terminated ends the
// dialog and resubscribes (at once after deactivated/timeout, RFC 6665
// §4.1.3; else after retry-after or the back-off).
func (m *MWI) subscriptionState(req *siplib.Request) {
	h := req.GetHeader("Subscription-State")
	if h == nil {
		return
	}
	parts := strings.Split(h.Value(), ";")
	if !strings.EqualFold(strings.TrimSpace(parts[0]), "terminated") {
		return
	}
	var reason string
	var after time.Duration
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch strings.ToLower(k) {
		case "reason":
			reason = strings.ToLower(v)
		case "retry-after":
			after, _ = parseSeconds(v)
		}
	}
	if after == 0 && reason != "deactivated" && reason != "timeout" {
		after = m.opt.Backoff.Wait(1, true, false)
	}
	m.mu.Lock()
	m.callID = ""
	m.mu.Unlock()
	m.update(func(s *MWIState) { s.Subscribed, s.Expires = false, time.Time{} })
	m.log.Info("sip: message-waiting subscription terminated by the provider", "reason", reason, "resubscribe_in", after)
	select {
	case m.termC <- after:
	default:
	}
}

// The MWIs of each stack, for NOTIFY routing.
var (
	mwiMu   sync.Mutex
	mwiSubs = map[*Stack][]*MWI{}
)

func mwiAdd(st *Stack, m *MWI) {
	mwiMu.Lock()
	mwiSubs[st] = append(mwiSubs[st], m)
	mwiMu.Unlock()
}

func mwiRemove(st *Stack, m *MWI) {
	mwiMu.Lock()
	defer mwiMu.Unlock()
	list := slices.DeleteFunc(mwiSubs[st], func(x *MWI) bool { return x == m })
	if len(list) == 0 {
		delete(mwiSubs, st)
	} else {
		mwiSubs[st] = list
	}
}

// routeNotify routes NOTIFY: to the call it belongs to (transfer
// progress), else to a running MWI (its subscription, or an unsolicited
// message summary for its number from its proxy), else 481.
func (st *Stack) routeNotify(r *router) Handler {
	inCall := r.inCall((*Line).handleNotify)
	return func(req *siplib.Request, tx siplib.ServerTransaction) {
		if r.owner(req) != nil {
			inCall(req, tx)
			return
		}
		mwiMu.Lock()
		list := slices.Clone(mwiSubs[st])
		mwiMu.Unlock()
		for _, m := range list {
			if m.handleNotify(req, tx) {
				return
			}
		}
		respond(tx, req, siplib.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
	}
}
