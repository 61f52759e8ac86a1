package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openata/ata/internal/baresiptest"
	"github.com/openata/ata/internal/kamailiotest"
)

// The call-figure tests put a lossy path between the ATA and a baresip far
// end. Kamailio relays the ATA's INVITE for 2000 to sdpForwarder instead of
// baresip; the forwarder points the offer's media port at lossyRelay and
// passes the INVITE on. baresip then sends its RTP and RTCP through the
// relay, which drops every 20th RTP packet (5 %), delays each by 0-40 ms
// (jitter) and holds RTCP 20 ms each way (a round trip to measure). The
// ATA's symmetric RTP answers to where the far end's packets come from, so
// its RTP and RTCP go back through the relay too. (tc netem would be the
// other way, but this kernel has no sch_netem; a relay also keeps the
// impairment to this one call.)

// sdpForwarder relays SIP datagrams from Kamailio to baresip, rewriting the
// port of an SDP offer's m=audio line to rtpPort (0: unchanged). It keeps
// the ATA's SIP port (INVITE Contact) and RTP port (the offer's) it saw.
type sdpForwarder struct {
	conn    *net.UDPConn
	to      netip.AddrPort // baresip's SIP address
	rtpPort int

	mu      sync.Mutex
	ataSIP  int
	ataRTP  int
	offered chan struct{} // closed at the first offer
}

var (
	mAudio     = regexp.MustCompile(`(?m)^m=audio (\d+) `)
	contactSIP = regexp.MustCompile(`(?mi)^(?:Contact|m):[^\r\n]*sip:1001@[^:;>]+:(\d+)`)
	clHeader   = regexp.MustCompile(`(?mi)^(Content-Length|l)[ \t]*:[ \t]*\d+`)
)

func startSDPForwarder(t *testing.T, to netip.AddrPort, rtpPort int) *sdpForwarder {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	f := &sdpForwarder{conn: c, to: to, rtpPort: rtpPort, offered: make(chan struct{})}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 65535)
		var from netip.AddrPort // the last sender that is not baresip: Kamailio
		for {
			n, src, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			msg := append([]byte(nil), buf[:n]...)
			src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
			if src == f.to {
				if from.IsValid() {
					c.WriteToUDPAddrPort(msg, from)
				}
				continue
			}
			from = src
			c.WriteToUDPAddrPort(f.rewrite(msg), f.to)
		}
	}()
	return f
}

func (f *sdpForwarder) addr() string { return f.conn.LocalAddr().String() }

// rewrite points an INVITE's SDP offer at the relay.
func (f *sdpForwarder) rewrite(msg []byte) []byte {
	head, body, ok := bytes.Cut(msg, []byte("\r\n\r\n"))
	if !ok || !bytes.HasPrefix(msg, []byte("INVITE ")) {
		return msg
	}
	m := mAudio.FindSubmatchIndex(body)
	if m == nil {
		return msg
	}
	f.mu.Lock()
	first := f.ataRTP == 0
	f.ataRTP, _ = strconv.Atoi(string(body[m[2]:m[3]]))
	if c := contactSIP.FindSubmatch(head); c != nil {
		f.ataSIP, _ = strconv.Atoi(string(c[1]))
	}
	f.mu.Unlock()
	if first {
		close(f.offered)
	}
	if f.rtpPort == 0 {
		return msg
	}
	body = append(append(append([]byte(nil), body[:m[2]]...), strconv.Itoa(f.rtpPort)...), body[m[3]:]...)
	head = clHeader.ReplaceAll(head, []byte("Content-Length: "+strconv.Itoa(len(body))))
	return append(append(head, "\r\n\r\n"...), body...)
}

// ports waits for the first offer and returns the ATA's SIP and RTP ports.
func (f *sdpForwarder) ports(t *testing.T) (sip, rtp int) {
	t.Helper()
	select {
	case <-f.offered:
	case <-time.After(10 * time.Second):
		t.Fatal("no INVITE with an SDP offer reached the forwarder")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ataSIP == 0 {
		t.Fatal("the INVITE had no Contact with the ATA's port")
	}
	return f.ataSIP, f.ataRTP
}

// lossyRelay sits between baresip and the ATA's RTP and RTCP ports.
type lossyRelay struct {
	rtp, rtcp *net.UDPConn
	ata       func() int // the ATA's RTP port (from the forwarder)

	mu               sync.Mutex
	rng              *rand.Rand
	far, farRTCP     netip.AddrPort
	fromFar, dropped int
}

func startLossyRelay(t *testing.T) *lossyRelay {
	t.Helper()
	r := &lossyRelay{rng: rand.New(rand.NewPCG(16, 4))}
	for range 50 {
		rtp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		p := rtp.LocalAddr().(*net.UDPAddr).Port
		if p%2 == 0 {
			if rtcp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p + 1}); err == nil {
				r.rtp, r.rtcp = rtp, rtcp
				break
			}
		}
		rtp.Close()
	}
	if r.rtp == nil {
		t.Fatal("no free even/odd port pair for the relay")
	}
	t.Cleanup(func() { r.rtp.Close(); r.rtcp.Close() })
	return r
}

func (r *lossyRelay) port() int { return r.rtp.LocalAddr().(*net.UDPAddr).Port }

func (r *lossyRelay) run(ataRTP int) {
	ata := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(ataRTP))
	ataRTCP := netip.AddrPortFrom(ata.Addr(), ata.Port()+1)
	later := func(c *net.UDPConn, d time.Duration, b []byte, to netip.AddrPort) {
		time.AfterFunc(d, func() { c.WriteToUDPAddrPort(b, to) })
	}
	go func() { // RTP: the far end's stream loses 5 % and jitters; ours passes
		buf := make([]byte, 2048)
		for {
			n, src, err := r.rtp.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			b := append([]byte(nil), buf[:n]...)
			src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
			r.mu.Lock()
			if src == ata {
				far := r.far
				r.mu.Unlock()
				if far.IsValid() {
					r.rtp.WriteToUDPAddrPort(b, far)
				}
				continue
			}
			r.far = src
			r.fromFar++
			drop := r.fromFar%20 == 7
			if drop {
				r.dropped++
			}
			delay := time.Duration(r.rng.Int64N(int64(40 * time.Millisecond)))
			r.mu.Unlock()
			if !drop {
				later(r.rtp, delay, b, ata)
			}
		}
	}()
	go func() { // RTCP: 20 ms each way
		buf := make([]byte, 2048)
		for {
			n, src, err := r.rtcp.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			b := append([]byte(nil), buf[:n]...)
			src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
			r.mu.Lock()
			to := ataRTCP
			if src == ataRTCP {
				to = r.farRTCP
			} else {
				r.farRTCP = src
			}
			r.mu.Unlock()
			if to.IsValid() {
				later(r.rtcp, 20*time.Millisecond, b, to)
			}
		}
	}()
}

func (r *lossyRelay) counts() (fromFar, dropped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fromFar, r.dropped
}

// loginWeb sets the admin password on a fresh firmware (first boot) and
// returns the logged-in client.
func loginWeb(t *testing.T, base string) *webClient {
	t.Helper()
	const pw = "correct horse battery staple"
	w := newWebClient(t, base)
	if res := w.form("/setup", url.Values{"username": {"admin"}, "password": {pw}, "confirm": {pw}}); res.StatusCode >= 400 {
		t.Fatalf("web setup: %d", res.StatusCode)
	}
	return w
}

// statusEvent is one "status" server-sent event, as received.
type statusEvent struct {
	at    time.Time
	Calls []struct {
		Number    string  `json:"number"`
		Role      string  `json:"role"`
		DurationS int64   `json:"duration_s"`
		Codec     string  `json:"codec"`
		Loss      float64 `json:"loss"`
		JitterMS  float64 `json:"jitter_ms"`
		RTTMS     float64 `json:"rtt_ms"`
		MOS       float64 `json:"mos"`
	} `json:"calls"`
}

// watchEvents reads GET /api/events as the browser's EventSource does,
// until the test ends.
func watchEvents(t *testing.T, w *webClient) <-chan statusEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", w.base+"/api/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	stream := &http.Client{Jar: w.http.Jar} // no timeout: the stream lives long
	res, err := stream.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("GET /api/events: %d", res.StatusCode)
	}
	out := make(chan statusEvent, 256)
	go func() {
		defer res.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "status":
				var ev statusEvent
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev) == nil {
					ev.at = time.Now()
					select {
					case out <- ev:
					default:
					}
				}
			}
		}
	}()
	return out
}

// narrowRTPPorts is an 8-port rtp_ports range away from baresip's
// (20000-40000) and from most ephemeral ports.
func narrowRTPPorts() (first, last int) {
	first = 41000 + 8*rand.IntN(1000)
	return first, first + 7
}

// qualityConfig is lineConfig with a web address and a narrow rtp_ports.
func qualityConfig(kam *kamailiotest.Server, web string, first, last int) string {
	cfg := strings.Replace(lineConfig(kam, ""), `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = %q", web), 1) // [web]
	return strings.Replace(cfg, "[sip]\n", fmt.Sprintf("[sip]\nrtp_ports = \"%d-%d\"\n", first, last), 1)
}

// TestCallFiguresThroughALossyPath: during a call whose far end's RTP loses
// 5 % and jitters by up to 40 ms, the status events come at least every
// 2 s with a growing duration and the codec, a loss near 5 %, the jitter, a
// round trip and a MOS below a clean call's; after the hang-up the call
// log has them all. The call's RTP port lies in the configured rtp_ports.
func TestCallFiguresThroughALossyPath(t *testing.T) {
	far := baresiptest.Start(t, baresiptest.Opts{User: "2000", Incoming: baresiptest.AutoAnswer,
		Audio: baresiptest.Tone(1000, -10, 40*time.Second)})
	relay := startLossyRelay(t)
	fwd := startSDPForwarder(t, far.Addr(), relay.port())
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "secret"}, FarEnd: fwd.addr()})
	web := freePort(t)
	first, last := narrowRTPPorts()
	f := startFirmware(t, qualityConfig(kam, web, first, last))
	waitRegistered(t, kam, "1001")
	w := loginWeb(t, "http://"+web)
	events := watchEvents(t, w)

	ctx := context.Background()
	if err := f.phone.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	if err := f.phone.Dial(ctx, "2000", "dtmf"); err != nil {
		t.Fatal(err)
	}
	_, ataRTP := fwd.ports(t)
	if ataRTP < first || ataRTP+1 > last || ataRTP%2 != 0 {
		t.Errorf("the call's RTP port %d (RTCP %d) is not an even port of rtp_ports %d-%d", ataRTP, ataRTP+1, first, last)
	}
	relay.run(ataRTP)
	far.WaitEvent(baresiptest.Established, 10*time.Second)
	f.waitLog(t, "to=talking", 5*time.Second)

	// Watch the call for 20 s: baresip's RTCP reports on our stream (for
	// the round trip) come every 5 s or so after our first SR.
	var got []statusEvent
	end := time.After(20 * time.Second)
watch:
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the event stream ended during the call")
			}
			if len(ev.Calls) == 1 && ev.Calls[0].Role == "active" {
				got = append(got, ev)
			}
		case <-end:
			break watch
		}
	}
	fromFar, dropped := relay.counts()
	t.Logf("relay: %d RTP packets from the far end, %d dropped", fromFar, dropped)
	if len(got) < 8 {
		t.Fatalf("%d status events with the active call in 20 s, want one at least every 2 s", len(got))
	}
	for i := 1; i < len(got); i++ {
		if gap := got[i].at.Sub(got[i-1].at); gap > 3*time.Second { // 2 s, and a loaded machine's slack
			t.Errorf("no status event for %v during the call (events %d-%d), want one at least every 2 s", gap.Round(time.Millisecond), i-1, i)
		}
	}
	d0, d1 := got[0].Calls[0].DurationS, got[len(got)-1].Calls[0].DurationS
	if d1 <= d0 || d1 < 15 {
		t.Errorf("duration went from %d s to %d s over 20 s of events, want it to grow to at least 15 s", d0, d1)
	}
	c := got[len(got)-1].Calls[0]
	t.Logf("last status: %+v", c)
	switch {
	case c.Codec != "PCMU":
		t.Errorf("codec %q, want PCMU", c.Codec)
	case c.Loss < 0.03 || c.Loss > 0.08:
		t.Errorf("loss %.3f, want about 0.05 (the relay drops 1 in 20)", c.Loss)
	case c.JitterMS < 5:
		t.Errorf("jitter %.1f ms, want the relay's 0-40 ms spread to show (over 5 ms)", c.JitterMS)
	case c.RTTMS < 20 || c.RTTMS > 2000:
		t.Errorf("round trip %.1f ms, want at least the relay's 2×20 ms on RTCP", c.RTTMS)
	case c.MOS < 2.5 || c.MOS > 4.2:
		t.Errorf("MOS %.2f, want 5 %% loss to take it below a clean call's 4.4", c.MOS)
	}

	if err := f.phone.Hook(ctx, "on"); err != nil {
		t.Fatal(err)
	}
	far.WaitEvent(baresiptest.Closed, 5*time.Second)
	var calls struct {
		Calls []struct {
			Duration float64 `json:"duration_s"`
			Codec    string  `json:"codec"`
			Loss     float64 `json:"loss"`
			JitterMS float64 `json:"jitter_ms"`
			RTTMS    float64 `json:"rtt_ms"`
			MOS      float64 `json:"mos"`
		} `json:"calls"`
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(calls.Calls) == 0 && time.Now().Before(deadline) {
		res, data := w.api("GET", "/api/calls", nil)
		if res.StatusCode != 200 {
			t.Fatalf("GET /api/calls: %d %s", res.StatusCode, data)
		}
		if err := json.Unmarshal(data, &calls); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(calls.Calls) != 1 {
		t.Fatalf("call log %+v, want the one call", calls.Calls)
	}
	e := calls.Calls[0]
	t.Logf("call log: %+v", e)
	if e.Codec != "PCMU" || e.Loss < 0.03 || e.Loss > 0.08 || e.JitterMS < 5 || e.RTTMS < 20 || e.MOS < 2.5 || e.MOS > 4.2 || e.Duration < 15 {
		t.Errorf("call log entry %+v, want PCMU, loss about 0.05, jitter over 5 ms, a round trip, a MOS below 4.2, 15 s or more", e)
	}
}

// pcapUDP is one captured UDP datagram: its ports and payload.
type pcapUDP struct {
	src, dst int
	payload  []byte
}

// readPcapUDP parses a LINUX_SLL pcap (what sip/capture writes) into its
// IPv4 UDP datagrams; anything else fails the test.
func readPcapUDP(t *testing.T, b []byte) []pcapUDP {
	t.Helper()
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 || binary.LittleEndian.Uint32(b[20:]) != 113 {
		t.Fatalf("not a little-endian LINUX_SLL pcap: % x", b[:min(len(b), 24)])
	}
	var out []pcapUDP
	for off := 24; off < len(b); {
		if off+16 > len(b) {
			t.Fatalf("truncated record header at %d", off)
		}
		incl := int(binary.LittleEndian.Uint32(b[off+8:]))
		rec := b[off+16 : off+16+incl]
		off += 16 + incl
		if len(rec) < 16+28 || binary.BigEndian.Uint16(rec[14:]) != 0x0800 {
			t.Fatalf("record is not IPv4 over SLL: % x", rec[:min(len(rec), 20)])
		}
		ip := rec[16:]
		ihl := int(ip[0]&0x0f) * 4
		if ip[9] != 17 || len(ip) < ihl+8 {
			t.Fatalf("record is not UDP: % x", ip[:min(len(ip), 24)])
		}
		udp := ip[ihl:]
		out = append(out, pcapUDP{src: int(binary.BigEndian.Uint16(udp)), dst: int(binary.BigEndian.Uint16(udp[2:])), payload: udp[8:]})
	}
	return out
}

// TestCaptureHoldsOnlyTheATAsSIPAndCallRTP: a capture taken during a call,
// while another program sends RTP-like packets between two other ports of
// the ATA's rtp_ports range and DNS-like queries from a third, holds the
// ATA's SIP and that call's RTP and RTCP, and nothing else.
func TestCaptureHoldsOnlyTheATAsSIPAndCallRTP(t *testing.T) {
	far := baresiptest.Start(t, baresiptest.Opts{User: "2000", Incoming: baresiptest.AutoAnswer,
		Audio: baresiptest.Tone(1000, -10, 20*time.Second)})
	fwd := startSDPForwarder(t, far.Addr(), 0) // observes only
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "secret"}, FarEnd: fwd.addr()})
	web := freePort(t)
	first, last := narrowRTPPorts()
	f := startFirmware(t, qualityConfig(kam, web, first, last))
	waitRegistered(t, kam, "1001")
	w := loginWeb(t, "http://"+web)
	if res, data := w.api("POST", "/api/capture/start", nil); res.StatusCode >= 300 {
		t.Fatalf("capture start: %d %s", res.StatusCode, data)
	}

	ctx := context.Background()
	if err := f.phone.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	if err := f.phone.Dial(ctx, "2000", "dtmf"); err != nil {
		t.Fatal(err)
	}
	ataSIP, ataRTP := fwd.ports(t)
	far.WaitEvent(baresiptest.Established, 10*time.Second)
	f.waitLog(t, "to=talking", 5*time.Second)
	talking := time.Now()

	// The other program: its own RTP between two free ports of the range,
	// and DNS queries from a third to 127.0.0.1:53.
	var other []*net.UDPConn
	for p := first; p <= last && len(other) < 3; p++ {
		if p == ataRTP || p == ataRTP+1 {
			continue
		}
		if c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p}); err == nil {
			other = append(other, c)
			defer c.Close()
		}
	}
	if len(other) < 3 {
		t.Fatalf("could bind only %d other ports in %d-%d", len(other), first, last)
	}
	otherPorts := map[int]bool{}
	for _, c := range other {
		otherPorts[c.LocalAddr().(*net.UDPAddr).Port] = true
	}
	rtpTo, dns := other[1].LocalAddr().(*net.UDPAddr), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
	query := []byte("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01")
	pkt := make([]byte, 12+160)
	pkt[0] = 0x80
	for i := range 100 {
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		other[0].WriteToUDP(pkt, rtpTo)
		if i%10 == 0 {
			other[2].WriteToUDP(query, dns)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Our first RTCP report goes out 2.5-7.5 s into the call.
	time.Sleep(time.Until(talking.Add(9 * time.Second)))

	if err := f.phone.Hook(ctx, "on"); err != nil {
		t.Fatal(err)
	}
	far.WaitEvent(baresiptest.Closed, 5*time.Second)
	time.Sleep(300 * time.Millisecond) // the BYE's answer
	if res, data := w.api("POST", "/api/capture/stop", nil); res.StatusCode >= 300 {
		t.Fatalf("capture stop: %d %s", res.StatusCode, data)
	}
	res, err := w.http.Get(w.base + "/api/capture.pcap")
	if err != nil {
		t.Fatal(err)
	}
	pcap, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET /api/capture.pcap: %d %s", res.StatusCode, pcap)
	}

	ours := map[int]bool{ataSIP: true, ataRTP: true, ataRTP + 1: true}
	var sip, rtp, rtcp int
	var methods []string
	byes := map[bool]bool{} // RTCP BYEs, ours (true) and the far end's: both come as the call's sockets close
	for _, u := range readPcapUDP(t, pcap) {
		switch {
		case otherPorts[u.src] || otherPorts[u.dst] || u.dst == 53:
			t.Errorf("the other program's datagram %d→%d in the capture", u.src, u.dst)
		case !ours[u.src] && !ours[u.dst]:
			t.Errorf("datagram %d→%d is neither the ATA's SIP (%d) nor its call's media (%d/%d)", u.src, u.dst, ataSIP, ataRTP, ataRTP+1)
		case u.src == ataSIP || u.dst == ataSIP:
			sip++
			if line, _, _ := strings.Cut(string(u.payload), "\r\n"); !strings.HasPrefix(line, "SIP/2.0") {
				methods = append(methods, strings.Fields(line + " ?")[0])
			}
		case u.src == ataRTP || u.dst == ataRTP:
			rtp++
		default:
			rtcp++
			if rtcpHasBye(u.payload) {
				byes[u.src == ataRTP+1] = true
			}
		}
	}
	t.Logf("capture: %d SIP (requests %v), %d RTP, %d RTCP datagrams; SIP port %d, RTP %d", sip, methods, rtp, rtcp, ataSIP, ataRTP)
	joined := strings.Join(methods, " ")
	if !strings.Contains(joined, "INVITE") || !strings.Contains(joined, "BYE") {
		t.Errorf("the call's INVITE and BYE are not both in the capture: %v", methods)
	}
	if rtp < 100 || rtcp < 1 {
		t.Errorf("%d RTP and %d RTCP datagrams of the call captured, want its media both ways (over 100) and RTCP", rtp, rtcp)
	}
	if !byes[true] || !byes[false] {
		t.Errorf("RTCP BYEs in the capture: ours %v, the far end's %v; want both: an ended call's ports must stay a moment for its last packets",
			byes[true], byes[false])
	}
}

// rtcpHasBye reports whether a compound RTCP packet holds a BYE (PT 203).
func rtcpHasBye(b []byte) bool {
	for len(b) >= 4 {
		if b[1] == 203 {
			return true
		}
		n := (int(binary.BigEndian.Uint16(b[2:])) + 1) * 4
		if n > len(b) {
			return false
		}
		b = b[n:]
	}
	return false
}
