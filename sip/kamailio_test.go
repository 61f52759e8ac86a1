package sip

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openata/ata/internal/kamailiotest"
	"github.com/openata/ata/internal/sipptest"
)

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	w := &tlogWriter{t: t}
	t.Cleanup(func() { // a call's goroutines may log after the test
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tlogWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *tlogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func newTestStack(t *testing.T, listen string, proxyOnly bool) *Stack {
	t.Helper()
	cfg := testStackConfig()
	cfg.Listen = listen
	cfg.AcceptProxyOnly = proxyOnly
	cfg.KeepAlive = 0
	st, err := NewStack(cfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// waitState waits (real time) for the registration to reach want.
func waitState(t *testing.T, r *Registration, want RegState, within time.Duration) RegStatus {
	t.Helper()
	ch, stop := r.Subscribe()
	defer stop()
	deadline := time.After(within)
	for {
		if s := r.Status(); s.State == want {
			return s
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("state %q not reached within %v; status %+v", want, within, r.Status())
		}
	}
}

func TestKamailioRegisterDigest(t *testing.T) {
	k := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"alice-auth": "s3cret"}})
	st := newTestStack(t, "127.0.0.1:0", true)
	line := Account{Number: "1001", ServiceDomain: "voip.test", AuthUser: "alice-auth", Password: "s3cret",
		Registrar: k.Addr().String(), RegisterExpires: time.Hour}
	r, err := NewRegistration(st, line, RegOptions{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	s := waitState(t, r, StateRegistered, 5*time.Second)
	t.Logf("status %+v", s)
	contacts, err := k.Contacts("1001")
	if err != nil {
		t.Fatal(err)
	}
	if len(contacts) != 1 || !strings.Contains(contacts[0], st.LocalAddr().String()) {
		t.Fatalf("location table has %v, want our contact %s", contacts, st.LocalAddr())
	}
	cancel()
	<-done
	contacts, err = k.Contacts("1001")
	if err != nil || len(contacts) != 0 {
		t.Fatalf("after shutdown the location table has %v (%v), want none", contacts, err)
	}
}

// runLine registers line on st until the test ends.
func runLine(t *testing.T, st *Stack, line Account, opt RegOptions) (*Registration, func()) {
	t.Helper()
	r, err := NewRegistration(st, line, opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Error("Run did not return")
			}
		})
	}
	t.Cleanup(stop)
	return r, stop
}

var quickRetry = Backoff{Initial: 200 * time.Millisecond, Base: 250 * time.Millisecond, Cap: time.Second, Forbidden: time.Second}

func TestKamailioWrongPasswordFails(t *testing.T) {
	k := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "right"}})
	st := newTestStack(t, "127.0.0.1:0", true)
	r, _ := runLine(t, st, Account{Number: "1001", ServiceDomain: "voip.test", Password: "wrong",
		Registrar: k.Addr().String(), RegisterExpires: time.Hour}, RegOptions{Timeout: time.Second, Backoff: quickRetry})
	s := waitState(t, r, StateFailing, 5*time.Second)
	if !strings.Contains(s.LastError, "401") || !strings.Contains(s.LastError, "credentials rejected") {
		t.Fatalf("LastError %q, want the rejected 401", s.LastError)
	}
	if c, err := k.Contacts("1001"); err != nil || len(c) != 0 {
		t.Fatalf("location has %v (%v)", c, err)
	}
}

func TestKamailioRefreshesAtGrantedExpiry(t *testing.T) {
	k := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "pw"}, MinExpires: 1, MaxExpires: 2})
	st := newTestStack(t, "127.0.0.1:0", true)
	r, _ := runLine(t, st, Account{Number: "1001", ServiceDomain: "voip.test", Password: "pw",
		Registrar: k.Addr().String(), RegisterExpires: time.Hour}, RegOptions{Timeout: time.Second})
	ch, stop := r.Subscribe()
	defer stop()
	first := waitState(t, r, StateRegistered, 5*time.Second)
	if left := time.Until(first.Expires); left > 3*time.Second || left < time.Second {
		t.Fatalf("binding expires in %v, want the granted 2 s (not the requested hour)", left)
	}
	deadline := time.After(4 * time.Second)
	for refreshes := 0; refreshes < 2; {
		select {
		case s := <-ch:
			if s.State == StateRegistered && s.Expires.After(first.Expires) {
				refreshes++
				first = s
			}
			if s.State == StateFailing {
				t.Fatalf("refresh failed: %+v", s)
			}
		case <-deadline:
			t.Fatalf("saw fewer than 2 refreshes within 4 s")
		}
	}
	if c, err := k.Contacts("1001"); err != nil || len(c) != 1 {
		t.Fatalf("location has %v (%v), want our one contact", c, err)
	}
}

func TestKamailioRestartRecovers(t *testing.T) {
	k := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "pw"}, MinExpires: 1, MaxExpires: 2})
	st := newTestStack(t, "127.0.0.1:0", true)
	r, _ := runLine(t, st, Account{Number: "1001", ServiceDomain: "voip.test", Password: "pw",
		Registrar: k.Addr().String(), RegisterExpires: time.Hour}, RegOptions{Timeout: 500 * time.Millisecond, Backoff: quickRetry})
	waitState(t, r, StateRegistered, 5*time.Second)
	k.Stop()
	s := waitState(t, r, StateFailing, 5*time.Second)
	t.Logf("while down: %+v", s)
	time.Sleep(time.Second) // a few failed retries
	k.Start()               // empty location table
	waitState(t, r, StateRegistered, 3*time.Second)
	if c, err := k.Contacts("1001"); err != nil || len(c) != 1 {
		t.Fatalf("after restart location has %v (%v)", c, err)
	}
}

func TestKamailioOutboundProxy(t *testing.T) {
	registrar := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"alice": "pw"}})
	proxy := kamailiotest.Start(t, kamailiotest.Config{})
	st := newTestStack(t, "127.0.0.1:0", true)
	r, stop := runLine(t, st, Account{Number: "1001", ServiceDomain: "voip.test", AuthUser: "alice", Password: "pw",
		Registrar: registrar.Addr().String(), OutboundProxy: proxy.Addr().String(),
		RegisterExpires: time.Hour}, RegOptions{Timeout: time.Second})
	waitState(t, r, StateRegistered, 5*time.Second)
	dump, err := registrar.Dump()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dump, "Path: <sip:"+proxy.Addr().String()) {
		t.Fatalf("registrar's binding has no Path through the proxy %s:\n%s", proxy.Addr(), dump)
	}
	if c, _ := proxy.Contacts("1001"); len(c) != 0 {
		t.Fatalf("the proxy registered the line itself: %v", c)
	}
	stop()
	if c, err := registrar.Contacts("1001"); err != nil || len(c) != 0 {
		t.Fatalf("after unregister through the proxy the registrar has %v (%v)", c, err)
	}
}

func TestKamailioProxyOnlyFilter(t *testing.T) {
	k := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "pw"}})
	st := newTestStack(t, "127.0.0.1:0", true)
	r, _ := runLine(t, st, Account{Number: "1001", ServiceDomain: "voip.test", Password: "pw",
		Registrar: k.Addr().String(), RegisterExpires: time.Hour}, RegOptions{Timeout: time.Second})
	waitState(t, r, StateRegistered, 5*time.Second)
	// Relayed by the registrar (lookup of the registered contact): answered.
	res := rawRequest(t, "127.0.0.1:0", k.Addr(), "OPTIONS", "sip:1001@"+k.Addr().String())
	if !strings.HasPrefix(res, "SIP/2.0 200 ") || !strings.Contains(res, "Allow: ") {
		t.Fatalf("OPTIONS through Kamailio got:\n%s", res)
	}
	// Straight from a scanner's address: silence.
	for _, m := range []string{"OPTIONS", "INVITE"} {
		if res := rawRequest(t, "127.0.0.2:0", st.LocalAddr(), m, "sip:1001@"+st.LocalAddr().String()); res != "" {
			t.Fatalf("%s from 127.0.0.2 answered:\n%s", m, res)
		}
	}
	if st.Dropped() != 2 {
		t.Fatalf("dropped %d, want 2", st.Dropped())
	}
}

// testStackConfig is the firmware's default [sip] section.
func testStackConfig() StackConfig {
	return StackConfig{Listen: "0.0.0.0:5060", KeepAlive: 30 * time.Second, KeepAliveMethod: "crlf",
		AcceptProxyOnly: true, UserAgent: "openata"}
}

// flowOpts are the keep-alive settings of the Kamailio recovery tests,
// short so that an outage of seconds stands for one of minutes: a
// keep-alive every 300 ms, 2 misses, and a REGISTER fallback far beyond
// the outage.
func flowStack(t *testing.T) *Stack {
	cfg := testStackConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.KeepAlive = 300 * time.Millisecond
	cfg.KeepAliveMisses = 2
	st, err := NewStack(cfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var flowBackoff = Backoff{Initial: 10 * time.Second, Base: 10 * time.Second, Cap: time.Minute, Forbidden: time.Minute}

// Kamailio killed (SIGKILL: its in-memory location table is gone) and
// started again: the line notices the silence within two keep-alives,
// sends no REGISTER while Kamailio is down, and is in the new location
// table right after Kamailio returns, although its own binding had an
// hour to run.
func TestKamailioKilledAndRestartedReRegisters(t *testing.T) {
	k := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "pw"}})
	st := flowStack(t)
	r, _ := runLine(t, st, Account{Number: "1001", ServiceDomain: "voip.test", Password: "pw",
		Registrar: k.Addr().String(), RegisterExpires: time.Hour}, RegOptions{Timeout: 500 * time.Millisecond, Backoff: flowBackoff})
	waitState(t, r, StateRegistered, 5*time.Second)
	time.Sleep(time.Second) // keep-alives flow (Kamailio answers no CRLF: OPTIONS)
	killed := time.Now()
	k.Kill()
	s := waitState(t, r, StateFailing, 3*time.Second)
	t.Logf("noticed after %v: %+v", time.Since(killed).Round(time.Millisecond), s)
	if s.NotAnsweringSince.IsZero() {
		t.Fatalf("status %+v: want 'not answering since'", s)
	}
	regs := r.Counters().Registers
	time.Sleep(2 * time.Second)
	if n := r.Counters().Registers - regs; n > 0 {
		t.Fatalf("%d REGISTERs while Kamailio was down, want none (probes only)", n)
	}
	k.Start()
	back := time.Now()
	waitState(t, r, StateRegistered, 3*time.Second)
	t.Logf("registered again %v after Kamailio's return", time.Since(back).Round(time.Millisecond))
	if c, err := k.Contacts("1001"); err != nil || len(c) != 1 {
		t.Fatalf("after the restart the location table has %v (%v)", c, err)
	}
	if c := r.Counters(); c.FlowFailures != 1 || c.ReRegistrations[ReRegFlowRecovered] != 1 {
		t.Fatalf("counters %+v", c)
	}
}

// Kamailio down while refreshes are due (it grants 1 s, the keep-alive
// is 1 s: the refresh goes out into the silence first): the unanswered
// REGISTER turns into cheap probes, at most one REGISTER per keep-alive
// interval during the outage, and the line is registered again soon
// after Kamailio's return.
func TestKamailioDownWhileRefreshesDue(t *testing.T) {
	k := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "pw"}, MinExpires: 1, MaxExpires: 1})
	cfg := testStackConfig()
	cfg.Listen, cfg.KeepAlive, cfg.KeepAliveMisses = "127.0.0.1:0", time.Second, 2
	st, err := NewStack(cfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r, _ := runLine(t, st, Account{Number: "1001", ServiceDomain: "voip.test", Password: "pw",
		Registrar: k.Addr().String(), RegisterExpires: time.Hour}, RegOptions{Timeout: 500 * time.Millisecond, Backoff: flowBackoff})
	waitState(t, r, StateRegistered, 5*time.Second)
	k.Kill()
	regs := r.Counters().Registers
	down := 4 * time.Second
	time.Sleep(down)
	n := r.Counters().Registers - regs
	t.Logf("%d REGISTER transactions during a %v outage (keep-alive 1 s, refresh due every 0.9 s)", n, down)
	if n == 0 || n > uint64(down/time.Second) || n > 2 {
		t.Fatalf("%d REGISTERs during the outage, want the refresh and then probes (at most one per keep-alive interval)", n)
	}
	k.Start()
	back := time.Now()
	waitState(t, r, StateRegistered, 3*time.Second)
	t.Logf("registered again %v after Kamailio's return", time.Since(back).Round(time.Millisecond))
	if c, err := k.Contacts("1001"); err != nil || len(c) != 1 {
		t.Fatalf("after the restart the location table has %v (%v)", c, err)
	}
}

// sipp as a registrar that answers a keep-alive OPTIONS with 404: the
// line registers again at once (sipp waits at most 2 s for it), not at
// its refresh an hour later.
func TestSippOptions404ReRegistersAtOnce(t *testing.T) {
	addr := freeLoopbackPort(t)
	done := sipptest.Run(t, addr, "testdata/sipp/registrar_options_404.xml", nil)
	time.Sleep(300 * time.Millisecond) // sipp binds
	cfg := testStackConfig()
	cfg.Listen, cfg.KeepAlive, cfg.KeepAliveMethod = "127.0.0.1:0", time.Second, "options"
	st, err := NewStack(cfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r, stop := runLine(t, st, Account{Number: "1001", ServiceDomain: "voip.test", Registrar: addr,
		RegisterExpires: time.Hour}, RegOptions{Timeout: time.Second})
	waitState(t, r, StateRegistered, 5*time.Second)
	sipptest.Wait(t, done, 5*time.Second)
	if c := r.Counters(); c.ReRegistrations[ReRegBindingGone] != 1 {
		t.Fatalf("re-registrations %v, want one for the binding gone", c.ReRegistrations)
	}
	if s := waitState(t, r, StateRegistered, 5*time.Second); s.Expires.Sub(time.Now()) < 59*time.Minute {
		t.Fatalf("status %+v after the re-registration", s)
	}
	stop()
}

func freeLoopbackPort(t *testing.T) string {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}
