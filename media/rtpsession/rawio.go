package rtpsession

import "net/netip"

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
