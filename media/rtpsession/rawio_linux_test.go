//go:build linux && !386

package rtpsession

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestRawUDPAddresses: the raw socket I/O sends to and reports the
// addresses net.UDPConn would: IPv4 from an IPv4 socket, IPv4 from a
// dual-stack IPv6 socket (as ::ffff:a.b.c.d on the wire, reported
// unmapped) and IPv6.
func TestRawUDPAddresses(t *testing.T) {
	for _, tc := range []struct {
		name, net, local, peerNet, peer string
	}{
		{"ipv4", "udp4", "127.0.0.1:0", "udp4", "127.0.0.1:0"},
		{"ipv4 from a dual-stack socket", "udp", "[::]:0", "udp4", "127.0.0.1:0"},
		{"ipv6", "udp6", "[::1]:0", "udp6", "[::1]:0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.ListenUDP(tc.net, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(tc.local)))
			if err != nil {
				t.Skipf("listen %s: %v", tc.local, err)
			}
			defer c.Close()
			peer, err := net.ListenUDP(tc.peerNet, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(tc.peer)))
			if err != nil {
				t.Skipf("listen %s: %v", tc.peer, err)
			}
			defer peer.Close()
			r := newRawUDP(c)
			if r == nil {
				t.Fatal("no raw I/O for a *net.UDPConn")
			}
			peerAddr := peer.LocalAddr().(*net.UDPAddr).AddrPort()
			if n, err := r.writeTo([]byte("ping"), peerAddr); err != nil || n != 4 {
				t.Fatalf("writeTo %v: %d, %v", peerAddr, n, err)
			}
			buf := make([]byte, 16)
			peer.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := peer.ReadFromUDPAddrPort(buf)
			if err != nil || string(buf[:n]) != "ping" {
				t.Fatalf("peer read: %q, %v", buf[:n], err)
			}
			if _, err := peer.WriteToUDPAddrPort([]byte("pong"), from); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, got, err := r.readFrom(buf)
			if err != nil || string(buf[:n]) != "pong" {
				t.Fatalf("readFrom: %q, %v", buf[:n], err)
			}
			if got != peerAddr {
				t.Errorf("readFrom reports %v; want the peer %v", got, peerAddr)
			}
		})
	}
}
