package registrar

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/icholy/digest"
)

// benchPhone is a minimal REGISTER client for the benchmark: raw UDP,
// text matching instead of a SIP parser, so that the process CPU
// measured is mostly the registrar's.
type benchPhone struct {
	conn   *net.UDPConn
	server netip.AddrPort
	user   string
	cseq   int
	chal   *digest.Challenge
	nc     int
	buf    []byte
}

func (p *benchPhone) request(auth string) []byte {
	p.cseq++
	local := p.conn.LocalAddr().String()
	var b bytes.Buffer
	fmt.Fprintf(&b, "REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%s-%d;rport\r\n", p.server, local, p.user, p.cseq)
	fmt.Fprintf(&b, "Max-Forwards: 70\r\nFrom: <sip:%s@%s>;tag=%s\r\nTo: <sip:%s@%s>\r\n", p.user, p.server, p.user, p.user, p.server)
	fmt.Fprintf(&b, "Call-ID: bench-%s\r\nCSeq: %d REGISTER\r\nContact: <sip:%s@%s>\r\nExpires: 600\r\n", p.user, p.cseq, p.user, local)
	if auth != "" {
		fmt.Fprintf(&b, "Authorization: %s\r\n", auth)
	}
	b.WriteString("User-Agent: bench\r\nContent-Length: 0\r\n\r\n")
	return b.Bytes()
}

// do sends one REGISTER, retransmitted as RFC 3261 §17.1.2.2 has a
// phone do over UDP (500 ms, doubling), and returns the answer's status
// (0: none within 8 s).
func (p *benchPhone) do(auth string) (int, []byte) {
	req := p.request(auth)
	want := []byte("CSeq: " + strconv.Itoa(p.cseq) + " ")
	deadline := time.Now().Add(8 * time.Second)
	for wait := 500 * time.Millisecond; time.Now().Before(deadline); wait *= 2 {
		if _, err := p.conn.WriteToUDPAddrPort(req, p.server); err != nil {
			return 0, nil
		}
		p.conn.SetReadDeadline(time.Now().Add(wait))
		for {
			n, err := p.conn.Read(p.buf)
			if err != nil {
				break // retransmit
			}
			msg := p.buf[:n]
			if !bytes.Contains(msg, want) || len(msg) < 12 {
				continue // a late answer to an earlier request
			}
			code, _ := strconv.Atoi(string(msg[8:11]))
			return code, msg
		}
	}
	return 0, nil
}

func (p *benchPhone) answer() string {
	p.nc++
	cred, err := digest.Digest(p.chal, digest.Options{Method: "REGISTER", URI: "sip:" + p.server.String(),
		Username: p.user, Password: "pw-" + p.user, Count: p.nc})
	if err != nil {
		panic(err)
	}
	return cred.String()
}

// register brings the phone to a 200: with its current nonce when it has
// one (a refresh: one round trip), else after a challenge. It returns the
// time from the REGISTER that got the 200 to the 200.
func (p *benchPhone) register() (time.Duration, bool) {
	for try := 0; try < 3; try++ {
		auth := ""
		if p.chal != nil {
			auth = p.answer()
		}
		start := time.Now()
		code, msg := p.do(auth)
		took := time.Since(start)
		switch code {
		case 200:
			return took, true
		case 401:
			i := bytes.Index(msg, []byte("WWW-Authenticate: "))
			if i < 0 {
				return 0, false
			}
			line := msg[i+len("WWW-Authenticate: "):]
			line = line[:bytes.Index(line, []byte("\r\n"))]
			c, err := digest.ParseChallenge(string(line))
			if err != nil {
				return 0, false
			}
			p.chal, p.nc = c, 0
		}
	}
	return 0, false
}

// BenchmarkRegister500 has 500 users register and refresh; an op is one
// REGISTER → 200 (a refresh: one round trip on the phone's nonce; the
// first of each user: after a 401). It reports the latency percentiles
// of REGISTER → 200 (retransmissions included) and the process CPU per
// REGISTER (the light clients included).
//
//   - storm: every phone at once, each sending its next REGISTER as soon
//     as the last is answered (a reboot of the ATA; closed loop, so the
//     latency is mostly queueing).
//   - paced: one REGISTER every 2 ms, round robin over the phones (500/s,
//     open loop: the service time under a steady load).
func BenchmarkRegister500(b *testing.B) {
	b.Run("storm", func(b *testing.B) { benchRegister(b, 0) })
	b.Run("paced", func(b *testing.B) { benchRegister(b, 2*time.Millisecond) })
}

func benchRegister(b *testing.B, every time.Duration) {
	const users = 500
	list := make([]User, users)
	for i := range list {
		name := fmt.Sprintf("u%03d", i)
		list[i] = User{Name: name, Password: "pw-" + name}
	}
	r, err := New(Options{Listen: "127.0.0.1:0", Users: list, Logger: quiet, MaxExpires: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	phones := make([]*benchPhone, users)
	for i := range phones {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		phones[i] = &benchPhone{conn: c, server: r.LocalAddr(), user: list[i].Name, buf: make([]byte, 4096)}
	}
	var failed atomic.Int64
	lat := make([][]time.Duration, users)
	// Each phone takes its turns from its own channel: the storm fills
	// them all, the pacer one turn per tick.
	turns := make([]chan struct{}, users)
	for i := range turns {
		turns[i] = make(chan struct{}, b.N)
	}
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, p := range phones {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range turns[i] {
				d, ok := p.register()
				if !ok {
					failed.Add(1)
					continue
				}
				lat[i] = append(lat[i], d)
			}
		}()
	}
	if every == 0 {
		for n := range b.N {
			turns[n%users] <- struct{}{}
		}
	} else {
		t := time.NewTicker(every)
		for n := range b.N {
			<-t.C
			turns[n%users] <- struct{}{}
		}
		t.Stop()
	}
	for _, c := range turns {
		close(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(syscall.TimevalToNsec(ru1.Utime) + syscall.TimevalToNsec(ru1.Stime) -
		syscall.TimevalToNsec(ru0.Utime) - syscall.TimevalToNsec(ru0.Stime))
	all := slices.Concat(lat...)
	if len(all) == 0 {
		b.Fatalf("no REGISTER got its 200 (%d failed)", failed.Load())
	}
	slices.Sort(all)
	pct := func(p float64) float64 {
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/op")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "registers/s")
	b.ReportMetric(float64(failed.Load()), "failed")
	if s := r.Stats(); s.Bindings != min(users, b.N) {
		b.Errorf("%d bindings after %d REGISTERs, want %d", s.Bindings, b.N, min(users, b.N))
	}
}
