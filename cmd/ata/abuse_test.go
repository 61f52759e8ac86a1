package main

// Abuse from outside (issue 16, point 7): a login flood from many
// addresses and an INVITE flood from the proxy's address must leave the
// firmware's memory bounded and the box working.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openata/ata/internal/kamailiotest"
)

// rssSampler records the firmware's VmRSS every 20 ms until stopped.
type rssSampler struct {
	pid  int
	stop chan struct{}
	done chan struct{}
	peak int // kB
	err  error
}

func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			kb, err := procStatusKB(pid, "VmRSS")
			if err != nil {
				s.err = err
				return
			}
			s.peak = max(s.peak, kb)
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// end stops sampling and returns the highest VmRSS seen, in kB.
func (s *rssSampler) end(tb testing.TB) int {
	tb.Helper()
	close(s.stop)
	<-s.done
	if s.err != nil {
		tb.Fatal(s.err)
	}
	return s.peak
}

// idleRSS is the firmware's settled VmRSS in kB: the lowest of a few
// samples, so a GC cycle caught in the middle does not raise the baseline.
func idleRSS(tb testing.TB, pid int) int {
	tb.Helper()
	low := 0
	for i := range 10 {
		kb, err := procStatusKB(pid, "VmRSS")
		if err != nil {
			tb.Fatal(err)
		}
		if i == 0 || kb < low {
			low = kb
		}
		time.Sleep(50 * time.Millisecond)
	}
	return low
}

func mbOf(kb int) float64 { return float64(kb) * 1024 / 1e6 }

// floodInvites sends n INVITEs for ruri to dest at rate per second from
// conn, each a new call (its own Call-ID, branch and From tag), and never
// ACKs or CANCELs: what a broken or hostile peer behind the proxy does.
// It returns the count of each final status received up to 2 s after
// the last INVITE.
func floodInvites(tb testing.TB, conn *net.UDPConn, dest *net.UDPAddr, ruri string, n, rate int) map[int]int {
	tb.Helper()
	var mu sync.Mutex
	codes := map[int]int{}
	seen := map[string]bool{} // Call-IDs with a final answer (retransmissions count once)
	readDone := make(chan struct{})
	conn.SetReadDeadline(time.Time{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 65535)
		for {
			k, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			m, ok := parseSIP(buf[:k], nil, 0)
			if !ok || m.status < 200 {
				continue
			}
			mu.Lock()
			if id := m.header("Call-ID", "i"); !seen[id] {
				seen[id] = true
				codes[m.status]++
			}
			mu.Unlock()
		}
	}()
	local := conn.LocalAddr().String()
	sdp := "v=0\r\no=flood 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		msg := fmt.Sprintf("INVITE %s SIP/2.0\r\n"+
			"Via: SIP/2.0/UDP %s;branch=z9hG4bK-flood-%d;rport\r\n"+
			"Max-Forwards: 70\r\n"+
			"From: \"Flood\" <sip:5550199@127.0.0.1>;tag=fl%d\r\n"+
			"To: <%s>\r\n"+
			"Call-ID: flood-%d@127.0.0.1\r\n"+
			"CSeq: 1 INVITE\r\n"+
			"Contact: <sip:5550199@%s>\r\n"+
			"Content-Type: application/sdp\r\n"+
			"Content-Length: %d\r\n\r\n%s",
			ruri, local, i, i, ruri, i, local, len(sdp), sdp)
		if _, err := conn.WriteToUDP([]byte(msg), dest); err != nil {
			tb.Fatalf("flood: send INVITE %d: %v", i, err)
		}
	}
	tb.Logf("flood: %d INVITEs in %v", n, time.Since(start).Round(time.Millisecond))
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	<-readDone
	mu.Lock()
	defer mu.Unlock()
	return codes
}

// TestInviteFloodKeepsMemoryBounded: 2,000 INVITEs at 500/s from the
// proxy's address (127.0.0.1, where Kamailio listens, so the proxy-only
// filter lets them in) to the registered line, never acknowledged. The
// firmware's RSS stays within 15 MB of idle, it keeps running, the line
// stays registered and a normal call still rings the phone afterwards.
func TestInviteFloodKeepsMemoryBounded(t *testing.T) {
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "secret"}})
	// A short ring timeout: the one flood call the phone rings for gives
	// up by itself, so the normal call afterwards finds the phone free.
	const ringTimeout = 3 * time.Second
	cfg := strings.Replace(lineConfig(kam, ""), "dial_plan = \"(xxxx)\"\n",
		fmt.Sprintf("dial_plan = \"(xxxx)\"\nring_timeout = \"%v\"\n", ringTimeout), 1)
	f := startBenchFirmware(t, cfg)
	waitRegistered(t, kam, "1001")
	pid := f.cmd.Process.Pid
	addr := f.benchSIPAddr(t)
	ruri := fmt.Sprintf("sip:1001@%s", addr)

	time.Sleep(time.Second)
	idle := idleRSS(t, pid)
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadBuffer(4 << 20)
	rss := sampleRSS(pid)
	codes := floodInvites(t, conn, addr, ruri, 2000, 500)
	floodEnd := time.Now()
	peak := rss.end(t)
	after, _ := procStatusKB(pid, "VmRSS")
	t.Logf("INVITE flood answers: %v", codes)
	t.Logf("INVITE flood: idle %.1f MB, peak %.1f MB, delta %.1f MB, after %.1f MB", mbOf(idle), mbOf(peak), mbOf(peak-idle), mbOf(after))
	fmt.Printf("abuse: 2000 INVITEs at 500/s: RSS idle %.1f MB, peak %.1f MB (+%.1f MB)\n", mbOf(idle), mbOf(peak), mbOf(peak-idle))

	select {
	case err := <-f.done:
		t.Fatalf("the firmware exited during the flood: %v", err)
	default:
	}
	if peak-idle > 15*1000*1000/1024 {
		t.Errorf("RSS rose %.1f MB above idle under the flood, want ≤ 15 MB", mbOf(peak-idle))
	}
	if c, err := kam.Contacts("1001"); err != nil || len(c) == 0 {
		t.Fatalf("line 1001 not registered after the flood: %v %v", c, err)
	}
	// A normal call rings once the flood's ringing calls have timed out:
	// each rang at most ringTimeout, and the last began before the flood
	// ended. The sim's Ringing follows the cadence (off 4 s of 6), so the
	// phone's own word is read: its last transition is to idle.
	ctx := context.Background()
	time.Sleep(time.Until(floodEnd.Add(ringTimeout + 500*time.Millisecond)))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		log := f.log()
		i := strings.LastIndex(log, "phone: transition")
		if i >= 0 && strings.Contains(strings.SplitN(log[i:], "\n", 2)[0], "to=idle") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the phone is not idle 10 s after the flood's calls timed out")
		}
	}
	peer := newSIPPeer(t, addr, ruri)
	peer.invite()
	peer.response(180, 5*time.Second)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st, err := f.phone.State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Ringing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a normal call after the flood did not ring the phone")
		}
	}
}

// loginFrom is a browser at local address ip (127.0.0.x): it fetches the
// login form (its CSRF token and cookie) and returns the POST to send.
func loginFrom(t *testing.T, base string, ip net.IP, pw string) func() (*http.Response, error) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		Transport:     &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}).DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := csrfField.FindSubmatch(body)
	if m == nil {
		t.Fatalf("GET /login from %s: no CSRF field (status %d)", ip, res.StatusCode)
	}
	form := url.Values{"username": {"admin"}, "password": {pw}, "csrf": {string(m[1])}}
	return func() (*http.Response, error) {
		req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base)
		res, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		return res, err
	}
}

// TestLoginFloodKeepsMemoryBounded: 50 wrong logins at once from 50
// loopback addresses (127.0.0.2..51). The firmware hashes at most two
// passwords at a time (argon2id, 7 MiB each), so its RSS rises by about
// two hashes at most; the box stays responsive and the right password
// then works from a fresh address.
func TestLoginFloodKeepsMemoryBounded(t *testing.T) {
	web := freePort(t)
	f := startBenchFirmware(t, strings.Replace(baseConfig, `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = %q", web), 1))
	base := "http://" + web
	const pw = "correct horse battery staple"
	if res := newWebClient(t, base).form("/setup", url.Values{"password": {pw}, "confirm": {pw}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("setup: %d", res.StatusCode)
	}
	pid := f.cmd.Process.Pid
	const n = 50
	var posts []func() (*http.Response, error)
	for i := range n {
		posts = append(posts, loginFrom(t, base, net.IPv4(127, 0, 0, byte(2+i)), fmt.Sprintf("wrong password %d", i)))
	}
	time.Sleep(500 * time.Millisecond)
	idle := idleRSS(t, pid)

	rss := sampleRSS(pid)
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for _, post := range posts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := post()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				codes[0]++
				return
			}
			codes[res.StatusCode]++
		}()
	}
	wg.Wait()
	took := time.Since(start)
	time.Sleep(200 * time.Millisecond)
	peak := rss.end(t)
	t.Logf("login flood answers: %v in %v", codes, took.Round(time.Millisecond))
	t.Logf("login flood: idle %.1f MB, peak %.1f MB, delta %.1f MB", mbOf(idle), mbOf(peak), mbOf(peak-idle))
	fmt.Printf("abuse: %d concurrent wrong logins from %d addresses: RSS idle %.1f MB, peak %.1f MB (+%.1f MB)\n",
		n, n, mbOf(idle), mbOf(peak), mbOf(peak-idle))

	if codes[0] > 0 || codes[http.StatusUnauthorized]+codes[http.StatusTooManyRequests] != n {
		t.Errorf("answers %v: want every login answered 401 (wrong) or 429 (busy)", codes)
	}
	// Two argon2id hashes hold 2 × 7 MiB; allow the runtime's slack on top.
	if limit := 2*7*1024 + 4*1024; peak-idle > limit {
		t.Errorf("RSS rose %.1f MB above idle, want at most %.1f MB (two concurrent hashes)", mbOf(peak-idle), mbOf(limit))
	}
	// Still responsive: the sim phone and the web UI answer at once.
	ctx := context.Background()
	for _, check := range []func() error{
		func() error { _, err := f.phone.State(ctx); return err },
		func() error {
			res, err := http.Get(base + "/login")
			if err == nil {
				res.Body.Close()
			}
			return err
		},
	} {
		s := time.Now()
		if err := check(); err != nil || time.Since(s) > time.Second {
			t.Fatalf("after the flood the box answered in %v: %v", time.Since(s), err)
		}
	}
	// The right password from a fresh address, once the busy answers stop.
	for deadline := time.Now().Add(15 * time.Second); ; {
		res, err := loginFrom(t, base, net.IPv4(127, 0, 0, 60), pw)()
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode == http.StatusSeeOther && res.Header.Get("Location") == "/" {
			break
		}
		if res.StatusCode != http.StatusTooManyRequests || time.Now().After(deadline) {
			t.Fatalf("the right password after the flood: %d", res.StatusCode)
		}
		wait, _ := strconv.Atoi(res.Header.Get("Retry-After"))
		time.Sleep(time.Duration(max(wait, 1)) * time.Second)
	}
}
