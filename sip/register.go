package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	siplib "github.com/emiago/sipgo/sip"
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
	// NotAnsweringSince is when the provider stopped answering (the first
	// unanswered keep-alive or REGISTER); zero while it answers.
	NotAnsweringSince time.Time
	// LastRegistered is the last successful REGISTER; LastKeepAliveAnswer
	// the last answer to a keep-alive (a pong or an OPTIONS response).
	LastRegistered      time.Time
	LastKeepAliveAnswer time.Time
}

// ReRegCause says why a line sent a REGISTER again, for the metrics.
type ReRegCause string

// The causes of a re-registration.
const (
	ReRegRefresh       ReRegCause = "refresh"        // the granted expiry is running out
	ReRegRetry         ReRegCause = "retry"          // a failed attempt's back-off ran out
	ReRegFlowRecovered ReRegCause = "flow_recovered" // the provider answers again after not answering
	ReRegBindingGone   ReRegCause = "binding_gone"   // the provider said it does not know us (404/403 to OPTIONS)
	ReRegNetwork       ReRegCause = "network"        // our local address changed, or NetworkChanged
	ReRegNAT           ReRegCause = "nat"            // the provider sees us at another public address
)

// ReRegCauses lists the causes in the order /metrics shows them.
var ReRegCauses = []ReRegCause{ReRegRefresh, ReRegRetry, ReRegFlowRecovered, ReRegBindingGone, ReRegNetwork, ReRegNAT}

// RegCounters count a registration's keep-alive and recovery events since
// it started.
type RegCounters struct {
	KeepAliveMisses uint64 // keep-alives that got no answer
	FlowFailures    uint64 // times keepalive_misses were reached (or a REGISTER went unanswered)
	Registers       uint64 // REGISTER transactions started (authentication rounds included)
	ReRegistrations map[ReRegCause]uint64
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
	cause          FailCause

	// Keep-alive failure detection (RFC 5626 §4.4.1).
	pongC      chan struct{}  // a CRLF pong arrived from the current target
	netC       chan struct{}  // NetworkChanged
	pongTarget netip.AddrPort // the target pongCap is about
	pongCap    pongSupport
	crlfOut    bool // a CRLF went out and its pong has not come
	misses     int
	downSince  time.Time // first unanswered keep-alive or REGISTER; zero while answered
	goneAt     time.Time // last re-registration for a binding-gone answer
	goneStreak int       // such re-registrations in a row the provider did not confirm

	lineFlow // the transport; a TCP/TLS line's connection (transport_line.go)

	mu         sync.Mutex
	status     RegStatus
	lastReg    time.Time
	lastKA     time.Time
	counters   RegCounters
	publicSeen netip.AddrPort // public, once a registration with it succeeded
	subs       map[chan RegStatus]struct{}
	// serviceRoute is RFC 3608's, from the last 2xx (serviceroute.go).
	serviceRoute []siplib.Uri
}

// pongSupport is whether the provider answers CRLF keep-alives.
type pongSupport int8

const (
	pongUnknown pongSupport = iota
	pongYes
	pongNo
)

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
		st:       st,
		line:     line,
		opt:      opt,
		log:      opt.Logger.With("line", line.Number+"@"+line.ServiceDomain),
		aor:      siplib.Uri{Scheme: "sip", User: line.Number, Host: line.ServiceDomain},
		callID:   siplib.GenerateTagN(24) + "@openata",
		fromTag:  siplib.GenerateTagN(16),
		cseq:     1,
		expires:  line.RegisterExpires,
		subs:     map[chan RegStatus]struct{}{},
		status:   RegStatus{State: StateInactive},
		pongC:    make(chan struct{}, 1),
		netC:     make(chan struct{}, 1),
		counters: RegCounters{ReRegistrations: map[ReRegCause]uint64{}},
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
	return r.withTimesLocked(r.status)
}

func (r *Registration) withTimesLocked(s RegStatus) RegStatus {
	s.LastRegistered, s.LastKeepAliveAnswer = r.lastReg, r.lastKA
	return s
}

// Counters returns the keep-alive and re-registration counts so far.
func (r *Registration) Counters() RegCounters {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.counters
	c.ReRegistrations = make(map[ReRegCause]uint64, len(r.counters.ReRegistrations))
	for k, v := range r.counters.ReRegistrations {
		c.ReRegistrations[k] = v
	}
	return c
}

// NetworkChanged tells the registration that the link went down and up
// or an address changed: it registers again at once.
func (r *Registration) NetworkChanged() {
	select {
	case r.netC <- struct{}{}:
	default:
	}
}

// reRegister counts a re-registration and logs why.
func (r *Registration) reRegister(cause ReRegCause, msg string, args ...any) {
	r.mu.Lock()
	r.counters.ReRegistrations[cause]++
	r.mu.Unlock()
	if cause != ReRegRefresh && cause != ReRegRetry {
		r.log.Info("sip: re-registering: "+msg, append(args, "cause", cause)...)
	}
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
	s = r.withTimesLocked(s)
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
	r.st.watchPongs(r.id(), netip.AddrPort{}, nil)
	r.dropFlow()
	r.setStatus(RegStatus{State: StateInactive})
	return nil
}

func (r *Registration) id() string { return fmt.Sprintf("reg-%p", r) }

// stateResolving finds the registrar (or outbound proxy) addresses and
// trusts them as request sources.
func (r *Registration) stateResolving(ctx context.Context) regState {
	if r.Status().State != StateRegistered {
		r.setStatus(RegStatus{State: StateRegistering, LastError: r.Status().LastError, Contact: r.Status().Contact, NotAnsweringSince: r.downSince})
	}
	next := r.line.RegistrarAddr()
	if r.line.OutboundProxy != "" {
		next = r.line.OutboundProxy
	}
	rctx, cancel := context.WithTimeout(ctx, r.opt.Timeout)
	defer cancel()
	targets, err := r.resolve(rctx, next)
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return r.fail(err, FailOther, 0)
	}
	targets = r.usable(targets)
	if len(targets) == 0 {
		return r.fail(fmt.Errorf("resolve %s: no address of the listening socket's family", next), FailOther, 0)
	}
	trusted := make([]netip.Addr, 0, len(targets))
	for _, t := range targets {
		trusted = append(trusted, t.Addr())
	}
	if r.line.OutboundProxy != "" { // the registrar may send requests directly too
		if more, err := r.resolve(rctx, r.line.RegistrarAddr()); err == nil {
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
	if err := r.connect(ctx, target); err != nil {
		return r.flowFail(ctx, err)
	}
	if err := r.updateLocal(target); err != nil {
		return r.fail(err, FailTimeout, 0) // no route: the link is down
	}
	r.watchTarget(target)
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
		return r.fail(fmt.Errorf("REGISTER to %s: %w", target, err), FailTimeout, 0)
	}
	if err != nil {
		return r.fail(err, refusal(res.StatusCode), retryAfter(res))
	}
	switch code := res.StatusCode; {
	case code == siplib.StatusIntervalToBrief:
		min, ok := minExpires(res)
		if !ok || min <= r.expires {
			return r.fail(fmt.Errorf("423 Interval Too Brief with Min-Expires %v (asked %v)", min, r.expires), FailOther, 0)
		}
		r.log.Info("sip: registrar wants a longer expiry", "min_expires", min)
		r.expires = min
		return r.stateRegistering
	case res.IsSuccess():
		return r.registered(res)
	default:
		return r.fail(fmt.Errorf("REGISTER: %d %s", code, res.Reason), refusal(code), retryAfter(res))
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
		return r.fail(errors.New("REGISTER: registrar granted no binding (expires 0)"), FailOther, 0)
	}
	r.granted, r.failc, r.everRegistered, r.stale = granted, 0, true, nil
	r.misses, r.downSince = 0, time.Time{}
	r.learnServiceRoute(res)
	r.mu.Lock()
	r.publicSeen = r.seenPublic() // received/rport, else STUN's (stun.go)
	r.lastReg = r.opt.Clock.Now()
	r.mu.Unlock()
	r.setStatus(RegStatus{State: StateRegistered, Expires: r.opt.Clock.Now().Add(granted), Contact: r.contact.String()})
	return r.stateRegistered
}

// stateRegistered waits for the refresh (at 90 % of the granted expiry)
// and sends keep-alives meanwhile. A keep-alive answered by nothing is a
// miss; keepalive_misses in a row fail the flow (stateUnreachable). An
// OPTIONS answer that says our binding is gone re-registers at once.
func (r *Registration) stateRegistered(ctx context.Context) regState {
	refresh := r.opt.Clock.NewTimer(r.granted * 9 / 10)
	defer refresh.Stop()
	interval := r.st.cfg.KeepAlive
	r.crlfOut = false
	r.drainPongs()
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
		case <-r.netC:
			r.reRegister(ReRegNetwork, "network changed")
			return r.stateResolving
		case <-refresh.C():
			r.reRegister(ReRegRefresh, "refresh")
			return r.stateRegistering
		case <-r.pongC:
			r.pongAnswered()
		case <-r.flowDone():
			r.reRegister(ReRegFlowRecovered, "connection closed: connecting again")
			return r.stateRegistering
		case <-kaC:
			switch res := r.keepAlive(ctx, false); res {
			case kaNetwork:
				r.reRegister(ReRegNetwork, "local address changed")
				return r.stateRegistering
			case kaNAT:
				r.reRegister(ReRegNAT, "NAT mapping changed")
				return r.stateRegistering
			case kaBindingGone:
				r.answered(false)
				if r.bindingGoneAllowed() {
					r.reRegister(ReRegBindingGone, "the provider does not know our binding")
					return r.stateRegistering
				}
			case kaMissed:
				if r.missed() {
					return r.flowFailed()
				}
			case kaAnswered:
				r.answered(true)
			}
			ka = r.opt.Clock.NewTimer(interval)
			kaC = ka.C()
		}
	}
}

// probeInterval is how often a provider that does not answer is probed.
func (r *Registration) probeInterval() time.Duration {
	if d := r.st.cfg.KeepAlive; d > 0 {
		return d
	}
	return r.opt.Backoff.Base
}

func (r *Registration) missLimit() int {
	if n := r.st.cfg.KeepAliveMisses; n > 0 {
		return n
	}
	return 2
}

// missed counts an unanswered keep-alive; it reports whether the flow has
// now failed.
func (r *Registration) missed() bool {
	r.misses++
	if r.misses == 1 {
		r.downSince = r.opt.Clock.Now()
	}
	r.mu.Lock()
	r.counters.KeepAliveMisses++
	r.mu.Unlock()
	r.log.Info("sip: keep-alive not answered", "misses", r.misses, "limit", r.missLimit())
	return r.misses >= r.missLimit()
}

// answered notes a keep-alive answer; confirmed: one that says nothing
// against our binding.
func (r *Registration) answered(confirmed bool) {
	if r.misses > 0 {
		r.log.Info("sip: keep-alive answered again", "after_misses", r.misses)
	}
	r.misses, r.downSince = 0, time.Time{}
	if confirmed {
		r.goneStreak = 0
	}
	r.mu.Lock()
	r.lastKA = r.opt.Clock.Now()
	r.mu.Unlock()
}

func (r *Registration) pongAnswered() {
	r.crlfOut = false
	if r.pongCap != pongYes {
		r.log.Debug("sip: the provider answers CRLF keep-alives")
	}
	r.pongCap = pongYes
	r.answered(true)
}

func (r *Registration) drainPongs() {
	select {
	case <-r.pongC:
	default:
	}
}

// watchTarget routes pongs from target to the registration; a new target
// may not answer CRLF as the old one did.
func (r *Registration) watchTarget(target netip.AddrPort) {
	if target == r.pongTarget {
		return
	}
	r.pongTarget, r.pongCap, r.crlfOut = target, pongUnknown, false
	r.st.watchPongs(r.id(), target, r.pongC)
}

// bindingGoneAllowed rate-limits re-registrations for binding-gone
// answers: the first at once, then at most one per keep-alive interval,
// doubling while the provider goes on saying so right after we registered
// (it may answer every OPTIONS that way): never a storm.
func (r *Registration) bindingGoneAllowed() bool {
	now := r.opt.Clock.Now()
	gap := r.probeInterval() << min(r.goneStreak, 6)
	if !r.goneAt.IsZero() && now.Sub(r.goneAt) < gap {
		r.log.Debug("sip: binding-gone answer again; not re-registering yet", "next_after", r.goneAt.Add(gap))
		return false
	}
	if r.goneStreak > 0 {
		r.log.Warn("sip: the provider still answers keep-alives as if we were not registered", "times", r.goneStreak)
	}
	r.goneAt = now
	r.goneStreak++
	return true
}

// flowFailed enters stateUnreachable after keepalive_misses misses.
func (r *Registration) flowFailed() regState {
	r.mu.Lock()
	r.counters.FlowFailures++
	r.mu.Unlock()
	r.log.Warn("sip: flow failed: provider not answering keep-alives", "since", r.downSince, "misses", r.misses)
	r.failc++
	r.wait = r.fallbackWait()
	return r.unreachable(errors.New("provider not answering keep-alives"))
}

// fallbackWait is when an unreachable provider gets a REGISTER even
// though it answered no probe (one that ignores keep-alives): the long
// back-off, from its fourth step (2 min), growing to the 30 min cap.
func (r *Registration) fallbackWait() time.Duration {
	return r.opt.Backoff.Wait(r.failc+2, true, false)
}

// unreachable records err and probes the provider until it answers.
func (r *Registration) unreachable(err error) regState {
	if r.downSince.IsZero() {
		r.downSince = r.opt.Clock.Now()
	}
	r.setStatus(RegStatus{
		State:             StateFailing,
		LastError:         err.Error(),
		NextRetry:         r.opt.Clock.Now().Add(r.probeInterval()),
		Contact:           r.contact.String(),
		NotAnsweringSince: r.downSince,
	})
	return r.stateUnreachable
}

// stateUnreachable probes a provider that does not answer, cheaply, every
// keep-alive interval (jittered) with a keep-alive, and registers once it
// answers (after Backoff.ReturnDelay, so that a fleet spreads). The long
// back-off of a refusal still runs underneath: a provider that never
// answers keep-alives but would take a REGISTER is tried as before.
func (r *Registration) stateUnreachable(ctx context.Context) regState {
	interval := r.probeInterval()
	fallback := r.opt.Clock.NewTimer(r.wait)
	defer fallback.Stop()
	r.crlfOut = false
	r.drainPongs()
	for {
		wait := r.opt.Backoff.Probe(interval)
		probe := r.opt.Clock.NewTimer(wait)
		s := r.Status()
		s.NextRetry = r.opt.Clock.Now().Add(wait)
		r.setStatus(s)
		var next regState
		select {
		case <-ctx.Done():
			probe.Stop()
			return nil
		case <-r.netC:
			r.reRegister(ReRegNetwork, "network changed")
			next = r.stateResolving
		case <-fallback.C():
			r.reRegister(ReRegRetry, "back-off ran out")
			next = r.stateResolving
		case <-r.pongC:
			r.pongCap = pongYes
			next = r.returned(ctx, interval, "pong")
		case <-probe.C():
			switch r.keepAlive(ctx, true) {
			case kaAnswered, kaBindingGone, kaNAT:
				next = r.returned(ctx, interval, "keep-alive answer")
			case kaNetwork:
				r.reRegister(ReRegNetwork, "local address changed")
				next = r.stateResolving
			}
		}
		probe.Stop()
		if ctx.Err() != nil {
			return nil
		}
		if next != nil {
			return next
		}
	}
}

// returned is the provider answering again: register after the spread
// delay, starting from DNS.
func (r *Registration) returned(ctx context.Context, interval time.Duration, how string) regState {
	d := r.opt.Backoff.ReturnDelay(interval)
	r.log.Info("sip: provider answers again", "by", how, "not_answering_since", r.downSince, "register_in", d)
	r.answered(true)
	if d > 0 {
		t := r.opt.Clock.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
	}
	r.reRegister(ReRegFlowRecovered, "provider answers again")
	return r.stateResolving
}

// refusal classifies a final error response to REGISTER.
func refusal(code int) FailCause {
	switch {
	case code == siplib.StatusForbidden:
		return FailForbidden
	case code >= 500:
		return FailServer
	}
	return FailOther
}

// retryAfter is a response's Retry-After in seconds (RFC 3261 §20.33),
// 0 when absent or malformed; at most a day.
func retryAfter(res *siplib.Response) time.Duration {
	if res == nil {
		return 0
	}
	h := res.GetHeader("Retry-After")
	if h == nil {
		return 0
	}
	return parseRetryAfter(h.Value())
}

func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	n := 0
	i := 0
	for ; i < len(v) && v[i] >= '0' && v[i] <= '9'; i++ {
		n = n*10 + int(v[i]-'0')
		if n > 86400 {
			return 0
		}
	}
	if i == 0 {
		return 0
	}
	if rest := strings.TrimSpace(v[i:]); rest != "" && rest[0] != '(' && rest[0] != ';' {
		return 0
	}
	return time.Duration(n) * time.Second
}

// fail records err and schedules the retry by cause: a timeout probes the
// provider (stateUnreachable), a refusal backs off (stateFailing).
func (r *Registration) fail(err error, cause FailCause, after time.Duration) regState {
	r.failc++
	r.cause = cause
	if cause == FailTimeout {
		r.wait = r.fallbackWait()
		r.log.Warn("sip: registration failed: provider not answering; probing", "err", err, "attempt", r.failc, "probe_every", r.probeInterval())
		if r.downSince.IsZero() {
			r.mu.Lock()
			r.counters.FlowFailures++
			r.mu.Unlock()
		}
		return r.unreachable(err)
	}
	r.downSince = time.Time{}
	r.wait = r.opt.Backoff.Retry(cause, r.failc, r.everRegistered, after)
	r.setStatus(RegStatus{
		State:     StateFailing,
		LastError: err.Error(),
		NextRetry: r.opt.Clock.Now().Add(r.wait),
		Contact:   r.contact.String(),
	})
	r.log.Warn("sip: registration failed", "err", err, "cause", cause, "attempt", r.failc, "retry_in", r.wait)
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
	case <-r.netC:
		r.reRegister(ReRegNetwork, "network changed")
		return r.stateResolving
	case <-t.C():
		r.reRegister(ReRegRetry, "back-off ran out")
		return r.stateResolving
	}
}

// kaResult is what one keep-alive found.
type kaResult int

const (
	kaSent        kaResult = iota // a CRLF went out; its pong arrives on pongC
	kaAnswered                    // answered (OPTIONS response)
	kaMissed                      // the last keep-alive got no answer
	kaBindingGone                 // answered 404/403/410: the provider does not know us
	kaNetwork                     // our local address changed
	kaNAT                         // the provider sees us at another public address
)

// keepAlive sends one keep-alive: a CRLF while the provider answers them
// (or may; never while probing an unreachable one unless it did), else
// OPTIONS.
func (r *Registration) keepAlive(ctx context.Context, probing bool) kaResult {
	target := r.targets[r.cur]
	if fresh, err := r.reconnect(ctx, target); err != nil {
		r.log.Debug("sip: keep-alive: connect", "err", err)
		return kaMissed
	} else if fresh {
		return kaNetwork // the provider took a new connection: register on it
	}
	if r.st.local.Addr().IsUnspecified() && r.flow == nil {
		ip, err := r.opt.LocalAddr(target)
		if err != nil { // no route: the link is down
			r.log.Debug("sip: keep-alive: no local address", "err", err)
			return kaMissed
		}
		if ip != r.localIP {
			r.log.Info("sip: local address changed", "old", r.localIP, "new", ip)
			return kaNetwork
		}
	}
	crlf := r.st.cfg.KeepAliveMethod != "options" && r.pongCap != pongNo && (!probing || r.pongCap == pongYes)
	if crlf {
		missed := r.crlfOut
		if missed && r.pongCap == pongUnknown {
			r.pongCap = pongNo
			r.log.Info("sip: the provider does not answer CRLF keep-alives (no RFC 5626 pong); checking it with OPTIONS")
		} else {
			r.crlfOut = true
			if err := r.sendKeepAlive(ctx, target); err != nil {
				r.log.Debug("sip: keep-alive", "err", err)
				return kaMissed
			}
			if missed {
				return kaMissed
			}
			return kaSent
		}
	}
	req := r.newRequest(siplib.OPTIONS, target)
	kctx, cancel := context.WithTimeout(ctx, min(r.opt.Timeout, max(r.st.cfg.KeepAlive, time.Second)))
	defer cancel()
	res, err := r.st.request(kctx, req)
	if err != nil {
		r.log.Debug("sip: keep-alive OPTIONS", "err", err)
		return kaMissed
	}
	switch res.StatusCode {
	case siplib.StatusNotFound, siplib.StatusForbidden, 410:
		r.log.Info("sip: keep-alive OPTIONS answered: binding gone", "status", res.StatusCode, "reason", res.Reason)
		return kaBindingGone
	}
	if pub, ok := viaReceived(res); ok && pub != r.contactAddr() && !r.natTried {
		r.log.Info("sip: NAT mapping changed", "public", pub)
		return kaNAT
	}
	return kaAnswered
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
	if r.flow != nil {
		ip = r.flow.local.Addr() // the connection's own address
	} else if ip.IsUnspecified() {
		var err error
		if ip, err = r.opt.LocalAddr(target); err != nil {
			return fmt.Errorf("local address towards %s: %w", target, err)
		}
	}
	if ip == r.localIP && !r.flowMoved() && !r.stunMoved() {
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
	if pub, ok := r.stunContact(); ok { // [sip] stun_server (stun.go)
		return pub
	}
	return netip.AddrPortFrom(r.localIP, r.localPort())
}

func (r *Registration) makeContact() siplib.Uri {
	a := r.contactAddr()
	u := siplib.Uri{Scheme: "sip", User: r.opt.ContactUser, Host: hostString(a.Addr()), Port: int(a.Port())}
	decorateContact(&u, r.transport)
	return u
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
		r.mu.Lock()
		r.counters.Registers++
		r.mu.Unlock()
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
		crName, cred, stale, err := digestAnswer(res, siplib.REGISTER, req.Recipient.Addr(), &r.line)
		if err != nil {
			return res, fmt.Errorf("REGISTER: %w", err)
		}
		if _, answered := auth[crName]; (answered && !stale) || round >= 4 {
			return res, fmt.Errorf("REGISTER: %d %s: %w (auth user %q)", code, res.Reason, errRejected, r.line.AuthName())
		}
		auth[crName] = cred
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
		ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: viaTransport(r.transport),
		Host: hostString(r.localIP), Port: int(r.localPort()),
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
	req.SetTransport(viaTransport(r.transport))
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
