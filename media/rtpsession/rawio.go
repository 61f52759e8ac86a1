package rtpsession

import (
	"net"
	"net/netip"
)

// sendRTP sends one RTP datagram to the far end: through raw system calls
// where the socket allows it (rawio_linux.go says why), else through the
// conn's own methods. s.mu is held.
func (s *Session) sendRTP(b []byte) error {
	if s.pollGate.on {
		return s.sendPolled(b, s.remote) // a relay polls the socket (poll.go)
	}
	if s.rawRTP != nil && s.remote.Addr().Zone() == "" {
		_, err := s.rawRTP.writeTo(b, s.remote)
		return err
	}
	_, err := writeTo(s.cfg.Conn, b, s.remote, s.remoteUDP)
	return err
}

// recvRTP reads one RTP datagram; the RTP goroutine only.
func (s *Session) recvRTP(b []byte) (int, netip.AddrPort, error) {
	if s.rawRTP != nil {
		return s.rawRTP.readFrom(b)
	}
	return readFrom(s.cfg.Conn, b)
}

// sendRTCPTo and recvRTCP are RTCP's socket I/O, raw where the socket
// allows it as RTP's is: a Go system call wakes the runtime's monitor
// thread, which then polls every 20 µs until the process is idle again,
// and RTCP's few packets a second per call did that for every relayed
// call (rawio_linux.go says more).
func (s *Session) sendRTCPTo(b []byte, to netip.AddrPort, toUDP *net.UDPAddr) error {
	if s.rawRTCP != nil && to.Addr().Zone() == "" {
		s.rtcpWriteMu.Lock() // the RTCP goroutine and Close's BYE
		defer s.rtcpWriteMu.Unlock()
		_, err := s.rawRTCP.writeTo(b, to)
		return err
	}
	_, err := writeTo(s.cfg.RTCPConn, b, to, toUDP)
	return err
}

// recvRTCP reads one RTCP datagram; the RTCP goroutine only.
func (s *Session) recvRTCP(b []byte) (int, netip.AddrPort, error) {
	if s.rawRTCP != nil {
		return s.rawRTCP.readFrom(b)
	}
	return readFrom(s.cfg.RTCPConn, b)
}
