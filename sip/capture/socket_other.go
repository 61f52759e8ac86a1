//go:build !linux

package capture

import "errors"

type packetSocket struct{}

func openPacketSocket() (*packetSocket, error) {
	return nil, errors.New("capture: packet capture needs Linux (AF_PACKET)")
}

func (s *packetSocket) recv([]byte, *sllHeader) (int, error) {
	return 0, errors.New("capture: packet capture needs Linux (AF_PACKET)")
}

func (s *packetSocket) close() error { return nil }
