package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo"
	siplib "github.com/emiago/sipgo/sip"
)

// UserContact is one registered phone of a local user (router mode's
// users' line): where a call to the user goes.
type UserContact struct {
	// Contact is the registered contact: the INVITE's Request-URI.
	Contact siplib.Uri
	// Dest is where the phone's REGISTER came from (after its NAT): the
	// address every request to it is sent to.
	Dest netip.AddrPort
	// Transport is what it registered over: TransportUDP, or TransportTCP
	// for a phone whose connection (RFC 5626 flow) carries its calls.
	Transport string
}

// errUserFlowClosed is a TCP phone whose connection is gone: it went
// away, and nothing can reach it (the registrar never dials phones).
var errUserFlowClosed = errors.New("the TCP connection the phone registered over is closed")

// locateUser picks the contact a call to user goes to: the first of
// Locate's (most preferred first) that can be reached now. A TCP phone
// can be reached only over the connection it registered on; with that
// closed, the next contact is tried.
func (l *Line) locateUser(user string) (UserContact, error) {
	closed := false
	for _, uc := range l.opt.Locate(user) {
		switch uc.Transport {
		case TransportUDP, "":
			return uc, nil
		case TransportTCP:
			if _, ok := l.st.userFlowLocal(uc.Dest); ok {
				return uc, nil
			}
			closed = true
			l.log.Info("sip: user's phone unreachable: its TCP connection is closed", "user", user, "phone", uc.Dest)
		default:
			l.log.Info("sip: user's phone skipped: transport not served", "user", user, "transport", uc.Transport)
		}
	}
	if closed {
		return UserContact{}, fmt.Errorf("%w: %w", ErrNotRegistered, errUserFlowClosed)
	}
	return UserContact{}, ErrNotRegistered
}

// userFlowLocal is our end of the live TCP connection a phone opened from
// phone, or false when there is none. sipgo's TCP pool keeps each
// accepted connection under its remote address.
func (s *Stack) userFlowLocal(phone netip.AddrPort) (netip.AddrPort, bool) {
	pool := s.ua.TransportLayer().Pool(TransportTCP)
	if pool == nil {
		return netip.AddrPort{}, false
	}
	conn := pool.Get(phone.String())
	if conn == nil {
		return netip.AddrPort{}, false
	}
	defer conn.TryClose() // Get took a reference
	ta, ok := conn.LocalAddr().(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}, false
	}
	la := ta.AddrPort()
	return netip.AddrPortFrom(la.Addr().Unmap(), la.Port()), true
}

// onUserFlow sends req over the phone's TCP connection: transport TCP,
// destination the connection's remote address, Via our end of it, and no
// local address forced (the pool finds the connection by destination; the
// listener's address would name whichever connection it took last).
func (s *Stack) onUserFlow(req *siplib.Request, phone netip.AddrPort) error {
	local, ok := s.userFlowLocal(phone)
	if !ok {
		return fmt.Errorf("%s to %s: %w", req.Method, phone, errUserFlowClosed)
	}
	req.SetTransport("TCP")
	req.SetDestination(phone.String())
	req.Laddr = siplib.Addr{}
	if via := req.Via(); via != nil {
		via.Transport, via.Host, via.Port = "TCP", hostString(local.Addr()), int(local.Port())
	}
	return nil
}

// userFlowContact makes contact reach us over the phone's connection: our
// end of it, ;transport=tcp (the phone's in-dialog requests then come on
// the connection it holds to us).
func (s *Stack) userFlowContact(contact *siplib.ContactHeader, phone netip.AddrPort) error {
	local, ok := s.userFlowLocal(phone)
	if !ok {
		return errUserFlowClosed
	}
	contact.Address.Host, contact.Address.Port = hostString(local.Addr()), int(local.Port())
	decorateContact(&contact.Address, TransportTCP)
	return nil
}

// userFlowUA is the dialog user agent of a call with a phone over its TCP
// connection: every request of ours in the dialog (ACK, BYE, re-INVITE,
// UPDATE, INFO, CANCEL, REFER, NOTIFY) goes over that connection, not to
// the phone's Contact address (behind a NAT, or an ephemeral port, it
// cannot be reached there). contact becomes our end of the connection.
func (l *Line) userFlowUA(contact *siplib.ContactHeader, phone netip.AddrPort) (*sipgo.DialogUA, error) {
	if err := l.st.userFlowContact(contact, phone); err != nil {
		return nil, fmt.Errorf("phone %s: %w", phone, err)
	}
	cl, err := sipgo.NewClient(l.st.ua, sipgo.WithClientNAT(), sipgo.WithClientLogger(l.st.log))
	if err != nil {
		return nil, fmt.Errorf("sip: client for %s: %w", phone, err)
	}
	cl.TxRequester = userFlowTx{s: l.st, phone: phone}
	return &sipgo.DialogUA{Client: cl, ContactHDR: *contact}, nil
}

// userFlowDial prepares an outgoing INVITE to a phone registered over TCP
// (its Contact header is c's) and returns the call's dialog user agent.
func (l *Line) userFlowDial(req *siplib.Request, c *Call, phone netip.AddrPort) (*sipgo.DialogUA, error) {
	if err := l.st.onUserFlow(req, phone); err != nil {
		return nil, err
	}
	ct := req.Contact()
	if ct == nil {
		return nil, errors.New("INVITE without Contact")
	}
	dua, err := l.userFlowUA(ct, phone)
	if err != nil {
		return nil, err
	}
	c.contact = *ct.Clone()
	l.log.Info("sip: calling over the phone's TCP connection", "phone", phone, "contact", ct.Address.String())
	return dua, nil
}

// incomingOnUserFlow reports whether req is a local user's INVITE that came
// over TCP: the call's requests then go back over that connection.
func (l *Line) incomingOnUserFlow(req *siplib.Request) bool {
	return l.opt.Admit != nil && strings.EqualFold(req.Transport(), "TCP")
}

// userFlowTx sends each request over the phone's TCP connection, as built
// by the dialog; a closed connection fails the request at once.
type userFlowTx struct {
	s     *Stack
	phone netip.AddrPort
}

func (u userFlowTx) Request(ctx context.Context, req *siplib.Request) (siplib.ClientTransaction, error) {
	if err := u.s.onUserFlow(req, u.phone); err != nil {
		return nil, err
	}
	if req.IsAck() {
		return nil, u.s.client.WriteRequest(req, keepAsBuilt)
	}
	return u.s.client.TransactionRequest(ctx, req, keepAsBuilt)
}
