package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// socketReceiveBuffer absorbs bursts while the capture goroutine is not scheduled.
const socketReceiveBuffer = 1 << 20

// sockaddrLL is struct sockaddr_ll; the protocol is kept as its network-order bytes.
type sockaddrLL struct {
	family   uint16
	protocol [2]byte
	ifindex  int32
	hatype   uint16
	pkttype  uint8
	halen    uint8
	addr     [8]byte
}

// packetSocket is an AF_PACKET/SOCK_DGRAM socket read through the runtime
// poller, so that closing it wakes a blocked read at once.
type packetSocket struct {
	f  *os.File
	rc syscall.RawConn

	// Read state, owned by the one goroutine calling recv; kept here so that
	// a receive allocates nothing.
	buf    []byte
	sa     sockaddrLL
	salen  uint32
	n      int
	errno  syscall.Errno
	readFn func(fd uintptr) bool
}

func openPacketSocket() (*packetSocket, error) {
	proto := int(htons(syscall.ETH_P_ALL))
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, proto)
	if err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			return nil, fmt.Errorf("capture: raw socket needs root or CAP_NET_RAW: %w", err)
		}
		return nil, fmt.Errorf("capture: open packet socket: %w", err)
	}
	// Best effort: the default buffer still works, it only drops sooner.
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, socketReceiveBuffer)
	f := os.NewFile(uintptr(fd), "capture-packet-socket")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("capture: packet socket: %w", err)
	}
	s := &packetSocket{f: f, rc: rc}
	s.readFn = s.read
	return s, nil
}

// recv reads one packet into buf and describes its link layer in h. It
// returns the packet's real length, which exceeds len(buf) when truncated.
func (s *packetSocket) recv(buf []byte, h *sllHeader) (int, error) {
	s.buf = buf
	if err := s.rc.Read(s.readFn); err != nil {
		return 0, fmt.Errorf("capture: read packet socket: %w", err)
	}
	if s.errno != 0 {
		return 0, fmt.Errorf("capture: recvfrom: %w", s.errno)
	}
	h.pktType = s.sa.pkttype
	h.hwType = s.sa.hatype
	h.addrLen = min(s.sa.halen, 8)
	h.addr = s.sa.addr
	h.etherType = binary.BigEndian.Uint16(s.sa.protocol[:])
	return s.n, nil
}

// read is the RawConn callback: false asks the poller to wait for the next packet.
func (s *packetSocket) read(fd uintptr) bool {
	for {
		s.salen = uint32(unsafe.Sizeof(s.sa))
		n, _, e := syscall.Syscall6(syscall.SYS_RECVFROM, fd,
			uintptr(unsafe.Pointer(&s.buf[0])), uintptr(len(s.buf)),
			syscall.MSG_TRUNC, // n is the real length even when buf is shorter
			uintptr(unsafe.Pointer(&s.sa)), uintptr(unsafe.Pointer(&s.salen)))
		switch e {
		case 0:
			s.n, s.errno = int(n), 0
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		default:
			s.errno = e
			return true
		}
	}
}

func (s *packetSocket) close() error { return s.f.Close() }

func htons(v uint16) uint16 {
	return binary.NativeEndian.Uint16(binary.BigEndian.AppendUint16(nil, v))
}
