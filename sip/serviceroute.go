package sip

import (
	"fmt"
	"slices"
	"strings"

	siplib "github.com/emiago/sipgo/sip"
)

// Service-Route (RFC 3608): the registrar's 2xx may name the proxies the
// line's requests outside a dialog (INVITE, SUBSCRIBE...) must traverse
// (an IMS S-CSCF, an SBC's service node). Each 2xx replaces the set; a 2xx
// without the header clears it. Our requests carry it as their preloaded
// Route set, after the outbound proxy's route; the first hop stays the
// outbound proxy or registrar the line registered through.

// maxServiceRoutes bounds the set kept from one response.
const maxServiceRoutes = 16

// ServiceRoute is the route set from the last 2xx to REGISTER, nil without
// one. The caller may keep it.
func (r *Registration) ServiceRoute() []siplib.Uri {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.serviceRoute)
}

// learnServiceRoute keeps a REGISTER 2xx's Service-Route.
func (r *Registration) learnServiceRoute(res *siplib.Response) {
	routes, err := parseServiceRoute(res.GetHeaders("Service-Route"))
	if err != nil {
		r.log.Warn("sip: Service-Route ignored", "err", err)
		routes = nil
	}
	if len(routes) > 0 {
		r.log.Info("sip: Service-Route", "routes", len(routes), "first", routes[0].String())
	}
	r.mu.Lock()
	r.serviceRoute = routes
	r.mu.Unlock()
}

// serviceRoute is the line's preloaded route set (LineOptions.ServiceRoute).
func (l *Line) serviceRoute() []siplib.Uri {
	if l.opt.ServiceRoute == nil {
		return nil
	}
	return l.opt.ServiceRoute()
}

// parseServiceRoute reads Service-Route header values: name-addrs
// ("<sip:p1.example.com;lr>"), comma separated, in order.
func parseServiceRoute(hs []siplib.Header) ([]siplib.Uri, error) {
	var out []siplib.Uri
	for _, h := range hs {
		for _, v := range splitAddrList(h.Value()) {
			v = strings.TrimSpace(v)
			if v == "" {
				continue
			}
			if !strings.HasPrefix(v, "<") && !strings.Contains(v, "<") {
				return nil, fmt.Errorf("Service-Route %q: not a name-addr", v)
			}
			var u siplib.Uri
			var params siplib.HeaderParams
			if _, err := siplib.ParseAddressValue(v, &u, &params); err != nil {
				return nil, fmt.Errorf("Service-Route %q: %w", v, err)
			}
			if s := strings.ToLower(u.Scheme); (s != "sip" && s != "sips") || u.Host == "" {
				return nil, fmt.Errorf("Service-Route %q: not a SIP URI", v)
			}
			if len(out) == maxServiceRoutes {
				return nil, fmt.Errorf("Service-Route: more than %d entries", maxServiceRoutes)
			}
			u.Headers = nil
			out = append(out, u)
		}
	}
	return out, nil
}

// splitAddrList splits a header value at the commas outside <> and quotes.
func splitAddrList(v string) []string {
	var out []string
	start, inAngle, inQuote := 0, false, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case inQuote:
		case c == '<':
			inAngle = true
		case c == '>':
			inAngle = false
		case c == ',' && !inAngle:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}
