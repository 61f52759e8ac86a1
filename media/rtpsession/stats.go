package rtpsession

import (
	"net/netip"
	"time"

	"github.com/openata/ata/media/emodel"
	"github.com/openata/ata/media/jitter"
)

// Stats is a snapshot of the session's counters and quality estimates.
type Stats struct {
	PacketsSent, OctetsSent uint64
	PacketsReceived         uint64 // RTP packets of the far end's stream
	// PacketsLost is RFC 3550's cumulative loss: expected minus received
	// (negative when duplicates outnumber losses).
	PacketsLost int64
	// LossFraction is PacketsLost over the packets expected so far;
	// IntervalLoss the fraction lost in the last RTCP interval (A.3).
	LossFraction, IntervalLoss float64
	Jitter                     time.Duration // interarrival jitter, RFC 3550 A.8

	// What the far end reports about our stream (RTCP), and the round
	// trip time from its LSR/DLSR; RTTKnown says whether one came in.
	RemoteLossFraction float64
	RemoteJitter       time.Duration
	RTT                time.Duration
	RTTKnown           bool

	Malformed   uint64 // undecodable RTP/RTCP datagrams
	UnknownType uint64 // RTP packets of payload types we did not negotiate
	Concealed   uint64 // frames played as concealment (or silence)
	DTMFDropped uint64 // key events nobody read from DTMF()
	Buffer      jitter.Stats
	// SRTP is set when the media is protected (srtp.go); SRTPFailed
	// counts the packets, RTP and RTCP, dropped for failing its check.
	SRTP       bool
	SRTPFailed uint64

	// PassThrough is set once fax/modem pass-through was on at any time
	// in the call (SetPassThrough); PassThroughDepth is the fixed depth
	// now, 0 when off.
	PassThrough      bool
	PassThroughDepth time.Duration
	// Comfort noise: CN packets received (RFC 3389) and sent, and speech
	// packets suppressed in silence between the CN packets sent (VAD).
	CNReceived, CNSent uint64
	Suppressed         uint64

	Remote netip.AddrPort // where RTP goes now (after latching)
	// Strict RTP (strict.go): the far end's learned source (invalid until
	// one is), how often it moved, and the RTP and RTCP packets dropped
	// for coming from elsewhere (a new source's probation run included).
	Source                           netip.AddrPort
	SourceChanges                    uint64
	StrictDropped, StrictDroppedRTCP uint64

	// R and MOS estimate quality with the E-model: loss as seen here,
	// one-way delay as half the RTT plus jitter buffer and packetization.
	R, MOS float64
}

// Stats returns the current statistics.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		PacketsSent:        s.sent.packets,
		OctetsSent:         s.sent.octets,
		PacketsReceived:    s.src.received,
		PacketsLost:        s.src.lost(),
		IntervalLoss:       s.src.intervalLoss,
		Jitter:             time.Duration(s.src.jitter * float64(time.Second) / 8000),
		RemoteLossFraction: s.remoteRep.fractionLost,
		RemoteJitter:       s.remoteRep.jitter,
		RTT:                s.remoteRep.rtt,
		RTTKnown:           s.remoteRep.haveRTT,
		Malformed:          s.malformed,
		UnknownType:        s.unknownPT,
		Concealed:          s.concealed,
		DTMFDropped:        s.dtmfDrop,
		Buffer:             s.jb.Stats(),
		PassThrough:        s.passUsed.Load(),
		PassThroughDepth:   s.passOn,
		CNReceived:         s.cnRecv,
		CNSent:             s.cnSent,
		Suppressed:         s.muted,
		Remote:             s.remote,
		SourceChanges:      s.strict.changes,
		StrictDropped:      s.strict.dropped,
		StrictDroppedRTCP:  s.strict.droppedRTCP,
	}
	if s.strict.learned {
		st.Source = s.strict.source
	}
	st.SRTP, st.SRTPFailed = s.Encrypted(), s.srtp.failed.Load()
	if s.src.init {
		st.LossFraction = max(float64(st.PacketsLost), 0) / float64(s.src.expected())
	}
	oneWay := st.RTT/2 + st.Buffer.Delay + 20*time.Millisecond
	st.R = emodel.R(st.LossFraction, oneWay, !s.cfg.DisablePLC)
	st.MOS = emodel.MOS(st.R)
	return st
}
