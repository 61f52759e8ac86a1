package baresiptest

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/zaf/g711"
)

// Why a tap: baresip 1.0.0's sndfile module records what a call receives
// only until the first re-INVITE with a direction other than sendrecv
// (hold): audio_decoder_set then flushes the receive filter chain and
// aufilt_setup does not rebuild it while the send chain exists, so the
// "-dec.wav" file closes for good. It also records packets, not time:
// a pause in the RTP stream leaves no gap in the file.
//
// So the harness records received RTP itself. Each phone's account uses
// baresip's stun media-NAT module with the harness as its STUN server:
// the binding request from each RTP (and RTCP) socket is answered with
// the address of a relay socket the harness opens for it, which baresip
// then advertises in its SDP. The far end sends its RTP to the relay;
// the relay stamps each packet with its arrival time, keeps it and
// forwards it to baresip. What baresip sends goes out directly from its
// own socket. The relay adds well under a millisecond.

// tap is one phone's STUN server and its relays.
type tap struct {
	stun *net.UDPConn

	mu     sync.Mutex
	relays map[netip.AddrPort]*relay // by baresip's socket address
	order  []*relay                  // creation order
	closed bool
}

// relay stands between the far end and one baresip media socket.
type relay struct {
	conn    *net.UDPConn
	target  netip.AddrPort // baresip's socket
	created time.Time

	mu   sync.Mutex
	peer netip.AddrPort // last far-end source
	pkts []packet       // RTP received from the far end
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

func newTap() (*tap, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	t := &tap{stun: c, relays: map[netip.AddrPort]*relay{}}
	go t.serveSTUN()
	return t, nil
}

// addr is the STUN server's address.
func (t *tap) addr() netip.AddrPort { return t.stun.LocalAddr().(*net.UDPAddr).AddrPort() }

func (t *tap) close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.stun.Close()
	for _, r := range t.all() {
		r.conn.Close()
	}
}

func (t *tap) all() []*relay {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*relay(nil), t.order...)
}

const stunMagic = 0x2112A442

// serveSTUN answers RFC 5389 binding requests with the relay address.
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
		r := t.relayFor(from)
		if r == nil {
			continue
		}
		t.stun.WriteToUDPAddrPort(bindingResponse(req[8:20], r.conn.LocalAddr().(*net.UDPAddr).AddrPort()), from)
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

// relayFor returns the relay of baresip's socket from, opening it on the
// first binding request (later ones are keep-alives).
func (t *tap) relayFor(from netip.AddrPort) *relay {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	if r, ok := t.relays[from]; ok {
		return r
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil
	}
	r := &relay{conn: c, target: from, created: time.Now()}
	t.relays[from] = r
	t.order = append(t.order, r)
	go r.run()
	return r
}

// run forwards far end → baresip, keeping RTP; and, should baresip send
// to the relay (it does not latch in 1.0.0, but in case), baresip → far end.
func (r *relay) run() {
	buf := make([]byte, 2048)
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		at := time.Now()
		if from == r.target {
			r.mu.Lock()
			peer := r.peer
			r.mu.Unlock()
			if peer.IsValid() {
				r.conn.WriteToUDPAddrPort(buf[:n], peer)
			}
			continue
		}
		r.conn.WriteToUDPAddrPort(buf[:n], r.target)
		p, ok := parseRTP(buf[:n], at)
		r.mu.Lock()
		r.peer = from
		if ok {
			r.pkts = append(r.pkts, p)
		}
		r.mu.Unlock()
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

func (r *relay) packets() []packet {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]packet(nil), r.pkts...)
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
const maxSkew = 200 * time.Millisecond

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
