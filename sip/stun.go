package sip

// STUN ([sip] stun_server, RFC 5389/8489): the stack learns its public
// address from binding requests sent from the SIP socket itself, so the
// mapping is the one SIP's own packets get, and a call learns its RTP
// socket's mapping the same way before its SDP is written. The answers
// arrive on the SIP socket amid SIP: a STUN message starts with two zero
// bits and carries the magic cookie, which no SIP message (text starting
// with a letter) or keep-alive (CRLFs, shorter than a STUN header) does, so
// the read filter takes them out before sipgo's parser (stack.go).

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/stun/v3"
)

const (
	// DefaultSTUNPort is the STUN port when stun_server names none.
	DefaultSTUNPort = 3478
	// stunRTO is the first retransmission timeout; it doubles for each of
	// stunTries sends (RFC 5389 §7.2.1 with fewer tries: a boot or a call
	// setup waits for at most 0.3+0.6+1.2 s).
	stunRTO   = 300 * time.Millisecond
	stunTries = 3
	// stunRefresh is how often the SIP socket's mapping is asked again;
	// stunRetry after a failed attempt.
	stunRefresh = 5 * time.Minute
	stunRetry   = 30 * time.Second
	// stunRTPBudget bounds a call's wait for its RTP socket's mapping.
	stunRTPBudget = 900 * time.Millisecond
)

// stunMagicCookie is RFC 5389's fixed header word.
const stunMagicCookie = 0x2112A442

// isSTUN reports whether a datagram is a STUN message rather than SIP:
// the two leading zero bits, a length that is a multiple of 4 and the
// magic cookie.
func isSTUN(b []byte) bool {
	return len(b) >= 20 && b[0]&0xC0 == 0 && binary.BigEndian.Uint16(b[2:4])%4 == 0 &&
		binary.BigEndian.Uint32(b[4:8]) == stunMagicCookie && stun.IsMessage(b)
}

// stunMapped decodes a binding response: the address the server saw the
// request come from (XOR-MAPPED-ADDRESS, or the old MAPPED-ADDRESS).
func stunMapped(b []byte) (id [stun.TransactionIDSize]byte, mapped netip.AddrPort, err error) {
	m := new(stun.Message)
	if err := m.UnmarshalBinary(b); err != nil {
		return id, mapped, fmt.Errorf("stun: %w", err)
	}
	id = m.TransactionID
	switch m.Type {
	case stun.BindingSuccess:
	case stun.BindingError:
		var code stun.ErrorCodeAttribute
		if code.GetFrom(m) == nil {
			return id, mapped, fmt.Errorf("stun: binding refused: %d %s", code.Code, code.Reason)
		}
		return id, mapped, errors.New("stun: binding refused")
	default:
		return id, mapped, fmt.Errorf("stun: %v is not a binding response", m.Type)
	}
	var ip net.IP
	var port int
	var xor stun.XORMappedAddress
	if err := xor.GetFrom(m); err == nil {
		ip, port = xor.IP, xor.Port
	} else {
		var plain stun.MappedAddress
		if err := plain.GetFrom(m); err != nil {
			return id, mapped, errors.New("stun: binding response without a mapped address")
		}
		ip, port = plain.IP, plain.Port
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok || port <= 0 || port > 65535 || a.Unmap().IsUnspecified() {
		return id, mapped, fmt.Errorf("stun: bad mapped address %v:%d", ip, port)
	}
	return id, netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
}

// stunRequest is a fresh binding request.
func stunRequest() (*stun.Message, error) {
	m, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if err != nil {
		return nil, fmt.Errorf("stun: request: %w", err)
	}
	return m, nil
}

// resolveSTUN turns host[:port] into the server's address, of the family
// of local (an IPv4 socket cannot reach an IPv6 server).
func resolveSTUN(ctx context.Context, server string, local netip.Addr) (netip.AddrPort, error) {
	host, port := server, DefaultSTUNPort
	if h, p, err := net.SplitHostPort(server); err == nil {
		host = h
		if port, err = net.LookupPort("udp", p); err != nil {
			return netip.AddrPort{}, fmt.Errorf("stun server %q: port: %w", server, err)
		}
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("stun server %q: %w", server, err)
	}
	for _, ip := range ips {
		ip = ip.Unmap()
		if ip.Is4() == (local.Unmap().Is4() || local.IsUnspecified()) {
			return netip.AddrPortFrom(ip, uint16(port)), nil
		}
	}
	return netip.AddrPortFrom(ips[0].Unmap(), uint16(port)), nil
}

// stunClient keeps the SIP socket's public mapping.
type stunClient struct {
	server string
	log    *slog.Logger
	send   func(b []byte, to netip.AddrPort) error
	local  netip.AddrPort

	mu      sync.Mutex
	pending map[[stun.TransactionIDSize]byte]chan stunAnswer
	addr    netip.AddrPort // the server, once resolved
	mapped  netip.AddrPort // invalid until learned
	tried   chan struct{}  // closed once the first attempt ended
	stop    chan struct{}
	done    chan struct{}
}

type stunAnswer struct {
	mapped netip.AddrPort
	err    error
}

func newSTUNClient(server string, local netip.AddrPort, send func([]byte, netip.AddrPort) error, log *slog.Logger) *stunClient {
	return &stunClient{server: server, local: local, send: send, log: log,
		pending: map[[stun.TransactionIDSize]byte]chan stunAnswer{},
		tried:   make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
}

// run asks for the mapping at once and then every stunRefresh until close.
func (c *stunClient) run() {
	defer close(c.done)
	first := true
	for {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-c.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		mapped, err := c.discover(ctx)
		cancel()
		wait := stunRefresh
		c.mu.Lock()
		was := c.mapped
		if err == nil {
			c.mapped = mapped
		}
		c.mu.Unlock()
		switch {
		case err != nil:
			wait = stunRetry
			c.log.Warn("sip: STUN: no public address", "server", c.server, "err", err)
		case mapped != was:
			c.log.Info("sip: STUN: public address of the SIP socket", "public", mapped, "local", c.local,
				"nat", mapped != c.local, "server", c.server)
		}
		if first {
			close(c.tried)
			first = false
		}
		select {
		case <-c.stop:
			return
		case <-time.After(wait):
		}
	}
}

func (c *stunClient) close() {
	close(c.stop)
	<-c.done
}

// discover runs one binding transaction from the SIP socket.
func (c *stunClient) discover(ctx context.Context) (netip.AddrPort, error) {
	to, err := c.serverAddr(ctx)
	if err != nil {
		return netip.AddrPort{}, err
	}
	req, err := stunRequest()
	if err != nil {
		return netip.AddrPort{}, err
	}
	ch := make(chan stunAnswer, 1)
	c.mu.Lock()
	c.pending[req.TransactionID] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, req.TransactionID)
		c.mu.Unlock()
	}()
	rto := stunRTO
	for range stunTries {
		if err := c.send(req.Raw, to); err != nil {
			return netip.AddrPort{}, fmt.Errorf("stun: send to %s: %w", to, err)
		}
		select {
		case a := <-ch:
			return a.mapped, a.err
		case <-ctx.Done():
			return netip.AddrPort{}, ctx.Err()
		case <-time.After(rto):
		}
		rto *= 2
	}
	return netip.AddrPort{}, fmt.Errorf("stun: %s did not answer %d binding requests", to, stunTries)
}

func (c *stunClient) serverAddr(ctx context.Context) (netip.AddrPort, error) {
	c.mu.Lock()
	a := c.addr
	c.mu.Unlock()
	if a.IsValid() {
		return a, nil
	}
	a, err := resolveSTUN(ctx, c.server, c.local.Addr())
	if err != nil {
		return a, err
	}
	c.mu.Lock()
	c.addr = a
	c.mu.Unlock()
	return a, nil
}

// take is the SIP socket's read filter's hook: it reports whether b was a
// STUN message (consumed: answered transactions get their answer, the
// rest is dropped) rather than SIP.
func (c *stunClient) take(b []byte, from netip.AddrPort) bool {
	if !isSTUN(b) {
		return false
	}
	id, mapped, err := stunMapped(b)
	c.mu.Lock()
	ch, ok := c.pending[id]
	server := c.addr
	c.mu.Unlock()
	if !ok || from != server {
		c.log.Debug("sip: STUN: unexpected message dropped", "from", from)
		return true
	}
	select {
	case ch <- stunAnswer{mapped, err}:
	default:
	}
	return true
}

// public is the SIP socket's mapping, waiting (up to ctx) for the first
// attempt; invalid when STUN gave none.
func (c *stunClient) public(ctx context.Context) netip.AddrPort {
	select {
	case <-c.tried:
	case <-ctx.Done():
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mapped
}

// bindOn asks the server for conn's mapping, reading the answer from conn
// itself: a call's RTP socket, before anything else reads it.
func (c *stunClient) bindOn(conn *net.UDPConn, budget time.Duration) (netip.AddrPort, error) {
	c.mu.Lock()
	to := c.addr
	c.mu.Unlock()
	if !to.IsValid() {
		return netip.AddrPort{}, errors.New("stun: server not resolved")
	}
	req, err := stunRequest()
	if err != nil {
		return netip.AddrPort{}, err
	}
	defer conn.SetReadDeadline(time.Time{})
	end := time.Now().Add(budget)
	buf := make([]byte, 1500)
	rto := stunRTO
	for time.Now().Before(end) {
		if _, err := conn.WriteToUDPAddrPort(req.Raw, to); err != nil {
			return netip.AddrPort{}, fmt.Errorf("stun: send to %s: %w", to, err)
		}
		deadline := time.Now().Add(rto)
		if deadline.After(end) {
			deadline = end
		}
		conn.SetReadDeadline(deadline)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				if time.Now().After(deadline) {
					break
				}
				continue // an ICMP error from an earlier send
			}
			from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
			if from != to || !isSTUN(buf[:n]) {
				continue
			}
			id, mapped, err := stunMapped(buf[:n])
			if id != req.TransactionID {
				continue
			}
			return mapped, err
		}
		rto *= 2
	}
	return netip.AddrPort{}, fmt.Errorf("stun: %s did not answer for %v", to, budget)
}

// stunPublic is the stack's public SIP address from STUN when it differs
// from the socket's own (behind a NAT); it waits up to 3 s for the first
// answer at boot.
func (s *Stack) stunPublic() (netip.AddrPort, bool) {
	if s.stun == nil {
		return netip.AddrPort{}, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	pub := s.stun.public(ctx)
	if !pub.IsValid() || pub == s.local {
		return netip.AddrPort{}, false
	}
	return pub, true
}

// startSTUN starts the SIP socket's STUN client if stun_server is set.
func (s *Stack) startSTUN() {
	if s.cfg.STUNServer == "" || s.mount != nil {
		return
	}
	s.stun = newSTUNClient(s.cfg.STUNServer, s.local, s.sendRaw, s.log)
	go s.stun.run()
}

// stopSTUN stops it (Close).
func (s *Stack) stopSTUN() {
	if s.stun != nil {
		s.stun.close()
	}
}

// takeSTUN is the read filter's hook: true for a STUN message (consumed).
func (s *Stack) takeSTUN(b []byte, from netip.AddrPort) bool {
	if s.stun == nil {
		return isSTUN(b) // no client: STUN is still not SIP
	}
	return s.stun.take(b, from)
}

// stunContact is a UDP registration's Contact address from STUN (the
// registrar's received/rport, when it sends one, wins: register.go).
func (r *Registration) stunContact() (netip.AddrPort, bool) {
	if r.flow != nil || isStream(r.transport) {
		return netip.AddrPort{}, false
	}
	return r.st.stunPublic()
}

// seenPublic is what calls put in their Contact after a registration: the
// registrar's view of us, else STUN's.
func (r *Registration) seenPublic() netip.AddrPort {
	if r.public.IsValid() {
		return r.public
	}
	pub, _ := r.stunContact()
	return pub
}

// mediaAddr is the address and port a call's SDP gives for its RTP socket
// rtp bound on ip: with stun_server set and the stack behind a NAT (its SIP
// socket's mapping is not its own address), the RTP socket's mapping, asked
// from the socket itself; if the server does not answer, the SIP mapping's
// address with the local port (right for port-preserving NATs).
func (l *Line) mediaAddr(rtp *net.UDPConn, ip netip.Addr, port int) (netip.Addr, int) {
	pub, ok := l.st.stunPublic()
	if !ok || pub.Addr() == ip {
		return ip, port
	}
	mapped, err := l.st.stun.bindOn(rtp, stunRTPBudget)
	if err != nil {
		l.log.Warn("sip: STUN: no mapping for the call's RTP port; using the SIP mapping's address", "port", port, "err", err)
		return pub.Addr(), port
	}
	l.log.Info("sip: STUN: call's RTP mapping", "local", port, "public", mapped)
	return mapped.Addr(), int(mapped.Port())
}

// stunMoved reports whether STUN now maps the SIP socket elsewhere than
// the Contact says (a NAT that re-created our mapping): the next REGISTER
// then replaces the binding.
func (r *Registration) stunMoved() bool {
	if r.st.stun == nil || r.public.IsValid() || !r.localIP.IsValid() {
		return false
	}
	now := r.makeContact()
	return now.String() != r.contact.String()
}
