package sip

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	siplib "github.com/emiago/sipgo/sip"
)

// fakeVM is an in-process registrar/voicemail: a Stack whose SUBSCRIBE
// answers the test scripts and that sends NOTIFYs.
type fakeVM struct {
	st     *Stack
	mu     sync.Mutex
	answer func(req *siplib.Request) *siplib.Response
	reqs   chan *siplib.Request
	cseq   uint32
}

func newFakeVM(t *testing.T, listen string) *fakeVM {
	t.Helper()
	f := &fakeVM{st: newTestStack(t, listen, false), reqs: make(chan *siplib.Request, 100)}
	f.st.Handle(siplib.SUBSCRIBE, func(req *siplib.Request, tx siplib.ServerTransaction) {
		f.mu.Lock()
		answer := f.answer
		f.mu.Unlock()
		f.reqs <- req
		if res := answer(req); res != nil {
			tx.Respond(res)
		}
	})
	f.setAnswer(acceptSubscribe(0))
	return f
}

func (f *fakeVM) setAnswer(a func(req *siplib.Request) *siplib.Response) {
	f.mu.Lock()
	f.answer = a
	f.mu.Unlock()
}

func (f *fakeVM) next(t *testing.T) *siplib.Request {
	t.Helper()
	select {
	case req := <-f.reqs:
		return req
	case <-time.After(5 * time.Second):
		t.Fatal("fake voicemail: no SUBSCRIBE arrived")
		return nil
	}
}

const vmTag = "vm-tag-1"

// acceptSubscribe answers 200 with the dialog's tag, a Contact and
// Expires seconds (0: what was asked).
func acceptSubscribe(seconds int) func(*siplib.Request) *siplib.Response {
	return func(req *siplib.Request) *siplib.Response {
		res := siplib.NewResponseFromRequest(req, 200, "OK", nil)
		if _, ok := req.To().Params.Get("tag"); !ok {
			res.To().Params.Add("tag", vmTag)
		}
		e := seconds
		if e == 0 {
			e = requestedExpires(req)
		}
		exp := siplib.ExpiresHeader(e)
		res.AppendHeader(&exp)
		res.AppendHeader(&siplib.ContactHeader{Address: siplib.Uri{Scheme: "sip", User: "vm", Host: "127.0.0.1", Port: 5999}})
		return res
	}
}

// notify sends a NOTIFY to ata and returns the answer's status. With sub
// it is in sub's dialog; without, it is unsolicited, for user.
func (f *fakeVM) notify(t *testing.T, ata netip.AddrPort, sub *siplib.Request, user, event, state, body string) int {
	t.Helper()
	var req *siplib.Request
	if sub != nil {
		req = siplib.NewRequest(siplib.NOTIFY, sub.Contact().Address)
		from := &siplib.FromHeader{Address: sub.To().Address, Params: siplib.HeaderParams{{K: "tag", V: vmTag}}}
		req.AppendHeader(from)
		to := &siplib.ToHeader{Address: sub.From().Address, Params: sub.From().Params.Clone()}
		req.AppendHeader(to)
		req.AppendHeader(sub.CallID())
	} else {
		ruri := siplib.Uri{Scheme: "sip", User: user, Host: ata.Addr().String(), Port: int(ata.Port())}
		req = siplib.NewRequest(siplib.NOTIFY, ruri)
		req.AppendHeader(&siplib.FromHeader{Address: siplib.Uri{Scheme: "sip", User: "vm", Host: "voip.test"}, Params: siplib.HeaderParams{{K: "tag", V: "u1"}}})
		req.AppendHeader(&siplib.ToHeader{Address: ruri})
		cid := siplib.CallIDHeader(siplib.GenerateTagN(10))
		req.AppendHeader(&cid)
	}
	la := f.st.LocalAddr()
	req.PrependHeader(&siplib.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
		Host: la.Addr().String(), Port: int(la.Port()), Params: siplib.HeaderParams{{K: "branch", V: siplib.GenerateBranch()}}})
	f.mu.Lock()
	f.cseq++
	req.AppendHeader(&siplib.CSeqHeader{SeqNo: f.cseq, MethodName: siplib.NOTIFY})
	f.mu.Unlock()
	mf := siplib.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(&siplib.ContactHeader{Address: siplib.Uri{Scheme: "sip", User: "vm", Host: la.Addr().String(), Port: int(la.Port())}})
	if event != "" {
		req.AppendHeader(siplib.NewHeader("Event", event))
	}
	if state != "" {
		req.AppendHeader(siplib.NewHeader("Subscription-State", state))
	}
	if body != "" {
		req.AppendHeader(siplib.NewHeader("Content-Type", "application/simple-message-summary"))
	}
	req.SetBody([]byte(body))
	req.SetTransport("UDP")
	req.SetDestination(ata.String())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	res, err := f.st.request(ctx, req)
	if err != nil {
		t.Fatalf("NOTIFY: %v", err)
	}
	return res.StatusCode
}

type mwiFixture struct {
	clock  *fakeClock
	vm     *fakeVM
	st     *Stack
	m      *MWI
	states chan MWIState
	stop   context.CancelFunc
	done   chan error
}

func startMWI(t *testing.T, answer func(*siplib.Request) *siplib.Response, mutate func(*Account, *MWIOptions)) *mwiFixture {
	t.Helper()
	f := &mwiFixture{clock: newFakeClock(), vm: newFakeVM(t, "127.0.0.1:0"), states: make(chan MWIState, 100), done: make(chan error, 1)}
	if answer != nil {
		f.vm.setAnswer(answer)
	}
	f.st = newTestStack(t, "127.0.0.1:0", false)
	acct := Account{Number: "1001", ServiceDomain: "voip.test", Password: "pw", Registrar: f.vm.st.LocalAddr().String()}
	opt := MWIOptions{Clock: f.clock, Timeout: 500 * time.Millisecond, Backoff: DefaultBackoff, Logger: testLogger(t),
		OnChange: func(s MWIState) { f.states <- s }}
	opt.Backoff.Rand = lowRand
	if mutate != nil {
		mutate(&acct, &opt)
	}
	var err error
	if f.m, err = NewMWI(f.st, acct, opt); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.stop = cancel
	go func() { f.done <- f.m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-f.done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return f
}

// waitFor waits for an OnChange state that ok accepts.
func (f *mwiFixture) waitFor(t *testing.T, what string, ok func(MWIState) bool) MWIState {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case s := <-f.states:
			if ok(s) {
				return s
			}
		case <-deadline:
			t.Fatalf("no state with %s; now %+v", what, f.m.State())
		}
	}
}

func TestMWISubscribesWithDigestAndTakesNotifies(t *testing.T) {
	f := startMWI(t, func(req *siplib.Request) *siplib.Response {
		switch {
		case req.GetHeader("Proxy-Authorization") == nil:
			return reply(407, "Proxy Authentication Required",
				siplib.NewHeader("Proxy-Authenticate", `Digest realm="proxy", nonce="n1", qop="auth"`))(req)
		case req.GetHeader("Authorization") == nil:
			return reply(401, "Unauthorized", siplib.NewHeader("WWW-Authenticate", `Digest realm="voip.test", nonce="n2"`))(req)
		}
		return acceptSubscribe(0)(req)
	}, func(a *Account, _ *MWIOptions) { a.AuthUser = "authname" })
	f.vm.next(t)
	f.vm.next(t)
	sub := f.vm.next(t)
	for _, h := range []string{"Proxy-Authorization", "Authorization"} {
		if v := sub.GetHeader(h); v == nil || !strings.Contains(v.Value(), `username="authname"`) || !strings.Contains(v.Value(), `uri="sip:1001@voip.test"`) {
			t.Fatalf("%s = %v, want credentials of the auth user for the AoR", h, v)
		}
	}
	if sub.Recipient.String() != "sip:1001@voip.test" || hdr(sub, "Event") != "message-summary" ||
		hdr(sub, "Accept") != "application/simple-message-summary" || requestedExpires(sub) != 3600 || sub.Contact() == nil {
		t.Fatalf("SUBSCRIBE:\n%s", sub)
	}
	f.waitFor(t, "subscribed", func(s MWIState) bool { return s.Subscribed })

	ata := f.st.LocalAddr()
	if code := f.vm.notify(t, ata, sub, "", "message-summary", "active;expires=3600",
		"Messages-Waiting: yes\r\nMessage-Account: sip:*97@voip.test\r\nVoice-Message: 2/8 (0/2)\r\n"); code != 200 {
		t.Fatalf("NOTIFY yes answered %d", code)
	}
	s := f.waitFor(t, "waiting", func(s MWIState) bool { return s.Waiting })
	if s.New != 2 || s.Old != 8 || s.UrgentOld != 2 || s.Account != "sip:*97@voip.test" || !s.Subscribed {
		t.Fatalf("state %+v", s)
	}
	if code := f.vm.notify(t, ata, sub, "", "message-summary", "active", "Messages-Waiting: no\r\n"); code != 200 {
		t.Fatalf("NOTIFY no answered %d", code)
	}
	f.waitFor(t, "not waiting", func(s MWIState) bool { return !s.Waiting && s.New == 0 })
	if code := f.vm.notify(t, ata, sub, "", "message-summary", "active", "Messages-Waiting: perhaps\r\n"); code != 400 {
		t.Fatalf("NOTIFY with a bad body answered %d, want 400", code)
	}
	if code := f.vm.notify(t, ata, sub, "", "presence", "active", ""); code != 489 {
		t.Fatalf("NOTIFY of another event package in the dialog answered %d, want 489", code)
	}
	other := sub.Clone()
	cid := siplib.CallIDHeader("not-ours")
	other.ReplaceHeader(&cid)
	if code := f.vm.notify(t, ata, other, "", "refer", "active", ""); code != 481 {
		t.Fatalf("NOTIFY in an unknown dialog answered %d, want 481", code)
	}
}

func TestMWIRefreshesAtNinetyPercentAndUnsubscribes(t *testing.T) {
	f := startMWI(t, acceptSubscribe(600), nil)
	first := f.vm.next(t)
	f.waitFor(t, "subscribed", func(s MWIState) bool { return s.Subscribed })
	if p := f.clock.waitTimers(t, 1); len(p) != 1 || p[0] != 540*time.Second {
		t.Fatalf("pending timers %v, want the refresh at 540 s (90 %% of 600)", p)
	}
	f.clock.advance(540 * time.Second)
	ref := f.vm.next(t)
	if tag, _ := ref.To().Params.Get("tag"); tag != vmTag || ref.CallID().Value() != first.CallID().Value() ||
		ref.CSeq().SeqNo <= first.CSeq().SeqNo || requestedExpires(ref) != 3600 || ref.Recipient.User != "vm" {
		t.Fatalf("refresh is not in the dialog:\n%s", ref)
	}
	f.clock.waitTimers(t, 1)
	f.stop()
	un := f.vm.next(t)
	if requestedExpires(un) != 0 || un.CallID().Value() != first.CallID().Value() {
		t.Fatalf("unsubscribe:\n%s", un)
	}
	f.waitFor(t, "unsubscribed", func(s MWIState) bool { return !s.Subscribed })
}

func TestMWIBacksOffOnFailureAndResubscribesAfter481(t *testing.T) {
	f := startMWI(t, reply(503, "Service Unavailable"), nil)
	f.vm.next(t)
	s := f.waitFor(t, "the error", func(s MWIState) bool { return s.LastError != "" })
	if s.Subscribed || !strings.Contains(s.LastError, "503") {
		t.Fatalf("state %+v", s)
	}
	if p := f.clock.waitTimers(t, 1); len(p) != 1 || p[0] != DefaultBackoff.Initial/2 {
		t.Fatalf("pending %v, want the first back-off %v", p, DefaultBackoff.Initial/2)
	}
	f.vm.setAnswer(acceptSubscribe(0))
	f.clock.advance(DefaultBackoff.Initial)
	first := f.vm.next(t)
	f.waitFor(t, "subscribed", func(s MWIState) bool { return s.Subscribed && s.LastError == "" })
	// The provider lost the subscription: its refresh gets 481, a new one
	// (new Call-ID, no To tag) goes out at once.
	f.vm.setAnswer(func(req *siplib.Request) *siplib.Response {
		if _, ok := req.To().Params.Get("tag"); ok {
			return reply(481, "Call/Transaction Does Not Exist")(req)
		}
		return acceptSubscribe(0)(req)
	})
	f.clock.waitTimers(t, 1)
	f.clock.advance(time.Hour)
	f.vm.next(t)
	fresh := f.vm.next(t)
	if _, ok := fresh.To().Params.Get("tag"); ok || fresh.CallID().Value() == first.CallID().Value() {
		t.Fatalf("after 481 want a new subscription:\n%s", fresh)
	}
}

func TestMWITerminatedNotifyResubscribes(t *testing.T) {
	f := startMWI(t, acceptSubscribe(0), nil)
	sub := f.vm.next(t)
	f.waitFor(t, "subscribed", func(s MWIState) bool { return s.Subscribed })
	if code := f.vm.notify(t, f.st.LocalAddr(), sub, "", "message-summary", "terminated;reason=deactivated", ""); code != 200 {
		t.Fatalf("terminating NOTIFY answered %d", code)
	}
	again := f.vm.next(t)
	if _, ok := again.To().Params.Get("tag"); ok || again.CallID().Value() == sub.CallID().Value() {
		t.Fatalf("want a new subscription after terminated;reason=deactivated:\n%s", again)
	}
}

// An unsolicited message summary counts only from the line's registrar or
// proxy address and only for the line's number.
func TestMWIUnsolicitedNotifyOnlyFromProxy(t *testing.T) {
	f := startMWI(t, reply(489, "Bad Event"), nil) // a PBX that only sends unsolicited MWI
	f.vm.next(t)
	f.waitFor(t, "the error", func(s MWIState) bool { return s.LastError != "" })
	stranger := newFakeVM(t, "127.0.0.2:0")
	ata := f.st.LocalAddr()
	body := "Messages-Waiting: yes\r\nVoice-Message: 1/0\r\n"
	if code := stranger.notify(t, ata, nil, "1001", "message-summary", "active", body); code != 481 {
		t.Fatalf("unsolicited NOTIFY from a stranger answered %d, want 481", code)
	}
	if code := f.vm.notify(t, ata, nil, "1002", "message-summary", "active", body); code != 481 {
		t.Fatalf("unsolicited NOTIFY for another number answered %d, want 481", code)
	}
	if code := f.vm.notify(t, ata, nil, "1001", "check-sync", "active", body); code != 481 {
		t.Fatalf("unsolicited NOTIFY of another package answered %d, want 481", code)
	}
	if s := f.m.State(); s.Waiting {
		t.Fatalf("state %+v after refused NOTIFYs", s)
	}
	if code := f.vm.notify(t, ata, nil, "1001", "message-summary", "", body); code != 200 {
		t.Fatalf("unsolicited NOTIFY from the registrar answered %d, want 200", code)
	}
	s := f.waitFor(t, "waiting", func(s MWIState) bool { return s.Waiting })
	if s.New != 1 || s.Subscribed {
		t.Fatalf("state %+v", s)
	}
}

// A provider without message summaries (489 Bad Event) is asked again
// only after the longest back-off.
func TestMWIProviderWithoutMessageSummaryWaitsLong(t *testing.T) {
	f := startMWI(t, reply(489, "Bad Event"), nil)
	f.vm.next(t)
	if p := f.clock.waitTimers(t, 1); len(p) != 1 || p[0] < DefaultBackoff.Cap {
		t.Fatalf("pending %v, want at least %v", p, DefaultBackoff.Cap)
	}
}
