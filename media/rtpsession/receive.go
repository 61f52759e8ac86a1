package rtpsession

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/openata/ata/media/cn"
)

type addrPortReader interface {
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
}

// readFrom reads one datagram without allocating when the conn has
// ReadFromUDPAddrPort (a *net.UDPConn does).
func readFrom(c net.PacketConn, b []byte) (int, netip.AddrPort, error) {
	if r, ok := c.(addrPortReader); ok {
		n, ap, err := r.ReadFromUDPAddrPort(b)
		return n, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), err
	}
	n, addr, err := c.ReadFrom(b)
	var ap netip.AddrPort
	if ua, ok := addr.(*net.UDPAddr); ok {
		ap = ua.AddrPort()
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return n, ap, err
}

// rtpReadBuf is the receive buffer of the RTP goroutine.
type rtpReadBuf [1500]byte

// readRTP reads and handles one RTP packet. It returns an error only when
// the socket is closed.
func (s *Session) readRTP() error {
	n, from, err := s.recvRTP(s.rbuf[:])
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return err
		}
		s.log.Debug("rtp: read", "err", err)
		return nil
	}
	s.handleRTP(s.clock(), s.rbuf[:n], from)
	return nil
}

// handleRTP processes one received datagram: voice into the jitter buffer,
// telephone events to the DTMF receiver.
func (s *Session) handleRTP(at time.Duration, buf []byte, from netip.AddrPort) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if buf = s.unprotectRTP(buf); buf == nil {
		return // failed the SRTP check: counted (srtp.go)
	}
	if err := s.in.Unmarshal(buf); err != nil || s.in.Version != 2 {
		s.malformed++
		return
	}
	h := &s.in.Header
	isVoice := h.PayloadType == s.pt
	isEvent := s.evPT != 0 && h.PayloadType == s.evPT
	// CN of the static type is taken even if not negotiated: noise at the
	// far end's level beats concealing a silence as if it were a loss.
	isCN := !isVoice && !isEvent && (h.PayloadType == cn.PayloadType || s.cnPT != 0 && h.PayloadType == s.cnPT)
	if !isVoice && !isEvent && !isCN {
		s.unknownPT++ // other codecs: not ours
		return
	}
	if !s.admitRTP(at, from, h.SSRC, h.SequenceNumber) {
		return // not the far end's source (strict RTP, strict.go)
	}
	if s.src.init && h.SSRC != s.src.ssrc {
		s.dtmfIn.Reset()
	}
	if !s.src.update(h.SSRC, h.SequenceNumber) {
		return // sequence jump awaiting confirmation (RFC 3550 A.1)
	}
	if !s.receive {
		return
	}
	if isEvent {
		s.dtmfIn.Receive(at, h.Timestamp, s.in.Payload)
		return
	}
	if isCN {
		s.comfortNoise(h.Timestamp, s.in.Payload)
		return
	}
	s.src.arrival(at, h.Timestamp)
	s.jb.Put(at, h.SSRC, h.Timestamp, h.Marker, s.in.Payload)
}

// sourceStats follows the far end's stream as RFC 3550 Appendix A does:
// extended sequence numbers, loss and interarrival jitter.
type sourceStats struct {
	init     bool
	ssrc     uint32
	baseSeq  uint32
	maxSeq   uint16
	cycles   uint32
	badSeq   uint32 // next sequence number that confirms a jump
	received uint64

	expectedPrior, receivedPrior uint64
	intervalLoss                 float64 // fraction lost in the last report interval

	haveTransit bool
	transit     int64
	jitter      float64 // in timestamp units

	lastSR   uint32        // middle 32 bits of the last SR's NTP time
	lastSRAt time.Duration // when it arrived
	haveSR   bool
}

const (
	maxDropout    = 3000
	maxMisorder   = 100
	seqMod        = 1 << 16
	noBadSequence = seqMod + 1
)

func (st *sourceStats) restart(ssrc uint32, seq uint16) {
	*st = sourceStats{init: true, ssrc: ssrc, baseSeq: uint32(seq), maxSeq: seq, badSeq: noBadSequence}
}

// update counts a packet and reports whether it belongs to the stream.
func (st *sourceStats) update(ssrc uint32, seq uint16) bool {
	if !st.init || ssrc != st.ssrc {
		st.restart(ssrc, seq)
		st.received++
		return true
	}
	delta := seq - st.maxSeq
	switch {
	case delta < maxDropout:
		if seq < st.maxSeq {
			st.cycles += seqMod
		}
		st.maxSeq = seq
	case uint32(delta) <= seqMod-maxMisorder:
		// A big jump: believe it only if the next packet follows it.
		if uint32(seq) != st.badSeq {
			st.badSeq = (uint32(seq) + 1) & (seqMod - 1)
			return false
		}
		st.restart(ssrc, seq)
	default:
		// Duplicate or reordered: counted, maxSeq unchanged.
	}
	st.received++
	return true
}

// arrival updates the interarrival jitter (RFC 3550 A.8) for a voice
// packet; at is converted to timestamp units at 8 kHz.
func (st *sourceStats) arrival(at time.Duration, ts uint32) {
	r := int64(at / (time.Second / 8000))
	transit := r - int64(ts)
	if st.haveTransit {
		d := transit - st.transit
		// The RTP timestamp wraps; transit differences stay small.
		d = int64(int32(d))
		if d < 0 {
			d = -d
		}
		st.jitter += (float64(d) - st.jitter) / 16
	}
	st.transit, st.haveTransit = transit, true
}

func (st *sourceStats) extendedMax() uint32 { return st.cycles + uint32(st.maxSeq) }

func (st *sourceStats) expected() uint64 {
	return uint64(st.extendedMax() - st.baseSeq + 1)
}

// lost is the cumulative number of packets lost (negative with duplicates).
func (st *sourceStats) lost() int64 {
	if !st.init {
		return 0
	}
	return int64(st.expected()) - int64(st.received)
}

// closeInterval computes the fraction lost since the last report (A.3).
func (st *sourceStats) closeInterval() float64 {
	expected := st.expected()
	expInt := int64(expected - st.expectedPrior)
	recvInt := int64(st.received - st.receivedPrior)
	st.expectedPrior, st.receivedPrior = expected, st.received
	if expInt <= 0 || recvInt >= expInt {
		st.intervalLoss = 0
	} else {
		st.intervalLoss = float64(expInt-recvInt) / float64(expInt)
	}
	return st.intervalLoss
}
