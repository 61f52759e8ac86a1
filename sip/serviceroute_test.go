package sip

import (
	"context"
	"strings"
	"testing"
	"time"

	siplib "github.com/emiago/sipgo/sip"

	"github.com/openata/ata/call"
)

func TestParseServiceRoute(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
		ok   bool
	}{
		{[]string{"<sip:orig@scscf.example.net;lr>"}, []string{"sip:orig@scscf.example.net;lr"}, true},
		{[]string{`<sip:a.example.net;lr>, "x,y" <sip:b.example.net:5070;lr>`, "<sip:c.example.net;lr>"},
			[]string{"sip:a.example.net;lr", "sip:b.example.net:5070;lr", "sip:c.example.net;lr"}, true},
		{nil, nil, true},
		{[]string{"sip:bare.example.net"}, nil, false},
		{[]string{"<tel:+15551234>"}, nil, false},
		{[]string{"<sip:a;lr"}, nil, false},
	} {
		var hs []siplib.Header
		for _, v := range tc.in {
			hs = append(hs, siplib.NewHeader("Service-Route", v))
		}
		got, err := parseServiceRoute(hs)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v", tc.in, err)
			continue
		}
		var s []string
		for _, u := range got {
			s = append(s, u.String())
		}
		if strings.Join(s, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%q: %q, want %q", tc.in, s, tc.want)
		}
	}
	var many []siplib.Header
	for range maxServiceRoutes + 1 {
		many = append(many, siplib.NewHeader("Service-Route", "<sip:p.example.net;lr>"))
	}
	if _, err := parseServiceRoute(many); err == nil {
		t.Error("more than maxServiceRoutes accepted")
	}
}

func FuzzParseServiceRoute(f *testing.F) {
	f.Add(`<sip:a.example.net;lr>, "x,y" <sip:b.example.net:5070;lr>`)
	f.Add(`<sip:a;lr`)
	f.Fuzz(func(t *testing.T, v string) {
		routes, err := parseServiceRoute([]siplib.Header{siplib.NewHeader("Service-Route", v)})
		if err == nil && len(routes) > maxServiceRoutes {
			t.Fatalf("%d routes", len(routes))
		}
	})
}

// The Service-Route of the REGISTER's 200 (RFC 3608) is kept by the
// registration, and a later 200 without it clears it.
func TestRegistrationKeepsServiceRoute(t *testing.T) {
	t.Parallel()
	routes := "<sip:orig@10.9.9.1;lr>, <sip:scscf.example.net;lr>"
	f := startReg(t, func(req *siplib.Request) *siplib.Response {
		res := grant(60)(req)
		res.AppendHeader(siplib.NewHeader("Service-Route", routes))
		return res
	}, nil)
	f.reg.next(t)
	waitState(t, f.r, StateRegistered, 5*time.Second)
	got := f.r.ServiceRoute()
	if len(got) != 2 || got[0].String() != "sip:orig@10.9.9.1;lr" || got[1].String() != "sip:scscf.example.net;lr" {
		t.Fatalf("ServiceRoute %v", got)
	}
	f.reg.setAnswer(grant(60))
	f.r.NetworkChanged()
	f.reg.next(t)
	deadline := time.Now().Add(5 * time.Second)
	for len(f.r.ServiceRoute()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("ServiceRoute %v after a 200 without it", f.r.ServiceRoute())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A line's INVITE carries the Service-Route as its Route set, after the
// outbound proxy's, and still goes to the proxy.
func TestInviteCarriesServiceRoute(t *testing.T) {
	t.Parallel()
	p := newPeer(t)
	sr := []siplib.Uri{
		{Scheme: "sip", User: "orig", Host: "10.9.9.1", UriParams: siplib.HeaderParams{{K: "lr"}}},
		{Scheme: "sip", Host: "scscf.example.net", UriParams: siplib.HeaderParams{{K: "lr"}}},
	}
	st := newTestStack(t, "127.0.0.1:0", false)
	acct := Account{Number: "1001", ServiceDomain: "voip.test", Registrar: p.addr(), OutboundProxy: p.addr(), Codecs: []string{"PCMU"}}
	l, err := NewLine(st, acct, LineOptions{Logger: testLogger(t), ServiceRoute: func() []siplib.Uri { return sr }})
	if err != nil {
		t.Fatal(err)
	}
	p.ata = st.LocalAddr()
	c, err := l.DialCall(context.Background(), "2000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Hangup(call.Normal) })
	inv := p.request(siplib.INVITE) // at the proxy
	var got []string
	for _, h := range inv.GetHeaders("Route") {
		got = append(got, h.Value())
	}
	want := []string{"<sip:" + p.addr() + ";lr>", "<sip:orig@10.9.9.1;lr>", "<sip:scscf.example.net;lr>"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("Route %q, want %q", got, want)
	}
}

// A REGISTER refused 500 or 480 with Retry-After waits that long too
// (503: TestServiceUnavailableHonoursRetryAfter).
func TestRegisterRetryAfterOn500And480(t *testing.T) {
	t.Parallel()
	for _, code := range []int{500, 480} {
		f := startReg(t, reply(code, statusPhrase(code), siplib.NewHeader("Retry-After", "120")), nil)
		f.reg.next(t)
		if d := f.onlyTimer(t); d != 120*time.Second {
			t.Fatalf("%d: retry after %v, want Retry-After 120s", code, d)
		}
	}
}

// A new subscription's SUBSCRIBE carries the Service-Route too.
func TestSubscribeCarriesServiceRoute(t *testing.T) {
	t.Parallel()
	p := newPeer(t)
	st := newTestStack(t, "127.0.0.1:0", false)
	p.ata = st.LocalAddr()
	sr := []siplib.Uri{{Scheme: "sip", Host: "scscf.example.net", UriParams: siplib.HeaderParams{{K: "lr"}}}}
	m, err := NewMWI(st, Account{Number: "1001", ServiceDomain: "voip.test", Registrar: p.addr()},
		MWIOptions{Logger: testLogger(t), Timeout: 2 * time.Second, ServiceRoute: func() []siplib.Uri { return sr }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-ran })
	sub := p.request(siplib.SUBSCRIBE)
	var got []string
	for _, h := range sub.GetHeaders("Route") {
		got = append(got, h.Value())
	}
	if strings.Join(got, " ") != "<sip:scscf.example.net;lr>" {
		t.Fatalf("SUBSCRIBE Route %q, want the Service-Route", got)
	}
}
