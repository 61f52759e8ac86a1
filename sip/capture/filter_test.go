package capture

import (
	"encoding/binary"
	"testing"
)

// Ports used by the filter tests: SIP 5060; a call's RTP 10000 and RTCP
// 10001, and another call's RTP 10002 (its RTCP not told, to see a port
// set rather than a range).
var testFilter = newTestFilter()

func newTestFilter() *portFilter {
	f := &portFilter{sip: 5060}
	f.setMedia([]uint16{10002, 10000, 10001})
	return f
}

func ipv4UDP(src, dst uint16, payload []byte) []byte {
	p := make([]byte, 20+8+len(payload))
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	p[8] = 64
	p[9] = ipProtoUDP
	copy(p[12:], []byte{127, 0, 0, 1})
	copy(p[16:], []byte{127, 0, 0, 1})
	binary.BigEndian.PutUint16(p[20:], src)
	binary.BigEndian.PutUint16(p[22:], dst)
	binary.BigEndian.PutUint16(p[24:], uint16(8+len(payload)))
	copy(p[28:], payload)
	return p
}

// extHeader is an IPv6 extension header: its protocol number and its bytes
// (the first byte, next header, is filled in by ipv6UDP).
type extHeader struct {
	proto byte
	raw   []byte
}

func hopByHop() extHeader { return extHeader{0, make([]byte, 8)} }

func fragment(offset uint16) extHeader {
	raw := make([]byte, 8)
	binary.BigEndian.PutUint16(raw[2:], offset<<3)
	return extHeader{44, raw}
}

func ipv6UDP(src, dst uint16, payload []byte, ext ...extHeader) []byte {
	p := make([]byte, 40)
	p[0] = 0x60
	p[7] = 64
	p[23], p[39] = 1, 1 // ::1 to ::1
	next := byte(ipProtoUDP)
	var chain []byte
	for i := len(ext) - 1; i >= 0; i-- {
		h := append([]byte(nil), ext[i].raw...)
		h[0] = next
		chain = append(h, chain...)
		next = ext[i].proto
	}
	p[6] = next
	udp := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(udp[0:], src)
	binary.BigEndian.PutUint16(udp[2:], dst)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], payload)
	p = append(append(p, chain...), udp...)
	binary.BigEndian.PutUint16(p[4:], uint16(len(p)-40))
	return p
}

func TestFilterKeepsSIPAndRTPOnly(t *testing.T) {
	withFrag := ipv4UDP(5060, 40000, []byte("INVITE"))
	binary.BigEndian.PutUint16(withFrag[6:], 0x2000) // more-fragments set, offset 0: first fragment
	laterFrag := ipv4UDP(5060, 40000, []byte("INVITE"))
	binary.BigEndian.PutUint16(laterFrag[6:], 185) // offset 1480 bytes: bytes 20.. are payload, not UDP
	tcp := ipv4UDP(5060, 5060, nil)
	tcp[9] = 6
	options := ipv4UDP(5060, 5060, nil)
	options[0] = 0x46 // IHL 6: 4 bytes of options before UDP
	options = append(options[:20], append([]byte{1, 1, 1, 0}, options[20:]...)...)

	cases := []struct {
		name      string
		etherType uint16
		pkt       []byte
		want      bool
	}{
		{"v4 SIP destination", etherTypeIPv4, ipv4UDP(40000, 5060, []byte("OPTIONS")), true},
		{"v4 SIP source", etherTypeIPv4, ipv4UDP(5060, 40000, nil), true},
		{"v4 call's RTP", etherTypeIPv4, ipv4UDP(40000, 10000, nil), true},
		{"v4 call's RTCP", etherTypeIPv4, ipv4UDP(10001, 40000, nil), true},
		{"v4 second call's RTP", etherTypeIPv4, ipv4UDP(40000, 10002, nil), true},
		{"v4 below the ports", etherTypeIPv4, ipv4UDP(40000, 9999, nil), false},
		{"v4 a port no call holds", etherTypeIPv4, ipv4UDP(40000, 10003, nil), false},
		{"v4 another program's RTP between the calls' ports", etherTypeIPv4, ipv4UDP(10004, 10006, nil), false},
		{"v4 DNS from a port in the RTP range", etherTypeIPv4, ipv4UDP(10008, 53, nil), false},
		{"v4 noise", etherTypeIPv4, ipv4UDP(53, 40000, nil), false},
		{"v4 TCP on SIP port", etherTypeIPv4, tcp, false},
		{"v4 IP options", etherTypeIPv4, options, true},
		{"v4 first fragment", etherTypeIPv4, withFrag, true},
		{"v4 later fragment", etherTypeIPv4, laterFrag, false},
		{"v4 truncated UDP", etherTypeIPv4, ipv4UDP(40000, 5060, nil)[:27], false},
		{"v4 under v6 EtherType", etherTypeIPv6, ipv4UDP(40000, 5060, nil), false},
		{"ARP EtherType", 0x0806, ipv4UDP(40000, 5060, nil), false},
		{"v6 SIP", etherTypeIPv6, ipv6UDP(40000, 5060, nil), true},
		{"v6 RTP after hop-by-hop", etherTypeIPv6, ipv6UDP(40000, 10001, nil, hopByHop()), true},
		{"v6 first fragment", etherTypeIPv6, ipv6UDP(5060, 40000, nil, hopByHop(), fragment(0)), true},
		{"v6 later fragment", etherTypeIPv6, ipv6UDP(5060, 40000, nil, fragment(100)), false},
		{"v6 noise", etherTypeIPv6, ipv6UDP(40000, 443, nil, hopByHop()), false},
		{"v6 truncated ext", etherTypeIPv6, ipv6UDP(40000, 5060, nil, hopByHop())[:45], false},
		{"empty", etherTypeIPv4, nil, false},
	}
	for _, tc := range cases {
		if got := testFilter.keep(tc.etherType, tc.pkt); got != tc.want {
			t.Errorf("%s: keep = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestFilterWithoutMediaPorts(t *testing.T) {
	c, err := newCapture(Options{SIPPort: 5070})
	if err != nil {
		t.Fatal(err)
	}
	for _, port := range []uint16{0, 1, 5071, 10000} {
		if c.filter.keep(etherTypeIPv4, ipv4UDP(40000, port, nil)) {
			t.Errorf("port %d kept with no call up", port)
		}
	}
	if !c.filter.keep(etherTypeIPv4, ipv4UDP(40000, 5070, nil)) {
		t.Error("SIP port 5070 not kept")
	}
}

// The media ports follow the calls: a call's ports are kept from when the
// app tells them, and not after its end.
func TestSetMediaPortsFollowsCalls(t *testing.T) {
	c, err := newCapture(Options{SIPPort: 5060, MediaPorts: []uint16{12000, 12001}})
	if err != nil {
		t.Fatal(err)
	}
	kept := func(port uint16) bool { return c.filter.keep(etherTypeIPv4, ipv4UDP(40000, port, nil)) }
	if !kept(12000) || !kept(12001) || kept(14000) {
		t.Fatal("first call's ports not kept at the start, or another port kept")
	}
	c.SetMediaPorts([]uint16{14001, 12001, 14000, 12000}) // a second call
	if !kept(12000) || !kept(14000) || !kept(14001) {
		t.Fatal("second call's ports not kept")
	}
	c.SetMediaPorts([]uint16{14000, 14001}) // the first call ended
	if kept(12000) || kept(12001) || !kept(14000) {
		t.Fatal("ended call's ports still kept, or the live call's lost")
	}
	c.SetMediaPorts(nil)
	if kept(14000) || !kept(5060) {
		t.Fatal("media kept with no call, or SIP lost")
	}
}

// FuzzFilter feeds arbitrary frames to the IP/UDP parser: it must not
// panic, must only report a UDP header that lies inside the packet, and
// keep must agree with the port rule evaluated independently.
func FuzzFilter(f *testing.F) {
	f.Add(uint16(etherTypeIPv4), ipv4UDP(40000, 5060, []byte("OPTIONS sip:a SIP/2.0\r\n")))
	f.Add(uint16(etherTypeIPv4), ipv4UDP(10002, 40000, make([]byte, 172)))
	f.Add(uint16(etherTypeIPv4), ipv4UDP(53, 40000, nil)[:24])
	f.Add(uint16(etherTypeIPv6), ipv6UDP(40000, 10000, nil, hopByHop(), fragment(0)))
	f.Add(uint16(etherTypeIPv6), ipv6UDP(40000, 10000, nil, extHeader{60, make([]byte, 16)}, extHeader{51, make([]byte, 12)}))
	f.Add(uint16(etherTypeIPv6), ipv6UDP(5060, 40000, nil, fragment(7)))
	f.Add(uint16(0x0806), []byte{0, 1, 8, 0, 6, 4})
	f.Fuzz(func(t *testing.T, etherType uint16, pkt []byte) {
		off, ok := udpOffset(etherType, pkt)
		kept := testFilter.keep(etherType, pkt)
		if !ok {
			if kept {
				t.Fatal("kept a packet without a UDP header")
			}
			return
		}
		if off+8 > len(pkt) {
			t.Fatalf("UDP header at %d overruns a %d-byte packet", off, len(pkt))
		}
		switch {
		case etherType == etherTypeIPv4 && (pkt[0]>>4 != 4 || off < 20 || off > 60):
			t.Fatalf("IPv4 UDP offset %d, version byte %#x", off, pkt[0])
		case etherType == etherTypeIPv6 && (pkt[0]>>4 != 6 || off < 40):
			t.Fatalf("IPv6 UDP offset %d, version byte %#x", off, pkt[0])
		case etherType != etherTypeIPv4 && etherType != etherTypeIPv6:
			t.Fatalf("EtherType %#x parsed as IP", etherType)
		}
		match := func(p int) bool { return p == 5060 || (p >= 10000 && p <= 10002) } // the test filter's ports
		src := int(pkt[off])<<8 | int(pkt[off+1])
		dst := int(pkt[off+2])<<8 | int(pkt[off+3])
		if want := match(src) || match(dst); kept != want {
			t.Fatalf("ports %d→%d: keep = %v, want %v", src, dst, kept, want)
		}
	})
}
