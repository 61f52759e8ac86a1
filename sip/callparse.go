package sip

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	siplib "github.com/emiago/sipgo/sip"
)

// Parsers of the call features' bodies and headers (network input: each
// has a fuzz target).

// defaultInfoDuration is the length of a SIP INFO key that says none.
const defaultInfoDuration = 250 * time.Millisecond

// maxInfoDuration bounds a key's length read from the network.
const maxInfoDuration = 60 * time.Second

var errNoDTMF = errors.New("no DTMF key")

// parseDTMFInfo reads a SIP INFO key press: application/dtmf-relay
// ("Signal=5\r\nDuration=160") or application/dtmf (the key alone).
// contentType is the media type without parameters, lower case.
func parseDTMFInfo(contentType string, body []byte) (key byte, d time.Duration, err error) {
	d = defaultInfoDuration
	switch contentType {
	case "application/dtmf":
		v := strings.TrimSpace(string(body))
		if len(v) != 1 {
			return 0, 0, fmt.Errorf("%w: %q", errNoDTMF, v)
		}
		if key, err = dtmfKey(v); err != nil {
			return 0, 0, err
		}
		return key, d, nil
	case "application/dtmf-relay":
	default:
		return 0, 0, fmt.Errorf("content type %q", contentType)
	}
	var haveKey bool
	for line := range strings.Lines(string(body)) {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "signal":
			if key, err = dtmfKey(v); err != nil {
				return 0, 0, err
			}
			haveKey = true
		case "duration":
			ms, err := strconv.Atoi(v)
			if err == nil && ms > 0 {
				d = min(time.Duration(ms)*time.Millisecond, maxInfoDuration)
			}
		}
	}
	if !haveKey {
		return 0, 0, errNoDTMF
	}
	return key, d, nil
}

// dtmfKey is the key a Signal value names: 0-9 * # A-D, or the event
// codes 10 (*), 11 (#) and 12-15 (A-D) some gateways send.
func dtmfKey(v string) (byte, error) {
	switch {
	case len(v) == 1:
		c := v[0]
		switch {
		case c >= '0' && c <= '9', c == '*', c == '#', c >= 'A' && c <= 'D':
			return c, nil
		case c >= 'a' && c <= 'd':
			return c - 'a' + 'A', nil
		}
	case len(v) == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5':
		return "*#ABCD"[v[1]-'0'], nil
	}
	return 0, fmt.Errorf("%w: signal %q", errNoDTMF, v)
}

// dialogRef names a dialog for Replaces (RFC 3891): to-tag is the local
// tag of the UA receiving the INVITE with Replaces, from-tag its remote tag.
type dialogRef struct {
	CallID, ToTag, FromTag string
	EarlyOnly              bool
}

// parseReplaces reads a Replaces header value:
// "callid;to-tag=a;from-tag=b[;early-only]".
func parseReplaces(v string) (dialogRef, error) {
	parts := strings.Split(v, ";")
	r := dialogRef{CallID: strings.TrimSpace(parts[0])}
	if r.CallID == "" || strings.ContainsAny(r.CallID, " \t\r\n") {
		return dialogRef{}, fmt.Errorf("replaces %q: bad call-id", v)
	}
	var to, from bool
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		val = strings.TrimSpace(val)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "to-tag":
			r.ToTag, to = val, true
		case "from-tag":
			r.FromTag, from = val, true
		case "early-only":
			r.EarlyOnly = true
		}
	}
	if !to || !from || r.ToTag == "" || r.FromTag == "" {
		return dialogRef{}, fmt.Errorf("replaces %q: to-tag and from-tag required", v)
	}
	return r, nil
}

func (r dialogRef) String() string {
	s := r.CallID + ";to-tag=" + r.ToTag + ";from-tag=" + r.FromTag
	if r.EarlyOnly {
		s += ";early-only"
	}
	return s
}

// uriHeaderEscape escapes a URI header value (RFC 3261 §25.1 hvalue):
// everything but unreserved characters is %-encoded.
func uriHeaderEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// referTo is a parsed Refer-To header (RFC 3515): the target URI without
// its header part, and the Replaces value it carried, if any.
type referTo struct {
	URI      siplib.Uri
	Replaces string
}

// parseReferTo reads "<sip:bob@host?Replaces=...>" (or a bare URI).
func parseReferTo(v string) (referTo, error) {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			return referTo{}, fmt.Errorf("refer-to %q: no closing >", v)
		}
		v = v[i+1 : i+j]
	} else if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i] // a bare URI's ;params belong to the header
	}
	raw, headers, _ := strings.Cut(v, "?")
	if !strings.HasPrefix(strings.ToLower(raw), "sip:") && !strings.HasPrefix(strings.ToLower(raw), "sips:") {
		return referTo{}, fmt.Errorf("refer-to %q: not a SIP URI", v)
	}
	var r referTo
	if err := siplib.ParseUri(raw, &r.URI); err != nil {
		return referTo{}, fmt.Errorf("refer-to %q: %w", v, err)
	}
	if r.URI.Host == "" {
		return referTo{}, fmt.Errorf("refer-to %q: no host", v)
	}
	r.URI.Headers = nil
	for h := range strings.SplitSeq(headers, "&") {
		k, val, _ := strings.Cut(h, "=")
		if !strings.EqualFold(k, "Replaces") {
			continue
		}
		u, err := url.PathUnescape(val)
		if err != nil {
			return referTo{}, fmt.Errorf("refer-to %q: replaces: %w", v, err)
		}
		if _, err := parseReplaces(u); err != nil {
			return referTo{}, fmt.Errorf("refer-to: %w", err)
		}
		r.Replaces = u
	}
	return r, nil
}

// parseSipfrag reads the status line of a message/sipfrag NOTIFY body
// (RFC 3420, RFC 3515 §2.4.5): "SIP/2.0 200 OK".
func parseSipfrag(body []byte) (code int, reason string, err error) {
	line, _, _ := strings.Cut(string(body), "\n")
	line = strings.TrimSpace(line)
	rest, ok := strings.CutPrefix(line, "SIP/2.0 ")
	if !ok {
		return 0, "", fmt.Errorf("sipfrag %q: no status line", line)
	}
	num, reason, _ := strings.Cut(rest, " ")
	code, err = strconv.Atoi(num)
	if err != nil || len(num) != 3 || code < 100 || code > 699 {
		return 0, "", fmt.Errorf("sipfrag %q: bad status", line)
	}
	return code, strings.TrimSpace(reason), nil
}

// hasOptionTag reports whether the Supported (or Require) headers of msg
// list tag.
func hasOptionTag(msg interface {
	GetHeaders(string) []siplib.Header
}, tag string, names ...string) bool {
	for _, name := range names {
		for _, h := range msg.GetHeaders(name) {
			for t := range strings.SplitSeq(h.Value(), ",") {
				if strings.EqualFold(strings.TrimSpace(t), tag) {
					return true
				}
			}
		}
	}
	return false
}

// mediaType is a Content-Type without parameters, lower case.
func mediaType(h siplib.Header) string {
	if h == nil {
		return ""
	}
	t, _, _ := strings.Cut(h.Value(), ";")
	return strings.ToLower(strings.TrimSpace(t))
}
