package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Transports a [[line]] may use.
var Transports = []string{"udp", "tcp", "tls"}

// SRTPModes a [[line]] may ask for.
var SRTPModes = []string{"off", "optional", "mandatory"}

// SplitTransportParam splits "host[:port][;transport=x]" (a registrar or
// outbound proxy as a provider writes it) into the address and the
// transport it names ("" when none).
func SplitTransportParam(v string) (hostport, transport string, err error) {
	hostport, params, found := strings.Cut(v, ";")
	if !found {
		return v, "", nil
	}
	for _, p := range strings.Split(params, ";") {
		name, val, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(name), "transport") {
			return "", "", fmt.Errorf("%q: unknown parameter %q (only ;transport= is understood)", v, p)
		}
		transport = strings.ToLower(strings.TrimSpace(val))
		if !oneOf(transport, Transports) {
			return "", "", fmt.Errorf("%q: unknown transport %q (known: %s)", v, val, strings.Join(Transports, ", "))
		}
	}
	return hostport, transport, nil
}

// TransportName is the transport the line uses: its transport key, else a
// ;transport= on its outbound proxy or registrar, else udp.
func (l *Line) TransportName() string {
	if l.Transport != "" {
		return l.Transport
	}
	for _, v := range []string{l.OutboundProxy, l.Registrar} {
		if _, t, err := SplitTransportParam(v); err == nil && t != "" {
			return t
		}
	}
	return "udp"
}

// TLSVerifyOn reports whether the provider's certificate is checked (the
// default).
func (l *Line) TLSVerifyOn() bool { return l.TLSVerify == nil || *l.TLSVerify }

// SRTPMode is the line's SRTP policy: its srtp key, else optional on a TLS
// line and off otherwise.
func (l *Line) SRTPMode() string {
	if l.SRTP != "" {
		return l.SRTP
	}
	if l.TransportName() == "tls" {
		return "optional"
	}
	return "off"
}

func checkLineSecurity(key string, l *Line) error {
	if l.Transport != "" && !oneOf(l.Transport, Transports) {
		return keyErr(key+".transport", "unknown transport %q (known: %s)", l.Transport, strings.Join(Transports, ", "))
	}
	if l.SRTP != "" && !oneOf(l.SRTP, SRTPModes) {
		return keyErr(key+".srtp", "unknown mode %q (known: %s)", l.SRTP, strings.Join(SRTPModes, ", "))
	}
	return nil
}

// checkHostPortParam is checkHostPort for a registrar or outbound proxy,
// which may carry ;transport=.
func checkHostPortParam(v string) error {
	hp, _, err := SplitTransportParam(v)
	if err != nil {
		return err
	}
	return checkHostPort(hp)
}

func oneOf(v string, set []string) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}

// checkOptionalHostPort checks a host[:port] that may be empty, for keys
// such as sip.stun_server.
func checkOptionalHostPort(key, v string) error {
	if v == "" {
		return nil
	}
	if err := checkHostPort(v); err != nil {
		return &KeyError{Key: key, Msg: err.Error()}
	}
	if _, p, err := net.SplitHostPort(v); err == nil {
		if _, err := strconv.Atoi(p); err != nil {
			return keyErr(key, "%q: port %q is not a number", v, p)
		}
	}
	return nil
}
