//go:build linux && !386

package rtpsession

import (
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pollBatch is how many datagrams one recvmmsg takes: a frame period
// brings one per leg, a late burst a few.
const pollBatch = 4

// mmsghdr is struct mmsghdr: x/sys/unix has no type for it.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// pollState is the polled reader's and sender's buffers, made once per
// session.
type pollState struct {
	hdrs  [pollBatch]mmsghdr
	iov   [pollBatch]unix.Iovec
	bufs  [pollBatch][1500]byte
	names [pollBatch]unix.RawSockaddrAny
	ctrl  [pollBatch][64]byte
	to    unix.RawSockaddrInet6 // or a RawSockaddrInet4 at its start
}

func newPollState() *pollState {
	p := &pollState{}
	for i := range p.hdrs {
		p.iov[i].Base = &p.bufs[i][0]
		p.iov[i].SetLen(len(p.bufs[i]))
		h := &p.hdrs[i].hdr
		h.Iov = &p.iov[i]
		h.SetIovlen(1)
	}
	return p
}

// StartPolling gives the RTP socket's reading to the caller, who then
// calls Poll once per frame; the socket leaves the Go poller (poll.go
// says why). It reports false, and nothing changes, for a conn that is
// not a plain *net.UDPConn, a far end with an IPv6 zone, or a closed
// session.
func (s *Session) StartPolling() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pollGate.on {
		return true
	}
	if s.closed || s.rawRTP == nil || s.remote.Addr().Zone() != "" {
		return false
	}
	fd := -1
	var err error
	if cerr := s.rawRTP.rc.Control(func(sfd uintptr) {
		fd, err = unix.FcntlInt(sfd, unix.F_DUPFD_CLOEXEC, 0)
	}); cerr != nil || err != nil {
		return false
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1) != nil {
		unix.Close(fd)
		return false
	}
	if s.pollGate.ps == nil {
		s.pollGate.ps = newPollState()
	}
	s.pollGate.on, s.pollGate.fd, s.pollGate.v6 = true, fd, s.rawRTP.v6
	s.pollGate.resume = make(chan struct{})
	// Closing the conn takes the socket out of the Go poller (the
	// duplicate keeps it open); the RTP goroutine sees the conn closed
	// and waits in afterRead. Close does not wait for anything that
	// needs mu.
	s.cfg.Conn.Close()
	return true
}

// StopPolling gives the socket back to the session's RTP goroutine, on a
// new conn.
func (s *Session) StopPolling() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.pollGate.on {
		return
	}
	f := os.NewFile(uintptr(s.pollGate.fd), "rtp")
	c, err := net.FilePacketConn(f) // its own duplicate, in the poller
	f.Close()
	s.pollGate.on, s.pollGate.fd = false, -1
	if err != nil {
		// The socket is gone: the session goes on deaf and mute, as a
		// session whose socket failed does.
		s.log.Warn("rtp: taking the socket back from polling failed", "err", err)
	} else {
		s.cfg.Conn = c
		s.rawRTP = newRawUDP(c)
	}
	close(s.pollGate.resume)
}

// endPolling closes the polled socket when the session closes; mu held.
// It reports whether the session's conn was already closed by polling.
func (s *Session) endPolling() bool {
	if !s.pollGate.on {
		return false
	}
	unix.Close(s.pollGate.fd)
	s.pollGate.on, s.pollGate.fd = false, -1
	close(s.pollGate.resume)
	return true
}

// Poll reads every RTP packet that has arrived, without blocking, and
// handles each. Only between StartPolling and StopPolling, from one
// goroutine.
func (s *Session) Poll() {
	for {
		s.mu.Lock()
		if !s.pollGate.on {
			s.mu.Unlock()
			return
		}
		p := s.pollGate.ps
		got := recvBatch(s.pollGate.fd, p)
		s.mu.Unlock()
		if got == 0 {
			return
		}
		now, wall := s.clock(), time.Now().UnixNano()
		for i := range got {
			h := &p.hdrs[i]
			at := arrivedAt(now, wall, rxStamp(p.ctrl[i][:h.hdr.Controllen]))
			s.handleRTP(at, p.bufs[i][:h.n], sockaddrPort(&p.names[i]))
		}
		if got < pollBatch {
			return
		}
	}
}

// recvBatch takes up to pollBatch datagrams waiting on fd.
func recvBatch(fd int, p *pollState) int {
	for i := range p.hdrs {
		h := &p.hdrs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&p.names[i]))
		h.Namelen = unix.SizeofSockaddrAny
		h.Control = &p.ctrl[i][0]
		h.SetControllen(len(p.ctrl[i]))
		h.Flags = 0
	}
	n, _, e := syscall.RawSyscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&p.hdrs[0])), pollBatch,
		unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0
	}
	return int(n)
}

// sendPolled sends one datagram on the polled socket; mu held. A full
// send buffer drops it (nothing may wait on the relay's clock).
func (s *Session) sendPolled(b []byte, ap netip.AddrPort) error {
	p := s.pollGate.ps
	a := ap.Addr()
	var toLen uintptr
	switch {
	case s.pollGate.v6:
		p.to = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()}
		putPort(&p.to.Port, ap.Port())
		toLen = unix.SizeofSockaddrInet6
	case a.Is4() || a.Is4In6():
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&p.to))
		*sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.Unmap().As4()}
		putPort(&sa.Port, ap.Port())
		toLen = unix.SizeofSockaddrInet4
	default:
		return syscall.EAFNOSUPPORT
	}
	_, _, e := syscall.RawSyscall6(unix.SYS_SENDTO, uintptr(s.pollGate.fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))),
		uintptr(len(b)), unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&p.to)), toLen)
	if e != 0 {
		return e
	}
	return nil
}

// rxStamp finds the SO_TIMESTAMPNS receive time (ns since the epoch) in a
// control message buffer; 0 if there is none.
func rxStamp(ctrl []byte) int64 {
	hdrLen := unix.CmsgLen(0)
	for len(ctrl) >= hdrLen {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&ctrl[0]))
		l := int(h.Len)
		if l < hdrLen || l > len(ctrl) {
			return 0
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SO_TIMESTAMPNS && l-hdrLen >= int(unsafe.Sizeof(unix.Timespec{})) {
			ts := (*unix.Timespec)(unsafe.Pointer(&ctrl[hdrLen]))
			return ts.Nano()
		}
		ctrl = ctrl[min(unix.CmsgSpace(l-hdrLen), len(ctrl)):]
	}
	return 0
}

// sockaddrPort converts a received source address, IPv4-mapped ones to
// IPv4, as readFrom does.
func sockaddrPort(sa *unix.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case unix.AF_INET:
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), getPort(&a.Port))
	case unix.AF_INET6:
		a := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		ip := netip.AddrFrom16(a.Addr).Unmap()
		if a.Scope_id != 0 && ip.Is6() {
			return netip.AddrPortFrom(ip.WithZone(zoneName(a.Scope_id)), getPort(&a.Port))
		}
		return netip.AddrPortFrom(ip, getPort(&a.Port))
	}
	return netip.AddrPort{}
}
