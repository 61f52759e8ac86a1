package capture

import (
	"encoding/binary"
	"slices"
	"sync/atomic"
)

// EtherTypes of the cooked packets the filter understands (sockaddr_ll.sll_protocol).
const (
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd
)

const ipProtoUDP = 17

// portFilter keeps a UDP datagram when either port is one of the ATA's SIP
// ports or a local RTP/RTCP port of one of its current calls. Other
// programs' traffic in the RTP range (their RTP, DNS from an ephemeral
// port there) is not the ATA's and stays out of the file.
type portFilter struct {
	sip   uint16
	media atomic.Pointer[[]uint16] // sorted; replaced whole as calls start and end
}

func (f *portFilter) setMedia(ports []uint16) {
	s := slices.Clone(ports)
	slices.Sort(s)
	f.media.Store(&s)
}

func (f *portFilter) port(p uint16) bool {
	if p == f.sip {
		return true
	}
	if m := f.media.Load(); m != nil {
		_, ok := slices.BinarySearch(*m, p)
		return ok
	}
	return false
}

// keep reports whether the IP packet pkt (EtherType etherType) is UDP to or
// from a port of the filter.
func (f *portFilter) keep(etherType uint16, pkt []byte) bool {
	off, ok := udpOffset(etherType, pkt)
	if !ok {
		return false
	}
	src := binary.BigEndian.Uint16(pkt[off:])
	dst := binary.BigEndian.Uint16(pkt[off+2:])
	return f.port(src) || f.port(dst)
}

// udpOffset returns where the UDP header starts in the IP packet pkt, and
// false when pkt is not an unfragmented (or first-fragment) UDP datagram with
// a whole UDP header. Later fragments carry no ports, so they are not kept.
func udpOffset(etherType uint16, pkt []byte) (int, bool) {
	switch etherType {
	case etherTypeIPv4:
		return udpOffsetIPv4(pkt)
	case etherTypeIPv6:
		return udpOffsetIPv6(pkt)
	}
	return 0, false
}

func udpOffsetIPv4(pkt []byte) (int, bool) {
	if len(pkt) < 20 || pkt[0]>>4 != 4 {
		return 0, false
	}
	ihl := int(pkt[0]&0x0f) * 4
	if ihl < 20 || pkt[9] != ipProtoUDP {
		return 0, false
	}
	if fragOffset := binary.BigEndian.Uint16(pkt[6:]) & 0x1fff; fragOffset != 0 {
		return 0, false
	}
	if len(pkt) < ihl+8 {
		return 0, false
	}
	return ihl, true
}

// maxIPv6ExtHeaders bounds the extension-header walk (a crafted packet could chain many).
const maxIPv6ExtHeaders = 8

func udpOffsetIPv6(pkt []byte) (int, bool) {
	if len(pkt) < 40 || pkt[0]>>4 != 6 {
		return 0, false
	}
	next, off := pkt[6], 40
	for range maxIPv6ExtHeaders {
		switch next {
		case ipProtoUDP:
			if len(pkt) < off+8 {
				return 0, false
			}
			return off, true
		case 0, 43, 60: // hop-by-hop, routing, destination options: (len+1)*8 bytes
			if len(pkt) < off+2 {
				return 0, false
			}
			next, off = pkt[off], off+(int(pkt[off+1])+1)*8
		case 51: // authentication header: (len+2)*4 bytes
			if len(pkt) < off+2 {
				return 0, false
			}
			next, off = pkt[off], off+(int(pkt[off+1])+2)*4
		case 44: // fragment header, 8 bytes
			if len(pkt) < off+8 {
				return 0, false
			}
			if binary.BigEndian.Uint16(pkt[off+2:])>>3 != 0 {
				return 0, false
			}
			next, off = pkt[off], off+8
		default:
			return 0, false
		}
	}
	return 0, false
}
