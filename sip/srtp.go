package sip

import (
	siplib "github.com/emiago/sipgo/sip"

	"github.com/openata/ata/media/rtpsession"
	"github.com/openata/ata/media/sdp"
)

// SRTP with SDES keys (RFC 4568) on a line's calls: the line's policy
// (Account.SRTP) and fresh keys for every call go into our SDP
// (withSRTP); the negotiated keys go to the call's RTP session
// (srtpKeys). media/sdp decides what an offer or answer without a usable
// key means: refused (488, or BYE after an answer) when SRTP is
// mandatory, plain RTP when it is optional.

// withSRTP adds the line's SRTP policy and, unless it is off, a fresh set
// of keys (crypto/rand) to our SDP for a new call. Keys that cannot be
// made leave none: an offer then fails, and answers are plain RTP or
// refused as the policy says.
func (l *Line) withSRTP(loc sdp.Local) sdp.Local {
	loc.SRTP = l.acct.SRTP
	if loc.SRTP == sdp.SRTPOff {
		return loc
	}
	keys, err := sdp.NewCryptos()
	if err != nil {
		l.log.Error("sip: no SRTP keys for the call", "err", err)
		return loc
	}
	loc.Crypto = keys
	return loc
}

// srtpKeys are the RTP session's keys for a negotiated stream; zero for
// plain RTP.
func srtpKeys(m sdp.Media) rtpsession.SRTPKeys {
	if !m.SRTP.On() {
		return rtpsession.SRTPKeys{}
	}
	k := rtpsession.SRTPKeys{Profile: m.SRTP.Suite.Profile(), Local: m.SRTP.Local.Bytes(), Remote: m.SRTP.Remote.Bytes()}
	if m.SRTP.RemoteMKI != "" {
		k.RemoteMKI = []byte(m.SRTP.RemoteMKI)
	}
	return k
}

// srtpUpgrade answers a refusal (488, 606) of our first offer on an
// optional line: the offer was RTP/AVP with keys, which peers without
// SRTP take as plain RTP and most SRTP peers as SRTP, but an SRTP-only
// peer (baresip's mediaenc=srtp-mand, Asterisk's media_encryption=sdes)
// refuses any RTP/AVP offer. The INVITE then goes once more as RTP/SAVP
// with the same keys (the call is then SRTP or nothing). It reports
// whether req now carries that offer.
func (c *Call) srtpUpgrade(req *siplib.Request) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.local.SRTP != sdp.SRTPOptional || len(c.local.Crypto) == 0 {
		return false
	}
	c.local.SRTP = sdp.SRTPMandatory
	offer, err := sdp.Offer(c.nextLocal())
	if err != nil {
		return false
	}
	req.SetBody(offer)
	c.line.log.Info("sip: RTP/AVP with SRTP keys refused: offering RTP/SAVP", "call", c.callID)
	return true
}
