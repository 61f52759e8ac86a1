// Package sipconfig maps the firmware's TOML configuration onto the sip
// package's own options, so that sip does not depend on config.
package sipconfig

import (
	"slices"

	"github.com/openata/ata/config"
	"github.com/openata/ata/media/rtpsession"
	"github.com/openata/ata/media/sdp"
	"github.com/openata/ata/sip"
)

// StackConfig is the stack setup of the [sip] section.
func StackConfig(c config.SIP) sip.StackConfig {
	s := sip.StackConfig{
		Listen:          c.Listen,
		KeepAlive:       c.KeepAlive.D(),
		KeepAliveMethod: c.KeepAliveMethod,
		KeepAliveMisses: c.KeepAliveMisses,
		RTPTimeout:      c.RTPTimeout.D(),
		AcceptProxyOnly: c.AcceptProxyOnly,
		UserAgent:       c.UserAgent,
		TLSCAFile:       c.TLSCAFile,
		STUNServer:      c.STUNServer,
	}
	// config.Parse refuses any other word; one that gets here anyway is auto.
	s.RTPLatching, _ = rtpsession.ParseLatching(c.RTPLatching)
	// A range the config rejects never gets here (config.Parse checks it);
	// 0..0 leaves the stack's default.
	if lo, hi, err := c.RTPPortRange(); err == nil {
		s.RTPPortMin, s.RTPPortMax = lo, hi
	}
	return s
}

// AccountFromConfig is the account of a [[line]].
func AccountFromConfig(l config.Line) sip.Account {
	registrar, _, _ := config.SplitTransportParam(l.Registrar)
	proxy, _, _ := config.SplitTransportParam(l.OutboundProxy)
	return sip.Account{
		Transport:       transport(l),
		TLSNoVerify:     !l.TLSVerifyOn(),
		Inactive:        !l.IsActive(),
		Number:          l.Number,
		DisplayName:     l.DisplayName,
		ServiceDomain:   l.ServiceDomain,
		AuthUser:        l.AuthUser,
		Password:        l.Password,
		Registrar:       registrar,
		OutboundProxy:   proxy,
		RegisterExpires: l.RegisterExpires.D(),
		Codecs:          slices.Clone(l.Codecs),
		DTMFMode:        l.DTMFMode,
		Ptime:           l.Ptime,
		VAD:             l.VAD,
		SRTP:            srtpPolicy(l),
	}
}

// TrunkAccount is the account of a [[trunk]]: calls go to its dial
// address, and come from its addresses (checked by config: a bad one
// never gets here and is skipped if it does).
func TrunkAccount(t config.Trunk) sip.Account {
	a := sip.Account{Number: t.Name, ServiceDomain: t.Dial, Codecs: []string{"PCMU", "PCMA"}, DTMFMode: "rfc4733", Ptime: 20}
	for _, s := range t.Addresses {
		if p, err := config.ParseNetwork(s); err == nil {
			a.TrunkFrom = append(a.TrunkFrom, p)
		}
	}
	return a
}

// transport is the line's transport: its transport key or a ;transport=
// on its proxy or registrar; with neither, "auto" where the line names only
// a domain (its DNS may publish _sips._tcp: RFC 3263), else udp.
func transport(l config.Line) string {
	t := l.TransportName()
	if l.Transport != "" || t != "udp" {
		return t
	}
	for _, v := range []string{l.OutboundProxy, l.Registrar} {
		if _, named, err := config.SplitTransportParam(v); err == nil && named != "" {
			return t
		}
	}
	return "auto"
}

// srtpPolicy is the line's SRTP mode (config checks the word: one that gets
// here anyway is off).
func srtpPolicy(l config.Line) sdp.SRTPPolicy {
	p, _ := sdp.ParseSRTPPolicy(l.SRTPMode())
	return p
}
