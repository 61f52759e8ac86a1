// Package sip is the firmware's SIP user agent: one UDP socket shared by
// the line registrations and (later) calls, a request router, the
// "accept SIP from proxy only" filter and per-line registration.
//
// It is built on github.com/emiago/sipgo; its message package is imported
// as siplib because this package is also called sip.
package sip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	siplib "github.com/emiago/sipgo/sip"
)

// Handler answers one request. It runs on sipgo's transaction goroutine:
// the server transaction ends when it returns.
type Handler = sipgo.RequestHandler

// Stack is the SIP user agent: one sipgo UA whose server and client share
// the UDP socket bound to sip.listen, so that requests leave from the port
// the Contact advertises and the NAT binding the keep-alives hold open.
type Stack struct {
	cfg    StackConfig
	log    *slog.Logger
	conn   *net.UDPConn
	local  netip.AddrPort
	ua     *sipgo.UserAgent
	server *sipgo.Server
	client *sipgo.Client

	mu       sync.RWMutex
	handlers map[siplib.RequestMethod]Handler

	// sources maps an owner (a line) to the addresses it trusts; allowed is
	// their union, read lock-free on every datagram.
	sourcesMu sync.Mutex
	sources   map[string][]netip.Addr
	allowed   atomic.Pointer[map[netip.Addr]struct{}]
	// networks maps an owner (a trunk) to the networks it trusts;
	// allowedNets is their union.
	networks    map[string][]netip.Prefix
	allowedNets atomic.Pointer[[]netip.Prefix]
	dropped     atomic.Uint64

	// pongs maps an owner (a registration) to the address whose keep-alive
	// answers (RFC 5626 CRLF pongs) it waits for.
	pongMu sync.Mutex
	pongs  map[string]pongWatch

	done chan struct{}

	routerOnce sync.Once
	router     *router // the lines' calls (line.go)

	admission *admission // bounds the incoming INVITEs' state (admission.go)

	media mediaPorts // the calls' bound RTP/RTCP ports (mediaports.go)

	mount *Mount // a socket another server owns (mount.go), or nil

	stun *stunClient // the SIP socket's public mapping (stun.go), or nil

	flows   flows // the lines' TCP and TLS connections (transport.go)
	largeMu sync.Mutex
	noTCP   map[netip.AddrPort]time.Time // peers that refused TCP for a large request, and when
}

// StackOption changes how a Stack is built.
type StackOption func(*Stack)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) StackOption { return func(s *Stack) { s.log = l } }

// NewStack binds cfg.Listen (UDP) and starts serving. Close stops it.
func NewStack(cfg StackConfig, opts ...StackOption) (*Stack, error) {
	s := &Stack{
		cfg:       cfg,
		log:       slog.Default(),
		handlers:  map[siplib.RequestMethod]Handler{},
		sources:   map[string][]netip.Addr{},
		pongs:     map[string]pongWatch{},
		done:      make(chan struct{}),
		admission: newAdmission(cfg.MaxPendingInvites),
		flows:     flows{m: map[flowKey]*flow{}, tcp: newHandoff(), tls: newHandoff()},
		noTCP:     map[netip.AddrPort]time.Time{},
	}
	for _, o := range opts {
		o(s)
	}
	s.log = s.log.With("component", "sip")
	empty := map[netip.Addr]struct{}{}
	s.allowed.Store(&empty)

	laddr, err := net.ResolveUDPAddr("udp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("sip: listen address %q: %w", cfg.Listen, err)
	}
	s.conn, err = net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, fmt.Errorf("sip: listen %s: %w", cfg.Listen, err)
	}
	s.local = s.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	s.local = netip.AddrPortFrom(s.local.Addr().Unmap(), s.local.Port())

	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(cfg.UserAgent),
		sipgo.WithUserAgentTransportLayerOptions(readFilter(s), streamTransports()),
	)
	if err != nil {
		s.conn.Close()
		return nil, fmt.Errorf("sip: user agent: %w", err)
	}
	s.ua = ua
	if s.server, err = sipgo.NewServer(ua, sipgo.WithServerLogger(s.log)); err != nil {
		s.Close()
		return nil, fmt.Errorf("sip: server: %w", err)
	}
	// Requests from the client leave through the listening socket (sipgo
	// finds it in its pool under the socket's local address).
	if s.client, err = sipgo.NewClient(ua, sipgo.WithClientConnectionAddr(s.conn.LocalAddr().String()),
		sipgo.WithClientNAT(), sipgo.WithClientLogger(s.log)); err != nil {
		s.Close()
		return nil, fmt.Errorf("sip: client: %w", err)
	}
	// Every method goes through dispatch: handlers can then be added while
	// serving (sipgo's own map is not safe for that).
	s.client.TxRequester = reliableTx{s}
	s.server.OnNoRoute(s.dispatch)
	s.Handle(siplib.OPTIONS, s.answerOptions)

	go func() {
		defer close(s.done)
		if err := s.server.ServeUDP(s.conn); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Error("sip: serve", "err", err)
		}
	}()
	// The TCP and TLS connections lines dial are read by sipgo's stream
	// transports (transport.go).
	go ua.TransportLayer().ServeTCP(s.flows.tcp)
	go ua.TransportLayer().ServeTLS(s.flows.tls)
	// Until the listener is in sipgo's pool a request would try to bind a
	// second socket on the same address: wait for it.
	pool := ua.TransportLayer().Pool("udp")
	for pool.Get(s.conn.LocalAddr().String()) == nil {
		select {
		case <-s.done:
			s.Close()
			return nil, fmt.Errorf("sip: serving %s stopped at start", s.local)
		case <-time.After(time.Millisecond):
		}
	}
	s.startSTUN() // [sip] stun_server (stun.go)
	return s, nil
}

// readFilter installs the proxy-only filter below sipgo's parser, so a
// dropped request creates no transaction and gets no response at all.
func readFilter(s *Stack) siplib.TransportLayerOption {
	return siplib.WithTransportLayerReadFilter(func(p siplib.TransportReadProps, data []byte) ([]byte, error) {
		var from netip.AddrPort
		switch ra := p.RemoteAddr.(type) {
		case *net.UDPAddr:
			from = ra.AddrPort()
		case *net.TCPAddr:
			from = ra.AddrPort()
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		src := from.Addr()
		if s.takeSTUN(data, from) {
			return nil, nil // a STUN answer, not SIP (stun.go)
		}
		if isKeepAlive(data) {
			s.pong(from)
		}
		if s.accepts(src, data) {
			return data, nil
		}
		s.dropped.Add(1)
		s.log.Debug("sip: dropped request from untrusted source", "src", p.RemoteAddr.String())
		return nil, nil // an empty result drops the datagram; an error would stop the reader
	})
}

// Close stops serving and releases the socket (a mounted stack's socket
// is its owner's to close).
func (s *Stack) Close() error {
	if s.mount != nil {
		return nil
	}
	s.flows.tcp.Close()
	s.flows.tls.Close()
	s.stopSTUN()
	if s.ua != nil {
		s.ua.Close()
	}
	err := s.conn.Close()
	if s.ua != nil {
		<-s.done
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("sip: close: %w", err)
	}
	return nil
}

// LocalAddr is the bound UDP address (the port is the real one when
// sip.listen asked for port 0).
func (s *Stack) LocalAddr() netip.AddrPort { return s.local }

// Client is the sipgo client bound to the stack's socket, for requests
// outside a registration (calls).
func (s *Stack) Client() *sipgo.Client { return s.client }

// clientVia is a client whose every request (ACK included) is sent to
// dest, whatever its Route headers or Request-URI say: the dialogs of a
// line with an outbound proxy use it. It shares the stack's transaction
// and transport layers.
func (s *Stack) clientVia(dest netip.AddrPort) (*sipgo.Client, error) {
	return s.clientDest(dest, false)
}

// clientCancelVia is a client whose CANCELs go to dest, where the INVITE
// went (RFC 3261 §9.1), and its other requests where the dialog says.
func (s *Stack) clientCancelVia(dest netip.AddrPort) (*sipgo.Client, error) {
	return s.clientDest(dest, true)
}

func (s *Stack) clientDest(dest netip.AddrPort, cancelOnly bool) (*sipgo.Client, error) {
	c, err := sipgo.NewClient(s.ua, sipgo.WithClientConnectionAddr(s.conn.LocalAddr().String()),
		sipgo.WithClientNAT(), sipgo.WithClientLogger(s.log))
	if err != nil {
		return nil, fmt.Errorf("sip: client via %s: %w", dest, err)
	}
	c.TxRequester = viaDest{inner: s.client, dest: dest.String(), cancelOnly: cancelOnly}
	return c, nil
}

// viaDest sends each request (or only each CANCEL) through inner to dest.
// The requests come built (Via, CSeq, Content-Length) by the dialog;
// keepAsBuilt stops inner from building them again.
type viaDest struct {
	inner      *sipgo.Client
	dest       string
	cancelOnly bool
}

func (v viaDest) Request(ctx context.Context, req *siplib.Request) (siplib.ClientTransaction, error) {
	if !v.cancelOnly || req.IsCancel() {
		req.SetDestination(v.dest)
	}
	if req.IsAck() {
		return nil, v.inner.WriteRequest(req, keepAsBuilt)
	}
	return v.inner.TransactionRequest(ctx, req, keepAsBuilt)
}

func keepAsBuilt(*sipgo.Client, *siplib.Request) error { return nil }

// UserAgent is the sipgo user agent (transaction and transport layers).
func (s *Stack) UserAgent() *sipgo.UserAgent { return s.ua }

// Config is the configuration the stack was built from.
func (s *Stack) Config() StackConfig { return s.cfg }

// Handle routes requests of method to h, replacing any earlier handler.
func (s *Stack) Handle(method siplib.RequestMethod, h Handler) {
	s.mu.Lock()
	_, had := s.handlers[method]
	s.handlers[method] = h
	s.mu.Unlock()
	if s.mount != nil && !had {
		s.mount.Handle(method, s.dispatch) // the owner's server hands these over
	}
}

// Allow lists the methods with a handler, for Allow headers.
func (s *Stack) Allow() string {
	s.mu.RLock()
	methods := make([]string, 0, len(s.handlers))
	for m := range s.handlers {
		methods = append(methods, string(m))
	}
	s.mu.RUnlock()
	slices.Sort(methods)
	return strings.Join(methods, ", ")
}

func (s *Stack) dispatch(req *siplib.Request, tx siplib.ServerTransaction) {
	s.mu.RLock()
	h := s.handlers[req.Method]
	s.mu.RUnlock()
	defer s.admission.answered(req, tx) // bounds what lingers after the answer (admission.go)
	if h != nil {
		h(req, tx)
		return
	}
	if req.IsAck() || tx == nil {
		return // nothing answers an ACK
	}
	res := siplib.NewResponseFromRequest(req, siplib.StatusMethodNotAllowed, "Method Not Allowed", nil)
	res.AppendHeader(siplib.NewHeader("Allow", s.Allow()))
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sip: respond 405", "err", err)
	}
}

// answerOptions is the capability query answer (RFC 3261 §11.2).
func (s *Stack) answerOptions(req *siplib.Request, tx siplib.ServerTransaction) {
	res := siplib.NewResponseFromRequest(req, siplib.StatusOK, "OK", nil)
	res.AppendHeader(siplib.NewHeader("Allow", s.Allow()))
	res.AppendHeader(siplib.NewHeader("Accept", "application/sdp"))
	if ua := s.cfg.UserAgent; ua != "" {
		res.AppendHeader(siplib.NewHeader("User-Agent", ua))
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sip: respond OPTIONS", "err", err)
	}
}

// SetTrustedSources replaces the addresses owner (a line) trusts as
// senders of requests when sip.accept_proxy_only is on; nil removes them.
func (s *Stack) SetTrustedSources(owner string, addrs []netip.Addr) {
	s.sourcesMu.Lock()
	defer s.sourcesMu.Unlock()
	if addrs == nil {
		delete(s.sources, owner)
	} else {
		s.sources[owner] = slices.Clone(addrs)
	}
	union := map[netip.Addr]struct{}{}
	for _, list := range s.sources {
		for _, a := range list {
			union[a.Unmap()] = struct{}{}
		}
	}
	s.allowed.Store(&union)
}

// SetTrustedNetworks replaces the networks owner (a trunk) trusts as
// senders of requests when sip.accept_proxy_only is on; nil removes them.
func (s *Stack) SetTrustedNetworks(owner string, nets []netip.Prefix) {
	s.sourcesMu.Lock()
	defer s.sourcesMu.Unlock()
	if s.networks == nil {
		s.networks = map[string][]netip.Prefix{}
	}
	if nets == nil {
		delete(s.networks, owner)
	} else {
		s.networks[owner] = slices.Clone(nets)
	}
	var union []netip.Prefix
	for _, list := range s.networks {
		union = append(union, list...)
	}
	s.allowedNets.Store(&union)
}

// Dropped counts requests the proxy-only filter dropped.
func (s *Stack) Dropped() uint64 { return s.dropped.Load() }

// accepts reports whether a datagram from src may reach the SIP layers:
// responses and keep-alives always may, requests only from trusted
// sources when sip.accept_proxy_only is on.
func (s *Stack) accepts(src netip.Addr, data []byte) bool {
	if !s.cfg.AcceptProxyOnly || isResponseOrKeepAlive(data) {
		return true
	}
	if _, ok := (*s.allowed.Load())[src.Unmap()]; ok {
		return true
	}
	if nets := s.allowedNets.Load(); nets != nil {
		for _, p := range *nets {
			if p.Contains(src.Unmap()) {
				return true
			}
		}
	}
	return false
}

func isResponseOrKeepAlive(data []byte) bool {
	return bytes.HasPrefix(data, []byte("SIP/2.0 ")) || isKeepAlive(data)
}

func isKeepAlive(data []byte) bool { return len(bytes.Trim(data, "\r\n\x00")) == 0 }

// pongWatch is one owner's wait for keep-alive answers from an address.
type pongWatch struct {
	from netip.AddrPort
	ch   chan struct{}
}

// watchPongs signals ch (without blocking) for every keep-alive answer
// (a CRLF pong) from from; owner replaces its earlier watch, and an
// invalid from removes it.
func (s *Stack) watchPongs(owner string, from netip.AddrPort, ch chan struct{}) {
	s.pongMu.Lock()
	defer s.pongMu.Unlock()
	if !from.IsValid() {
		delete(s.pongs, owner)
		return
	}
	s.pongs[owner] = pongWatch{from: netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), ch: ch}
}

func (s *Stack) pong(from netip.AddrPort) {
	s.pongMu.Lock()
	defer s.pongMu.Unlock()
	for _, w := range s.pongs {
		if w.from == from {
			select {
			case w.ch <- struct{}{}:
			default:
			}
		}
	}
}

// RequestURIMatches is the ghost-call check: a request is for us only if
// its Request-URI user is one of users (the line's number or its Contact
// user). Scanners address the ATA's IP with made-up users ("100").
func RequestURIMatches(req *siplib.Request, users ...string) bool {
	u := req.Recipient.User
	return u != "" && slices.Contains(users, u)
}

// sendRaw writes b from the stack's socket (keep-alives).
func (s *Stack) sendRaw(b []byte, to netip.AddrPort) error {
	_, err := s.conn.WriteToUDPAddrPort(b, to)
	return err
}

// request runs one client transaction from the stack's socket and returns
// the final response.
func (s *Stack) request(ctx context.Context, req *siplib.Request) (*siplib.Response, error) {
	// sipgo keys its listener under the socket's own address string.
	la := s.conn.LocalAddr().(*net.UDPAddr)
	req.Laddr = siplib.Addr{IP: la.IP, Port: la.Port}
	s.prepareTransport(ctx, req)
	tx, err := s.ua.TransactionLayer().Request(ctx, req)
	if err != nil {
		return nil, err
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return nil, err
			}
			return nil, errors.New("transaction ended without a response")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
