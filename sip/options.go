package sip

import (
	"net/netip"
	"time"

	"github.com/openata/ata/media/rtpsession"
	"github.com/openata/ata/media/sdp"
)

// StackConfig is how the SIP stack is set up (the [sip] settings).
type StackConfig struct {
	// Listen is the local SIP address (UDP), host:port.
	Listen string
	// KeepAlive is the NAT keep-alive interval towards the proxy; 0 turns
	// it off.
	KeepAlive time.Duration
	// KeepAliveMethod is "crlf" (a double CRLF, the default) or "options".
	// A CRLF is expected to be answered by a CRLF pong (RFC 5626 §4.4.1);
	// a provider that never answers one is probed with OPTIONS instead.
	KeepAliveMethod string
	// KeepAliveMisses is how many keep-alives in a row may go unanswered
	// before the flow counts as failed and the line re-registers as soon
	// as the provider answers again (default 2).
	KeepAliveMisses int
	// RTPTimeout ends a call whose far end sent no RTP for this long
	// (BYE, cause NoResponse), except while either side holds; 0 turns it
	// off.
	RTPTimeout time.Duration
	// AcceptProxyOnly drops requests that do not come from a line's
	// registrar or outbound proxy addresses.
	AcceptProxyOnly bool
	// UserAgent is the User-Agent header ("" leaves it out).
	UserAgent string
	// RTPLatching says when calls' RTP goes to the source of the far
	// end's packets rather than its SDP address (rtpsession.Latching;
	// the zero value is auto).
	RTPLatching rtpsession.Latching
	// STUNServer is host[:port] (default port 3478) of a STUN server: the
	// stack learns its public address from it and, behind a NAT, UDP
	// lines put it into Contact and calls into their SDP (stun.go).
	STUNServer string
	// TLSCAFile is a PEM file of CA certificates trusted for TLS lines
	// besides the system roots ([sip] tls_ca_file; "" only the system's).
	TLSCAFile string
	// MaxPendingInvites caps the incoming INVITEs not yet answered (calls
	// being set up or ringing: early dialogs) at once; beyond it new ones
	// are answered 486 Busy Here with Retry-After, keeping nothing
	// (admission.go). 0 means DefaultMaxPendingInvites.
	MaxPendingInvites int
	// RTPPortMin and RTPPortMax bound the ports of calls' media, both
	// included: an even RTP port and the RTCP port above it per call
	// (default 10000..20000). LineOptions may override them.
	RTPPortMin, RTPPortMax int
	// OnMediaPorts is told the local RTP and RTCP ports of every call with
	// media sockets, each time the set changes (sorted; the packet capture
	// keeps those). It runs on a SIP goroutine and must not block.
	OnMediaPorts func(ports []uint16)
}

// Account is one SIP account, as the provider gives it.
type Account struct {
	// Inactive turns the line off: it neither registers nor calls.
	Inactive bool
	// Number is the user part of the address of record.
	Number      string
	DisplayName string
	// ServiceDomain is the domain (host[:port]) of the address of record.
	ServiceDomain string
	// AuthUser is the digest user name; empty: Number.
	AuthUser string
	Password string
	// Registrar is host[:port] of the REGISTER server; empty: ServiceDomain.
	Registrar string
	// OutboundProxy is host[:port] every request goes through; empty: none.
	OutboundProxy string
	// Transport is "udp" (default), "tcp" or "tls": TCP and TLS keep one
	// connection open to the proxy (the flow) and receive calls on it.
	// "auto" takes TLS where the domain alone is given and its DNS has
	// _sips._tcp SRV records, else UDP.
	Transport string
	// TLSNoVerify skips the check of the provider's certificate and host
	// name (tls_verify = false): the status page warns about it.
	TLSNoVerify bool
	// RegisterExpires is the expiry asked for (default 1 h).
	RegisterExpires time.Duration
	// Codecs is the codec preference order ("PCMU", "PCMA"); empty: both.
	Codecs []string
	// DTMFMode is how keys reach the far end: "rfc4733" (default),
	// "inband" or "info".
	DTMFMode string
	// Ptime is the packet time in ms: 20 (default) or 10.
	Ptime int
	// VAD turns on silence suppression: our SDP lists comfort noise
	// (CN/8000) and, when the far end takes it, our silences go out as
	// one RFC 3389 CN packet instead of speech packets.
	VAD bool
	// SRTP is the line's use of SRTP with SDES keys (srtp.go): off,
	// optional or mandatory.
	SRTP sdp.SRTPPolicy
	// TrunkFrom, when set, makes the account an IP trunk: INVITEs from
	// these networks ring it whatever their Request-URI, nothing
	// registers, and its calls go to ServiceDomain presenting the
	// caller's number (DialOptions.Caller) when one is given.
	TrunkFrom []netip.Prefix
}

// IsTrunk reports whether the account is an IP trunk (no registration).
func (a *Account) IsTrunk() bool { return len(a.TrunkFrom) > 0 }

// AuthName is the digest user name.
func (a *Account) AuthName() string {
	if a.AuthUser != "" {
		return a.AuthUser
	}
	return a.Number
}

// RegistrarAddr is where REGISTER goes (host[:port]).
func (a *Account) RegistrarAddr() string {
	if a.Registrar != "" {
		return a.Registrar
	}
	return a.ServiceDomain
}
