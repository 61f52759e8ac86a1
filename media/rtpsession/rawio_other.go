//go:build !linux || 386

package rtpsession

import (
	"net"
	"net/netip"
)

// rawUDP is Linux's raw socket I/O (rawio_linux.go); elsewhere, and on
// 386 (no sendto system call), the session uses the conn's methods.
type rawUDP struct{}

func newRawUDP(net.PacketConn) *rawUDP { return nil }

func (*rawUDP) writeTo([]byte, netip.AddrPort) (int, error) { panic("unreachable") }

func (*rawUDP) readFrom([]byte) (int, netip.AddrPort, error) { panic("unreachable") }
