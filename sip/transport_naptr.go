package sip

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// NAPTR is the part of a NAPTR record (RFC 3403) RFC 3263 §4.1 uses.
type NAPTR struct {
	Order, Preference uint16
	Service           string // "SIPS+D2T", "SIP+D2T", "SIP+D2U"
	Replacement       string // the SRV name to look up
}

// NAPTRResolver is a Resolver that also looks NAPTR records up (Go's
// resolver has no NAPTR lookup; the default one uses the system's
// servers through github.com/miekg/dns).
type NAPTRResolver interface {
	LookupNAPTR(ctx context.Context, name string) ([]NAPTR, error)
}

// naptrTransport is the transport domain's NAPTR records offer first
// among those we speak (lowest order, then preference), or "".
func naptrTransport(ctx context.Context, r Resolver, domain string) string {
	nr, ok := r.(NAPTRResolver)
	if !ok {
		if r != Resolver(net.DefaultResolver) {
			return "" // a resolver of its own (tests): SRV only
		}
		nr = systemNAPTR{conf: "/etc/resolv.conf"}
	}
	ctx, cancel := context.WithTimeout(ctx, naptrTimeout)
	defer cancel()
	recs, err := nr.LookupNAPTR(ctx, domain)
	if err != nil {
		return ""
	}
	slices.SortStableFunc(recs, func(a, b NAPTR) int {
		if a.Order != b.Order {
			return int(a.Order) - int(b.Order)
		}
		return int(a.Preference) - int(b.Preference)
	})
	for _, n := range recs {
		switch strings.ToUpper(n.Service) {
		case "SIPS+D2T":
			return TransportTLS
		case "SIP+D2T":
			return TransportTCP
		case "SIP+D2U":
			return TransportUDP
		}
	}
	return ""
}

// naptrTimeout bounds the NAPTR lookup (home routers may drop the query).
const naptrTimeout = 2 * time.Second

// systemNAPTR asks the resolvers of a resolv.conf for NAPTR records.
type systemNAPTR struct{ conf string }

func (s systemNAPTR) LookupNAPTR(ctx context.Context, name string) ([]NAPTR, error) {
	cc, err := dns.ClientConfigFromFile(s.conf)
	if err != nil {
		return nil, fmt.Errorf("naptr %s: %w", name, err)
	}
	return lookupNAPTRAt(ctx, name, cc.Servers, cc.Port)
}

// lookupNAPTRAt asks servers (on port) in turn for name's NAPTR records.
func lookupNAPTRAt(ctx context.Context, name string, servers []string, port string) ([]NAPTR, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeNAPTR)
	m.RecursionDesired = true
	var c dns.Client
	err := fmt.Errorf("naptr %s: no server", name)
	for _, srv := range servers {
		var in *dns.Msg
		in, _, err = c.ExchangeContext(ctx, m, net.JoinHostPort(srv, port))
		if err != nil {
			continue
		}
		if in.Rcode != dns.RcodeSuccess {
			return nil, fmt.Errorf("naptr %s: %s", name, dns.RcodeToString[in.Rcode])
		}
		var out []NAPTR
		for _, rr := range in.Answer {
			if n, ok := rr.(*dns.NAPTR); ok && strings.EqualFold(n.Flags, "s") {
				out = append(out, NAPTR{Order: n.Order, Preference: n.Preference, Service: n.Service, Replacement: n.Replacement})
			}
		}
		return out, nil
	}
	return nil, err
}
