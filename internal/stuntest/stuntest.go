// Package stuntest is a STUN server for tests (RFC 5389 binding, with
// github.com/pion/stun/v3 messages) standing for a NAT: it answers each
// binding request with the address a mapping function makes of the
// request's source, and records the sources.
package stuntest

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/pion/stun/v3"
)

// Server is a running STUN server on loopback.
type Server struct {
	conn *net.UDPConn
	Map  func(src netip.AddrPort) netip.AddrPort

	mu   sync.Mutex
	seen []netip.AddrPort
}

// FakeNAT maps a source to public with the port turned by a fixed XOR (a
// port-changing NAT, so that a test can tell which socket asked).
func FakeNAT(public netip.Addr) func(netip.AddrPort) netip.AddrPort {
	return func(src netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(public, NATPort(src.Port())) }
}

// NATPort is FakeNAT's port for a local port.
func NATPort(p uint16) uint16 {
	if m := p ^ 0x5a5a; m != 0 {
		return m
	}
	return 1
}

// Start runs a server on 127.0.0.1 answering with mapping's addresses
// until the test ends.
func Start(tb testing.TB, mapping func(netip.AddrPort) netip.AddrPort) *Server {
	tb.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{conn: c, Map: mapping}
	done := make(chan struct{})
	tb.Cleanup(func() { c.Close(); <-done })
	go func() {
		defer close(done)
		s.serve()
	}()
	return s
}

// Addr is the server's address.
func (s *Server) Addr() netip.AddrPort {
	return s.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Seen is the source of every binding request answered so far.
func (s *Server) Seen() []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]netip.AddrPort(nil), s.seen...)
}

func (s *Server) serve() {
	buf := make([]byte, 1500)
	for {
		n, src, err := s.conn.ReadFromUDPAddrPort(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		req := new(stun.Message)
		if err := req.UnmarshalBinary(buf[:n]); err != nil || req.Type != stun.BindingRequest {
			continue
		}
		m := s.Map(src)
		res, err := stun.Build(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
			&stun.XORMappedAddress{IP: m.Addr().AsSlice(), Port: int(m.Port())}, stun.Fingerprint)
		if err != nil {
			continue
		}
		s.mu.Lock()
		s.seen = append(s.seen, src)
		s.mu.Unlock()
		s.conn.WriteToUDPAddrPort(res.Raw, src)
	}
}
