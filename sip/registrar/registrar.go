// Package registrar is router mode's local SIP registrar: phones on the
// LAN register to the ATA as users (RFC 3261 §10.3), authenticated by
// digest (SHA-256 and MD5, qop=auth, RFC 7616 / RFC 8760), on a socket
// of their own (UDP and TCP).
//
// Only sources inside Options.AllowNetworks reach the SIP layers at all,
// and a source that fails authentication FailLimit times within
// FailWindow is ignored for BlockFor: both are dropped below sipgo's
// parser, so such a sender gets no answer of any kind.
//
// The registrar owns the socket; the router (B2BUA) adds its own
// handlers on it (Handle), challenges INVITEs with the same digest code
// and failure counting (Authenticate), sends requests to users from it
// (Client, Lookup's Binding.Source) and reads the users' state (Users,
// Stats) for the web UI and /metrics.
package registrar

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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Defaults of Options' zero values.
const (
	DefaultMinExpires       = 60 * time.Second
	DefaultMaxExpires       = 3600 * time.Second
	DefaultFailLimit        = 10
	DefaultFailWindow       = time.Minute
	DefaultBlockFor         = 10 * time.Minute
	DefaultKeepAlive        = 30 * time.Second
	DefaultKeepAliveTimeout = 5 * time.Second
	DefaultKeepAliveMisses  = 3
	DefaultNonceTTL         = 5 * time.Minute
	DefaultMaxBindings      = 10
	DefaultRealm            = "openata"
)

// DefaultAllowNetworks are the networks a registrar without
// Options.AllowNetworks talks to: loopback and the private and
// link-local ranges (the [router] allow_networks default).
func DefaultAllowNetworks() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
		"169.254.0.0/16", "::1/128", "fd00::/8", "fe80::/10"} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// User is one local user (an extension) that may register.
type User struct {
	// Name is the SIP user name and extension ("201").
	Name string
	// Password is the plain password (a hand-written config file). When
	// set it wins over HA1 and HA1SHA256.
	Password string
	// HA1 is hex MD5(name:realm:password) and HA1SHA256 hex
	// SHA-256(name:realm:password), as the web UI stores them. A user
	// with only one of them can answer only that algorithm's challenge.
	HA1, HA1SHA256 string
	DisplayName    string
	// External allows calls out through lines and trunks (the router's
	// business; kept here so UserStatus can show it).
	External bool
}

// Binding is one registered contact of a user.
type Binding struct {
	// AOR is the address of record as registered (the To URI).
	AOR string
	// Contact is the Contact URI as the phone gave it: the Request-URI of
	// requests to it.
	Contact string
	// Source is where the REGISTER came from (after NAT) and Transport
	// its transport ("UDP" or "TCP"): requests to the user go there, over
	// the same flow, whatever host the Contact names.
	Source    netip.AddrPort
	Transport string
	Expires   time.Time
	// Q is the contact's q-value (0..1; 1 when not given).
	Q float64
	// Instance is the +sip.instance (RFC 5626, without quotes and angle
	// brackets) and RegID the reg-id, when the phone sent them.
	Instance  string
	RegID     int
	UserAgent string
	// Registered is when the binding was last refreshed.
	Registered time.Time

	callID string
	cseq   uint32
	keyStr string // the binding's identity (contactKey)
	misses int    // keep-alive OPTIONS in a row without an answer
}

// UserStatus is a user and its current bindings, for the web UI.
type UserStatus struct {
	Name        string
	DisplayName string
	External    bool
	Bindings    []Binding
}

// Stats are the registrar's counters for /metrics.
type Stats struct {
	// Registrations counts REGISTERs that added or refreshed a binding.
	Registrations uint64
	// AuthFailures counts credentials that did not verify (wrong
	// password, unknown user, bad digest), REGISTER and Authenticate alike.
	AuthFailures uint64
	// BlockedSources is how many source addresses are ignored now.
	BlockedSources int
	// DroppedOutside counts datagrams (or TCP reads and connections) from
	// outside AllowNetworks; DroppedBlocked those from blocked sources.
	DroppedOutside uint64
	DroppedBlocked uint64
	// Bindings is the number of unexpired bindings now.
	Bindings int
	// KeepAliveDrops counts bindings dropped for unanswered keep-alives.
	KeepAliveDrops uint64
}

// Clock is the registrar's time source (expiry, nonce age, blocking);
// tests inject a fake one.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Options configure a Registrar; zero values take the defaults.
type Options struct {
	// Listen is host:port of the UDP and TCP sockets ("0.0.0.0:5062").
	// Port 0 picks a free port (the same for both).
	Listen string
	Users  []User
	// Realm of the digest challenges (default "openata").
	Realm string
	// Algorithms are the digest algorithms allowed, in challenge order:
	// "SHA-256", "MD5" (default DefaultAlgorithms, both). An answer with
	// another algorithm fails.
	Algorithms []string
	// MinExpires (default 60 s): a shorter nonzero expiry is refused with
	// 423. MaxExpires (default 3600 s): longer ones are cut to it.
	// DefaultExpires is granted to a contact that asks for none (default
	// MaxExpires).
	MinExpires, MaxExpires, DefaultExpires time.Duration
	// AllowNetworks are the only sources served (nil: DefaultAllowNetworks).
	AllowNetworks []netip.Prefix
	// FailLimit failed authentications from one address within FailWindow
	// (defaults 10 in 1 min) block it for BlockFor (default 10 min).
	FailLimit  int
	FailWindow time.Duration
	BlockFor   time.Duration
	// NonceTTL is how long a nonce is good (default 5 min); an older one
	// with the right credentials gets a fresh challenge with stale=true.
	NonceTTL time.Duration
	// KeepAlive is the interval of OPTIONS pings to each UDP binding's
	// source, which keep NAT flows open; 0 turns them off (as
	// sip.StackConfig's does: the caller passes DefaultKeepAlive, 30 s,
	// unless configured otherwise). A binding that leaves
	// KeepAliveMisses pings in a row (default 3) unanswered within
	// KeepAliveTimeout (default 5 s) is dropped.
	KeepAlive        time.Duration
	KeepAliveTimeout time.Duration
	KeepAliveMisses  int
	// MaxBindings caps one user's contacts (default 10); beyond, 403.
	MaxBindings int
	// UserAgent is the Server and User-Agent header ("" leaves it out).
	UserAgent string
	Clock     Clock
	Logger    *slog.Logger
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.MinExpires, DefaultMinExpires)
	def(&o.MaxExpires, DefaultMaxExpires)
	def(&o.DefaultExpires, o.MaxExpires)
	def(&o.FailWindow, DefaultFailWindow)
	def(&o.BlockFor, DefaultBlockFor)
	def(&o.NonceTTL, DefaultNonceTTL)
	def(&o.KeepAliveTimeout, DefaultKeepAliveTimeout)
	if o.Algorithms == nil {
		o.Algorithms = DefaultAlgorithms
	}
	if o.Realm == "" {
		o.Realm = DefaultRealm
	}
	if o.FailLimit == 0 {
		o.FailLimit = DefaultFailLimit
	}
	if o.KeepAliveMisses == 0 {
		o.KeepAliveMisses = DefaultKeepAliveMisses
	}
	if o.MaxBindings == 0 {
		o.MaxBindings = DefaultMaxBindings
	}
	if o.AllowNetworks == nil {
		o.AllowNetworks = DefaultAllowNetworks()
	}
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Registrar serves REGISTER and OPTIONS from local users.
type Registrar struct {
	opts  Options
	log   *slog.Logger
	clock Clock

	udp    *net.UDPConn
	tcp    net.Listener
	local  netip.AddrPort
	ua     *sipgo.UserAgent
	server *sipgo.Server
	client *sipgo.Client

	guard  *guard
	digest *digester

	mu       sync.Mutex
	users    map[string]User
	bindings map[string][]*Binding // by user name

	handlersMu sync.RWMutex
	handlers   map[sip.RequestMethod]sipgo.RequestHandler

	registrations  atomic.Uint64
	keepAliveDrops atomic.Uint64

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New binds opts.Listen (UDP and TCP) and starts serving. Close stops it.
func New(opts Options) (*Registrar, error) {
	opts.defaults()
	if opts.MinExpires > opts.MaxExpires {
		return nil, fmt.Errorf("registrar: min expires %v above max expires %v", opts.MinExpires, opts.MaxExpires)
	}
	users, err := userMap(opts.Users)
	if err != nil {
		return nil, err
	}
	r := &Registrar{
		opts:     opts,
		log:      opts.Logger.With("component", "registrar"),
		clock:    opts.Clock,
		users:    users,
		bindings: map[string][]*Binding{},
		handlers: map[sip.RequestMethod]sipgo.RequestHandler{},
		stop:     make(chan struct{}),
	}
	r.guard = newGuard(opts.AllowNetworks, opts.FailLimit, opts.FailWindow, opts.BlockFor, opts.Clock)
	if r.digest, err = newDigester(opts.Realm, opts.Algorithms, opts.NonceTTL, opts.Clock); err != nil {
		return nil, err
	}
	if err := r.listen(); err != nil {
		return nil, err
	}
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(opts.UserAgent),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerReadFilter(r.readFilter), phoneFlowsOnly()),
		// A phone's TCP connection that closes ends the transactions on it
		// at once: a call to a phone that went away fails now, not after 32 s.
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerTerminateOnConnClose()),
	)
	if err != nil {
		r.closeSockets()
		return nil, fmt.Errorf("registrar: user agent: %w", err)
	}
	r.ua = ua
	if r.server, err = sipgo.NewServer(ua, sipgo.WithServerLogger(r.log)); err != nil {
		r.Close()
		return nil, fmt.Errorf("registrar: server: %w", err)
	}
	if r.client, err = sipgo.NewClient(ua, sipgo.WithClientConnectionAddr(r.udp.LocalAddr().String()),
		sipgo.WithClientNAT(), sipgo.WithClientLogger(r.log)); err != nil {
		r.Close()
		return nil, fmt.Errorf("registrar: client: %w", err)
	}
	// Every method goes through dispatch so that the router can add
	// handlers while serving (sipgo's own map is not safe for that).
	r.server.OnNoRoute(r.dispatch)
	r.Handle(sip.REGISTER, r.onRegister)
	r.Handle(sip.OPTIONS, r.onOptions)

	served := make(chan struct{})
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		defer close(served)
		if err := r.server.ServeUDP(r.udp); err != nil && !errors.Is(err, net.ErrClosed) {
			r.log.Error("registrar: serve udp", "err", err)
		}
	}()
	go func() {
		defer r.wg.Done()
		if err := r.server.ServeTCP(r.tcp); err != nil && !errors.Is(err, net.ErrClosed) {
			r.log.Error("registrar: serve tcp", "err", err)
		}
	}()
	// Until the UDP listener is in sipgo's pool, a request sent from it
	// (a keep-alive) would bind a second socket: wait for it.
	pool := ua.TransportLayer().Pool("udp")
	for pool.Get(r.udp.LocalAddr().String()) == nil {
		select {
		case <-served:
			r.Close()
			return nil, fmt.Errorf("registrar: serving %s stopped at start", r.local)
		case <-time.After(time.Millisecond):
		}
	}
	r.wg.Add(1)
	go r.housekeeping()
	if opts.KeepAlive > 0 {
		r.wg.Add(1)
		go r.keepAliveLoop()
	}
	r.log.Info("registrar: listening", "addr", r.local.String(), "users", len(users))
	return r, nil
}

// listen binds UDP and TCP on one port (the UDP port when Listen asks
// for port 0).
func (r *Registrar) listen() error {
	laddr, err := net.ResolveUDPAddr("udp", r.opts.Listen)
	if err != nil {
		return fmt.Errorf("registrar: listen address %q: %w", r.opts.Listen, err)
	}
	for attempt := 0; ; attempt++ {
		if r.udp, err = net.ListenUDP("udp", laddr); err != nil {
			return fmt.Errorf("registrar: listen udp %s: %w", r.opts.Listen, err)
		}
		// A boot storm (every phone registering at once) overflows the
		// default buffer; the kernel caps this at net.core.rmem_max.
		r.udp.SetReadBuffer(1 << 20)
		ua := r.udp.LocalAddr().(*net.UDPAddr)
		tl, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ua.IP, Port: ua.Port, Zone: ua.Zone})
		if err != nil {
			r.udp.Close()
			if laddr.Port == 0 && attempt < 10 {
				continue // the free UDP port is taken for TCP: pick another
			}
			return fmt.Errorf("registrar: listen tcp %s: %w", r.opts.Listen, err)
		}
		r.tcp = &filteredListener{TCPListener: tl, guard: r.guard}
		ap := ua.AddrPort()
		r.local = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		return nil
	}
}

func (r *Registrar) closeSockets() {
	if r.udp != nil {
		r.udp.Close()
	}
	if r.tcp != nil {
		r.tcp.Close()
	}
}

// Close stops serving, the keep-alives and releases the sockets.
func (r *Registrar) Close() error {
	r.closeOnce.Do(func() {
		close(r.stop)
		if r.ua != nil {
			r.ua.Close()
		}
		r.closeSockets()
		r.wg.Wait()
	})
	return nil
}

// LocalAddr is the bound address (UDP and TCP share the port).
func (r *Registrar) LocalAddr() netip.AddrPort { return r.local }

// Client sends requests from the registrar's socket: requests to users
// must leave from the address they registered to, or their NAT drops them.
func (r *Registrar) Client() *sipgo.Client { return r.client }

// UserAgent is the sipgo user agent (transaction and transport layers).
func (r *Registrar) UserAgent() *sipgo.UserAgent { return r.ua }

// UDPConn is the users' UDP socket, for a SIP stack mounted on it
// (sip.NewStackOn: the users' line sends its calls from here).
func (r *Registrar) UDPConn() *net.UDPConn { return r.udp }

// Handle routes requests of method on the registrar's socket to h
// (the router's INVITE, BYE, ...), replacing any earlier handler.
// REGISTER and OPTIONS are the registrar's own; replacing them is allowed
// but then they are the caller's business.
func (r *Registrar) Handle(method sip.RequestMethod, h sipgo.RequestHandler) {
	r.handlersMu.Lock()
	r.handlers[method] = h
	r.handlersMu.Unlock()
}

// Allow lists the methods with a handler, for Allow headers.
func (r *Registrar) Allow() string {
	r.handlersMu.RLock()
	methods := make([]string, 0, len(r.handlers))
	for m := range r.handlers {
		methods = append(methods, string(m))
	}
	r.handlersMu.RUnlock()
	slices.Sort(methods)
	return strings.Join(methods, ", ")
}

func (r *Registrar) dispatch(req *sip.Request, tx sip.ServerTransaction) {
	r.handlersMu.RLock()
	h := r.handlers[req.Method]
	r.handlersMu.RUnlock()
	if h != nil {
		h(req, tx)
		return
	}
	if req.IsAck() || tx == nil {
		return
	}
	res := sip.NewResponseFromRequest(req, sip.StatusMethodNotAllowed, "Method Not Allowed", nil)
	res.AppendHeader(sip.NewHeader("Allow", r.Allow()))
	r.respond(tx, res)
}

func (r *Registrar) respond(tx sip.ServerTransaction, res *sip.Response) {
	if res == nil {
		return
	}
	if r.opts.UserAgent != "" {
		res.AppendHeader(sip.NewHeader("Server", r.opts.UserAgent))
	}
	if err := tx.Respond(res); err != nil {
		r.log.Debug("registrar: respond", "status", res.StatusCode, "err", err)
	}
}

// onOptions is the capability query answer (RFC 3261 §11.2).
func (r *Registrar) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	r.respond(tx, r.optionsResponse(req))
}

func (r *Registrar) optionsResponse(req *sip.Request) *sip.Response {
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", r.Allow()))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	return res
}

func (r *Registrar) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	src, transport := requestSource(req)
	r.respond(tx, r.register(req, src, transport))
}

// requestSource is where a request parsed from the network came from.
func requestSource(req *sip.Request) (netip.AddrPort, string) {
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return netip.AddrPort{}, strings.ToUpper(req.Transport())
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), strings.ToUpper(req.Transport())
}

// readFilter runs below sipgo's parser on every datagram (and TCP read):
// sources outside AllowNetworks and blocked ones are dropped there, so
// they create no transaction and get no answer.
func (r *Registrar) readFilter(p sip.TransportReadProps, data []byte) ([]byte, error) {
	var src netip.Addr
	switch a := p.RemoteAddr.(type) {
	case *net.UDPAddr:
		src = a.AddrPort().Addr()
	case *net.TCPAddr:
		src = a.AddrPort().Addr()
	}
	if r.guard.admit(src.Unmap()) {
		return data, nil
	}
	return nil, nil // empty drops the read; an error would stop the reader
}

// phoneFlowsOnly gives sipgo a TCP transport that never dials: requests
// to a user registered over TCP go over the connection its phone opened
// (RFC 5626 flows; the phone's listening port, if any, is behind its NAT
// or ephemeral), and with that connection gone they fail at once rather
// than wait on a connect to an address that does not answer.
func phoneFlowsOnly() sip.TransportLayerOption {
	refuse := func(net.Addr) net.Dialer {
		return net.Dialer{Control: func(string, string, syscall.RawConn) error { return errNoPhoneFlow }}
	}
	return sip.WithTransportLayerTransports(sip.TransportsConfig{TCP: &sip.TransportTCP{DialerCreate: refuse}})
}

// errNoPhoneFlow is the refused dial of phoneFlowsOnly.
var errNoPhoneFlow = errors.New("registrar: no connection from this phone (the registrar never dials users)")

// filteredListener closes TCP connections from sources the guard drops
// as soon as they are accepted.
type filteredListener struct {
	*net.TCPListener
	guard *guard
}

func (l *filteredListener) Accept() (net.Conn, error) {
	for {
		c, err := l.TCPListener.Accept()
		if err != nil {
			return nil, err
		}
		ap := c.RemoteAddr().(*net.TCPAddr).AddrPort()
		if l.guard.admit(ap.Addr().Unmap()) {
			return c, nil
		}
		c.Close()
	}
}

// userMap checks users and indexes them by name.
func userMap(list []User) (map[string]User, error) {
	m := make(map[string]User, len(list))
	for _, u := range list {
		if u.Name == "" {
			return nil, errors.New("registrar: a user without a name")
		}
		if strings.ContainsAny(u.Name, " \t\r\n\"\\:@;,<>") {
			return nil, fmt.Errorf("registrar: user name %q has characters a SIP user name cannot carry", u.Name)
		}
		if _, dup := m[u.Name]; dup {
			return nil, fmt.Errorf("registrar: two users named %q", u.Name)
		}
		if u.Password == "" && u.HA1 == "" && u.HA1SHA256 == "" {
			return nil, fmt.Errorf("registrar: user %q has no password", u.Name)
		}
		if !isHex(u.HA1, 32) || !isHex(u.HA1SHA256, 64) {
			return nil, fmt.Errorf("registrar: user %q: HA1 must be hex MD5 (32 digits) and HA1SHA256 hex SHA-256 (64)", u.Name)
		}
		m[u.Name] = u
	}
	return m, nil
}

func isHex(s string, n int) bool {
	if s == "" {
		return true
	}
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// SetUsers replaces the users at runtime. A removed user's bindings go
// at once, and so do those of a user whose credentials changed (a reset
// password logs its phones out).
func (r *Registrar) SetUsers(list []User) error {
	m, err := userMap(list)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, old := range r.users {
		nu, ok := m[name]
		if !ok || nu.Password != old.Password || nu.HA1 != old.HA1 || nu.HA1SHA256 != old.HA1SHA256 {
			delete(r.bindings, name)
		}
	}
	r.users = m
	return nil
}

// user returns the named user.
func (r *Registrar) user(name string) (User, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	u, ok := r.users[name]
	return u, ok
}

// Lookup returns user's unexpired bindings, best q first (then the most
// recently refreshed): where a call to the user goes.
func (r *Registrar) Lookup(user string) []Binding {
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.liveLocked(user, now)
}

func (r *Registrar) liveLocked(user string, now time.Time) []Binding {
	var out []Binding
	for _, b := range r.bindings[user] {
		if b.Expires.After(now) {
			out = append(out, *b)
		}
	}
	slices.SortStableFunc(out, func(a, b Binding) int {
		if a.Q != b.Q {
			if a.Q > b.Q {
				return -1
			}
			return 1
		}
		return b.Registered.Compare(a.Registered)
	})
	return out
}

// Users lists every user with its unexpired bindings, by name.
func (r *Registrar) Users() []UserStatus {
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]UserStatus, 0, len(r.users))
	for _, u := range r.users {
		out = append(out, UserStatus{Name: u.Name, DisplayName: u.DisplayName, External: u.External,
			Bindings: r.liveLocked(u.Name, now)})
	}
	slices.SortFunc(out, func(a, b UserStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Stats returns the counters for /metrics.
func (r *Registrar) Stats() Stats {
	now := r.clock.Now()
	s := Stats{
		Registrations:  r.registrations.Load(),
		AuthFailures:   r.guard.failures.Load(),
		BlockedSources: r.guard.blockedNow(),
		DroppedOutside: r.guard.droppedOutside.Load(),
		DroppedBlocked: r.guard.droppedBlocked.Load(),
		KeepAliveDrops: r.keepAliveDrops.Load(),
	}
	r.mu.Lock()
	for _, list := range r.bindings {
		for _, b := range list {
			if b.Expires.After(now) {
				s.Bindings++
			}
		}
	}
	r.mu.Unlock()
	return s
}

// housekeeping frees expired bindings, failure records and nonce counts.
func (r *Registrar) housekeeping() {
	defer r.wg.Done()
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.sweep()
		}
	}
}

func (r *Registrar) sweep() {
	now := r.clock.Now()
	r.mu.Lock()
	for name, list := range r.bindings {
		list = slices.DeleteFunc(list, func(b *Binding) bool { return !b.Expires.After(now) })
		if len(list) == 0 {
			delete(r.bindings, name)
		} else {
			r.bindings[name] = list
		}
	}
	r.mu.Unlock()
	r.guard.sweep()
	r.digest.sweep()
}

// context for the keep-alive transactions: cancelled by Close.
func (r *Registrar) stopContext(d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	go func() {
		select {
		case <-r.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
