package rtpsession

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/pion/rtcp"
)

// sendStats counts what we sent, for SR and Stats.
type sendStats struct {
	packets, octets uint64
	reported        uint64 // packets at the last report: SR only if more since
}

// remoteReport is what the far end's reports say about our stream.
type remoteReport struct {
	have         bool
	fractionLost float64
	totalLost    uint32
	jitter       time.Duration
	rtt          time.Duration
	haveRTT      bool
}

func (s *Session) rtcpInterval() time.Duration {
	i := s.cfg.RTCPInterval
	return i/2 + time.Duration(rand.Int64N(int64(i)))
}

// ntp converts a time on the session clock to a 64-bit NTP timestamp.
func (s *Session) ntp(at time.Duration) uint64 {
	t := s.cfg.Wall.Add(at)
	const unixToNTP = 2208988800
	secs := uint64(t.Unix() + unixToNTP)
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}

// rttSlack is how far below zero A − LSR − DLSR may come out and still be
// a round trip (5 ms in 1/65536 s): far ends count DLSR on clocks of a
// millisecond or coarser. rttResolution is what such a trip reports.
const (
	rttSlack      = 5 * 65536 / 1000
	rttResolution = time.Second / 65536
)

// middle32 is the compact NTP form used by LSR (1/65536 s units).
func middle32(ntp uint64) uint32 { return uint32(ntp >> 16) }

// rtcpWriter sends a report each time Exchange says one is due. Building
// RTCP allocates, so it runs here, off the audio path.
func (s *Session) rtcpWriter() {
	for now := range s.rtcpKick {
		s.sendReport(now)
	}
}

// report builds our compound RTCP packet: SR (if we sent since the last
// report) or RR, with a reception report about the far end, and SDES.
func (s *Session) report(now time.Duration) (rtcp.CompoundPacket, netip.AddrPort, *net.UDPAddr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var reports []rtcp.ReceptionReport
	if s.src.init {
		fraction := s.src.closeInterval()
		lost := s.src.lost()
		rr := rtcp.ReceptionReport{
			SSRC:               s.src.ssrc,
			FractionLost:       uint8(min(fraction*256, 255)),
			TotalLost:          uint32(min(max(lost, 0), 0x7FFFFF)),
			LastSequenceNumber: s.src.extendedMax(),
			Jitter:             uint32(s.src.jitter),
		}
		if s.src.haveSR {
			rr.LastSenderReport = s.src.lastSR
			rr.Delay = uint32((now - s.src.lastSRAt) * 65536 / time.Second)
		}
		reports = append(reports, rr)
	}
	var first rtcp.Packet
	if s.sent.packets > s.sent.reported {
		s.sent.reported = s.sent.packets
		first = &rtcp.SenderReport{
			SSRC:        s.ssrc,
			NTPTime:     s.ntp(now),
			RTPTime:     s.ts,
			PacketCount: uint32(s.sent.packets),
			OctetCount:  uint32(s.sent.octets),
			Reports:     reports,
		}
	} else {
		first = &rtcp.ReceiverReport{SSRC: s.ssrc, Reports: reports}
	}
	return rtcp.CompoundPacket{first, rtcp.NewCNAMESourceDescription(s.ssrc, s.cname)},
		s.remoteRTCP, s.remoteRTCPUDP
}

func (s *Session) sendReport(now time.Duration) {
	pkts, to, toUDP := s.report(now)
	s.sendRTCP(pkts, to, toUDP)
}

func (s *Session) sendRTCP(pkts rtcp.CompoundPacket, to netip.AddrPort, toUDP *net.UDPAddr) {
	if !to.IsValid() || to.Addr().IsUnspecified() {
		return
	}
	b, err := pkts.Marshal()
	if err != nil {
		s.log.Warn("rtcp: marshal", "err", err)
		return
	}
	b, ok := s.protectRTCP(b)
	if !ok {
		return
	}
	if err := s.sendRTCPTo(b, to, toUDP); err != nil {
		s.log.Debug("rtcp: send", "to", to, "err", err)
	}
}

// sendBye ends our stream (RFC 3550 §6.6).
func (s *Session) sendBye() {
	pkts, to, toUDP := s.report(s.clock())
	pkts = append(pkts, &rtcp.Goodbye{Sources: []uint32{s.ssrc}})
	s.sendRTCP(pkts, to, toUDP)
}

// readRTCP reads and handles one RTCP datagram. It returns an error only
// when the socket is closed.
func (s *Session) readRTCP() error {
	buf := s.rtcpBuf[:]
	n, from, err := s.recvRTCP(buf)
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	}
	if b := s.unprotectRTCP(buf[:n]); b != nil {
		s.handleRTCP(s.clock(), b, from)
	}
	return nil
}

// handleRTCP takes in the far end's SR/RR: its SR time for our LSR/DLSR,
// and its report on our stream for RTT, loss and jitter.
func (s *Session) handleRTCP(at time.Duration, buf []byte, from netip.AddrPort) {
	pkts, err := rtcp.Unmarshal(buf)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.malformed++
		return
	}
	if !s.admitRTCP(from) {
		return // not the far end's host (strict.go)
	}
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.SenderReport:
			if s.src.init && p.SSRC == s.src.ssrc {
				s.src.lastSR, s.src.lastSRAt, s.src.haveSR = middle32(p.NTPTime), at, true
			}
			s.takeReports(at, p.Reports)
		case *rtcp.ReceiverReport:
			s.takeReports(at, p.Reports)
		}
	}
}

func (s *Session) takeReports(at time.Duration, reports []rtcp.ReceptionReport) {
	for _, r := range reports {
		if r.SSRC != s.ssrc {
			continue
		}
		rep := &s.remoteRep
		rep.have = true
		rep.fractionLost = float64(r.FractionLost) / 256
		rep.totalLost = r.TotalLost
		rep.jitter = time.Duration(r.Jitter) * time.Second / 8000
		if r.LastSenderReport != 0 {
			// RTT = A − LSR − DLSR, in 1/65536 s (RFC 3550 §6.4.1).
			a := middle32(s.ntp(at))
			rtt := int32(a - r.LastSenderReport - r.Delay)
			if rtt >= -rttSlack {
				// A LAN's round trip is below the far end's rounding of
				// DLSR: report the resolution rather than nothing.
				rep.rtt = max(time.Duration(rtt)*time.Second/65536, rttResolution)
				rep.haveRTT = true
			}
		}
	}
}
