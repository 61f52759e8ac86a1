package rtpsession

// Strict RTP and latching: whose packets the session plays, and where it
// sends its own.
//
// A call's media port is open to anyone who can reach it. Without a check,
// any host spraying RTP at the port range is played to the handset and, with
// symmetric RTP, gets the call's audio sent to it (RTP bleed, CVE-2017-14099).
// So the session learns one source and plays only that one:
//
//   - Packets from the SDP address are the far end's: the first one makes it
//     the source at once, and it takes the source back from a learned one.
//   - Any other address must first send StrictProbation packets in a row of
//     one SSRC with consecutive sequence numbers (a peer behind a NAT, whose
//     packets come from its public mapping), and it may do so only while no
//     source is learned, or after the learned one has sent nothing for
//     StrictSilence (a NAT that rebinds the far end's mapping mid-call).
//   - Everything else is dropped and counted (Stats.StrictDropped): the
//     probation packets themselves too.
//
// Latching decides where RTP goes once a source is learned: to the SDP
// address unless the mode (Config.Latching) says the SDP address cannot be
// what the far end means.

import (
	"fmt"
	"net/netip"
	"time"
)

// Latching says when RTP is sent to the source of the far end's packets
// rather than to the address its SDP gives.
type Latching uint8

const (
	// LatchAuto sends to the learned source only where the SDP address
	// cannot be reached from elsewhere (unspecified, private, unique local,
	// link-local, carrier-grade NAT's 100.64/10, loopback) and the packets
	// come from another address: a far end behind a NAT that wrote its LAN
	// address into the SDP. A public SDP address is always used as given.
	LatchAuto Latching = iota
	// LatchAlways sends to the learned source whenever it differs from the
	// SDP address (comedia, RFC 4961's symmetric RTP applied blindly).
	LatchAlways
	// LatchNever always sends to the SDP address.
	LatchNever
)

// ParseLatching reads "auto", "always" or "never"; "" is auto.
func ParseLatching(s string) (Latching, error) {
	switch s {
	case "", "auto":
		return LatchAuto, nil
	case "always":
		return LatchAlways, nil
	case "never":
		return LatchNever, nil
	}
	return LatchAuto, fmt.Errorf("rtp latching %q: want auto, always or never", s)
}

func (l Latching) String() string {
	switch l {
	case LatchAlways:
		return "always"
	case LatchNever:
		return "never"
	}
	return "auto"
}

const (
	// StrictProbation is how many packets in a row (one SSRC, each
	// sequence number one above the last) a source other than the SDP
	// address sends before it is played: Asterisk's default probation.
	StrictProbation = 4
	// StrictSilence is how long the learned source must have sent nothing
	// before another source may take its place: 25 packet times, far
	// beyond a jitter burst, and the audio a NAT rebinding costs.
	StrictSilence = 500 * time.Millisecond
)

// sharedAddressSpace is carrier-grade NAT's range (RFC 6598).
var sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10")

// strictSource is the session's learned source and a would-be new one.
// Guarded by Session.mu.
type strictSource struct {
	expected, expectedRTCP netip.AddrPort // what the SDP says
	haveExpected           bool

	learned bool
	source  netip.AddrPort
	lastAt  time.Duration // the learned source's last packet
	rtcpSrc netip.AddrPort

	// The candidate's run of consistent packets.
	cand     netip.AddrPort
	candSSRC uint32
	candSeq  uint16
	candRun  int

	dropped, droppedRTCP, changes uint64
}

// latching is the effective mode: the older Symmetric flag means always.
func (s *Session) latching() Latching {
	if s.cfg.Symmetric && s.cfg.Latching == LatchAuto {
		return LatchAlways
	}
	return s.cfg.Latching
}

// remoteChanged takes a new SDP address (New, SetRemote). The same address
// again (a re-INVITE for hold, a 200 after a 183) keeps what was learned;
// a new one starts learning over and sends there until latching says
// otherwise. s.mu is held.
func (s *Session) remoteChanged(rtp, rtcp netip.AddrPort) {
	if !rtcp.IsValid() && rtp.IsValid() {
		rtcp = netip.AddrPortFrom(rtp.Addr(), rtp.Port()+1)
	}
	st := &s.strict
	if st.haveExpected && rtp == st.expected && rtcp == st.expectedRTCP {
		return
	}
	st.expected, st.expectedRTCP, st.haveExpected = rtp, rtcp, true
	if st.learned && st.source != rtp {
		st.learned, st.rtcpSrc = false, netip.AddrPort{}
	}
	st.candRun = 0
	s.setRemote(rtp, rtcp)
}

// admitRTP is strict RTP for one packet of a negotiated payload type: it
// reports whether the packet is the far end's and may be played. s.mu is
// held; nothing allocates.
func (s *Session) admitRTP(at time.Duration, from netip.AddrPort, ssrc uint32, seq uint16) bool {
	st := &s.strict
	switch {
	case !from.IsValid():
		return true // a conn that gives no addresses: nothing to check
	case st.learned && from == st.source:
		st.lastAt = at
		return true
	case from == st.expected:
		s.learn(at, from)
		return true
	case st.learned && at-st.lastAt < StrictSilence:
		st.candRun = 0 // a run must start after the source fell silent
		st.dropped++
		return false
	}
	if st.candRun > 0 && from == st.cand && ssrc == st.candSSRC && seq == st.candSeq+1 {
		st.candRun++
	} else {
		st.cand, st.candSSRC, st.candRun = from, ssrc, 1
	}
	st.candSeq = seq
	if st.candRun < StrictProbation {
		st.dropped++
		return false
	}
	s.learn(at, from)
	return true
}

// learn makes from the source and points the send side where latching
// says. s.mu is held.
func (s *Session) learn(at time.Duration, from netip.AddrPort) {
	st := &s.strict
	was, had := st.source, st.learned
	st.learned, st.source, st.lastAt, st.candRun = true, from, at, 0
	if had && was == from {
		return
	}
	if had {
		st.changes++
		st.rtcpSrc = netip.AddrPort{}
		s.log.Info("rtp: strict RTP: the far end moved", "from", from, "was", was, "sdp", st.expected)
	} else if from != st.expected {
		s.log.Info("rtp: strict RTP: far end's source learned", "from", from, "sdp", st.expected)
	}
	s.latch()
}

// latch sends to the learned source where the mode asks for it, else to
// the SDP address. s.mu is held.
func (s *Session) latch() {
	st := &s.strict
	to, rtcp := st.expected, st.expectedRTCP
	if st.learned && s.latchesTo(st.source) {
		to = st.source
		rtcp = st.rtcpSrc
		if !rtcp.IsValid() {
			rtcp = netip.AddrPortFrom(to.Addr(), to.Port()+1)
		}
	}
	if to == s.remote && rtcp == s.remoteRTCP {
		return
	}
	if to != s.remote {
		s.log.Info("rtp: sending to", "to", to, "was", s.remote, "latching", s.latching())
	}
	s.setRemote(to, rtcp)
}

// latchesTo reports whether RTP goes to src rather than the SDP address.
func (s *Session) latchesTo(src netip.AddrPort) bool {
	st := &s.strict
	if src == st.expected {
		return false
	}
	switch s.latching() {
	case LatchAlways:
		return true
	case LatchNever:
		return false
	}
	return unreachableFromElsewhere(st.expected)
}

// unreachableFromElsewhere reports whether an SDP address is one a far end
// on another network cannot have meant for us: none, or one that only
// means something on its own network.
func unreachableFromElsewhere(sdp netip.AddrPort) bool {
	a := sdp.Addr().Unmap()
	return !sdp.IsValid() || a.IsUnspecified() || a.IsPrivate() || a.IsLoopback() ||
		a.IsLinkLocalUnicast() || sharedAddressSpace.Contains(a)
}

// admitRTCP takes RTCP only from the learned source's host or the SDP's
// (any port: a NAT maps RTCP's port apart from RTP's), and latches RTCP
// with RTP. s.mu is held.
func (s *Session) admitRTCP(from netip.AddrPort) bool {
	if !from.IsValid() {
		return true
	}
	st := &s.strict
	ip := from.Addr()
	fromSource := st.learned && ip == st.source.Addr()
	if !fromSource && (!st.haveExpected || (ip != st.expected.Addr() && ip != st.expectedRTCP.Addr())) {
		st.droppedRTCP++
		return false
	}
	if fromSource && st.rtcpSrc != from {
		st.rtcpSrc = from
		s.latch()
	}
	return true
}

// logStrict tells at the end of a call what strict RTP kept out, so that
// a stray stream or an RTP bleed probe leaves a trace (a NAT's probation
// run alone does not).
func (s *Session) logStrict() {
	s.mu.Lock()
	st := s.strict
	s.mu.Unlock()
	if st.dropped < StrictProbation && st.droppedRTCP == 0 {
		return
	}
	s.log.Info("rtp: strict RTP: packets from other sources dropped", "rtp", st.dropped, "rtcp", st.droppedRTCP,
		"source", st.source, "source_moves", st.changes)
}
