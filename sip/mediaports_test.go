package sip

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	siplib "github.com/emiago/sipgo/sip"

	"github.com/openata/ata/call"
)

var sdpAudioPort = regexp.MustCompile(`m=audio (\d+) `)

// mediaPortLog records what StackConfig.OnMediaPorts is told.
type mediaPortLog struct {
	mu   sync.Mutex
	sets [][]uint16
}

func (m *mediaPortLog) tell(ports []uint16) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sets = append(m.sets, slices.Clone(ports))
}

func (m *mediaPortLog) last() []uint16 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.sets) == 0 {
		return nil
	}
	return m.sets[len(m.sets)-1]
}

// A call's RTP port lies in the stack's configured range (4 ports: two
// pairs), and the stack tells the calls' RTP and RTCP ports as calls take
// and free them.
func TestCallRTPPortInConfiguredRangeAndTold(t *testing.T) {
	p := newPeer(t)
	first := 40000 + 4*rand.IntN(2000) // a narrow range few other sockets are in
	var told mediaPortLog
	cfg := testStackConfig()
	cfg.Listen, cfg.KeepAlive = "127.0.0.1:0", 0
	cfg.RTPPortMin, cfg.RTPPortMax = first, first+3
	cfg.OnMediaPorts = told.tell
	st, err := NewStack(cfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l, err := NewLine(st, Account{Number: "1001", ServiceDomain: "voip.test", Registrar: p.addr(), Codecs: []string{"PCMU"}},
		LineOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	p.ata = st.LocalAddr()
	c, _ := outgoing(t, p, l)
	c.mu.Lock()
	inv := c.uac.InviteRequest
	c.mu.Unlock()
	m := sdpAudioPort.FindSubmatch(inv.Body())
	if m == nil {
		t.Fatalf("no m=audio in our offer:\n%s", inv.Body())
	}
	port, _ := strconv.Atoi(string(m[1]))
	if port != first && port != first+2 {
		t.Fatalf("RTP port %d, want %d or %d (sip rtp ports %d-%d)", port, first, first+2, first, first+3)
	}
	if got, want := told.last(), []uint16{uint16(port), uint16(port + 1)}; !slices.Equal(got, want) {
		t.Fatalf("media ports told %v, want %v", got, want)
	}
	if got := st.MediaPorts(); !slices.Equal(got, []uint16{uint16(port), uint16(port + 1)}) {
		t.Fatalf("MediaPorts() %v during the call", got)
	}
	c.Hangup(call.Normal)
	p.reply(p.request(siplib.BYE), 200, "", nil)
	waitEvent(t, c, call.Ended)
	if got := told.last(); len(got) != 0 {
		t.Fatalf("media ports told %v after the call ended, want none", got)
	}
}

// The range's 4 ports hold two calls; a third finds no pair.
func TestRTPPortRangeFull(t *testing.T) {
	p := newPeer(t)
	first := 40000 + 4*rand.IntN(2000)
	cfg := testStackConfig()
	cfg.Listen, cfg.KeepAlive = "127.0.0.1:0", 0
	cfg.RTPPortMin, cfg.RTPPortMax = first, first+3
	st, err := NewStack(cfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l, err := NewLine(st, Account{Number: "1001", ServiceDomain: "voip.test", Registrar: p.addr(), Codecs: []string{"PCMU"}},
		LineOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("127.0.0.1")
	var conns []*net.UDPConn
	for range 2 {
		rtp, rtcp, port, err := l.openRTP(ip)
		if err != nil {
			t.Fatal(err)
		}
		if port < first || port+1 > first+3 || port%2 != 0 {
			t.Fatalf("pair %d/%d outside %d-%d", port, port+1, first, first+3)
		}
		conns = append(conns, rtp, rtcp)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if _, _, port, err := l.openRTP(ip); err == nil {
		t.Fatalf("a third pair at %d in a 4-port range", port)
	}
}

// Report keeps the call's figures after it ended and its RTP session
// closed: the call log reads it then.
func TestReportKeepsFiguresAfterTheCallEnds(t *testing.T) {
	p := newPeer(t)
	l := testLine(t, p)
	c, _ := outgoing(t, p, l)
	c.mu.Lock()
	port, _ := strconv.Atoi(string(sdpAudioPort.FindSubmatch(c.uac.InviteRequest.Body())[1]))
	c.mu.Unlock()
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	// 100 packets of 20 ms, every tenth missing: 10 % loss.
	pkt := make([]byte, 12+160)
	pkt[0], pkt[1] = 0x80, 0
	binary.BigEndian.PutUint32(pkt[8:], 0x1234)
	go sendFrames(c, 2500*time.Millisecond)
	for i := range 100 {
		if i%10 != 5 {
			binary.BigEndian.PutUint16(pkt[2:], uint16(i))
			binary.BigEndian.PutUint32(pkt[4:], uint32(i*160))
			if _, err := p.rtp.WriteToUDP(pkt, to); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	during := c.Report()
	if during.Codec != "PCMU" || during.Loss < 0.05 || during.Loss > 0.15 || during.Jitter <= 0 || during.MOS <= 1 {
		t.Fatalf("report during the call %+v, want PCMU, about 10 %% loss, some jitter, a MOS", during)
	}
	c.Hangup(call.Normal)
	p.reply(p.request(siplib.BYE), 200, "", nil)
	waitEvent(t, c, call.Ended)
	after := c.Report()
	if after.Codec != during.Codec || after.Loss != during.Loss || after.MOS != during.MOS || after.Jitter == 0 {
		t.Fatalf("report after the end %+v, during %+v: the figures must stay for the call log", after, during)
	}
}
