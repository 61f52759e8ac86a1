package baresiptest

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/zaf/g711"
	"golang.org/x/sys/unix"
)

// Why a tap: baresip 1.0.0's sndfile module records what a call receives
// only until the first re-INVITE with a direction other than sendrecv
// (hold): audio_decoder_set then flushes the receive filter chain and
// aufilt_setup does not rebuild it while the send chain exists, so the
// "-dec.wav" file closes for good. It also records packets, not time:
// a pause in the RTP stream leaves no gap in the file.
//
// So the harness records the RTP each phone receives itself, by packet
// capture on the loopback interface (an AF_PACKET socket: root or
// CAP_NET_RAW). To learn which UDP ports are the phone's media sockets,
// and when each call made its own, the phone's account uses baresip's
// stun media-NAT module with the harness as STUN server: baresip sends a
// binding request from each new RTP and RTCP socket, and the harness
// answers with the socket's own address, so the SDP is what it would be
// without it. (A relay in the media path would not do: the firmware
// sends RTP to wherever the far end's packets come from, RFC 4961, and
// would bypass it.) Without capture rights the phone runs without the
// tap and Heard and friends fail the test; RecordedAudio then falls back
// to sndfile.

// tap is one phone's STUN server and packet capture.
type tap struct {
	stun *net.UDPConn
	raw  *os.File // AF_PACKET socket on lo

	mu     sync.Mutex
	socks  map[uint16]*sink // by baresip's media port
	order  []*sink          // creation order
	closed bool
}

// sink is one baresip media socket and the RTP captured towards it.
type sink struct {
	target  netip.AddrPort // baresip's socket
	created time.Time

	mu   sync.Mutex
	pkts []packet // RTP received from the far end
}

// packet is one received RTP packet.
type packet struct {
	at      time.Time
	pt      uint8
	marker  bool
	seq     uint16
	ts      uint32
	ssrc    uint32
	payload []byte
}

// newTap opens the capture socket and the STUN server; it fails when the
// process may not capture.
func newTap() (*tap, error) {
	raw, err := openCapture()
	if err != nil {
		return nil, err
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		raw.Close()
		return nil, err
	}
	t := &tap{stun: c, raw: raw, socks: map[uint16]*sink{}}
	go t.serveSTUN()
	go t.capture()
	return t, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openCapture opens a non-blocking AF_PACKET socket for IPv4 on lo,
// read through the runtime poller so that Close wakes the reader.
func openCapture() (*os.File, error) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_IP)))
	if err != nil {
		return nil, fmt.Errorf("packet capture on lo needs root or CAP_NET_RAW: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: lo.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("packet capture: bind to lo: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	return os.NewFile(uintptr(fd), "lo-capture"), nil
}

// addr is the STUN server's address.
func (t *tap) addr() netip.AddrPort { return t.stun.LocalAddr().(*net.UDPAddr).AddrPort() }

func (t *tap) close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.stun.Close()
	t.raw.Close()
}

func (t *tap) all() []*sink {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*sink(nil), t.order...)
}

const stunMagic = 0x2112A442

// serveSTUN answers RFC 5389 binding requests with the requester's own
// address, noting each new requester as a media socket.
func (t *tap) serveSTUN() {
	buf := make([]byte, 1500)
	for {
		n, from, err := t.stun.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		req := buf[:n]
		if n < 20 || binary.BigEndian.Uint16(req) != 0x0001 || binary.BigEndian.Uint32(req[4:]) != stunMagic {
			continue
		}
		t.mu.Lock()
		if _, ok := t.socks[from.Port()]; !ok && !t.closed {
			s := &sink{target: from, created: time.Now()}
			t.socks[from.Port()] = s
			t.order = append(t.order, s)
		}
		t.mu.Unlock()
		t.stun.WriteToUDPAddrPort(bindingResponse(req[8:20], from), from)
	}
}

// bindingResponse is a success response carrying mapped as both
// XOR-MAPPED-ADDRESS and MAPPED-ADDRESS.
func bindingResponse(tid []byte, mapped netip.AddrPort) []byte {
	ip := mapped.Addr().As4()
	port := mapped.Port()
	m := make([]byte, 20, 20+24)
	binary.BigEndian.PutUint16(m, 0x0101)
	binary.BigEndian.PutUint16(m[2:], 24)
	binary.BigEndian.PutUint32(m[4:], stunMagic)
	copy(m[8:], tid)
	xor := make([]byte, 12)
	binary.BigEndian.PutUint16(xor, 0x0020)
	binary.BigEndian.PutUint16(xor[2:], 8)
	xor[5] = 0x01
	binary.BigEndian.PutUint16(xor[6:], port^uint16(stunMagic>>16))
	binary.BigEndian.PutUint32(xor[8:], binary.BigEndian.Uint32(ip[:])^stunMagic)
	plain := make([]byte, 12)
	binary.BigEndian.PutUint16(plain, 0x0001)
	binary.BigEndian.PutUint16(plain[2:], 8)
	plain[5] = 0x01
	binary.BigEndian.PutUint16(plain[6:], port)
	copy(plain[8:], ip[:])
	return append(append(m, xor...), plain...)
}

// capture keeps the RTP sent to the phone's media sockets. Every packet
// on lo shows twice (outgoing and incoming): only the incoming copy counts.
func (t *tap) capture() {
	rc, err := t.raw.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, 65536)
	var n int
	var from unix.Sockaddr
	var rerr error
	read := func(fd uintptr) bool {
		n, from, rerr = unix.Recvfrom(int(fd), buf, 0)
		return rerr != unix.EAGAIN
	}
	for {
		if err := rc.Read(read); err != nil || (rerr != nil && rerr != unix.EINTR) {
			return
		}
		if rerr != nil {
			continue
		}
		at := time.Now()
		if ll, ok := from.(*unix.SockaddrLinklayer); !ok || ll.Pkttype != unix.PACKET_HOST {
			continue
		}
		ip := buf[:n]
		if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != unix.IPPROTO_UDP || binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
			continue // not UDP, or a fragment
		}
		hl := int(ip[0]&0x0f) * 4
		if len(ip) < hl+8 {
			continue
		}
		udp := ip[hl:]
		dst := binary.BigEndian.Uint16(udp[2:])
		t.mu.Lock()
		s := t.socks[dst]
		t.mu.Unlock()
		if s == nil || netip.AddrFrom4([4]byte(ip[16:20])) != s.target.Addr() {
			continue
		}
		ulen := min(int(binary.BigEndian.Uint16(udp[4:])), len(udp))
		if p, ok := parseRTP(udp[8:ulen], at); ok {
			s.mu.Lock()
			s.pkts = append(s.pkts, p)
			s.mu.Unlock()
		}
	}
}

// parseRTP decodes an RTP header (not RTCP: payload types 72-76 with the
// marker bit, i.e. packet types 200-204).
func parseRTP(b []byte, at time.Time) (packet, bool) {
	if len(b) < 12 || b[0]>>6 != 2 || (b[1] >= 200 && b[1] <= 204) {
		return packet{}, false
	}
	cc := int(b[0] & 0x0f)
	off := 12 + 4*cc
	if b[0]&0x10 != 0 { // header extension
		if len(b) < off+4 {
			return packet{}, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:]))
	}
	end := len(b)
	if b[0]&0x20 != 0 && end > off { // padding
		end -= int(b[end-1])
	}
	if off > end {
		return packet{}, false
	}
	return packet{
		at: at, pt: b[1] & 0x7f, marker: b[1]&0x80 != 0,
		seq: binary.BigEndian.Uint16(b[2:]), ts: binary.BigEndian.Uint32(b[4:]), ssrc: binary.BigEndian.Uint32(b[8:]),
		payload: append([]byte(nil), b[off:end]...),
	}, true
}

func (s *sink) packets() []packet {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]packet(nil), s.pkts...)
}

// decodeG711 returns the samples of a PCMU (0) or PCMA (8) payload; other
// payload types (telephone-event, comfort noise) carry no samples here.
func decodeG711(p packet) []int16 {
	var dec func(uint8) int16
	switch p.pt {
	case 0:
		dec = g711.DecodeUlawFrame
	case 8:
		dec = g711.DecodeAlawFrame
	default:
		return nil
	}
	out := make([]int16, len(p.payload))
	for i, b := range p.payload {
		out[i] = dec(b)
	}
	return out
}

// maxSkew is how late a packet may arrive after where its RTP timestamp
// puts it before it starts a new segment (a new talkspurt, a sender that
// paused without advancing its timestamps). It is generous because a
// loaded test machine stalls processes for tens of milliseconds.
const maxSkew = 300 * time.Millisecond

// placed is one packet's samples at their place in wall-clock time.
type placed struct {
	start   time.Time
	samples []int16
}

// place lays one relay's audio packets on the wall clock. Packets fall
// into segments (same SSRC, none arriving more than maxSkew after where
// the timestamps put it); within a segment every packet goes where its RTP
// timestamp puts it, with the segment's smallest arrival-minus-timestamp
// offset (packets arrive late, never early, so arrival jitter does not
// show and a segment is continuous audio). A segment that would overlap
// the one before starts where it ends. A packet's samples end at most
// when it arrived.
func place(pkts []packet) []placed {
	type seg struct {
		offset time.Time // wall-clock time of timestamp ts0
		ts0    uint32
		ssrc   uint32
		pkts   []packet
	}
	var segs []*seg
	var cur *seg
	for _, p := range pkts {
		n := len(decodeG711(p))
		if n == 0 {
			continue
		}
		arrivalStart := p.at.Add(-time.Duration(n) * time.Second / sampleRate)
		if cur != nil && cur.ssrc == p.ssrc {
			want := cur.offset.Add(time.Duration(int32(p.ts-cur.ts0)) * time.Second / sampleRate)
			if late := arrivalStart.Sub(want); late <= maxSkew {
				if late < 0 {
					cur.offset = cur.offset.Add(late)
				}
				cur.pkts = append(cur.pkts, p)
				continue
			}
		}
		cur = &seg{offset: arrivalStart, ts0: p.ts, ssrc: p.ssrc, pkts: []packet{p}}
		segs = append(segs, cur)
	}
	var out []placed
	var prevEnd time.Time
	for _, sg := range segs {
		shift := time.Duration(0)
		first := sg.offset.Add(time.Duration(int32(sg.pkts[0].ts-sg.ts0)) * time.Second / sampleRate)
		if first.Before(prevEnd) {
			shift = prevEnd.Sub(first)
		}
		for _, p := range sg.pkts {
			x := decodeG711(p)
			start := sg.offset.Add(time.Duration(int32(p.ts-sg.ts0))*time.Second/sampleRate + shift)
			out = append(out, placed{start, x})
			if end := start.Add(time.Duration(len(x)) * time.Second / sampleRate); end.After(prevEnd) {
				prevEnd = end
			}
		}
	}
	return out
}

// mix renders placed audio into [from, to): overlapping audio adds up
// (saturating), time without audio is silence.
func mix(dst []int16, from time.Time, ps []placed) {
	for _, p := range ps {
		i0 := int(p.start.Sub(from).Round(time.Second/sampleRate) * sampleRate / time.Second)
		for j, v := range p.samples {
			i := i0 + j
			if i < 0 || i >= len(dst) {
				continue
			}
			dst[i] = sat16(int32(dst[i]) + int32(v))
		}
	}
}

func sat16(v int32) int16 {
	return int16(max(-32768, min(32767, v)))
}

// concat joins placed audio in order without the gaps (a recording of
// the packets as received, like sndfile's).
func concat(ps []placed) []int16 {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].start.Before(ps[j].start) })
	var out []int16
	for _, p := range ps {
		out = append(out, p.samples...)
	}
	return out
}
