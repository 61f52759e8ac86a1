package sip

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"

	"github.com/emiago/sipgo"
	siplib "github.com/emiago/sipgo/sip"
)

// Mount is a SIP socket another server owns and serves (router mode's
// registrar on the users' socket): a stack mounted on it sends through
// the owner's client and takes the methods it handles from the owner's
// server. The owner's read filter (allowed networks, blocked sources)
// applies to everything.
type Mount struct {
	UA     *sipgo.UserAgent
	Client *sipgo.Client
	Conn   *net.UDPConn
	// Handle routes a method's requests on the owner's server to h.
	Handle func(method siplib.RequestMethod, h Handler)
}

// NewStackOn builds a stack on a mounted socket: lines made on it (the
// users' line) send from the owner's socket and receive the INVITEs,
// BYEs, ... the owner hands over. Close leaves the socket to its owner.
func NewStackOn(cfg StackConfig, m Mount, opts ...StackOption) (*Stack, error) {
	if m.UA == nil || m.Client == nil || m.Conn == nil || m.Handle == nil {
		return nil, errors.New("sip: mount: user agent, client, socket and handler registration are required")
	}
	s := &Stack{
		cfg:       cfg,
		log:       slog.Default(),
		handlers:  map[siplib.RequestMethod]Handler{},
		sources:   map[string][]netip.Addr{},
		pongs:     map[string]pongWatch{},
		done:      make(chan struct{}),
		admission: newAdmission(cfg.MaxPendingInvites),
		mount:     &m,
		conn:      m.Conn,
		ua:        m.UA,
		client:    m.Client,
	}
	for _, o := range opts {
		o(s)
	}
	s.log = s.log.With("component", "sip")
	empty := map[netip.Addr]struct{}{}
	s.allowed.Store(&empty)
	s.local = s.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	s.local = netip.AddrPortFrom(s.local.Addr().Unmap(), s.local.Port())
	close(s.done)
	return s, nil
}
