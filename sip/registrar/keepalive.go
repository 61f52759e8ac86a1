package registrar

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// pingConcurrency bounds the OPTIONS transactions in flight at once, so
// that a tick over many bindings is spread rather than a burst.
const pingConcurrency = 16

// keepAliveLoop pings every UDP binding's source each KeepAlive: the
// pings keep the phone's NAT mapping open so that calls reach it, and
// find phones that went away without unregistering. TCP bindings are
// kept by their connection.
func (r *Registrar) keepAliveLoop() {
	defer r.wg.Done()
	t := time.NewTicker(r.opts.KeepAlive)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.pingAll()
		}
	}
}

// pingTarget is one binding to ping, by pointer: a refresh replaces the
// binding, so a late answer to an old one changes nothing.
type pingTarget struct {
	user string
	b    *Binding
}

func (r *Registrar) pingAll() {
	now := r.clock.Now()
	var targets []pingTarget
	r.mu.Lock()
	for user, list := range r.bindings {
		for _, b := range list {
			if b.Transport == "UDP" && b.Expires.After(now) {
				targets = append(targets, pingTarget{user, b})
			}
		}
	}
	r.mu.Unlock()
	sem := make(chan struct{}, pingConcurrency)
	var wg sync.WaitGroup
	for _, t := range targets {
		select {
		case sem <- struct{}{}:
		case <-r.stop:
			wg.Wait()
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r.pinged(t, r.ping(t.b))
		}()
	}
	wg.Wait()
}

// pinged records a ping's outcome and drops a binding that missed
// KeepAliveMisses in a row.
func (r *Registrar) pinged(t pingTarget, answered bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.bindings[t.user]
	i := slices.Index(list, t.b)
	if i < 0 {
		return // refreshed, removed or expired meanwhile
	}
	if answered {
		t.b.misses = 0
		return
	}
	t.b.misses++
	if t.b.misses < r.opts.KeepAliveMisses {
		return
	}
	r.log.Info("registrar: binding dropped: keep-alives unanswered", "user", t.user,
		"contact", t.b.Contact, "source", t.b.Source.String(), "misses", t.b.misses)
	list = slices.Delete(slices.Clone(list), i, i+1)
	if len(list) == 0 {
		delete(r.bindings, t.user)
	} else {
		r.bindings[t.user] = list
	}
	r.keepAliveDrops.Add(1)
}

// ping sends one OPTIONS to b's source from the registrar's socket and
// reports whether any answer came within KeepAliveTimeout: any status
// shows the flow is open (many phones answer OPTIONS with 405 or 404).
func (r *Registrar) ping(b *Binding) bool {
	req, err := r.optionsRequest(b)
	if err != nil {
		r.log.Debug("registrar: keep-alive", "contact", b.Contact, "err", err)
		return false
	}
	ctx, cancel := r.stopContext(r.opts.KeepAliveTimeout)
	defer cancel()
	tx, err := r.ua.TransactionLayer().Request(ctx, req)
	if err != nil {
		r.log.Debug("registrar: keep-alive", "source", b.Source.String(), "err", err)
		return false
	}
	defer tx.Terminate()
	select {
	case <-tx.Responses():
		return true
	case <-tx.Done():
		return false
	case <-ctx.Done():
		return false
	}
}

// optionsRequest builds the keep-alive OPTIONS to b: Request-URI the
// Contact, sent to the source address over UDP from our socket, with a
// Via naming the address the phone can answer to.
func (r *Registrar) optionsRequest(b *Binding) (*sip.Request, error) {
	local, err := r.LocalAddrFor(b.Source)
	if err != nil {
		return nil, err
	}
	host := local.Addr().String()
	if local.Addr().Is6() {
		host = "[" + host + "]"
	}
	hp := fmt.Sprintf("%s:%d", host, local.Port())
	text := fmt.Sprintf("OPTIONS %s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=%s;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:registrar@%s>;tag=%s\r\n"+
		"To: <%s>\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: 1 OPTIONS\r\n"+
		"Content-Length: 0\r\n\r\n",
		b.Contact, hp, sip.GenerateBranch(), hp, sip.GenerateTagN(10), b.Contact, sip.GenerateTagN(20))
	msg, err := sip.ParseMessage([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("keep-alive OPTIONS to %s: %w", b.Contact, err)
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		return nil, fmt.Errorf("keep-alive OPTIONS to %s: not a request", b.Contact)
	}
	req.SetTransport("UDP")
	req.SetDestination(b.Source.String())
	la := r.udp.LocalAddr().(*net.UDPAddr)
	req.Laddr = sip.Addr{IP: la.IP, Port: la.Port}
	return req, nil
}

// LocalAddrFor is the registrar's address as dst sees it, for the Via
// and Contact of requests to a binding's Source: the bound address, or
// when bound to a wildcard ("0.0.0.0:5062") the one the kernel routes
// dst from.
func (r *Registrar) LocalAddrFor(dst netip.AddrPort) (netip.AddrPort, error) {
	if !r.local.Addr().IsUnspecified() {
		return r.local, nil
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("local address toward %s: %w", dst, err)
	}
	defer c.Close()
	ap := c.LocalAddr().(*net.UDPAddr).AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), r.local.Port()), nil
}
