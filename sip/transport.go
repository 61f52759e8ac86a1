package sip

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	siplib "github.com/emiago/sipgo/sip"
)

// The transports a line may use (RFC 3261 §18).
const (
	TransportUDP = "udp"
	TransportTCP = "tcp"
	TransportTLS = "tls"
)

// largeUDP is the size above which a UDP request goes over TCP where the
// peer takes TCP (RFC 3261 §18.1.1: 1300 bytes when the path MTU is
// unknown).
const largeUDP = 1300

// maxUDPMessage lifts sipgo's refusal to write a UDP datagram over 1300
// bytes (its ErrUDPMTUCongestion): a response, an ACK or a re-challenged
// INVITE that cannot move to TCP is sent as one large (fragmented)
// datagram rather than lost.
const maxUDPMessage = 65507

func init() {
	// sipgo refuses len > UDPMTUSize-200.
	siplib.UDPMTUSize = maxUDPMessage + 200
}

// lineTransport is the transport of acct, lower case; "" is udp.
func lineTransport(acct *Account) string {
	switch t := strings.ToLower(acct.Transport); t {
	case TransportTCP, TransportTLS:
		return t
	}
	return TransportUDP
}

func isStream(transport string) bool {
	return transport == TransportTCP || transport == TransportTLS
}

// viaTransport is the Via sent-protocol's transport ("UDP", "TCP", "TLS").
func viaTransport(transport string) string {
	if transport == "" {
		return "UDP"
	}
	return strings.ToUpper(transport)
}

// FlowInfo describes a line's connection for the status page.
type FlowInfo struct {
	Transport string         // "udp", "tcp" or "tls"
	Local     netip.AddrPort // our end of the connection (TCP/TLS)
	Remote    netip.AddrPort // the provider's end
	Connected bool           // a TCP/TLS connection is up
	// TLSVersion ("TLS 1.3") and PeerSubject (the provider certificate's
	// subject) once a TLS handshake completed.
	TLSVersion  string
	PeerSubject string
	// Verify is false where the line does not check the certificate
	// (tls_verify = false): the status page warns about it.
	Verify bool
}

// flow is one TCP or TLS connection to a provider, dialed by us and read
// by sipgo (handed over through a listener): requests to its remote
// address, and the provider's requests and responses, all use it
// (RFC 5626 flows: incoming calls come back over the registered flow).
type flow struct {
	network string // "tcp" or "tls"
	remote  netip.AddrPort
	local   netip.AddrPort
	conn    net.Conn
	sipConn siplib.Connection // sipgo's handle (one reference held by us)
	state   *tls.ConnectionState
	ts      tlsSettings   // the checks it was made with (TLS)
	done    chan struct{} // closed when the connection is gone
	once    sync.Once
	users   int // registrations holding it (flows.mu)
}

func (f *flow) closed() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// info is the flow's FlowInfo.
func (f *flow) info(verify bool) FlowInfo {
	fi := FlowInfo{Transport: f.network, Local: f.local, Remote: f.remote, Connected: !f.closed(), Verify: verify}
	if f.state != nil {
		fi.TLSVersion = tls.VersionName(f.state.Version)
		if len(f.state.PeerCertificates) > 0 {
			fi.PeerSubject = f.state.PeerCertificates[0].Subject.String()
		}
	}
	return fi
}

// watchedConn tells the flow when sipgo (or anyone) closes the connection.
type watchedConn struct {
	net.Conn
	f *flow
}

func (c *watchedConn) Close() error {
	c.f.once.Do(func() { close(c.f.done) })
	return c.Conn.Close()
}

// handoff is a net.Listener whose Accept returns the connections we
// dialed: sipgo's stream transports then read them (parsing, CRLF pong,
// requests on the flow) and find them in their pools by remote address.
type handoff struct {
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
	addr   net.Addr
}

func newHandoff() *handoff {
	return &handoff{ch: make(chan net.Conn), closed: make(chan struct{}), addr: &net.TCPAddr{IP: net.IPv4zero}}
}

func (h *handoff) Accept() (net.Conn, error) {
	select {
	case c := <-h.ch:
		return c, nil
	case <-h.closed:
		return nil, net.ErrClosed
	}
}

func (h *handoff) Close() error {
	h.once.Do(func() { close(h.closed) })
	return nil
}

func (h *handoff) Addr() net.Addr { return h.addr }

func (h *handoff) give(ctx context.Context, c net.Conn) error {
	select {
	case h.ch <- c:
		return nil
	case <-h.closed:
		return net.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flows are the stack's TCP and TLS connections, one per (transport,
// provider address), shared by the lines that use it.
type flows struct {
	mu  sync.Mutex
	m   map[flowKey]*flow
	tcp *handoff
	tls *handoff
	// byAccount is the connection each stream account's registration
	// holds, by number (transport_line.go).
	byAccount map[string]*flow
	// auto is the transport DNS chose for each "auto" server (host[:port]).
	auto map[string]autoDecision
}

type flowKey struct {
	network string
	remote  netip.AddrPort
}

// errNoFlow is sipgo's own dial attempt for a TCP/TLS destination that
// has no flow of ours: every connection is dialed by a line (with its TLS
// settings), never implicitly.
var errNoFlow = errors.New("no connection to this address (lines dial their own TCP/TLS flows)")

// refuseDial is the sipgo transports' dialer: it refuses every dial.
func refuseDial(net.Addr) net.Dialer {
	return net.Dialer{Control: func(string, string, syscall.RawConn) error { return errNoFlow }}
}

// streamTransports gives sipgo TCP and TLS transports that never dial.
func streamTransports() siplib.TransportLayerOption {
	return siplib.WithTransportLayerTransports(siplib.TransportsConfig{
		TCP: &siplib.TransportTCP{DialerCreate: refuseDial},
		TLS: &siplib.TransportTLS{TransportTCP: &siplib.TransportTCP{DialerCreate: refuseDial}},
	})
}

// flowTimeout bounds a connect plus TLS handshake.
const flowTimeout = 10 * time.Second

// tlsSettings are a line's TLS choices.
type tlsSettings struct {
	serverName string // the provider's host name as configured, checked against its certificate
	verify     bool
}

// connectFlow returns the live flow of network to remote, dialing it when
// there is none. hold adds a user (a registration), released by
// releaseFlow.
func (s *Stack) connectFlow(ctx context.Context, network string, remote netip.AddrPort, ts tlsSettings, hold bool) (*flow, error) {
	k := flowKey{network, remote}
	s.flows.mu.Lock()
	f := s.flows.m[k]
	if f != nil && !f.closed() {
		if network == TransportTLS && f.ts != ts {
			s.flows.mu.Unlock()
			// sipgo keeps one connection per address: a second one with
			// other checks cannot coexist, and this line must not ride on
			// a connection checked differently.
			return nil, fmt.Errorf("TLS to %s: another line is connected there with other certificate checks (server name %q, verify %v; this line: %q, %v)",
				remote, f.ts.serverName, f.ts.verify, ts.serverName, ts.verify)
		}
		if hold {
			f.users++
		}
		s.flows.mu.Unlock()
		return f, nil
	}
	s.flows.mu.Unlock()
	nf, err := s.dialFlow(ctx, network, remote, ts)
	if err != nil {
		return nil, err
	}
	s.flows.mu.Lock()
	defer s.flows.mu.Unlock()
	if old := s.flows.m[k]; old != nil && !old.closed() { // another line won the race
		nf.close()
		f = old
	} else {
		if old != nil {
			nf.users = old.users
		}
		f = nf
		s.flows.m[k] = f
	}
	if hold {
		f.users++
	}
	return f, nil
}

// releaseFlow drops a registration's hold; the last one closes the flow.
func (s *Stack) releaseFlow(f *flow) {
	if f == nil {
		return
	}
	s.flows.mu.Lock()
	f.users--
	last := f.users <= 0
	if last && s.flows.m[flowKey{f.network, f.remote}] == f {
		delete(s.flows.m, flowKey{f.network, f.remote})
	}
	s.flows.mu.Unlock()
	if last {
		f.close()
	}
}

// flowTo is the live flow of network to remote, or nil.
func (s *Stack) flowTo(network string, remote netip.AddrPort) *flow {
	s.flows.mu.Lock()
	defer s.flows.mu.Unlock()
	if f := s.flows.m[flowKey{network, remote}]; f != nil && !f.closed() {
		return f
	}
	return nil
}

func (f *flow) close() {
	if f.sipConn != nil {
		f.sipConn.Close()
	} else {
		f.conn.Close()
	}
}

// dialFlow connects to remote (TLS: handshakes, verifying the provider's
// certificate) and hands the connection to sipgo.
func (s *Stack) dialFlow(ctx context.Context, network string, remote netip.AddrPort, ts tlsSettings) (*flow, error) {
	ctx, cancel := context.WithTimeout(ctx, flowTimeout)
	defer cancel()
	d := net.Dialer{}
	if ip := s.local.Addr(); !ip.IsUnspecified() {
		d.LocalAddr = &net.TCPAddr{IP: ip.AsSlice()}
	}
	raw, err := d.DialContext(ctx, "tcp", remote.String())
	if err != nil {
		return nil, fmt.Errorf("%s connection to %s: %w", strings.ToUpper(network), remote, err)
	}
	f := &flow{network: network, remote: remote, ts: ts, done: make(chan struct{})}
	f.local = raw.LocalAddr().(*net.TCPAddr).AddrPort()
	f.local = netip.AddrPortFrom(f.local.Addr().Unmap(), f.local.Port())
	conn := raw
	h := s.flows.tcp
	if network == TransportTLS {
		cfg, err := s.tlsConfig(ts)
		if err != nil {
			raw.Close()
			return nil, err
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("TLS to %s (%s): %w", remote, ts.serverName, err)
		}
		st := tc.ConnectionState()
		f.state = &st
		conn, h = tc, s.flows.tls
	}
	f.conn = &watchedConn{Conn: conn, f: f}
	if err := h.give(ctx, f.conn); err != nil {
		f.conn.Close()
		return nil, fmt.Errorf("%s connection to %s: %w", strings.ToUpper(network), remote, err)
	}
	// sipgo adds it to its pool on its accept goroutine: wait for that, and
	// keep a reference so that the end of a transaction never closes it.
	pool := s.ua.TransportLayer().Pool(network)
	for f.sipConn = pool.Get(remote.String()); f.sipConn == nil; f.sipConn = pool.Get(remote.String()) {
		select {
		case <-ctx.Done():
			f.conn.Close()
			return nil, fmt.Errorf("%s connection to %s: not taken up: %w", strings.ToUpper(network), remote, ctx.Err())
		case <-f.done:
			return nil, fmt.Errorf("%s connection to %s closed at once", strings.ToUpper(network), remote)
		case <-time.After(time.Millisecond):
		}
	}
	s.log.Info("sip: connected", "transport", network, "remote", remote, "local", f.local,
		"tls", f.info(ts.verify).TLSVersion, "peer", f.info(ts.verify).PeerSubject)
	go func() {
		<-f.done
		s.log.Info("sip: connection closed", "transport", network, "remote", remote, "local", f.local)
	}()
	return f, nil
}

// tlsConfig is the client TLS setup of a line: TLS 1.2 or 1.3, the
// system roots plus [sip] tls_ca_file, the provider's name checked.
func (s *Stack) tlsConfig(ts tlsSettings) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: ts.serverName, InsecureSkipVerify: !ts.verify}
	if s.cfg.TLSCAFile != "" {
		pool, err := LoadCAFile(s.cfg.TLSCAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// LoadCAFile is the system roots plus the PEM certificates of path (the
// [sip] tls_ca_file key); an unreadable file, or one without a
// certificate, is an error naming the key.
func LoadCAFile(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errCAFile, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%w: %s holds no PEM certificate", errCAFile, path)
	}
	return pool, nil
}

// errCAFile marks a [sip] tls_ca_file that cannot be used: a setting to
// fix, not a provider that does not answer.
var errCAFile = errors.New("[sip] tls_ca_file")

// isCertError reports a connection refused for its certificate (Go's
// x509 texts name it: "certificate signed by unknown authority",
// "certificate is valid for x, not y") or for an unusable CA file: the
// line backs off rather than probing a provider that answers.
func isCertError(err error) bool {
	if errors.Is(err, errCAFile) {
		return true
	}
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var ve *tls.CertificateVerificationError
	return errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) || errors.As(err, &ve)
}

// reliableTx sends requests over a flow when their transport is TCP or
// TLS (the pool finds the connection by destination: no local address is
// forced), and a UDP request over 1300 bytes over TCP where the peer has
// a flow or takes one (RFC 3261 §18.1.1), else as large UDP.
type reliableTx struct{ s *Stack }

func (r reliableTx) Request(ctx context.Context, req *siplib.Request) (siplib.ClientTransaction, error) {
	r.s.prepareTransport(ctx, req)
	if req.IsAck() {
		return nil, r.s.ua.TransportLayer().WriteMsg(req)
	}
	return r.s.ua.TransactionLayer().Request(ctx, req)
}

// largeTCPTimeout bounds the TCP connect tried for a large UDP request.
const largeTCPTimeout = 2 * time.Second

// prepareTransport fixes a request for its transport before it goes out.
func (s *Stack) prepareTransport(ctx context.Context, req *siplib.Request) {
	if siplib.IsReliable(req.Transport()) {
		req.Laddr = siplib.Addr{} // the pool finds the flow by destination
		return
	}
	if req.IsAck() || s.flows.tcp == nil || len(req.String()) <= largeUDP {
		return // a mounted stack (router mode's users) has no flows of its own
	}
	dest, err := netip.ParseAddrPort(req.Destination())
	if err != nil {
		return
	}
	dest = netip.AddrPortFrom(dest.Addr().Unmap(), dest.Port())
	f := s.flowTo(TransportTCP, dest)
	if f == nil {
		s.largeMu.Lock()
		refused := s.noTCP[dest]
		s.largeMu.Unlock()
		if time.Since(refused) < 10*time.Minute {
			return
		}
		cctx, cancel := context.WithTimeout(ctx, largeTCPTimeout)
		f, err = s.connectFlow(cctx, TransportTCP, dest, tlsSettings{}, false)
		cancel()
		if err != nil {
			s.log.Info("sip: large request stays on UDP: the peer takes no TCP", "dest", dest, "size", len(req.String()), "err", err)
			s.largeMu.Lock()
			s.noTCP[dest] = time.Now()
			s.largeMu.Unlock()
			return
		}
	}
	s.log.Debug("sip: large request moves to TCP", "dest", dest, "size", len(req.String()))
	req.SetTransport("TCP")
	if via := req.Via(); via != nil {
		via.Transport = "TCP"
		via.Host, via.Port = hostString(f.local.Addr()), int(f.local.Port())
	}
	req.Laddr = siplib.Addr{}
}

// resolveFor lists the addresses to try for hostport over transport (RFC
// 3263 §4): an IP literal or an explicit port skips SRV; a domain alone
// looks up _sip._udp, _sip._tcp or _sips._tcp, falling back to its A/AAAA
// records on 5060 (5061 for TLS).
func resolveFor(ctx context.Context, r Resolver, hostport, transport string) ([]netip.AddrPort, error) {
	if transport == "" || transport == TransportUDP {
		return ResolveUDP(ctx, r, hostport)
	}
	service, port := "sip", uint16(5060)
	if transport == TransportTLS {
		service, port = "sips", 5061
	}
	return resolveSRV(ctx, r, hostport, service, "tcp", port)
}

// AutoTransport is the transport a line with no transport of its own
// takes from DNS (RFC 3263 §4.1) when the domain alone is given: the
// first its NAPTR records offer (SIPS+D2T, SIP+D2T, SIP+D2U), else TLS
// where it publishes _sips._tcp SRV records, else UDP.
func AutoTransport(ctx context.Context, r Resolver, hostport string) string {
	host, port, err := splitHostPort(hostport)
	if err != nil || port != 0 {
		return TransportUDP
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return TransportUDP
	}
	if t := naptrTransport(ctx, r, host); t != "" {
		return t
	}
	if _, srvs, err := r.LookupSRV(ctx, "sips", "tcp", host); err == nil {
		for _, s := range srvs {
			if s.Target != "." {
				return TransportTLS
			}
		}
	}
	return TransportUDP
}

// serverName is the host the provider's certificate must name: the
// configured registrar or outbound proxy host.
func serverName(hostport string) string {
	host, _, err := splitHostPort(hostport)
	if err != nil {
		return hostport
	}
	return host
}

// decorateContact makes a Contact reach us over the line's transport:
// ;transport=tcp for TCP, a sips: URI for TLS.
func decorateContact(u *siplib.Uri, transport string) {
	switch transport {
	case TransportTCP:
		u.UriParams = siplib.HeaderParams{{K: "transport", V: "tcp"}}
	case TransportTLS:
		u.Scheme = "sips"
	}
}
