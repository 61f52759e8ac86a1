package sip

import (
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	siplib "github.com/emiago/sipgo/sip"
)

// flowRegistrar is a scriptable raw UDP provider: it grants every REGISTER
// (Expires 3600), answers OPTIONS with optionsCode, pongs CRLF keep-alives
// while pong is set, and is silent while down.
type flowRegistrar struct {
	c           *net.UDPConn
	pong, down  atomic.Bool
	optionsCode atomic.Int32
	registers   atomic.Int32
	options     atomic.Int32
	crlf        atomic.Int32
	regC        chan struct{}
}

func newFlowRegistrar(t *testing.T) *flowRegistrar {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	f := &flowRegistrar{c: c, regC: make(chan struct{}, 100)}
	f.pong.Store(true)
	f.optionsCode.Store(200)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if f.down.Load() {
				continue
			}
			if string(buf[:n]) == "\r\n\r\n" {
				f.crlf.Add(1)
				if f.pong.Load() {
					c.WriteToUDP([]byte("\r\n"), from)
				}
				continue
			}
			msg, err := siplib.ParseMessage(append([]byte(nil), buf[:n]...))
			req, ok := msg.(*siplib.Request)
			if err != nil || !ok {
				continue
			}
			req.SetSource(from.String())
			code := 200
			switch req.Method {
			case siplib.REGISTER:
				f.registers.Add(1)
				select {
				case f.regC <- struct{}{}:
				default:
				}
			case siplib.OPTIONS:
				f.options.Add(1)
				code = int(f.optionsCode.Load())
			}
			res := siplib.NewResponseFromRequest(req, code, "Whatever", nil)
			res.Via().Params.Remove("received") // no RFC 3581: the contact stays ours
			res.Via().Params.Remove("rport")
			if req.Method == siplib.REGISTER {
				res.AppendHeader(siplib.NewHeader("Expires", "3600"))
			}
			c.WriteToUDP([]byte(res.String()), from)
		}
	}()
	return f
}

func (f *flowRegistrar) addr() string { return f.c.LocalAddr().String() }

// waitRegister waits (real time) for the next REGISTER.
func (f *flowRegistrar) waitRegister(t *testing.T) {
	t.Helper()
	select {
	case <-f.regC:
	case <-time.After(5 * time.Second):
		t.Fatal("no REGISTER arrived")
	}
}

func (f *flowRegistrar) noRegister(t *testing.T, what string) {
	t.Helper()
	select {
	case <-f.regC:
		t.Fatalf("REGISTER %s", what)
	case <-time.After(100 * time.Millisecond):
	}
}

// eventually polls cond (real time) for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func startFlow(t *testing.T, method string, mutate func(*StackConfig, *RegOptions)) (*regFixture, *flowRegistrar) {
	t.Helper()
	prov := newFlowRegistrar(t)
	f := startReg(t, nil, func(s *StackConfig, l *Account, o *RegOptions) {
		s.KeepAlive = 30 * time.Second
		s.KeepAliveMethod = method
		s.KeepAliveMisses = 2
		l.Registrar = prov.addr()
		if mutate != nil {
			mutate(s, o)
		}
	})
	prov.waitRegister(t)
	waitState(t, f.r, StateRegistered, 5*time.Second)
	return f, prov
}

// tick advances the fake clock by the keep-alive interval once the
// registered state's two timers (keep-alive and refresh) are armed.
func (f *regFixture) tick(t *testing.T, d time.Duration) {
	t.Helper()
	f.clock.waitTimers(t, 2)
	f.clock.advance(d)
}

// A provider that pongs, then goes silent: two missed pongs fail the flow
// (status "not answering since" the first miss), no REGISTER goes out
// while it is silent, and its first pong re-registers at once, long
// before the hour-long binding would be refreshed.
func TestCRLFPongMissesFailFlowAndPongReRegisters(t *testing.T) {
	f, prov := startFlow(t, "crlf", nil)
	f.tick(t, 30*time.Second) // CRLF 1, ponged
	eventually(t, "the first pong", func() bool { return !f.r.Status().LastKeepAliveAnswer.IsZero() })
	prov.down.Store(true)
	f.tick(t, 30*time.Second) // CRLF 2: no pong
	firstMiss := f.clock.Now().Add(30 * time.Second)
	f.tick(t, 30*time.Second) // miss 1
	if s := f.r.Status(); s.State != StateRegistered {
		t.Fatalf("after one miss the state is %+v, want still registered", s)
	}
	f.tick(t, 30*time.Second) // miss 2: the flow failed
	s := waitState(t, f.r, StateFailing, 5*time.Second)
	if !s.NotAnsweringSince.Equal(firstMiss) {
		t.Fatalf("not answering since %v, want the first miss %v", s.NotAnsweringSince, firstMiss)
	}
	if c := f.r.Counters(); c.KeepAliveMisses != 2 || c.FlowFailures != 1 {
		t.Fatalf("counters %+v, want 2 misses and 1 flow failure", c)
	}
	regs := prov.registers.Load()
	for range 5 { // probes while it is down: CRLF only, no REGISTER
		p := f.clock.waitTimers(t, 2) // probe and the REGISTER fallback
		if p[0] > 30*time.Second || p[0] < 15*time.Second {
			t.Fatalf("probe after %v, want within the keep-alive interval (15-30 s jittered)", p[0])
		}
		f.clock.advance(p[0])
		f.clock.waitTimers(t, 2)
	}
	if prov.registers.Load() != regs || prov.options.Load() != 0 {
		t.Fatalf("while down: %d REGISTERs, %d OPTIONS; want only CRLF probes", prov.registers.Load()-regs, prov.options.Load())
	}
	prov.down.Store(false)
	p := f.clock.waitTimers(t, 2)
	f.clock.advance(p[0]) // the next probe gets its pong
	recovered := f.clock.Now()
	prov.waitRegister(t)
	s = waitState(t, f.r, StateRegistered, 5*time.Second)
	// Registered at the recovery or later: on a loaded machine another of
	// the registration's timers may have run before the check.
	if !s.NotAnsweringSince.IsZero() || s.LastRegistered.Before(recovered) {
		t.Fatalf("recovered status %+v, want registered at %v or later", s, recovered)
	}
	if c := f.r.Counters(); c.ReRegistrations[ReRegFlowRecovered] != 1 {
		t.Fatalf("re-registrations %v, want one flow_recovered", c.ReRegistrations)
	}
}

// A provider that never answers CRLF is checked with OPTIONS instead of
// being declared dead (or ignored).
func TestCRLFWithoutPongFallsBackToOptions(t *testing.T) {
	f, prov := startFlow(t, "crlf", nil)
	prov.pong.Store(false)
	f.tick(t, 30*time.Second) // CRLF, no pong
	f.tick(t, 30*time.Second) // no pong ever: OPTIONS
	eventually(t, "an OPTIONS", func() bool { return prov.options.Load() == 1 })
	f.tick(t, 30*time.Second)
	eventually(t, "a second OPTIONS", func() bool { return prov.options.Load() == 2 })
	if s := f.r.Status(); s.State != StateRegistered || f.r.Counters().KeepAliveMisses != 0 {
		t.Fatalf("status %+v counters %+v: a provider without pongs must not count as failed", s, f.r.Counters())
	}
	if prov.crlf.Load() != 1 {
		t.Fatalf("%d CRLFs, want 1 (then OPTIONS)", prov.crlf.Load())
	}
}

// OPTIONS keep-alives: unanswered ones fail the flow; the first answer
// re-registers.
func TestOptionsKeepAliveMissesFailFlow(t *testing.T) {
	f, prov := startFlow(t, "options", func(_ *StackConfig, o *RegOptions) { o.Timeout = 200 * time.Millisecond })
	prov.down.Store(true)
	f.tick(t, 30*time.Second)
	f.tick(t, 30*time.Second)
	waitState(t, f.r, StateFailing, 5*time.Second)
	regs := prov.registers.Load()
	p := f.clock.waitTimers(t, 2)
	f.clock.advance(p[0]) // a probe into the silence
	p = f.clock.waitTimers(t, 2)
	if prov.registers.Load() != regs {
		t.Fatal("REGISTER while the provider is silent")
	}
	prov.down.Store(false)
	f.clock.advance(p[0])
	prov.waitRegister(t)
	waitState(t, f.r, StateRegistered, 5*time.Second)
}

// An OPTIONS answered 404 (the provider lost our binding) re-registers at
// once; a provider that goes on answering 404 right after we registered
// gets at most one REGISTER per keep-alive interval, doubling.
func TestOptionsBindingGoneReRegistersWithoutStorm(t *testing.T) {
	f, prov := startFlow(t, "options", nil)
	prov.optionsCode.Store(404)
	var at []time.Duration
	start := f.clock.Now()
	for range 12 {
		f.tick(t, 30*time.Second)
		eventually(t, "the OPTIONS", func() bool { return prov.options.Load() > 0 })
		select {
		case <-prov.regC:
			at = append(at, f.clock.Now().Sub(start))
			waitState(t, f.r, StateRegistered, 5*time.Second)
		case <-time.After(100 * time.Millisecond):
		}
	}
	// 30 s: at once; then 2 and 4 intervals after the one before.
	want := []time.Duration{30 * time.Second, 90 * time.Second, 210 * time.Second}
	if len(at) < 3 || at[0] != want[0] || at[1] != want[1] || at[2] != want[2] {
		t.Fatalf("REGISTERs at %v, want %v", at, want)
	}
	if c := f.r.Counters(); c.ReRegistrations[ReRegBindingGone] != uint64(len(at)) {
		t.Fatalf("binding_gone re-registrations %d, want %d", c.ReRegistrations[ReRegBindingGone], len(at))
	}
}

// A refresh that times out (provider unreachable) probes every keep-alive
// interval instead of backing off toward 30 minutes, with no REGISTER
// until the provider answers; refusals keep the long back-off.
func TestRefreshTimeoutProbesEveryInterval(t *testing.T) {
	f := startReg(t, grant(20), func(s *StackConfig, _ *Account, o *RegOptions) {
		s.KeepAlive = 20 * time.Second // the refresh (18 s) comes first
		s.KeepAliveMethod = "options"
		o.Timeout = 200 * time.Millisecond
	})
	var silent atomic.Bool
	f.reg.st.Handle(siplib.OPTIONS, func(req *siplib.Request, tx siplib.ServerTransaction) {
		if !silent.Load() {
			tx.Respond(siplib.NewResponseFromRequest(req, 200, "OK", nil))
		}
	})
	f.reg.next(t)
	waitState(t, f.r, StateRegistered, 5*time.Second)
	silent.Store(true)
	f.reg.setAnswer(func(*siplib.Request) *siplib.Response { return nil }) // no answer
	if p := f.clock.waitTimers(t, 2); p[0] != 18*time.Second {
		t.Fatalf("timers %v, want the refresh at 18 s first", p)
	}
	f.clock.advance(18 * time.Second) // the refresh: no answer
	f.reg.next(t)
	s := waitState(t, f.r, StateFailing, 5*time.Second)
	if s.NotAnsweringSince.IsZero() || f.r.Counters().FlowFailures != 1 {
		t.Fatalf("status %+v counters %+v: want not answering, one flow failure", s, f.r.Counters())
	}
	for range 10 { // 100 s: the REGISTER fallback is 120 s
		p := f.clock.waitTimers(t, 2)
		if p[0] < 10*time.Second || p[0] > 20*time.Second {
			t.Fatalf("probe after %v, want 10-20 s", p[0])
		}
		if p[1] < 60*time.Second {
			t.Fatalf("REGISTER fallback after %v, want the long back-off", p[1])
		}
		f.clock.advance(p[0])
	}
	select {
	case <-f.reg.requests:
		t.Fatal("REGISTER while the provider does not answer")
	default:
	}
	silent.Store(false)
	f.reg.setAnswer(grant(20))
	p := f.clock.waitTimers(t, 2)
	f.clock.advance(p[0])
	f.reg.next(t)
	waitState(t, f.r, StateRegistered, 5*time.Second)
}

// A 503 with Retry-After waits that long (plus the spread), not the
// short back-off.
func TestServiceUnavailableHonoursRetryAfter(t *testing.T) {
	f := startReg(t, reply(503, "Service Unavailable", siplib.NewHeader("Retry-After", "300 (maintenance)")), nil)
	f.reg.next(t)
	if d := f.onlyTimer(t); d != 300*time.Second {
		t.Fatalf("retry after %v, want Retry-After 300s", d)
	}
}

// A link that goes down (no route) fails the flow; when it comes back
// with a new address the line re-registers at once with the new Contact.
// NetworkChanged re-registers at once too.
func TestLinkDownUpAndNetworkChanged(t *testing.T) {
	var mu sync.Mutex
	local, linkUp := netip.MustParseAddr("127.0.0.1"), true
	prov := newFlowRegistrar(t)
	f := startReg(t, nil, func(s *StackConfig, l *Account, o *RegOptions) {
		s.Listen = "0.0.0.0:0"
		s.KeepAlive = 30 * time.Second
		l.Registrar = prov.addr()
		o.LocalAddr = func(netip.AddrPort) (netip.Addr, error) {
			mu.Lock()
			defer mu.Unlock()
			if !linkUp {
				return netip.Addr{}, &net.OpError{Op: "dial", Err: errNoRoute}
			}
			return local, nil
		}
	})
	prov.waitRegister(t)
	waitState(t, f.r, StateRegistered, 5*time.Second)
	f.r.NetworkChanged()
	prov.waitRegister(t)
	waitState(t, f.r, StateRegistered, 5*time.Second)
	mu.Lock()
	linkUp = false
	mu.Unlock()
	f.tick(t, 30*time.Second)
	f.tick(t, 30*time.Second)
	waitState(t, f.r, StateFailing, 5*time.Second)
	mu.Lock()
	linkUp, local = true, netip.MustParseAddr("127.0.0.3")
	mu.Unlock()
	p := f.clock.waitTimers(t, 2)
	f.clock.advance(p[0])
	prov.waitRegister(t)
	s := waitState(t, f.r, StateRegistered, 5*time.Second)
	if want := "sip:1001@127.0.0.3:" + strconv.Itoa(int(f.st.LocalAddr().Port())); s.Contact != want {
		t.Fatalf("contact %s, want %s", s.Contact, want)
	}
	if c := f.r.Counters(); c.ReRegistrations[ReRegNetwork] != 2 {
		t.Fatalf("network re-registrations %v, want 2", c.ReRegistrations)
	}
}

var errNoRoute = &net.AddrError{Err: "network is unreachable"}
