package capture

import (
	"encoding/binary"
	"time"
)

// Classic pcap file format, written in little-endian byte order (readers
// detect the order from the magic number).
const (
	pcapMagic        = 0xa1b2c3d4 // microsecond timestamps
	pcapVersionMajor = 2
	pcapVersionMinor = 4
	snapLen          = 65535
	linkTypeLinuxSLL = 113

	fileHeaderLen   = 24
	recordHeaderLen = 16
	sllHeaderLen    = 16
)

func appendFileHeader(b []byte) []byte {
	le := binary.LittleEndian
	b = le.AppendUint32(b, pcapMagic)
	b = le.AppendUint16(b, pcapVersionMajor)
	b = le.AppendUint16(b, pcapVersionMinor)
	b = le.AppendUint32(b, 0) // thiszone: timestamps are UTC
	b = le.AppendUint32(b, 0) // sigfigs
	b = le.AppendUint32(b, snapLen)
	return le.AppendUint32(b, linkTypeLinuxSLL)
}

// sllHeader is the link-layer part of a cooked packet, as the kernel
// describes it in sockaddr_ll.
type sllHeader struct {
	pktType   uint8
	hwType    uint16 // ARPHRD_*
	addrLen   uint8
	addr      [8]byte
	etherType uint16
}

// appendRecord appends one pcap record: the record header, the 16-byte SLL
// header, then the first incl bytes of pkt; origLen is the IP packet's real length.
func appendRecord(b []byte, ts time.Time, h *sllHeader, pkt []byte, origLen int) []byte {
	le, be := binary.LittleEndian, binary.BigEndian
	b = le.AppendUint32(b, uint32(ts.Unix()))
	b = le.AppendUint32(b, uint32(ts.Nanosecond()/1000))
	b = le.AppendUint32(b, uint32(sllHeaderLen+len(pkt)))
	b = le.AppendUint32(b, uint32(sllHeaderLen+origLen))
	b = be.AppendUint16(b, uint16(h.pktType))
	b = be.AppendUint16(b, h.hwType)
	b = be.AppendUint16(b, uint16(h.addrLen))
	b = append(b, h.addr[:]...)
	b = be.AppendUint16(b, h.etherType)
	return append(b, pkt...)
}
