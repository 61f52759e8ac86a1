package sip

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	siplib "github.com/emiago/sipgo/sip"
)

// lineFlow is a registration's transport: for a TCP or TLS line, the
// connection it registered over (the flow its calls come back on).
type lineFlow struct {
	transport string // "udp", "tcp" or "tls", resolved ("auto" decided) at each resolve
	flow      *flow  // the held connection, or nil
	flowLocal netip.AddrPort
	moved     bool // the connection changed since the contact was made

	// Guarded by the registration's mu: what the status page shows.
	flowInfo  FlowInfo
	shownFlow *flow
}

// resolve finds the addresses of hostport over the line's transport,
// deciding "auto" from DNS first.
func (r *Registration) resolve(ctx context.Context, hostport string) ([]netip.AddrPort, error) {
	r.transport = r.st.transportOf(ctx, r.opt.Resolver, &r.line)
	return resolveFor(ctx, r.opt.Resolver, hostport, r.transport)
}

// transportOf is acct's transport, "auto" decided by DNS (the decision
// kept for autoTTL, so that a call does not wait for NAPTR and SRV
// lookups the registration has just made).
func (s *Stack) transportOf(ctx context.Context, res Resolver, acct *Account) string {
	if acct.Transport != "auto" {
		return lineTransport(acct)
	}
	hp := acct.RegistrarAddr()
	if acct.OutboundProxy != "" {
		hp = acct.OutboundProxy
	}
	s.flows.mu.Lock()
	d, ok := s.flows.auto[hp]
	s.flows.mu.Unlock()
	if ok && time.Since(d.at) < autoTTL {
		return d.transport
	}
	t := AutoTransport(ctx, res, hp)
	s.flows.mu.Lock()
	if s.flows.auto == nil {
		s.flows.auto = map[string]autoDecision{}
	}
	s.flows.auto[hp] = autoDecision{t, time.Now()}
	s.flows.mu.Unlock()
	return t
}

// autoTTL is how long a transport DNS chose is kept.
const autoTTL = 5 * time.Minute

// autoDecision is a transport DNS chose, and when.
type autoDecision struct {
	transport string
	at        time.Time
}

// tlsSettingsOf is the TLS check of acct's connections: the configured
// proxy (or registrar) host name.
func tlsSettingsOf(acct *Account) tlsSettings {
	hp := acct.RegistrarAddr()
	if acct.OutboundProxy != "" {
		hp = acct.OutboundProxy
	}
	return tlsSettings{serverName: serverName(hp), verify: !acct.TLSNoVerify}
}

// connect makes sure a stream line holds a live connection to target.
func (r *Registration) connect(ctx context.Context, target netip.AddrPort) error {
	if !isStream(r.transport) {
		r.dropFlow()
		return nil
	}
	if f := r.flow; f != nil && !f.closed() && f.remote == target && f.network == r.transport {
		return nil
	}
	r.dropFlow()
	f, err := r.st.connectFlow(ctx, r.transport, target, tlsSettingsOf(&r.line), true)
	if err != nil {
		return err
	}
	r.flow = f
	if f.local != r.flowLocal {
		r.moved = r.flowLocal.IsValid()
		r.flowLocal = f.local
	}
	r.mu.Lock()
	r.flowInfo, r.shownFlow = f.info(!r.line.TLSNoVerify), f
	r.mu.Unlock()
	r.st.setAccountFlow(r.line.Number, f)
	return nil
}

// reconnect connects a stream line whose connection is gone (or never
// came up); fresh reports a new connection.
func (r *Registration) reconnect(ctx context.Context, target netip.AddrPort) (fresh bool, err error) {
	if !isStream(r.transport) || (r.flow != nil && !r.flow.closed()) {
		return false, nil
	}
	if err := r.connect(ctx, target); err != nil {
		return false, err
	}
	return true, nil
}

func (r *Registration) dropFlow() {
	if r.flow != nil {
		r.st.setAccountFlow(r.line.Number, nil)
		r.st.releaseFlow(r.flow)
		r.flow = nil
		r.mu.Lock()
		r.flowInfo.Connected, r.shownFlow = false, nil
		r.mu.Unlock()
	}
}

// flowMoved reports (once) that the connection's local address changed:
// the contact must be made again and the old one removed.
func (r *Registration) flowMoved() bool {
	m := r.moved
	r.moved = false
	return m
}

// flowDone is closed when the line's connection ends (nil for UDP: never).
func (r *Registration) flowDone() <-chan struct{} {
	if r.flow == nil {
		return nil
	}
	return r.flow.done
}

// localPort is the port our Via and Contact name: the connection's for a
// stream line, the SIP socket's otherwise.
func (r *Registration) localPort() uint16 {
	if r.flow != nil {
		return r.flow.local.Port()
	}
	return r.st.local.Port()
}

// sendKeepAlive sends a double CRLF (RFC 5626 §4.4.1) over the line's
// connection, or from the SIP socket for UDP.
func (r *Registration) sendKeepAlive(ctx context.Context, target netip.AddrPort) error {
	if !isStream(r.transport) {
		return r.st.sendRaw([]byte("\r\n\r\n"), target)
	}
	if r.flow == nil || r.flow.closed() {
		return fmt.Errorf("%s connection to %s closed", r.transport, target)
	}
	_, err := r.flow.conn.Write([]byte("\r\n\r\n"))
	return err
}

// flowFail is a connection that could not be made: a certificate problem
// is a refusal (back off, the error names it), anything else a provider
// that does not answer (probe it).
func (r *Registration) flowFail(ctx context.Context, err error) regState {
	if ctx.Err() != nil {
		return nil
	}
	if isCertError(err) {
		return r.fail(err, FailOther, 0)
	}
	return r.fail(err, FailTimeout, 0)
}

// Flow is the line's transport and connection, for the status page.
func (r *Registration) Flow() FlowInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	fi := r.flowInfo
	if fi.Transport == "" {
		fi.Transport, fi.Verify = lineTransport(&r.line), !r.line.TLSNoVerify
	}
	if r.shownFlow != nil {
		fi.Connected = !r.shownFlow.closed()
	}
	return fi
}

// setAccountFlow records the connection the registration of number holds
// (nil: none), so that the line's calls and its subscription use it too.
func (s *Stack) setAccountFlow(number string, f *flow) {
	s.flows.mu.Lock()
	defer s.flows.mu.Unlock()
	if s.flows.byAccount == nil {
		s.flows.byAccount = map[string]*flow{}
	}
	if f == nil {
		delete(s.flows.byAccount, number)
		return
	}
	s.flows.byAccount[number] = f
}

// accountFlow is the live connection of a stream account, or nil.
func (s *Stack) accountFlow(acct *Account) *flow {
	if !isStream(lineTransport(acct)) && acct.Transport != "auto" {
		return nil
	}
	s.flows.mu.Lock()
	defer s.flows.mu.Unlock()
	if f := s.flows.byAccount[acct.Number]; f != nil && !f.closed() {
		return f
	}
	return nil
}

// onFlow sends an out-of-dialog request of acct (INVITE, SUBSCRIBE) over
// the account's connection when it has one: Via and transport name it,
// the Contact gets our end of it (;transport=tcp, or sips: for TLS), and
// the request goes to the connection's remote address.
func (s *Stack) onFlow(req *siplib.Request, acct *Account) {
	f := s.accountFlow(acct)
	if t := lineTransport(acct); f == nil && isStream(t) {
		if dest, err := netip.ParseAddrPort(req.Destination()); err == nil {
			f = s.flowTo(t, dest) // an unregistered line's (a trunk's) own connection
		}
	}
	if f == nil {
		return
	}
	tr := viaTransport(f.network)
	req.SetTransport(tr)
	req.SetDestination(f.remote.String())
	req.Laddr = siplib.Addr{}
	if via := req.Via(); via != nil {
		via.Transport, via.Host, via.Port = tr, hostString(f.local.Addr()), int(f.local.Port())
	}
	if ct := req.Contact(); ct != nil {
		ct.Address.Host, ct.Address.Port = hostString(f.local.Addr()), int(f.local.Port())
		decorateContact(&ct.Address, f.network)
	}
}

// flowContact is the Contact of acct's calls over its connection, or
// false where it has none.
func (s *Stack) flowContact(acct *Account, user string) (siplib.ContactHeader, bool) {
	f := s.accountFlow(acct)
	if f == nil {
		return siplib.ContactHeader{}, false
	}
	u := siplib.Uri{Scheme: "sip", User: user, Host: hostString(f.local.Addr()), Port: int(f.local.Port())}
	decorateContact(&u, f.network)
	return siplib.ContactHeader{Address: u}, true
}
