package sip

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openata/ata/call"
	"github.com/openata/ata/internal/baresiptest"
	"github.com/openata/ata/internal/kamailiotest"
)

// capture runs dumpcap on loopback with filter until the test ends; stop
// ends it and returns the file.
func capture(t *testing.T, filter string) (stop func() string) {
	t.Helper()
	pcap := filepath.Join(t.TempDir(), "lo.pcapng")
	dump := exec.Command("dumpcap", "-q", "-i", "lo", "-f", filter, "-w", pcap)
	var dumpErr bytes.Buffer
	dump.Stderr = &dumpErr
	if err := dump.Start(); err != nil {
		t.Fatalf("dumpcap (apt-get install tshark): %v", err)
	}
	stopped := false
	stop = func() string {
		if !stopped {
			stopped = true
			dump.Process.Signal(syscall.SIGINT)
			dump.Wait()
		}
		return pcap
	}
	t.Cleanup(func() { stop() })
	for deadline := time.Now().Add(10 * time.Second); ; {
		if fi, err := os.Stat(pcap); err == nil && fi.Size() > 0 {
			return stop // the file header is written once capturing
		}
		if time.Now().After(deadline) {
			t.Fatalf("dumpcap did not start: %s", dumpErr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tsharkCount counts the packets of pcap matching a display filter, with
// port decoded as TLS.
func tsharkCount(t *testing.T, pcap, filter string, port uint16) int {
	t.Helper()
	out, err := exec.Command("tshark", "-r", pcap, "-d", fmt.Sprintf("tcp.port==%d,tls", port), "-Y", filter, "-T", "fields", "-e", "frame.number").Output()
	if err != nil {
		t.Fatalf("tshark -Y %s: %v", filter, err)
	}
	return len(strings.Fields(string(out)))
}

// clearSIP finds SIP in clear in any packet, whatever it was decoded as.
const clearSIP = `frame contains "SIP/2.0" || frame contains "sip:"`

// talk sends tone on c for d and returns what c heard meanwhile.
func talk(c *Call, tone []int16, d time.Duration) []int16 {
	var heard []int16
	f := make([]int16, 160)
	start := time.Now()
	for n := range int(d / (20 * time.Millisecond)) {
		c.Media().WriteFrame(tone[(n*160)%len(tone) : (n*160)%len(tone)+160])
		c.Media().ReadFrame(f)
		heard = append(heard, f...)
		time.Sleep(time.Until(start.Add(time.Duration(n+1) * 20 * time.Millisecond)))
	}
	return heard
}

// A TLS line calls a baresip phone registered at the same Kamailio (over
// UDP), and takes its call back over the registered TLS connection: in
// both calls each side hears the other's tone, and a capture of the TLS
// port holds TLS and no SIP in clear.
func TestTLSCallsBaresipBothWays(t *testing.T) {
	t.Parallel()
	k := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"alice": "pw", "bob": "pb"}, TLS: true})
	stopCapture := capture(t, fmt.Sprintf("tcp port %d", k.TLSAddr().Port()))
	const ourHz, farHz = 1000.0, 1500.0
	far := baresiptest.Start(t, baresiptest.Opts{User: "bob", Password: "pb", Registrar: k.Addr().String(),
		Audio: baresiptest.Tone(farHz, -15, time.Second), Incoming: baresiptest.AutoAnswer})

	st := tlsStack(t, k.CA().CAFile())
	acct := tlsAccount("sip.test", k)
	acct.Codecs = []string{"PCMU"}
	r, _ := runLine(t, st, acct, RegOptions{Timeout: 3 * time.Second, Resolver: testHosts})
	waitState(t, r, StateRegistered, 10*time.Second)
	l, err := NewLine(st, acct, LineOptions{Logger: testLogger(t), Resolver: testHosts})
	if err != nil {
		t.Fatal(err)
	}
	tone := baresiptest.Tone(ourHz, -15, time.Second)
	check := func(dir string, c *Call, start time.Time, heard []int16) {
		t.Helper()
		if lvl := baresiptest.ToneLevel(heard[len(heard)/4:], farHz); lvl < -19 {
			t.Errorf("%s call: we heard the far end's %.0f Hz at %.1f dBm0", dir, farHz, lvl)
		}
		if lvl := far.HeardLevel(ourHz, start.Add(time.Second), start.Add(2500*time.Millisecond)); lvl < -19 {
			t.Errorf("%s call: baresip heard our %.0f Hz at %.1f dBm0", dir, ourHz, lvl)
		}
	}

	// Outgoing: INVITE over TLS (407 answered), relayed to baresip over UDP.
	c, err := l.DialCall(t.Context(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, call.Answered)
	start := time.Now()
	check("outgoing", c, start, talk(c, tone, 3*time.Second))
	c.Hangup(call.Normal)
	far.WaitEvent(baresiptest.Closed, 5*time.Second)

	// Incoming: baresip calls 1001; Kamailio reaches us at our sips:
	// contact, over the connection we registered on.
	in := make(chan *Call, 1)
	l.OnIncoming(func(c *Call) { in <- c })
	far.Dial("sip:1001@" + k.Addr().String())
	var ic *Call
	select {
	case ic = <-in:
	case <-time.After(5 * time.Second):
		t.Fatal("baresip's call did not reach the TLS line")
	}
	if err := ic.Answer(); err != nil {
		t.Fatal(err)
	}
	far.WaitEvent(baresiptest.Established, 5*time.Second)
	start = time.Now()
	check("incoming", ic, start, talk(ic, tone, 3*time.Second))
	ic.Hangup(call.Normal)
	far.WaitEvent(baresiptest.Closed, 5*time.Second)

	time.Sleep(300 * time.Millisecond) // the last packets reach the file
	pcap := stopCapture()
	port := k.TLSAddr().Port()
	nTLS, nSIP := tsharkCount(t, pcap, "tls", port), tsharkCount(t, pcap, clearSIP, port)
	t.Logf("TLS port %d: %d TLS records, %d SIP packets in clear", port, nTLS, nSIP)
	if nTLS < 10 || nSIP != 0 {
		t.Errorf("capture of the TLS port: %d TLS packets, %d SIP in clear; want TLS only", nTLS, nSIP)
	}
}
