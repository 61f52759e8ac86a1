package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// childEnv makes the test binary act as the unprivileged child of
// TestStartWithoutPrivilege.
const childEnv = "CAPTURE_TEST_UNPRIVILEGED_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		_, err := Start(Options{SIPPort: 5060})
		fmt.Println(err)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// pcapRecord is one record of a pcap file read by readPcap.
type pcapRecord struct {
	sec, usec, incl, orig uint32
	sll                   []byte // 16-byte SLL header
	ip                    []byte
}

type pcapFile struct {
	magic             uint32
	major, minor      uint16
	snapLen, linkType uint32
	records           []pcapRecord
}

// readPcap is the test's own little-endian classic pcap reader.
func readPcap(t *testing.T, b []byte) pcapFile {
	t.Helper()
	le := binary.LittleEndian
	if len(b) < 24 {
		t.Fatalf("pcap of %d bytes has no file header", len(b))
	}
	f := pcapFile{
		magic: le.Uint32(b), major: le.Uint16(b[4:]), minor: le.Uint16(b[6:]),
		snapLen: le.Uint32(b[16:]), linkType: le.Uint32(b[20:]),
	}
	for b = b[24:]; len(b) > 0; {
		if len(b) < 16 {
			t.Fatalf("truncated record header: %d bytes left", len(b))
		}
		r := pcapRecord{sec: le.Uint32(b), usec: le.Uint32(b[4:]), incl: le.Uint32(b[8:]), orig: le.Uint32(b[12:])}
		if r.incl < 16 || len(b) < 16+int(r.incl) {
			t.Fatalf("record incl_len %d with %d bytes left", r.incl, len(b)-16)
		}
		r.sll, r.ip = b[16:32], b[32:16+r.incl]
		f.records = append(f.records, r)
		b = b[16+r.incl:]
	}
	return f
}

// testPorts are UDP listeners on 127.0.0.1 for SIP, RTP and noise, and the
// socket everything is sent from; each port is unique and none is the RTCP
// port of another, so a packet matches for the reason the test intends.
type testPorts struct {
	sip, rtp, noise, sender *net.UDPConn
}

func port(c *net.UDPConn) int { return c.LocalAddr().(*net.UDPAddr).Port }

func listenPorts(t *testing.T) testPorts {
	t.Helper()
	for range 20 {
		var conns [4]*net.UDPConn
		for i := range conns {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			conns[i] = c
		}
		p := testPorts{conns[0], conns[1], conns[2], conns[3]}
		matching := map[int]bool{port(p.sip): true, port(p.rtp): true, port(p.rtp) + 1: true}
		if len(matching) == 3 && !matching[port(p.noise)] && !matching[port(p.sender)] {
			t.Cleanup(func() {
				for _, c := range conns {
					c.Close()
				}
			})
			return p
		}
		for _, c := range conns {
			c.Close()
		}
	}
	t.Fatal("no set of distinct UDP ports found")
	return testPorts{}
}

func send(t *testing.T, from, to *net.UDPConn, payload []byte) {
	t.Helper()
	if _, err := from.WriteToUDP(payload, to.LocalAddr().(*net.UDPAddr)); err != nil {
		t.Fatal(err)
	}
}

func rtpPacket(seq uint16, payloadLen int) []byte {
	p := make([]byte, 12+payloadLen)
	p[0] = 0x80 // version 2
	p[1] = 0    // PCMU
	binary.BigEndian.PutUint16(p[2:], seq)
	binary.BigEndian.PutUint32(p[4:], uint32(seq)*160)
	binary.BigEndian.PutUint32(p[8:], 0x5eed5eed)
	for i := 12; i < len(p); i++ {
		p[i] = 0xff // PCMU silence
	}
	return p
}

// waitFor polls cond every millisecond for up to 2 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// fakeClock returns base, base+1ms, base+2ms, ... one step per call.
func fakeClock(base time.Time) func() time.Time {
	var n atomic.Int64
	return func() time.Time { return base.Add(time.Duration(n.Add(1)-1) * time.Millisecond) }
}

func tshark(t *testing.T, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("tshark")
	if err != nil {
		t.Fatalf("install tshark: apt-get install tshark (%v)", err)
	}
	cmd := exec.Command(path, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

const sipOptions = "OPTIONS sip:1001@127.0.0.1 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-capture-test\r\n" +
	"Max-Forwards: 70\r\n" +
	"From: <sip:probe@127.0.0.1>;tag=77\r\n" +
	"To: <sip:1001@127.0.0.1>\r\n" +
	"Call-ID: capture-test-1@127.0.0.1\r\n" +
	"CSeq: 1 OPTIONS\r\n" +
	"Content-Length: 0\r\n\r\n"

// TestLoopbackCaptureReadByTshark captures SIP, RTP and noise on loopback
// and checks the file with tshark and with the test's own reader.
func TestLoopbackCaptureReadByTshark(t *testing.T) {
	ports := listenPorts(t)
	base := time.Date(2025, 3, 4, 5, 6, 7, 123456000, time.UTC)
	c, err := Start(Options{
		SIPPort: port(ports.sip), MediaPorts: []uint16{uint16(port(ports.rtp))},
		Clock: fakeClock(base),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()

	const rtpCount = 5
	send(t, ports.sender, ports.sip, []byte(sipOptions))
	for seq := range uint16(rtpCount) {
		send(t, ports.sender, ports.rtp, rtpPacket(seq+1, 160))
		send(t, ports.sender, ports.noise, []byte("noise that must not be captured"))
	}
	waitFor(t, "the SIP and RTP packets", func() bool { return c.Status().Packets >= 1+rtpCount })
	// Noise and loopback duplicates were sent before the last RTP packet was
	// seen, so they would have been counted by now.
	stopAt := time.Now()
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if d := time.Since(stopAt); d > 500*time.Millisecond {
		t.Errorf("Stop took %v", d)
	}
	st := c.Status()
	if st.Running || st.Packets != 1+rtpCount || st.Err != "" || !st.Started.Equal(base) || st.Limit != DefaultLimit {
		t.Fatalf("status after Stop = %+v, want stopped with %d packets, started %v", st, 1+rtpCount, base)
	}

	var buf bytes.Buffer
	n, err := c.WriteTo(&buf)
	if err != nil || n != st.Bytes || int64(buf.Len()) != st.Bytes {
		t.Fatalf("WriteTo = %d, %v; buffer %d bytes; status %d bytes", n, err, buf.Len(), st.Bytes)
	}
	file := filepath.Join(t.TempDir(), "capture.pcap")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	// The independent reader.
	p, r, noise := port(ports.sip), port(ports.rtp), port(ports.noise)
	methods := tshark(t, "-r", file, "-d", fmt.Sprintf("udp.port==%d,sip", p), "-Y", "sip", "-T", "fields", "-e", "sip.Method")
	if methods != "OPTIONS\n" {
		t.Errorf("tshark SIP methods = %q, want the OPTIONS exactly once", methods)
	}
	seqs := tshark(t, "-r", file, "-d", fmt.Sprintf("udp.port==%d,rtp", r), "-Y", "rtp", "-T", "fields", "-e", "rtp.seq")
	if want := "1\n2\n3\n4\n5\n"; seqs != want {
		t.Errorf("tshark RTP sequence numbers = %q, want %q", seqs, want)
	}
	if out := tshark(t, "-r", file, "-Y", fmt.Sprintf("udp.port==%d", noise)); out != "" {
		t.Errorf("noise port %d in the capture:\n%s", noise, out)
	}
	protocols := tshark(t, "-r", file, "-T", "fields", "-e", "frame.protocols")
	if lines := strings.Split(strings.TrimSpace(protocols), "\n"); len(lines) != 1+rtpCount || !strings.HasPrefix(lines[0], "sll:ethertype:ip:udp") {
		t.Errorf("tshark frame protocols = %q, want %d frames starting sll:ethertype:ip:udp", protocols, 1+rtpCount)
	}

	// The test's own reader: file header, SLL header and timestamps.
	f := readPcap(t, buf.Bytes())
	if f.magic != 0xa1b2c3d4 || f.major != 2 || f.minor != 4 || f.snapLen != 65535 || f.linkType != 113 {
		t.Errorf("file header = %+v, want magic a1b2c3d4 v2.4 snaplen 65535 linktype 113", f)
	}
	if len(f.records) != 1+rtpCount {
		t.Fatalf("%d records, want %d", len(f.records), 1+rtpCount)
	}
	be := binary.BigEndian
	for i, rec := range f.records {
		ts := base.Add(time.Duration(i+1) * time.Millisecond) // call 0 was Started
		if rec.sec != uint32(ts.Unix()) || rec.usec != uint32(ts.Nanosecond()/1000) {
			t.Errorf("record %d timestamp %d.%06d, want %d.%06d", i, rec.sec, rec.usec, ts.Unix(), ts.Nanosecond()/1000)
		}
		if rec.incl != rec.orig || int(rec.incl) != 16+len(rec.ip) {
			t.Errorf("record %d incl %d orig %d with %d IP bytes", i, rec.incl, rec.orig, len(rec.ip))
		}
		if pktType, hw, proto := be.Uint16(rec.sll), be.Uint16(rec.sll[2:]), be.Uint16(rec.sll[14:]); pktType != 0 || hw != 772 || proto != 0x0800 {
			t.Errorf("record %d SLL packet type %d, ARPHRD %d, protocol %#x; want 0 (host), 772 (loopback), 0x0800", i, pktType, hw, proto)
		}
		if want := 20 + 8 + 12 + 160; i > 0 && len(rec.ip) != want {
			t.Errorf("RTP record %d has %d IP bytes, want %d", i, len(rec.ip), want)
		}
	}
	if !bytes.HasSuffix(f.records[0].ip, []byte(sipOptions)) {
		t.Errorf("first record does not end with the OPTIONS text")
	}
}

// TestLimitStopsCapture sends more than the limit holds: the capture stops
// by itself with exactly the records that fit.
func TestLimitStopsCapture(t *testing.T) {
	ports := listenPorts(t)
	const payload = 100
	const record = 16 + 16 + 20 + 8 + payload
	const limit = 24 + 3*record + record/2 // room for 3.5 records
	c, err := Start(Options{SIPPort: port(ports.sip), Limit: limit})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	for range 10 {
		send(t, ports.sender, ports.sip, bytes.Repeat([]byte{'x'}, payload))
	}
	waitFor(t, "the capture to stop at its limit", func() bool { return !c.Status().Running })
	st := c.Status()
	if st.Bytes > st.Limit || st.Limit != limit || st.Packets != 3 || st.Bytes != 24+3*record || st.Err != "" {
		t.Fatalf("status = %+v, want 3 packets, %d bytes ≤ limit %d", st, 24+3*record, limit)
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop after the limit: %v", err)
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if f := readPcap(t, buf.Bytes()); len(f.records) != 3 || int64(buf.Len()) != st.Bytes {
		t.Fatalf("file has %d records in %d bytes, want 3 in %d", len(f.records), buf.Len(), st.Bytes)
	}
}

// TestWriteToWhileCapturing reads the file from another goroutine while
// packets arrive: every snapshot is a whole, parseable pcap (run with -race).
func TestWriteToWhileCapturing(t *testing.T) {
	ports := listenPorts(t)
	c, err := Start(Options{SIPPort: port(ports.sip)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			send(t, ports.sender, ports.sip, []byte(fmt.Sprintf("packet %d", i)))
		}
	}()
	for range 20 {
		var buf bytes.Buffer
		if _, err := c.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		readPcap(t, buf.Bytes())
	}
	<-done
	waitFor(t, "50 packets", func() bool { return c.Status().Packets >= 50 })
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
}

func TestStartRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{
		{SIPPort: 70000},
		{SIPPort: -1},
		{SIPPort: 5060, MediaPorts: []uint16{10000, 0}},
		{SIPPort: 5060, Limit: 10},
	} {
		if c, err := Start(o); err == nil {
			c.Stop()
			t.Errorf("Start(%+v) accepted", o)
		} else if !strings.HasPrefix(err.Error(), "capture: ") {
			t.Errorf("Start(%+v) error %q lacks the package prefix", o, err)
		}
	}
}

// TestStartWithoutPrivilege runs Start as user nobody (a copy of the test
// binary, since nobody cannot read the build directory) and expects the
// error that names the missing privilege.
func TestStartWithoutPrivilege(t *testing.T) {
	const want = "capture: raw socket needs root or CAP_NET_RAW: "
	if os.Geteuid() != 0 {
		_, err := Start(Options{})
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("unprivileged Start error = %v, want prefix %q", err, want)
		}
		return
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	child := filepath.Join(dir, "capture.test")
	if err := os.WriteFile(child, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(child)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("unprivileged child: %v: %s", err, out)
	}
	if !strings.HasPrefix(string(out), want) {
		t.Fatalf("unprivileged Start error = %q, want prefix %q", out, want)
	}
}

// TestHandleAllocatesNothing: a kept packet only appends to the pcap buffer.
func TestHandleAllocatesNothing(t *testing.T) {
	c, err := newCapture(Options{SIPPort: 5060, MediaPorts: []uint16{10000, 10001},
		Clock: func() time.Time { return time.Unix(1700000000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	c.buf = append(make([]byte, 0, 1<<20), c.buf...) // grown beforehand: no append reallocates
	rtp := ipv4UDP(40000, 10000, rtpPacket(1, 160))
	noise := ipv4UDP(40000, 443, nil)
	h := &sllHeader{hwType: 1, addrLen: 6, addr: [8]byte{2, 0, 0, 0, 0, 1}, etherType: etherTypeIPv4}
	allocs := testing.AllocsPerRun(200, func() {
		c.handle(h, rtp, len(rtp))
		c.handle(h, noise, len(noise))
	})
	if allocs != 0 {
		t.Fatalf("handle allocates %.1f times per packet", allocs)
	}
	if c.packets != 201 { // AllocsPerRun runs once more to warm up
		t.Fatalf("%d packets kept, want 201", c.packets)
	}
}

// TestHandleDropsLoopbackOutgoing: the outgoing copy of a loopback packet is
// dropped, the outgoing packet of a real interface is kept.
func TestHandleDropsLoopbackOutgoing(t *testing.T) {
	c, err := newCapture(Options{SIPPort: 5060})
	if err != nil {
		t.Fatal(err)
	}
	pkt := ipv4UDP(40000, 5060, []byte("OPTIONS"))
	c.handle(&sllHeader{pktType: packetOutgoing, hwType: arphrdLoopback, etherType: etherTypeIPv4}, pkt, len(pkt))
	if c.packets != 0 {
		t.Fatal("outgoing loopback copy kept")
	}
	c.handle(&sllHeader{pktType: packetOutgoing, hwType: 1, etherType: etherTypeIPv4}, pkt, len(pkt))
	if c.packets != 1 {
		t.Fatal("outgoing Ethernet packet dropped")
	}
}

// TestReceiveAllocatesNothing: reading a packet from the socket (poller
// callback, recvfrom, SLL fields) allocates nothing. Packets are queued
// before measuring, so no read has to wait.
func TestReceiveAllocatesNothing(t *testing.T) {
	ports := listenPorts(t)
	s, err := openPacketSocket()
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	for range 200 { // 400 copies on loopback, plus whatever else the host sends
		send(t, ports.sender, ports.sip, rtpPacket(1, 160))
	}
	buf := make([]byte, snapLen)
	var h sllHeader
	var recvErr error
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := s.recv(buf, &h); err != nil {
			recvErr = err
		}
	})
	if recvErr != nil {
		t.Fatal(recvErr)
	}
	if allocs != 0 {
		t.Fatalf("recv allocates %.1f times per packet", allocs)
	}
}
