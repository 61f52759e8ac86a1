package sip

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	siplib "github.com/emiago/sipgo/sip"
)

// fakeRegistrar is an in-process registrar: a Stack whose REGISTER
// handler the test scripts.
type fakeRegistrar struct {
	st       *Stack
	mu       sync.Mutex
	answer   func(req *siplib.Request) *siplib.Response
	requests chan *siplib.Request
}

func newFakeRegistrar(t *testing.T) *fakeRegistrar {
	f := &fakeRegistrar{st: newTestStack(t, "127.0.0.1:0", false), requests: make(chan *siplib.Request, 100)}
	f.st.Handle(siplib.REGISTER, func(req *siplib.Request, tx siplib.ServerTransaction) {
		f.mu.Lock()
		answer := f.answer
		f.mu.Unlock()
		select {
		case f.requests <- req:
		default: // a test that stopped reading
		}
		if res := answer(req); res != nil { // nil: the registrar is silent
			tx.Respond(res) // may fail once the test is over; the client then times out
		}
	})
	f.setAnswer(grant(0))
	return f
}

func (f *fakeRegistrar) setAnswer(a func(req *siplib.Request) *siplib.Response) {
	f.mu.Lock()
	f.answer = a
	f.mu.Unlock()
}

// next waits for the next REGISTER.
func (f *fakeRegistrar) next(t *testing.T) *siplib.Request {
	t.Helper()
	select {
	case req := <-f.requests:
		return req
	case <-time.After(5 * time.Second):
		t.Fatal("fake registrar: no REGISTER arrived")
		return nil
	}
}

// grant answers 200 OK echoing the request's Contacts, each with expires
// seconds (0: the Expires the client asked for).
func grant(seconds int) func(*siplib.Request) *siplib.Response {
	return func(req *siplib.Request) *siplib.Response {
		res := siplib.NewResponseFromRequest(req, 200, "OK", nil)
		e := seconds
		if e == 0 {
			e = requestedExpires(req)
		}
		for _, h := range req.GetHeaders("Contact") {
			c := h.(*siplib.ContactHeader).Clone()
			if v, ok := c.Params.Get("expires"); ok && v == "0" {
				continue
			}
			c.Params = siplib.HeaderParams{{K: "expires", V: strconv.Itoa(e)}}
			res.AppendHeader(c)
		}
		return res
	}
}

func reply(code int, reason string, extra ...siplib.Header) func(*siplib.Request) *siplib.Response {
	return func(req *siplib.Request) *siplib.Response {
		res := siplib.NewResponseFromRequest(req, code, reason, nil)
		for _, h := range extra {
			res.AppendHeader(h)
		}
		return res
	}
}

func requestedExpires(req *siplib.Request) int {
	h := req.GetHeader("Expires")
	if h == nil {
		return -1
	}
	n, _ := strconv.Atoi(h.Value())
	return n
}

func contactOf(req *siplib.Request) string {
	var parts []string
	for _, h := range req.GetHeaders("Contact") {
		parts = append(parts, h.Value())
	}
	return strings.Join(parts, ", ")
}

type regFixture struct {
	clock *fakeClock
	reg   *fakeRegistrar
	st    *Stack
	r     *Registration
	done  chan error
	stop  context.CancelFunc
}

func lowRand() float64 { return 0 }

// startReg registers a line on a fresh stack against a fake registrar,
// with a fake clock driving refreshes and back-off.
func startReg(t *testing.T, answer func(*siplib.Request) *siplib.Response, mutate func(*StackConfig, *Account, *RegOptions)) *regFixture {
	t.Helper()
	f := &regFixture{clock: newFakeClock(), reg: newFakeRegistrar(t), done: make(chan error, 1)}
	if answer != nil {
		f.reg.setAnswer(answer)
	}
	sipCfg := testStackConfig()
	sipCfg.Listen = "127.0.0.1:0"
	sipCfg.KeepAlive = 0
	line := Account{Number: "1001", ServiceDomain: "voip.test", Password: "pw",
		Registrar: f.reg.st.LocalAddr().String(), RegisterExpires: time.Hour}
	opt := RegOptions{Clock: f.clock, Timeout: 500 * time.Millisecond, Backoff: DefaultBackoff}
	opt.Backoff.Rand = lowRand
	if mutate != nil {
		mutate(&sipCfg, &line, &opt)
	}
	st, err := NewStack(sipCfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	f.st = st
	if f.r, err = NewRegistration(st, line, opt); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.stop = cancel
	go func() { f.done <- f.r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-f.done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
		st.Close()
	})
	return f
}

// onlyTimer waits for exactly one pending timer and returns it.
func (f *regFixture) onlyTimer(t *testing.T) time.Duration {
	t.Helper()
	p := f.clock.waitTimers(t, 1)
	if len(p) != 1 {
		t.Fatalf("pending timers %v, want one", p)
	}
	return p[0]
}

func TestRefreshAtNinetyPercentOfGrantedExpiry(t *testing.T) {
	f := startReg(t, grant(120), nil) // asked 3600, granted 120
	first := f.reg.next(t)
	if got := requestedExpires(first); got != 3600 {
		t.Fatalf("REGISTER asked Expires %d, want 3600", got)
	}
	if d := f.onlyTimer(t); d != 108*time.Second {
		t.Fatalf("refresh scheduled after %v, want 108s (90%% of the granted 120 s)", d)
	}
	s := f.r.Status()
	if s.State != StateRegistered || !s.Expires.Equal(f.clock.Now().Add(120*time.Second)) {
		t.Fatalf("status %+v, want registered until now+120s", s)
	}
	f.clock.advance(107 * time.Second)
	select {
	case <-f.reg.requests:
		t.Fatal("refreshed before 108 s")
	case <-time.After(50 * time.Millisecond):
	}
	f.clock.advance(time.Second)
	second := f.reg.next(t)
	if second.CallID().Value() != first.CallID().Value() || second.CSeq().SeqNo <= first.CSeq().SeqNo {
		t.Fatalf("refresh must keep Call-ID and raise CSeq: %s/%d then %s/%d",
			first.CallID().Value(), first.CSeq().SeqNo, second.CallID().Value(), second.CSeq().SeqNo)
	}
}

func TestRefreshUsesExpiresHeaderWithoutContactParam(t *testing.T) {
	f := startReg(t, reply(200, "OK", siplib.NewHeader("Expires", "300")), nil)
	f.reg.next(t)
	if d := f.onlyTimer(t); d != 270*time.Second {
		t.Fatalf("refresh after %v, want 270s", d)
	}
}

func TestIntervalTooBriefRetriesWithMinExpires(t *testing.T) {
	f := startReg(t, func(req *siplib.Request) *siplib.Response {
		if requestedExpires(req) < 600 {
			return reply(423, "Interval Too Brief", siplib.NewHeader("Min-Expires", "600"))(req)
		}
		return grant(0)(req)
	}, func(_ *StackConfig, l *Account, _ *RegOptions) { l.RegisterExpires = time.Minute })
	if got := requestedExpires(f.reg.next(t)); got != 60 {
		t.Fatalf("first REGISTER Expires %d, want 60", got)
	}
	if got := requestedExpires(f.reg.next(t)); got != 600 {
		t.Fatalf("after 423 REGISTER Expires %d, want Min-Expires 600", got)
	}
	if d := f.onlyTimer(t); d != 540*time.Second {
		t.Fatalf("refresh after %v, want 540s", d)
	}
}

func TestBackoffBounds(t *testing.T) {
	b := DefaultBackoff
	for _, tc := range []struct {
		n          int
		registered bool
		max        time.Duration
	}{
		{1, false, 5 * time.Second}, {2, false, 10 * time.Second}, {3, false, 20 * time.Second},
		{7, false, 320 * time.Second}, {20, false, 320 * time.Second},
		{1, true, 60 * time.Second}, {2, true, 120 * time.Second}, {5, true, 960 * time.Second},
		{6, true, 1800 * time.Second}, {100, true, 1800 * time.Second},
	} {
		b.Rand = func() float64 { return 0 }
		lo := b.Wait(tc.n, tc.registered, false)
		b.Rand = func() float64 { return 0.999999 }
		hi := b.Wait(tc.n, tc.registered, false)
		if lo != tc.max/2 || hi < tc.max*99/100 || hi > tc.max {
			t.Errorf("failure %d (registered %v): wait in [%v, %v], want [%v, %v]", tc.n, tc.registered, lo, hi, tc.max/2, tc.max)
		}
	}
	b.Rand = nil
	for range 1000 {
		if w := b.Wait(3, true, false); w < 120*time.Second || w > 240*time.Second {
			t.Fatalf("random wait %v outside [120s, 240s]", w)
		}
	}
	if w := b.Wait(1, true, true); w != 1200*time.Second {
		t.Fatalf("403 wait %v, want 1200s", w)
	}
}

func TestFailingRefreshKeepsRetryingForever(t *testing.T) {
	f := startReg(t, grant(100), nil)
	f.reg.next(t)
	if d := f.onlyTimer(t); d != 90*time.Second {
		t.Fatalf("refresh after %v, want 90s", d)
	}
	f.reg.setAnswer(reply(503, "Service Unavailable"))
	f.clock.advance(90 * time.Second)
	f.reg.next(t)
	want := []time.Duration{30, 60, 120, 240, 480, 900, 900, 900} // (30·2^min(n,6) capped 1800) × 0.5
	for i := range 40 {
		d := f.onlyTimer(t)
		exp := 900 * time.Second
		if i < len(want) {
			exp = want[i] * time.Second
		}
		if d != exp {
			t.Fatalf("retry %d after %v, want %v", i+1, d, exp)
		}
		s := f.r.Status()
		if s.State != StateFailing || !strings.Contains(s.LastError, "503") || !s.NextRetry.Equal(f.clock.Now().Add(d)) {
			t.Fatalf("retry %d: status %+v", i+1, s)
		}
		f.clock.advance(d)
		f.reg.next(t)
	}
	f.reg.setAnswer(grant(100))
	f.onlyTimer(t)
	f.clock.advance(900 * time.Second)
	f.reg.next(t)
	if s := waitState(t, f.r, StateRegistered, 5*time.Second); s.LastError != "" {
		t.Fatalf("recovered status %+v", s)
	}
}

func TestForbiddenWaitsLonger(t *testing.T) {
	f := startReg(t, reply(403, "Forbidden"), nil)
	f.reg.next(t)
	if d := f.onlyTimer(t); d != 1200*time.Second {
		t.Fatalf("after 403 retry in %v, want 1200s", d)
	}
	if s := f.r.Status(); s.State != StateFailing || !strings.Contains(s.LastError, "403") {
		t.Fatalf("status %+v", s)
	}
}

func TestNeverRegisteredRetriesQuickly(t *testing.T) {
	f := startReg(t, reply(500, "Server Error"), nil)
	for _, want := range []time.Duration{2500 * time.Millisecond, 5 * time.Second, 10 * time.Second} {
		f.reg.next(t)
		if d := f.onlyTimer(t); d != want {
			t.Fatalf("retry after %v, want %v", d, want)
		}
		f.clock.advance(want)
	}
}

func TestNATContactFollowsReceivedAndRport(t *testing.T) {
	f := startReg(t, func(req *siplib.Request) *siplib.Response {
		res := grant(120)(req)
		via := res.Via()
		via.Params.Remove("received")
		via.Params.Remove("rport")
		via.Params.Add("received", "203.0.113.7")
		via.Params.Add("rport", "40123")
		return res
	}, nil)
	first := f.reg.next(t)
	private := fmt.Sprintf("<sip:1001@%s>", f.st.LocalAddr())
	if got := contactOf(first); got != private {
		t.Fatalf("first Contact %s, want %s", got, private)
	}
	second := f.reg.next(t)
	want := "<sip:1001@203.0.113.7:40123>, " + private + ";expires=0"
	if got := contactOf(second); got != want {
		t.Fatalf("after learning the public address Contact is %s, want %s", got, want)
	}
	s := waitState(t, f.r, StateRegistered, 5*time.Second)
	if s.Contact != "sip:1001@203.0.113.7:40123" {
		t.Fatalf("status contact %q", s.Contact)
	}
	if d := f.onlyTimer(t); d != 108*time.Second { // stable: no third REGISTER
		t.Fatalf("refresh after %v, want 108s", d)
	}
}

func TestNATContactLearnedFromChallenge(t *testing.T) {
	behindNAT := func(res *siplib.Response) *siplib.Response {
		via := res.Via()
		via.Params.Remove("received")
		via.Params.Remove("rport")
		via.Params.Add("received", "203.0.113.7")
		via.Params.Add("rport", "40123")
		return res
	}
	f := startReg(t, func(req *siplib.Request) *siplib.Response {
		if req.GetHeader("Authorization") == nil {
			return behindNAT(reply(401, "Unauthorized",
				siplib.NewHeader("WWW-Authenticate", `Digest realm="voip.test", nonce="n1"`))(req))
		}
		return behindNAT(grant(120)(req))
	}, nil)
	first := f.reg.next(t)
	if got, want := contactOf(first), fmt.Sprintf("<sip:1001@%s>", f.st.LocalAddr()); got != want {
		t.Fatalf("first Contact %s, want %s", got, want)
	}
	// The answer to the challenge already carries the public contact, and
	// nothing to remove (the 401 bound nothing).
	if got, want := contactOf(f.reg.next(t)), "<sip:1001@203.0.113.7:40123>"; got != want {
		t.Fatalf("authenticated REGISTER Contact %s, want %s", got, want)
	}
	s := waitState(t, f.r, StateRegistered, 5*time.Second)
	if s.Contact != "sip:1001@203.0.113.7:40123" {
		t.Fatalf("status contact %q", s.Contact)
	}
	if got := f.r.PublicAddr(); got != netip.MustParseAddrPort("203.0.113.7:40123") {
		t.Fatalf("PublicAddr %v, want 203.0.113.7:40123 (calls put it in their Contact)", got)
	}
	if d := f.onlyTimer(t); d != 108*time.Second { // two REGISTERs in all
		t.Fatalf("refresh after %v, want 108s (no third REGISTER)", d)
	}
}

func TestLocalAddressChangeReRegisters(t *testing.T) {
	var mu sync.Mutex
	local := netip.MustParseAddr("127.0.0.1")
	f := startReg(t, func(req *siplib.Request) *siplib.Response {
		res := grant(3600)(req)
		res.Via().Params.Remove("received") // a registrar without RFC 3581
		res.Via().Params.Remove("rport")
		return res
	}, func(s *StackConfig, _ *Account, o *RegOptions) {
		s.Listen = "0.0.0.0:0"
		s.KeepAlive = 30 * time.Second
		o.LocalAddr = func(netip.AddrPort) (netip.Addr, error) {
			mu.Lock()
			defer mu.Unlock()
			return local, nil
		}
	})
	port := f.st.LocalAddr().Port()
	if got, want := contactOf(f.reg.next(t)), fmt.Sprintf("<sip:1001@127.0.0.1:%d>", port); got != want {
		t.Fatalf("Contact %s, want %s", got, want)
	}
	if p := f.clock.waitTimers(t, 2); p[0] != 30*time.Second {
		t.Fatalf("timers %v, want keep-alive at 30s", p)
	}
	f.clock.advance(30 * time.Second) // same address: just a keep-alive
	f.clock.waitTimers(t, 2)
	mu.Lock()
	local = netip.MustParseAddr("127.0.0.3")
	mu.Unlock()
	f.clock.advance(30 * time.Second)
	got := contactOf(f.reg.next(t))
	want := fmt.Sprintf("<sip:1001@127.0.0.3:%d>, <sip:1001@127.0.0.1:%d>;expires=0", port, port)
	if got != want {
		t.Fatalf("after the address change Contact is %s, want %s", got, want)
	}
}

func TestDigestAnswersBothChallengesWithAuthUser(t *testing.T) {
	f := startReg(t, func(req *siplib.Request) *siplib.Response {
		switch {
		case req.GetHeader("Proxy-Authorization") == nil:
			return reply(407, "Proxy Authentication Required",
				siplib.NewHeader("Proxy-Authenticate", `Digest realm="proxy", nonce="n1", qop="auth"`))(req)
		case req.GetHeader("Authorization") == nil:
			return reply(401, "Unauthorized",
				siplib.NewHeader("WWW-Authenticate", `Digest realm="voip.test", nonce="n2"`))(req)
		}
		return grant(0)(req)
	}, func(_ *StackConfig, l *Account, _ *RegOptions) { l.AuthUser = "authname" })
	f.reg.next(t)
	f.reg.next(t)
	third := f.reg.next(t)
	for _, h := range []string{"Proxy-Authorization", "Authorization"} {
		v := third.GetHeader(h)
		if v == nil || !strings.Contains(v.Value(), `username="authname"`) {
			t.Fatalf("%s = %v, want credentials of the auth user", h, v)
		}
	}
	if third.From().Address.User != "1001" || third.To().Address.User != "1001" || third.To().Address.Host != "voip.test" {
		t.Fatalf("From/To %s / %s, want the number at the service domain", third.From().Value(), third.To().Value())
	}
	waitState(t, f.r, StateRegistered, 5*time.Second)
}

func TestRejectedCredentialsFail(t *testing.T) {
	f := startReg(t, reply(401, "Unauthorized", siplib.NewHeader("WWW-Authenticate", `Digest realm="voip.test", nonce="n"`)), nil)
	f.reg.next(t)
	f.reg.next(t)
	f.onlyTimer(t)
	if s := f.r.Status(); s.State != StateFailing || !strings.Contains(s.LastError, "401") {
		t.Fatalf("status %+v, want failing with the 401", s)
	}
}

// fakeDNS maps names to SRV records and addresses.
type fakeDNS struct {
	srv   map[string][]*net.SRV
	hosts map[string][]string
}

func (d fakeDNS) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	key := "_" + service + "._" + proto + "." + name
	if s, ok := d.srv[key]; ok {
		return key, s, nil
	}
	return "", nil, &net.DNSError{Err: "no such host", Name: key, IsNotFound: true}
}

func (d fakeDNS) LookupHost(_ context.Context, host string) ([]string, error) {
	if h, ok := d.hosts[host]; ok {
		return h, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestResolveUDP(t *testing.T) {
	dns := fakeDNS{
		srv: map[string][]*net.SRV{"_sip._udp.voip.test": {
			{Target: "a.voip.test", Port: 5070, Priority: 10}, {Target: "gone.voip.test", Port: 5071, Priority: 15},
			{Target: "b.voip.test", Port: 5080, Priority: 20}}},
		hosts: map[string][]string{
			"voip.test": {"192.0.2.1"}, "a.voip.test": {"192.0.2.10", "2001:db8::10"}, "b.voip.test": {"192.0.2.20"},
			"plain.test": {"192.0.2.30"},
		},
	}
	for _, tc := range []struct{ in, want string }{
		{"voip.test", "192.0.2.10:5070 [2001:db8::10]:5070 192.0.2.20:5080"},
		{"voip.test:5062", "192.0.2.1:5062"}, // explicit port: no SRV
		{"plain.test", "192.0.2.30:5060"},    // no SRV: A on 5060
		{"198.51.100.4", "198.51.100.4:5060"},
		{"198.51.100.4:5099", "198.51.100.4:5099"},
		{"[2001:db8::1]:5070", "[2001:db8::1]:5070"},
	} {
		got, err := ResolveUDP(context.Background(), dns, tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		var s []string
		for _, a := range got {
			s = append(s, a.String())
		}
		if strings.Join(s, " ") != tc.want {
			t.Errorf("%s resolved to %v, want %s", tc.in, s, tc.want)
		}
	}
	if _, err := ResolveUDP(context.Background(), dns, "nowhere.test"); err == nil {
		t.Error("nowhere.test resolved")
	}
}

func TestSRVFailoverOnTimeout(t *testing.T) {
	dead, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}) // swallows REGISTERs
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	var live *fakeRegistrar
	f := startReg(t, nil, func(_ *StackConfig, l *Account, o *RegOptions) {
		live = newFakeRegistrar(t)
		l.Registrar = ""
		o.Timeout = 300 * time.Millisecond
		o.Resolver = fakeDNS{
			srv: map[string][]*net.SRV{"_sip._udp.voip.test": {
				{Target: "dead.voip.test", Port: uint16(dead.LocalAddr().(*net.UDPAddr).Port), Priority: 10},
				{Target: "live.voip.test", Port: live.st.LocalAddr().Port(), Priority: 20}}},
			hosts: map[string][]string{"dead.voip.test": {"127.0.0.1"}, "live.voip.test": {"127.0.0.1"}},
		}
	})
	req := live.next(t)
	if req.Recipient.Host != "voip.test" {
		t.Fatalf("Request-URI %s, want the service domain", req.Recipient.String())
	}
	waitState(t, f.r, StateRegistered, 5*time.Second)
	_ = f
}

func TestInactiveLineDoesNotRegister(t *testing.T) {
	f := startReg(t, nil, func(_ *StackConfig, l *Account, _ *RegOptions) { l.Inactive = true })
	select {
	case <-f.done:
		f.done <- nil
	case <-time.After(2 * time.Second):
		t.Fatal("Run of an inactive line did not return")
	}
	if s := f.r.Status(); s.State != StateInactive {
		t.Fatalf("status %+v", s)
	}
	select {
	case <-f.reg.requests:
		t.Fatal("inactive line sent REGISTER")
	default:
	}
}
