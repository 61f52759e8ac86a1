package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	siplib "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// RegState is a line's registration state as the status page shows it.
type RegState string

// The registration states.
const (
	StateInactive    RegState = "inactive"    // line off, or stopped
	StateRegistering RegState = "registering" // first REGISTER under way
	StateRegistered  RegState = "registered"  // the registrar holds our binding
	StateFailing     RegState = "failing"     // last attempt failed; retrying at NextRetry
)

// RegStatus is a snapshot of a registration for the status page.
type RegStatus struct {
	State     RegState
	LastError string    // why the last attempt failed ("" after a success)
	NextRetry time.Time // when failing: the next attempt
	Expires   time.Time // when registered: end of the granted binding
	Contact   string    // the Contact URI registered (or being registered)
}

// RegOptions tunes a Registration; zero values take the defaults.
type RegOptions struct {
	Clock    Clock    // default SystemClock
	Resolver Resolver // default net.DefaultResolver
	Backoff  Backoff  // default DefaultBackoff (when Cap is 0)
	// Timeout bounds one REGISTER transaction (default 32 s, Timer F);
	// on expiry the next resolved target is tried.
	Timeout time.Duration
	// UnregisterTimeout bounds the Expires: 0 REGISTER on shutdown (2 s).
	UnregisterTimeout time.Duration
	// LocalAddr finds our address towards remote when sip.listen is a
	// wildcard address (default: the kernel's route choice).
	LocalAddr func(remote netip.AddrPort) (netip.Addr, error)
	// ContactUser is the user part of our Contact (default: the number).
	ContactUser string
	Logger      *slog.Logger
}

// Registration keeps one line registered. Run drives it; Status and
// Subscribe read it from any goroutine.
type Registration struct {
	st   *Stack
	line Account
	opt  RegOptions
	log  *slog.Logger

	// Owned by the Run goroutine.
	aor            siplib.Uri
	ruri           siplib.Uri
	route          *siplib.Uri // outbound proxy as a loose route
	callID         string
	fromTag        string
	cseq           uint32
	expires        time.Duration // asked for
	granted        time.Duration // last granted
	targets        []netip.AddrPort
	cur            int
	localIP        netip.Addr
	public         netip.AddrPort // learned from received/rport
	contact        siplib.Uri
	stale          *siplib.Uri // previous Contact to remove in the next REGISTER
	natTried       bool        // this round already re-registered for a NAT address
	bound          bool        // the registrar may hold a binding of ours
	everRegistered bool
	failc          int
	wait           time.Duration

	mu         sync.Mutex
	status     RegStatus
	publicSeen netip.AddrPort // public, once a registration with it succeeded
	subs       map[chan RegStatus]struct{}
}

// NewRegistration prepares the registration of line on st.
func NewRegistration(st *Stack, line Account, opt RegOptions) (*Registration, error) {
	if line.Number == "" || line.ServiceDomain == "" {
		return nil, fmt.Errorf("sip: line needs a number and a service domain")
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
	if opt.Timeout <= 0 {
		opt.Timeout = 32 * time.Second
	}
	if opt.UnregisterTimeout <= 0 {
		opt.UnregisterTimeout = 2 * time.Second
	}
	if opt.LocalAddr == nil {
		opt.LocalAddr = routeLocalAddr
	}
	if opt.ContactUser == "" {
		opt.ContactUser = line.Number
	}
	if opt.Logger == nil {
		opt.Logger = st.log
	}
	r := &Registration{
		st:      st,
		line:    line,
		opt:     opt,
		log:     opt.Logger.With("line", line.Number+"@"+line.ServiceDomain),
		aor:     siplib.Uri{Scheme: "sip", User: line.Number, Host: line.ServiceDomain},
		callID:  siplib.GenerateTagN(24) + "@openata",
		fromTag: siplib.GenerateTagN(16),
		cseq:    1,
		expires: line.RegisterExpires,
		subs:    map[chan RegStatus]struct{}{},
		status:  RegStatus{State: StateInactive},
	}
	if r.expires <= 0 {
		r.expires = time.Hour
	}
	host, port, err := splitHostPort(line.RegistrarAddr())
	if err != nil {
		return nil, fmt.Errorf("sip: registrar: %w", err)
	}
	r.ruri = siplib.Uri{Scheme: "sip", Host: host, Port: int(port)}
	if line.OutboundProxy != "" {
		host, port, err := splitHostPort(line.OutboundProxy)
		if err != nil {
			return nil, fmt.Errorf("sip: outbound proxy: %w", err)
		}
		r.route = &siplib.Uri{Scheme: "sip", Host: host, Port: int(port), UriParams: siplib.HeaderParams{{K: "lr"}}}
	}
	return r, nil
}

// Account is the account this registration serves.
func (r *Registration) Account() Account { return r.line }

// MatchesRequestURI reports whether req is addressed to this line (its
// number or its Contact user): the ghost-call check for incoming INVITEs.
func (r *Registration) MatchesRequestURI(req *siplib.Request) bool {
	return RequestURIMatches(req, r.line.Number, r.opt.ContactUser)
}

// PublicAddr is where the registrar sees us when that is not our own
// address (behind a NAT: its Via received/rport), as last registered;
// invalid otherwise. Calls put it in their Contact, as REGISTER does.
func (r *Registration) PublicAddr() netip.AddrPort {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.publicSeen
}

// Status is the current state.
func (r *Registration) Status() RegStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// Subscribe returns a channel that receives each new status (only the
// latest is kept when the reader is slow) and a function that ends the
// subscription.
func (r *Registration) Subscribe() (<-chan RegStatus, func()) {
	ch := make(chan RegStatus, 1)
	r.mu.Lock()
	r.subs[ch] = struct{}{}
	r.mu.Unlock()
	return ch, func() {
		r.mu.Lock()
		delete(r.subs, ch)
		r.mu.Unlock()
	}
}

func (r *Registration) setStatus(s RegStatus) {
	r.mu.Lock()
	old := r.status
	r.status = s
	for ch := range r.subs {
		select { // keep only the newest
		case <-ch:
		default:
		}
		ch <- s
	}
	r.mu.Unlock()
	if old.State != s.State {
		r.log.Info("sip: registration state", "from", old.State, "to", s.State, "error", s.LastError)
	}
}

// regState is one state of the registration machine: it runs until the
// state ends and returns the next one (nil: stop).
type regState func(ctx context.Context) regState

// Run keeps the line registered until ctx ends, then unregisters
// (Expires: 0, bounded by UnregisterTimeout). An inactive line returns at once.
func (r *Registration) Run(ctx context.Context) error {
	if r.line.Inactive {
		r.setStatus(RegStatus{State: StateInactive})
		return nil
	}
	for state := r.stateResolving; state != nil; {
		state = state(ctx)
	}
	if r.bound && len(r.targets) > 0 {
		r.unregister()
	}
	r.st.SetTrustedSources(r.id(), nil)
	r.setStatus(RegStatus{State: StateInactive})
	return nil
}

func (r *Registration) id() string { return fmt.Sprintf("reg-%p", r) }

// stateResolving finds the registrar (or outbound proxy) addresses and
// trusts them as request sources.
func (r *Registration) stateResolving(ctx context.Context) regState {
	if r.Status().State != StateRegistered {
		r.setStatus(RegStatus{State: StateRegistering, LastError: r.Status().LastError, Contact: r.Status().Contact})
	}
	next := r.line.RegistrarAddr()
	if r.line.OutboundProxy != "" {
		next = r.line.OutboundProxy
	}
	rctx, cancel := context.WithTimeout(ctx, r.opt.Timeout)
	defer cancel()
	targets, err := ResolveUDP(rctx, r.opt.Resolver, next)
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return r.fail(err, false)
	}
	targets = r.usable(targets)
	if len(targets) == 0 {
		return r.fail(fmt.Errorf("resolve %s: no address of the listening socket's family", next), false)
	}
	trusted := make([]netip.Addr, 0, len(targets))
	for _, t := range targets {
		trusted = append(trusted, t.Addr())
	}
	if r.line.OutboundProxy != "" { // the registrar may send requests directly too
		if more, err := ResolveUDP(rctx, r.opt.Resolver, r.line.RegistrarAddr()); err == nil {
			for _, t := range more {
				trusted = append(trusted, t.Addr())
			}
		}
	}
	r.st.SetTrustedSources(r.id(), trusted)
	r.targets, r.cur = targets, 0
	return r.stateRegistering
}

// usable keeps the targets the listening socket can reach.
func (r *Registration) usable(targets []netip.AddrPort) []netip.AddrPort {
	v4 := r.st.local.Addr().Is4()
	out := targets[:0:0]
	for _, t := range targets {
		if t.Addr().Is4() == v4 || (!v4 && r.st.local.Addr().IsUnspecified()) {
			out = append(out, t)
		}
	}
	return out
}

// stateRegistering sends REGISTER to the current target and interprets
// the answer.
func (r *Registration) stateRegistering(ctx context.Context) regState {
	target := r.targets[r.cur]
	if err := r.updateLocal(target); err != nil {
		return r.fail(err, false)
	}
	res, err := r.register(ctx, target, r.expires)
	if ctx.Err() != nil {
		return nil
	}
	if err != nil && res == nil {
		if r.cur+1 < len(r.targets) { // RFC 3263 §4.3: on timeout try the next
			r.log.Warn("sip: registrar did not answer, trying next", "target", target, "err", err)
			r.cur++
			return r.stateRegistering
		}
		return r.fail(fmt.Errorf("REGISTER to %s: %w", target, err), false)
	}
	if err != nil {
		return r.fail(err, res.StatusCode == siplib.StatusForbidden)
	}
	switch code := res.StatusCode; {
	case code == siplib.StatusIntervalToBrief:
		min, ok := minExpires(res)
		if !ok || min <= r.expires {
			return r.fail(fmt.Errorf("423 Interval Too Brief with Min-Expires %v (asked %v)", min, r.expires), false)
		}
		r.log.Info("sip: registrar wants a longer expiry", "min_expires", min)
		r.expires = min
		return r.stateRegistering
	case res.IsSuccess():
		return r.registered(res)
	default:
		return r.fail(fmt.Errorf("REGISTER: %d %s", code, res.Reason), code == siplib.StatusForbidden)
	}
}

// registered takes a 2xx: learns our public address and the granted expiry.
func (r *Registration) registered(res *siplib.Response) regState {
	r.bound = true
	if pub, ok := viaReceived(res); ok && pub != r.contactAddr() && !r.natTried {
		// Behind a NAT the registrar saw another address than our Contact:
		// register the one it can reach (and remove the unreachable one).
		r.log.Info("sip: public address differs from contact, re-registering", "public", pub, "contact", r.contact.String())
		old := r.contact
		r.stale = &old
		r.public = pub
		r.contact = r.makeContact()
		r.natTried = true // once per round: a NAT that maps every request anew must not loop us
		return r.stateRegistering
	}
	r.natTried = false
	granted, ok := grantedExpiry(res, r.contact)
	if !ok {
		granted = r.expires
	}
	if granted <= 0 {
		return r.fail(errors.New("REGISTER: registrar granted no binding (expires 0)"), false)
	}
	r.granted, r.failc, r.everRegistered, r.stale = granted, 0, true, nil
	r.mu.Lock()
	r.publicSeen = r.public
	r.mu.Unlock()
	r.setStatus(RegStatus{State: StateRegistered, Expires: r.opt.Clock.Now().Add(granted), Contact: r.contact.String()})
	return r.stateRegistered
}

// stateRegistered waits for the refresh (at 90 % of the granted expiry)
// and sends NAT keep-alives meanwhile.
func (r *Registration) stateRegistered(ctx context.Context) regState {
	refresh := r.opt.Clock.NewTimer(r.granted * 9 / 10)
	defer refresh.Stop()
	interval := r.st.cfg.KeepAlive
	var kaC <-chan time.Time
	var ka Timer
	if interval > 0 {
		ka = r.opt.Clock.NewTimer(interval)
		kaC = ka.C()
	}
	defer func() {
		if ka != nil {
			ka.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-refresh.C():
			return r.stateRegistering
		case <-kaC:
			if r.keepAlive(ctx) {
				return r.stateRegistering
			}
			ka = r.opt.Clock.NewTimer(interval)
			kaC = ka.C()
		}
	}
}

// fail records err and schedules the retry.
func (r *Registration) fail(err error, forbidden bool) regState {
	r.failc++
	r.wait = r.opt.Backoff.Wait(r.failc, r.everRegistered, forbidden)
	r.setStatus(RegStatus{
		State:     StateFailing,
		LastError: err.Error(),
		NextRetry: r.opt.Clock.Now().Add(r.wait),
		Contact:   r.contact.String(),
	})
	r.log.Warn("sip: registration failed", "err", err, "attempt", r.failc, "retry_in", r.wait)
	return r.stateFailing
}

// stateFailing waits for the back-off, then starts over from DNS (the
// registrar may have moved); it never gives up.
func (r *Registration) stateFailing(ctx context.Context) regState {
	t := r.opt.Clock.NewTimer(r.wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil
	case <-t.C():
		return r.stateResolving
	}
}

// keepAlive sends one NAT keep-alive; it reports whether the line must
// re-register (our address changed).
func (r *Registration) keepAlive(ctx context.Context) bool {
	target := r.targets[r.cur]
	if r.st.local.Addr().IsUnspecified() {
		if ip, err := r.opt.LocalAddr(target); err == nil && ip != r.localIP {
			r.log.Info("sip: local address changed, re-registering", "old", r.localIP, "new", ip)
			return true
		}
	}
	if r.st.cfg.KeepAliveMethod != "options" {
		if err := r.st.sendRaw([]byte("\r\n\r\n"), target); err != nil {
			r.log.Debug("sip: keep-alive", "err", err)
		}
		return false
	}
	req := r.newRequest(siplib.OPTIONS, target)
	kctx, cancel := context.WithTimeout(ctx, min(r.opt.Timeout, max(r.st.cfg.KeepAlive, time.Second)))
	defer cancel()
	res, err := r.st.request(kctx, req)
	if err != nil {
		r.log.Debug("sip: keep-alive OPTIONS", "err", err)
		return false
	}
	if pub, ok := viaReceived(res); ok && pub != r.contactAddr() && !r.natTried {
		r.log.Info("sip: NAT mapping changed, re-registering", "public", pub)
		return true
	}
	return false
}

// learnFromChallenge takes our public address from a 401/407: the
// registrar's Via received/rport already says where it sees us, so behind
// a NAT the answered REGISTER carries the reachable Contact and the
// binding needs one round, not a second REGISTER after the 200.
func (r *Registration) learnFromChallenge(res *siplib.Response) {
	pub, ok := viaReceived(res)
	if !ok || pub == r.contactAddr() || r.natTried {
		return
	}
	r.log.Info("sip: registrar sees another address than our contact; registering that one", "public", pub, "contact", r.contact.String())
	if r.bound {
		old := r.contact
		r.stale = &old // remove the binding we had
	}
	r.public = pub
	r.contact = r.makeContact()
}

// updateLocal picks our address towards target; when it changed, the
// learned public address is stale too.
func (r *Registration) updateLocal(target netip.AddrPort) error {
	ip := r.st.local.Addr()
	if ip.IsUnspecified() {
		var err error
		if ip, err = r.opt.LocalAddr(target); err != nil {
			return fmt.Errorf("local address towards %s: %w", target, err)
		}
	}
	if ip == r.localIP {
		return nil
	}
	if r.localIP.IsValid() {
		old := r.contact
		r.stale = &old
		r.public = netip.AddrPort{}
	}
	r.localIP = ip
	r.contact = r.makeContact()
	return nil
}

func (r *Registration) contactAddr() netip.AddrPort {
	if r.public.IsValid() {
		return r.public
	}
	return netip.AddrPortFrom(r.localIP, r.st.local.Port())
}

func (r *Registration) makeContact() siplib.Uri {
	a := r.contactAddr()
	return siplib.Uri{Scheme: "sip", User: r.opt.ContactUser, Host: hostString(a.Addr()), Port: int(a.Port())}
}

func hostString(ip netip.Addr) string {
	if ip.Is6() {
		return "[" + ip.String() + "]"
	}
	return ip.String()
}

// unregister removes our binding on shutdown.
func (r *Registration) unregister() {
	ctx, cancel := context.WithTimeout(context.Background(), r.opt.UnregisterTimeout)
	defer cancel()
	res, err := r.register(ctx, r.targets[r.cur], 0)
	switch {
	case err != nil:
		r.log.Warn("sip: unregister", "err", err)
	case !res.IsSuccess():
		r.log.Warn("sip: unregister", "status", res.StatusCode, "reason", res.Reason)
	default:
		r.bound = false
		r.log.Info("sip: unregistered")
	}
}

// errRejected marks a challenge answered with our credentials that came back.
var errRejected = errors.New("credentials rejected")

// register sends REGISTER (expires 0 removes the binding), answering
// 401/407 challenges with the line's digest credentials. A final error
// response to our credentials is returned with an error; res is nil only
// when no response arrived.
func (r *Registration) register(ctx context.Context, target netip.AddrPort, expires time.Duration) (*siplib.Response, error) {
	auth := map[string]string{} // header name -> credentials
	for round := 0; ; round++ {
		req := r.newRequest(siplib.REGISTER, target)
		ct := &siplib.ContactHeader{Address: r.contact}
		req.AppendHeader(ct)
		if r.stale != nil {
			req.AppendHeader(&siplib.ContactHeader{Address: *r.stale, Params: siplib.HeaderParams{{K: "expires", V: "0"}}})
		}
		exp := siplib.ExpiresHeader(expires / time.Second)
		req.AppendHeader(&exp)
		for name, v := range auth {
			req.AppendHeader(siplib.NewHeader(name, v))
		}
		tctx, cancel := context.WithTimeout(ctx, r.opt.Timeout)
		res, err := r.st.request(tctx, req)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return nil, fmt.Errorf("no response within %v", r.opt.Timeout)
		}
		if err != nil {
			return nil, err
		}
		code := res.StatusCode
		if code != siplib.StatusUnauthorized && code != siplib.StatusProxyAuthRequired {
			return res, nil
		}
		if expires > 0 {
			r.learnFromChallenge(res)
		}
		chName, crName := "WWW-Authenticate", "Authorization"
		if code == siplib.StatusProxyAuthRequired {
			chName, crName = "Proxy-Authenticate", "Proxy-Authorization"
		}
		h := res.GetHeader(chName)
		if h == nil {
			return res, fmt.Errorf("REGISTER: %d %s without %s", code, res.Reason, chName)
		}
		chal, err := digest.ParseChallenge(h.Value())
		if err != nil {
			return res, fmt.Errorf("REGISTER: %d %s: %w", code, res.Reason, err)
		}
		if _, answered := auth[crName]; (answered && !chal.Stale) || round >= 4 {
			return res, fmt.Errorf("REGISTER: %d %s: %w (auth user %q)", code, res.Reason, errRejected, r.line.AuthName())
		}
		chal.Algorithm = asciiUpper(chal.Algorithm)
		cred, err := digest.Digest(chal, digest.Options{
			Method:   string(siplib.REGISTER),
			URI:      req.Recipient.Addr(),
			Username: r.line.AuthName(),
			Password: r.line.Password,
			Count:    1,
		})
		if err != nil {
			return res, fmt.Errorf("REGISTER: digest: %w", err)
		}
		auth[crName] = cred.String()
	}
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// newRequest builds an out-of-dialog request of the registration's
// dialog-less "session" (same Call-ID, rising CSeq) sent to target.
func (r *Registration) newRequest(method siplib.RequestMethod, target netip.AddrPort) *siplib.Request {
	req := siplib.NewRequest(method, r.ruri)
	via := &siplib.ViaHeader{
		ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
		Host: hostString(r.localIP), Port: int(r.st.local.Port()),
		Params: siplib.HeaderParams{{K: "branch", V: siplib.GenerateBranch()}, {K: "rport"}},
	}
	req.AppendHeader(via)
	mf := siplib.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	if r.route != nil {
		req.AppendHeader(&siplib.RouteHeader{Address: *r.route})
	}
	req.AppendHeader(&siplib.FromHeader{DisplayName: r.line.DisplayName, Address: r.aor, Params: siplib.HeaderParams{{K: "tag", V: r.fromTag}}})
	req.AppendHeader(&siplib.ToHeader{Address: r.aor})
	cid := siplib.CallIDHeader(r.callID)
	req.AppendHeader(&cid)
	r.cseq++
	req.AppendHeader(&siplib.CSeqHeader{SeqNo: r.cseq, MethodName: method})
	if ua := r.st.cfg.UserAgent; ua != "" {
		req.AppendHeader(siplib.NewHeader("User-Agent", ua))
	}
	req.SetBody(nil)
	req.SetTransport("UDP")
	req.SetDestination(target.String())
	return req
}

// routeLocalAddr asks the kernel which local address routes to remote
// (connecting a UDP socket sends nothing).
func routeLocalAddr(remote netip.AddrPort) (netip.Addr, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(remote))
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}
