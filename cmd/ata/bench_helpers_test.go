package main

// Helpers for the performance benchmarks (bench_test.go): process figures
// from /proc, CPU burners, and a minimal SIP/RTP peer that timestamps what
// it receives with the kernel's receive time.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// benchEnvDuration reads a duration from the environment (e.g.
// ATA_BENCH_CALL=10s for a quick run), def when unset.
func benchEnvDuration(tb testing.TB, name string, def time.Duration) time.Duration {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		tb.Fatalf("%s=%q: want a positive duration like 10s", name, v)
	}
	return d
}

// benchEnvInt reads a positive count from the environment, def when unset.
func benchEnvInt(tb testing.TB, name string, def int) int {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive count", name, v)
	}
	return n
}

// startBenchFirmware is startFirmware at the production log level, so
// that logging does not inflate the figures. ATA_BENCH_CHRT="-f 10" runs
// the firmware under a real-time policy (chrt execs it: same PID).
func startBenchFirmware(tb testing.TB, configTOML string) *firmware {
	tb.Helper()
	var prefix []string
	if rt := os.Getenv("ATA_BENCH_CHRT"); rt != "" {
		chrt, err := exec.LookPath("chrt")
		if err != nil {
			tb.Fatal("install chrt: apt-get install util-linux")
		}
		prefix = append([]string{chrt}, strings.Fields(rt)...)
	}
	return launchFirmware(tb, configTOML, "info", prefix)
}

// benchSIPAddr is the firmware's SIP address as a UDP address.
func (f *firmware) benchSIPAddr(tb testing.TB) *net.UDPAddr {
	tb.Helper()
	a, err := net.ResolveUDPAddr("udp", f.sipAddr(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat: 100 on
// every Linux architecture this firmware targets (amd64, arm, arm64).
const clockTicks = 100

// procCPU is the CPU time (user + system, all threads) process pid has used.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("proc cpu: %w", err)
	}
	// The command name (field 2) may hold spaces: count fields after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return 0, fmt.Errorf("proc cpu: /proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+2:])) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("proc cpu: /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	utime, err1 := strconv.ParseInt(f[14-3], 10, 64)
	stime, err2 := strconv.ParseInt(f[15-3], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("proc cpu: /proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// procSwitches is the context switches (voluntary + involuntary) of all
// of process pid's threads: each is a wake-up or a preemption, a count the
// other agents' load on a shared machine does not inflate the way it does
// CPU time.
func procSwitches(pid int) (int64, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, fmt.Errorf("proc switches: %w", err)
	}
	var n int64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, t.Name()))
		if err != nil {
			continue // the thread ended meanwhile
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok && (k == "voluntary_ctxt_switches" || k == "nonvoluntary_ctxt_switches") {
				c, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				if err != nil {
					return 0, fmt.Errorf("proc switches: %s %q: %w", k, v, err)
				}
				n += c
			}
		}
	}
	return n, nil
}

// procStatusKB is a "kB" field of /proc/PID/status (VmRSS, VmHWM).
func procStatusKB(pid int, field string) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("proc status: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				return 0, fmt.Errorf("proc status: %s %q: %w", field, v, err)
			}
			return kb, nil
		}
	}
	return 0, fmt.Errorf("proc status: /proc/%d/status has no %s", pid, field)
}

// pidByArg finds the process whose argv[0] is named prog and whose command
// line has arg (baresiptest does not expose its PID; its config dir is on
// the command line: baresip -f DIR).
func pidByArg(tb testing.TB, prog, arg string) int {
	tb.Helper()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		tb.Fatalf("read /proc: %v", err)
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if filepath.Base(args[0]) == prog && slices.Contains(args[1:], arg) {
			return pid
		}
	}
	tb.Fatalf("no %s process with %q on its command line", prog, arg)
	return 0
}

// loadAvg1 is the 1-minute load average (the machine is shared).
func loadAvg1(tb testing.TB) float64 {
	tb.Helper()
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		tb.Fatal(err)
	}
	v, err := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// startCPUBurners keeps n cores busy with shell busy loops (child
// processes at the same priority as the firmware) until the returned stop
// is called or the benchmark ends.
func startCPUBurners(tb testing.TB, n int) (stop func()) {
	tb.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		tb.Fatal("install sh: apt-get install dash")
	}
	var cmds []*exec.Cmd
	stop = func() {
		for _, c := range cmds {
			c.Process.Kill()
			c.Wait()
		}
		cmds = nil
	}
	tb.Cleanup(stop)
	for range n {
		c := exec.Command(sh, "-c", "while :; do :; done")
		if err := c.Start(); err != nil {
			tb.Fatalf("CPU burner: %v", err)
		}
		cmds = append(cmds, c)
	}
	return stop
}

// percentile is the nearest-rank q-quantile (0 < q ≤ 1) of sorted x.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// stampedConn is a UDP socket that reports the kernel's receive time of
// each datagram (SO_TIMESTAMPNS, CLOCK_REALTIME), so that the reader's own
// scheduling delay under load does not enter the measurement.
type stampedConn struct {
	*net.UDPConn
	buf, oob []byte
}

func listenStamped(tb testing.TB) *stampedConn {
	tb.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	rc, err := c.SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		tb.Fatalf("SO_TIMESTAMPNS: %v %v", err, serr)
	}
	return &stampedConn{UDPConn: c, buf: make([]byte, 65536), oob: make([]byte, 128)}
}

// read returns the next datagram (valid until the next read), its source
// and its kernel receive time in Unix ns.
func (c *stampedConn) read(deadline time.Time) ([]byte, *net.UDPAddr, int64, error) {
	c.SetReadDeadline(deadline)
	n, oobn, _, src, err := c.ReadMsgUDP(c.buf, c.oob)
	if err != nil {
		return nil, nil, 0, err
	}
	msgs, err := syscall.ParseSocketControlMessage(c.oob[:oobn])
	if err != nil {
		return nil, nil, 0, fmt.Errorf("control message: %w", err)
	}
	for _, m := range msgs {
		if m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == syscall.SCM_TIMESTAMPNS &&
			len(m.Data) >= int(unsafe.Sizeof(syscall.Timespec{})) {
			ts := *(*syscall.Timespec)(unsafe.Pointer(&m.Data[0]))
			return c.buf[:n], src, ts.Nano(), nil
		}
	}
	return nil, nil, 0, fmt.Errorf("datagram without a kernel timestamp")
}

// sipMsg is one SIP message the peer received.
type sipMsg struct {
	raw    string
	status int    // response status; 0 for a request
	method string // request method, or the CSeq method of a response
	at     int64  // kernel receive time, Unix ns
	src    *net.UDPAddr
}

// header is the value of the first header called name (or its compact
// form short).
func (m sipMsg) header(name, short string) string {
	head, _, _ := strings.Cut(m.raw, "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n")[1:] {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if strings.EqualFold(k, name) || (short != "" && strings.EqualFold(k, short)) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func (m sipMsg) headers(name, short string) []string {
	head, _, _ := strings.Cut(m.raw, "\r\n\r\n")
	var out []string
	for _, line := range strings.Split(head, "\r\n")[1:] {
		k, v, ok := strings.Cut(line, ":")
		if ok && (strings.EqualFold(strings.TrimSpace(k), name) || strings.EqualFold(strings.TrimSpace(k), short)) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

func (m sipMsg) body() string {
	_, b, _ := strings.Cut(m.raw, "\r\n\r\n")
	return b
}

func parseSIP(b []byte, src *net.UDPAddr, at int64) (sipMsg, bool) {
	m := sipMsg{raw: string(b), src: src, at: at}
	first, _, _ := strings.Cut(m.raw, "\r\n")
	if rest, ok := strings.CutPrefix(first, "SIP/2.0 "); ok {
		code, _, _ := strings.Cut(rest, " ")
		var err error
		if m.status, err = strconv.Atoi(code); err != nil {
			return m, false
		}
		_, m.method, _ = strings.Cut(m.header("CSeq", ""), " ")
		return m, true
	}
	method, _, ok := strings.Cut(first, " ")
	m.method = method
	return m, ok && strings.HasSuffix(first, " SIP/2.0")
}

// sipPeer is a minimal SIP user agent that calls one address directly (the
// ATA as its proxy would relay a call, or baresip) and times the answers.
type sipPeer struct {
	tb   testing.TB
	sip  *stampedConn
	rtp  *stampedConn
	dest *net.UDPAddr // where requests go
	ruri string       // Request-URI of INVITEs
	n    int          // calls made

	// The current call.
	callID, fromTag, toHdr, target string
	remoteRTP                      *net.UDPAddr
}

func newSIPPeer(tb testing.TB, dest *net.UDPAddr, ruri string) *sipPeer {
	return &sipPeer{tb: tb, sip: listenStamped(tb), rtp: listenStamped(tb), dest: dest, ruri: ruri}
}

func (p *sipPeer) local() string { return p.sip.LocalAddr().String() }

func (p *sipPeer) send(msg string, to *net.UDPAddr) {
	p.tb.Helper()
	if _, err := p.sip.WriteToUDP([]byte(msg), to); err != nil {
		p.tb.Fatalf("send SIP: %v", err)
	}
}

// invite starts a new call and returns when the INVITE left, in Unix ns.
func (p *sipPeer) invite() int64 {
	p.tb.Helper()
	p.n++
	p.callID = fmt.Sprintf("bench-%d-%d@127.0.0.1", os.Getpid(), p.n)
	p.fromTag = fmt.Sprintf("bt%d", p.n)
	p.toHdr, p.target, p.remoteRTP = "", "", nil
	rtpPort := p.rtp.LocalAddr().(*net.UDPAddr).Port
	sdp := fmt.Sprintf("v=0\r\no=bench %d %d IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"+
		"a=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n", p.n, p.n, rtpPort)
	msg := fmt.Sprintf("INVITE %s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-bench-%d-inv;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: \"BENCH\" <sip:5550100@127.0.0.1>;tag=%s\r\n"+
		"To: <%s>\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: 1 INVITE\r\n"+
		"Contact: <sip:5550100@%s>\r\n"+
		"Content-Type: application/sdp\r\n"+
		"Content-Length: %d\r\n\r\n%s",
		p.ruri, p.local(), p.n, p.fromTag, p.ruri, p.callID, p.local(), len(sdp), sdp)
	at := time.Now().UnixNano()
	p.send(msg, p.dest)
	return at
}

// next reads SIP messages until want accepts one; it answers BYE and
// OPTIONS on the way (the BYE is still offered to want).
func (p *sipPeer) next(d time.Duration, what string, want func(sipMsg) bool) sipMsg {
	p.tb.Helper()
	deadline := time.Now().Add(d)
	for {
		b, src, at, err := p.sip.read(deadline)
		if err != nil {
			p.tb.Fatalf("waiting for %s: %v", what, err)
		}
		m, ok := parseSIP(b, src, at)
		if !ok {
			continue
		}
		if m.status == 0 && (m.method == "BYE" || m.method == "OPTIONS") {
			p.reply(m, 200, "OK")
		}
		if want(m) {
			return m
		}
	}
}

// reply answers request m without a body.
func (p *sipPeer) reply(m sipMsg, code int, reason string) {
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	for _, v := range m.headers("Via", "v") {
		fmt.Fprintf(&b, "Via: %s\r\n", v)
	}
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %s\r\nContent-Length: 0\r\n\r\n",
		m.header("From", "f"), m.header("To", "t"), m.header("Call-ID", "i"), m.header("CSeq", ""))
	p.send(b.String(), m.src)
}

// response waits for the INVITE's response with status code (provisional
// responses before it are skipped); a final error fails the benchmark.
func (p *sipPeer) response(code int, d time.Duration) sipMsg {
	p.tb.Helper()
	return p.next(d, fmt.Sprintf("%d to INVITE", code), func(m sipMsg) bool {
		if m.status == 0 || m.method != "INVITE" || m.header("Call-ID", "i") != p.callID {
			return false
		}
		if m.status >= 300 {
			p.tb.Fatalf("INVITE answered %d:\n%s", m.status, m.raw)
		}
		return m.status == code
	})
}

var (
	reContactURI = regexp.MustCompile(`<([^>]+)>`)
	reMedia      = regexp.MustCompile(`(?m)^m=audio (\d+) `)
	reConn       = regexp.MustCompile(`(?m)^c=IN IP4 (\S+)`)
)

// ack confirms the 200 OK and learns the far end's RTP address.
func (p *sipPeer) ack(ok sipMsg) {
	p.tb.Helper()
	p.toHdr = ok.header("To", "t")
	c := reContactURI.FindStringSubmatch(ok.header("Contact", "m"))
	if c == nil {
		p.tb.Fatalf("200 OK without a Contact:\n%s", ok.raw)
	}
	p.target = c[1]
	mm, cc := reMedia.FindStringSubmatch(ok.body()), reConn.FindStringSubmatch(ok.body())
	if mm == nil || cc == nil {
		p.tb.Fatalf("200 OK without an audio address:\n%s", ok.raw)
	}
	port, _ := strconv.Atoi(mm[1])
	p.remoteRTP = &net.UDPAddr{IP: net.ParseIP(cc[1]), Port: port}
	p.send(p.inDialog("ACK", 1, "ack"), ok.src)
}

func (p *sipPeer) inDialog(method string, cseq int, branch string) string {
	return fmt.Sprintf("%s %s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-bench-%d-%s;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: \"BENCH\" <sip:5550100@127.0.0.1>;tag=%s\r\n"+
		"To: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\nContent-Length: 0\r\n\r\n",
		method, p.target, p.local(), p.n, branch, p.fromTag, p.toHdr, p.callID, cseq, method)
}

// bye hangs up from this side and waits for the 200.
func (p *sipPeer) bye() {
	p.tb.Helper()
	p.send(p.inDialog("BYE", 2, "bye"), p.dest)
	p.next(5*time.Second, "200 to BYE", func(m sipMsg) bool {
		return m.status == 200 && m.method == "BYE" && m.header("Call-ID", "i") == p.callID
	})
}

// awaitBye waits for the far end's BYE (answered by next).
func (p *sipPeer) awaitBye(d time.Duration) {
	p.tb.Helper()
	p.next(d, "BYE", func(m sipMsg) bool {
		return m.status == 0 && m.method == "BYE" && m.header("Call-ID", "i") == p.callID
	})
}

// sendRTP sends PCMU silence to the far end every 20 ms from the RTP
// socket (symmetric RTP) until stop is closed.
func (p *sipPeer) sendRTP(stop <-chan struct{}) {
	pkt := make([]byte, 12+160)
	pkt[0], pkt[1] = 0x80, 0 // V=2, PT 0 (PCMU)
	binary.BigEndian.PutUint32(pkt[8:], 0x62656e63)
	for i := range pkt[12:] {
		pkt[12+i] = 0xff // µ-law silence
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for seq := uint16(0); ; seq++ {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		binary.BigEndian.PutUint16(pkt[2:], seq)
		binary.BigEndian.PutUint32(pkt[4:], uint32(seq)*160)
		p.rtp.WriteToUDP(pkt, p.remoteRTP)
	}
}

// rtpArrival is one RTP packet as it reached the peer.
type rtpArrival struct {
	seq uint16
	at  int64 // kernel receive time, Unix ns
}

// captureRTP records the arrival of the far end's RTP audio packets
// (telephone-events and RTCP-muxed packets are left out) for d. It may run
// on its own goroutine.
func (p *sipPeer) captureRTP(d time.Duration) ([]rtpArrival, error) {
	var out []rtpArrival
	end := time.Now().Add(d)
	for {
		b, _, at, err := p.rtp.read(end)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return out, nil
			}
			return out, fmt.Errorf("RTP capture: %w", err)
		}
		if len(b) < 12 || b[0]>>6 != 2 {
			continue
		}
		if pt := b[1] & 0x7f; pt != 0 && pt != 8 {
			continue
		}
		out = append(out, rtpArrival{seq: binary.BigEndian.Uint16(b[2:]), at: at})
	}
}

// spacingDeviations are |arrival spacing − ptime| between packets with
// consecutive sequence numbers; lost counts the sequence gaps.
func spacingDeviations(pkts []rtpArrival, ptime time.Duration) (devs []time.Duration, lost int) {
	for i := 1; i < len(pkts); i++ {
		if pkts[i].seq != pkts[i-1].seq+1 {
			lost++
			continue
		}
		d := time.Duration(pkts[i].at-pkts[i-1].at) - ptime
		devs = append(devs, max(d, -d))
	}
	slices.Sort(devs)
	return devs, lost
}
