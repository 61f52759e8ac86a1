package sip

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	siplib "github.com/emiago/sipgo/sip"
)

// maxExpiry bounds any expiry read from the network (a year), so a hostile
// value cannot overflow time arithmetic.
const maxExpiry = 365 * 24 * time.Hour

// grantedExpiry is the expiry the registrar granted our contact: the
// expires parameter of the Contact in the 200 OK that matches ours, else
// the Expires header (RFC 3261 §10.2.4). ok is false when neither exists.
func grantedExpiry(res *siplib.Response, ours siplib.Uri) (d time.Duration, ok bool) {
	for _, h := range res.GetHeaders("Contact") {
		c, isContact := h.(*siplib.ContactHeader)
		if !isContact || !sameContact(c.Address, ours) {
			continue
		}
		if v, has := c.Params.Get("expires"); has {
			if d, ok := parseSeconds(v); ok {
				return d, true
			}
		}
	}
	if h := res.GetHeader("Expires"); h != nil {
		return parseSeconds(h.Value())
	}
	return 0, false
}

// sameContact compares the parts a registrar keeps of our Contact URI.
func sameContact(a, b siplib.Uri) bool {
	return a.User == b.User && strings.EqualFold(a.Host, b.Host) && orDefault(uint16(a.Port)) == orDefault(uint16(b.Port))
}

// minExpires reads Min-Expires from a 423 response.
func minExpires(res *siplib.Response) (time.Duration, bool) {
	h := res.GetHeader("Min-Expires")
	if h == nil {
		return 0, false
	}
	return parseSeconds(h.Value())
}

// parseSeconds reads a delta-seconds value, clamped to maxExpiry.
func parseSeconds(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 10 {
		if len(s) > 10 && strings.Trim(s, "0123456789") == "" {
			return maxExpiry, true
		}
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false
	}
	return min(time.Duration(n)*time.Second, maxExpiry), true
}

// viaReceived is where the registrar saw our request come from: the top
// Via's received and rport parameters (RFC 3581). ok is false when the
// response carries neither, i.e. it tells us nothing about a NAT.
func viaReceived(res *siplib.Response) (netip.AddrPort, bool) {
	via := res.Via()
	if via == nil {
		return netip.AddrPort{}, false
	}
	recv, hasRecv := via.Params.Get("received")
	rport, hasRport := via.Params.Get("rport")
	if (!hasRecv || recv == "") && (!hasRport || rport == "") {
		return netip.AddrPort{}, false
	}
	host := via.Host
	if hasRecv && recv != "" {
		host = recv
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return netip.AddrPort{}, false
	}
	port := uint16(via.Port)
	if hasRport && rport != "" {
		n, err := strconv.ParseUint(rport, 10, 16)
		if err != nil || n == 0 {
			return netip.AddrPort{}, false
		}
		port = uint16(n)
	}
	if port == 0 {
		port = 5060
	}
	return netip.AddrPortFrom(ip.Unmap(), port), true
}
