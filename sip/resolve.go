package sip

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// Resolver is the DNS the stack needs; *net.Resolver is one, tests fake it.
type Resolver interface {
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// ResolveUDP lists the UDP addresses to try, in order, for a SIP server
// given as host[:port] (RFC 3263 §4): an IP literal or an explicit port
// skips SRV; otherwise _sip._udp SRV targets in priority/weight order,
// falling back to the host's A/AAAA records on port 5060.
func ResolveUDP(ctx context.Context, r Resolver, hostport string) ([]netip.AddrPort, error) {
	return resolveSRV(ctx, r, hostport, "sip", "udp", 5060)
}

// resolveSRV is ResolveUDP for any SRV service and protocol, with the
// transport's default port.
func resolveSRV(ctx context.Context, r Resolver, hostport, service, proto string, defPort uint16) ([]netip.AddrPort, error) {
	orDefault := func(p uint16) uint16 {
		if p == 0 {
			return defPort
		}
		return p
	}
	host, port, err := splitHostPort(hostport)
	if err != nil {
		return nil, err
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(ip.Unmap(), orDefault(port))}, nil
	}
	var out []netip.AddrPort
	if port == 0 {
		if _, srvs, err := r.LookupSRV(ctx, service, proto, host); err == nil {
			for _, srv := range srvs {
				if srv.Target == "." { // RFC 2782: service decidedly not available
					continue
				}
				ips, err := r.LookupHost(ctx, srv.Target)
				if err != nil {
					continue // the next target may resolve
				}
				out = appendAddrs(out, ips, srv.Port)
			}
			if len(out) > 0 {
				return out, nil
			}
		}
	}
	ips, err := r.LookupHost(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", hostport, err)
	}
	out = appendAddrs(out, ips, orDefault(port))
	if len(out) == 0 {
		return nil, fmt.Errorf("resolve %s: no usable address", hostport)
	}
	return out, nil
}

func appendAddrs(out []netip.AddrPort, ips []string, port uint16) []netip.AddrPort {
	for _, s := range ips {
		if ip, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.AddrPortFrom(ip.Unmap(), port))
		}
	}
	return out
}

func orDefault(port uint16) uint16 {
	if port == 0 {
		return 5060
	}
	return port
}

// splitHostPort accepts "host", "host:port", "[v6]" and "[v6]:port"; a
// missing port is 0.
func splitHostPort(hp string) (string, uint16, error) {
	if h, p, err := net.SplitHostPort(hp); err == nil {
		n, err := strconv.ParseUint(p, 10, 16)
		if h == "" {
			return "", 0, fmt.Errorf("sip: %q: empty host", hp)
		}
		if err != nil || n == 0 {
			return "", 0, fmt.Errorf("sip: %q: bad port", hp)
		}
		return h, uint16(n), nil
	}
	if len(hp) > 2 && hp[0] == '[' && hp[len(hp)-1] == ']' {
		return hp[1 : len(hp)-1], 0, nil
	}
	if hp == "" {
		return "", 0, fmt.Errorf("sip: empty host")
	}
	return hp, 0, nil
}
