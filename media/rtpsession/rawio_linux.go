//go:build linux && !386

package rtpsession

import (
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawUDP sends and receives a UDP socket's datagrams with raw system calls
// (syscall.RawSyscall6), waiting in the Go runtime's poller through the
// conn's syscall.RawConn when there is nothing to read.
//
// Why: a Go system call (syscall.Syscall, what net.UDPConn uses) wakes
// the runtime's monitor thread (sysmon) whenever the process was idle, and
// sysmon then polls every 20 µs until the process is idle again. A call
// wakes the firmware twice per 20 ms frame (the frame, the far end's
// packet); with net.UDPConn's calls each wake-up cost three or four more
// context switches, and the firmware used more CPU in a G.711 call than
// baresip. On a non-blocking socket sendto and recvfrom never block, so
// they need none of what a Go system call does for a blocking one.
//
// One writer (under Session.mu) and one reader (the RTP goroutine) at a
// time: each direction has its own buffers.
type rawUDP struct {
	rc syscall.RawConn
	v6 bool // an AF_INET6 socket: IPv4 goes as ::ffff:a.b.c.d

	// The call in progress, set before rc.Write / rc.Read runs the
	// prebuilt func, so that neither allocates.
	out   []byte
	to    unix.RawSockaddrInet6 // or a RawSockaddrInet4 at its start
	toLen uintptr
	wErr  syscall.Errno
	write func(fd uintptr) bool

	in      []byte
	from    unix.RawSockaddrAny
	fromLen uint32
	n       int
	rErr    syscall.Errno
	read    func(fd uintptr) bool
}

// newRawUDP returns nil for a conn that is not a *net.UDPConn itself (a
// wrapper, as tests use to drop packets, must see every packet): the
// session then uses the conn's methods.
func newRawUDP(c net.PacketConn) *rawUDP {
	uc, ok := c.(*net.UDPConn)
	if !ok {
		return nil
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil
	}
	family := -1
	if rc.Control(func(fd uintptr) {
		switch sa, _ := unix.Getsockname(int(fd)); sa.(type) {
		case *unix.SockaddrInet4:
			family = unix.AF_INET
		case *unix.SockaddrInet6:
			family = unix.AF_INET6
		}
	}) != nil || family < 0 {
		return nil
	}
	r := &rawUDP{rc: rc, v6: family == unix.AF_INET6}
	r.write = func(fd uintptr) bool {
		_, _, e := syscall.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(unsafe.Pointer(unsafe.SliceData(r.out))),
			uintptr(len(r.out)), 0, uintptr(unsafe.Pointer(&r.to)), r.toLen)
		if e == syscall.EAGAIN {
			return false // send buffer full: wait until writable
		}
		r.wErr = e
		return true
	}
	r.read = func(fd uintptr) bool {
		r.fromLen = unix.SizeofSockaddrAny
		n, _, e := syscall.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(unsafe.SliceData(r.in))),
			uintptr(len(r.in)), 0, uintptr(unsafe.Pointer(&r.from)), uintptr(unsafe.Pointer(&r.fromLen)))
		if e == syscall.EAGAIN {
			return false // nothing yet: wait in the poller
		}
		r.n, r.rErr = int(n), e
		return true
	}
	return r
}

// writeTo sends b to ap (no zone: the caller sends zoned addresses itself).
func (r *rawUDP) writeTo(b []byte, ap netip.AddrPort) (int, error) {
	a := ap.Addr()
	switch {
	case r.v6:
		r.to = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()}
		putPort(&r.to.Port, ap.Port())
		r.toLen = unix.SizeofSockaddrInet6
	case a.Is4() || a.Is4In6():
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&r.to))
		*sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.Unmap().As4()}
		putPort(&sa.Port, ap.Port())
		r.toLen = unix.SizeofSockaddrInet4
	default:
		return 0, syscall.EAFNOSUPPORT // IPv6 on an IPv4 socket
	}
	r.out = b
	err := r.rc.Write(r.write)
	r.out = nil
	if err != nil {
		return 0, err
	}
	if r.wErr != 0 {
		return 0, r.wErr
	}
	return len(b), nil
}

// readFrom receives one datagram into b; IPv4-mapped sources come back as
// IPv4, as readFrom's do.
func (r *rawUDP) readFrom(b []byte) (int, netip.AddrPort, error) {
	r.in = b
	err := r.rc.Read(r.read)
	r.in = nil
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	if r.rErr != 0 {
		return 0, netip.AddrPort{}, r.rErr
	}
	from := sockaddrPort(&r.from)
	return r.n, from, nil
}

// putPort and getPort convert a port to and from a sockaddr's network byte
// order.
func putPort(p *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(port>>8), byte(port)
}

// zoneName is an IPv6 scope as a zone: link-local only, rare; it may
// allocate.
func zoneName(id uint32) string { return strconv.FormatUint(uint64(id), 10) }

func getPort(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return uint16(b[0])<<8 | uint16(b[1])
}
