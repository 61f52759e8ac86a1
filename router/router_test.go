package router

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openata/ata/call"
	"github.com/openata/ata/call/calltest"
	"github.com/openata/ata/media"
	"github.com/openata/ata/media/bridge/bridgetest"
)

// fakePort is the analog port: it hands each leg it is given to the test.
type fakePort struct{ legs chan call.Leg }

func (p *fakePort) Incoming(l call.Leg) { p.legs <- l }

type rig struct {
	t       *testing.T
	r       *Router
	port    *fakePort
	users   *calltest.Dialer
	carrier *calltest.Dialer
	line    *calltest.Dialer
	relays  chan [2]media.Endpoint
	records chan Record
}

func newRig(t *testing.T, routes []Route, users ...User) *rig {
	t.Helper()
	g := &rig{t: t, port: &fakePort{make(chan call.Leg, 4)}, users: calltest.NewDialer(), carrier: calltest.NewDialer(),
		line: calltest.NewDialer(), relays: make(chan [2]media.Endpoint, 4), records: make(chan Record, 4)}
	for _, d := range []*calltest.Dialer{g.users, g.carrier, g.line} {
		d.NewEndpoint = func(string) media.Endpoint { return bridgetest.Tone(1000, -10) }
	}
	if users == nil {
		users = []User{{Name: "201", External: true}, {Name: "202"}}
	}
	r, err := New(Options{PortExtension: "100", Users: users, Routes: routes, Port: g.port, UserDialer: g.users,
		Links: []Link{
			{Name: "line:1", Dialer: g.line, Ring: []string{"100", "201"}},
			{Name: "trunk:carrier", Dialer: g.carrier, Ring: []string{"201"}},
		},
		Relay: func(a, b media.Endpoint) func() {
			g.relays <- [2]media.Endpoint{a, b}
			return func() {}
		},
		Record: func(rec Record) { g.records <- rec }})
	if err != nil {
		t.Fatal(err)
	}
	g.r = r
	return g
}

func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(2 * time.Second):
		t.Fatalf("no %s", what)
	}
	var zero T
	return zero
}

// eventually waits for cond, for operations that other goroutines do.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func hasOp(l *calltest.Leg, op string) func() bool {
	return func() bool { return slices.Contains(l.Ops(), op) }
}

func incoming(number string) *calltest.Leg {
	l := calltest.NewLeg("in", number, false)
	l.Endpoint = bridgetest.Tone(600, -10)
	return l
}

func TestNewRefusesBadSettings(t *testing.T) {
	d := calltest.NewDialer()
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"unknown ring extension", Options{PortExtension: "100", Links: []Link{{Name: "line:1", Dialer: d, Ring: []string{"999"}}}}, `line:1 ring: "999" is no extension`},
		{"route to a missing link", Options{PortExtension: "100", Routes: []Route{{Pattern: "xx.", Via: "trunk:x"}}}, `route[0].via: no link "trunk:x"`},
		{"two users with one name", Options{PortExtension: "100", Users: []User{{Name: "201"}, {Name: "201"}}}, `user[1].name: "201" is already a user`},
		{"a user on the port's extension", Options{PortExtension: "100", Users: []User{{Name: "100"}}}, `user[0].name: "100" is the port's extension`},
		{"a digit map that does not parse", Options{PortExtension: "100", Links: []Link{{Name: "line:1", Dialer: d}}, Routes: []Route{{Pattern: "(xx", Via: "line:1"}}}, "route[0].pattern"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	g := newRig(t, []Route{{Pattern: "<9:>xxxxxxx.", Via: "trunk:carrier"}, {Pattern: "1xxx", Via: "line:1"}})
	for _, tc := range []struct{ number, kind, target, send string }{
		{"201", "ext", "201", "201"},
		{"100", "ext", "100", "100"},
		{"95551234", "link", "trunk:carrier", "5551234"},
		{"1234", "link", "line:1", "1234"},
	} {
		kind, target, send, err := g.r.Resolve(tc.number)
		if err != nil || kind != tc.kind || target != tc.target || send != tc.send {
			t.Errorf("Resolve(%s) = %s %s %s %v, want %s %s %s", tc.number, kind, target, send, err, tc.kind, tc.target, tc.send)
		}
	}
	if _, _, _, err := g.r.Resolve("5551234"); err != ErrNoRoute {
		t.Errorf("a number no route takes: %v, want ErrNoRoute", err)
	}
	// With no routes, the first link that is up.
	h := newRig(t, nil)
	h.r.o.Links[0].Up = func() bool { return false }
	if kind, target, _, _ := h.r.Resolve("5551234"); kind != "link" || target != "trunk:carrier" {
		t.Errorf("no routes, line down: %s %s, want the trunk", kind, target)
	}
}

// TestLinkCallUserAnswers: a call on line 1 rings the port and user 201
// together; 201 answers: the port stops ringing, the caller is answered,
// the media relayed, and 201's hang-up ends the caller's leg.
func TestLinkCallUserAnswers(t *testing.T) {
	g := newRig(t, nil)
	in := incoming("5551234")
	g.r.FromLink(context.Background(), "line:1", in)
	port := wait(t, g.port.legs, "port alerted")
	user := wait(t, g.users.Dialed(), "user dialled")
	if port.Remote().Number != "5551234" {
		t.Errorf("the port's caller ID: %+v", port.Remote())
	}
	user.Emit(call.Event{Kind: call.Progress})
	eventually(t, "caller alerted", hasOp(in, "alert"))
	user.Emit(call.Event{Kind: call.Answered})
	eventually(t, "caller answered", hasOp(in, "answer"))
	ev := wait(t, port.Events(), "port cancelled")
	if ev.Kind != call.Ended || ev.Cause != call.Cancelled {
		t.Fatalf("port got %+v, want ended/cancelled", ev)
	}
	relay := wait(t, g.relays, "media relay")
	if relay[0] != in.Endpoint || relay[1] != user.Endpoint {
		t.Errorf("relay joins %v and %v", relay[0], relay[1])
	}
	user.Emit(call.Event{Kind: call.DTMF, Key: '5', Duration: 80 * time.Millisecond})
	eventually(t, "key passed to the caller", hasOp(in, "dtmf:5"))
	user.Emit(call.Event{Kind: call.Ended, Cause: call.Normal, Remote: true})
	eventually(t, "caller hung up", hasOp(in, "hangup:normal"))
	rec := wait(t, g.records, "call record")
	if rec.AnsweredBy != "201" || rec.EndedBy != "callee" || rec.From != "line:1" || len(rec.Legs) != 2 || rec.Answered.IsZero() {
		t.Errorf("record %+v", rec)
	}
}

// TestLinkCallPortAnswers: the port answers first: user 201's phone stops
// ringing, the port's leg is the caller's, and the caller's hang-up reaches
// the port.
func TestLinkCallPortAnswers(t *testing.T) {
	g := newRig(t, nil)
	in := incoming("5551234")
	g.r.FromLink(context.Background(), "line:1", in)
	port := wait(t, g.port.legs, "port alerted")
	user := wait(t, g.users.Dialed(), "user dialled")
	if err := port.Alert(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "caller alerted", hasOp(in, "alert"))
	if err := port.Answer(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "user cancelled", hasOp(user, "hangup:cancelled"))
	if ev := wait(t, port.Events(), "answered"); ev.Kind != call.Answered {
		t.Fatalf("port got %+v, want answered", ev)
	}
	if port.Media() != in.Endpoint {
		t.Error("the port's media is not the caller's")
	}
	in.Emit(call.Event{Kind: call.Ended, Cause: call.Normal, Remote: true})
	if ev := wait(t, port.Events(), "ended"); ev.Kind != call.Ended || !ev.Remote {
		t.Fatalf("port got %+v, want the caller's end", ev)
	}
	rec := wait(t, g.records, "call record")
	if rec.AnsweredBy != "100" || rec.EndedBy != "caller" {
		t.Errorf("record %+v", rec)
	}
	select {
	case r := <-g.relays:
		t.Errorf("a relay for a call the port took: %v", r)
	default:
	}
}

// TestLinkCallCallerGivesUp: the caller cancels while both ring.
func TestLinkCallCallerGivesUp(t *testing.T) {
	g := newRig(t, nil)
	in := incoming("5551234")
	g.r.FromLink(context.Background(), "line:1", in)
	port := wait(t, g.port.legs, "port alerted")
	user := wait(t, g.users.Dialed(), "user dialled")
	in.Emit(call.Event{Kind: call.Ended, Cause: call.Cancelled, Remote: true})
	eventually(t, "user cancelled", hasOp(user, "hangup:cancelled"))
	if ev := wait(t, port.Events(), "port cancelled"); ev.Kind != call.Ended {
		t.Fatalf("port got %+v", ev)
	}
	if err := port.Answer(); err == nil {
		t.Error("the port answered a call that was gone")
	}
	if rec := wait(t, g.records, "record"); rec.EndedBy != "caller" || rec.AnsweredBy != "" {
		t.Errorf("record %+v", rec)
	}
}

// TestLinkCallNobodyTakes: every extension refuses: the caller gets the
// reason (busy), not a generic failure.
func TestLinkCallNobodyTakes(t *testing.T) {
	g := newRig(t, nil)
	in := incoming("5551234")
	g.r.FromLink(context.Background(), "line:1", in)
	port := wait(t, g.port.legs, "port alerted")
	user := wait(t, g.users.Dialed(), "user dialled")
	port.Reject(call.Busy)
	user.Emit(call.Event{Kind: call.Ended, Cause: call.Busy, Remote: true})
	eventually(t, "caller refused busy", hasOp(in, "reject:busy"))
}

// TestUserCallsOut: an external user's number goes out by the route, with
// the rewrite; the answer, keys and hang-up cross.
func TestUserCallsOut(t *testing.T) {
	g := newRig(t, []Route{{Pattern: "<9:>xxxxxxx.", Via: "trunk:carrier"}})
	in := incoming("201")
	g.r.FromUser(context.Background(), "201", "95551234", in)
	out := wait(t, g.carrier.Dialed(), "call out")
	if out.Remote().Number != "5551234" {
		t.Errorf("sent %q, want the rewritten 5551234", out.Remote().Number)
	}
	out.Emit(call.Event{Kind: call.Progress})
	eventually(t, "alerted", hasOp(in, "alert"))
	out.Emit(call.Event{Kind: call.Answered})
	eventually(t, "answered", hasOp(in, "answer"))
	wait(t, g.relays, "relay")
	in.Emit(call.Event{Kind: call.DTMF, Key: '#', Duration: 100 * time.Millisecond})
	eventually(t, "key out", hasOp(out, "dtmf:#"))
	in.Emit(call.Event{Kind: call.Held})
	eventually(t, "hold passed", hasOp(out, "hold"))
	in.Emit(call.Event{Kind: call.Ended, Cause: call.Normal, Remote: true})
	eventually(t, "far end hung up", hasOp(out, "hangup:normal"))
	rec := wait(t, g.records, "record")
	if rec.Route != "trunk:carrier" || rec.EndedBy != "caller" || rec.To != "5551234" || rec.From != "user:201" {
		t.Errorf("record %+v", rec)
	}
}

// TestInternalUserCannotCallOut: a user limited to internal calls gets
// 403 (Rejected) for an outside number and nothing is dialled.
func TestInternalUserCannotCallOut(t *testing.T) {
	g := newRig(t, nil)
	in := incoming("202")
	g.r.FromUser(context.Background(), "202", "5551234", in)
	eventually(t, "refused", hasOp(in, "reject:rejected"))
	select {
	case l := <-g.line.Dialed():
		t.Fatalf("dialled %s for an internal-only user", l.Remote().Number)
	case l := <-g.carrier.Dialed():
		t.Fatalf("dialled %s for an internal-only user", l.Remote().Number)
	case <-time.After(50 * time.Millisecond):
	}
	// Internal calls are fine: 202 calls the port.
	in2 := incoming("202")
	g.r.FromUser(context.Background(), "202", "100", in2)
	port := wait(t, g.port.legs, "port rings for 202")
	if port.Remote().Number != "202" {
		t.Errorf("caller ID at the port: %+v", port.Remote())
	}
}

// TestPortDials: the port's calls go to extensions directly and out by
// the routes.
func TestPortDials(t *testing.T) {
	g := newRig(t, []Route{{Pattern: "<9:>xxxxxxx.", Via: "trunk:carrier"}})
	ctx := context.Background()
	if _, err := g.r.Dial(ctx, "201", call.DialOptions{}); err != nil {
		t.Fatal(err)
	}
	if l := wait(t, g.users.Dialed(), "user"); l.Remote().Number != "201" {
		t.Errorf("dialled user %q", l.Remote().Number)
	}
	if _, err := g.r.Dial(ctx, "95550000", call.DialOptions{}); err != nil {
		t.Fatal(err)
	}
	if l := wait(t, g.carrier.Dialed(), "trunk"); l.Remote().Number != "5550000" {
		t.Errorf("sent %q", l.Remote().Number)
	}
	if _, err := g.r.Dial(ctx, "100", call.DialOptions{}); err == nil {
		t.Error("the port called itself")
	}
}

// TestCallsListsActive: the status page sees a call with both legs while
// it lasts.
func TestCallsListsActive(t *testing.T) {
	g := newRig(t, nil)
	in := incoming("5551234")
	g.r.FromLink(context.Background(), "trunk:carrier", in)
	user := wait(t, g.users.Dialed(), "user")
	user.Emit(call.Event{Kind: call.Answered})
	eventually(t, "answered", hasOp(in, "answer"))
	var mu sync.Mutex
	eventually(t, "listed with both legs", func() bool {
		mu.Lock()
		defer mu.Unlock()
		cs := g.r.Calls()
		return len(cs) == 1 && len(cs[0].Legs) == 2 && cs[0].AnsweredBy == "201"
	})
	user.Emit(call.Event{Kind: call.Ended, Remote: true})
	wait(t, g.records, "record")
	if n := len(g.r.Calls()); n != 0 {
		t.Errorf("%d calls listed after the end", n)
	}
}

// Per-user do-not-disturb and forwarding: DND refuses busy without
// alerting; forward always goes to the target instead (an extension, or
// out by the routes for a user who may call out); forward busy and no
// answer hand over when it happens; a user limited to inside calls does
// not forward outside.
func TestUserDNDAndForwarding(t *testing.T) {
	for _, tc := range []struct {
		name  string
		users []User
		run   func(t *testing.T, g *rig, in *calltest.Leg)
	}{
		{"dnd", []User{{Name: "201", DND: true}}, func(t *testing.T, g *rig, in *calltest.Leg) {
			eventually(t, "refused busy", hasOp(in, "reject:busy"))
		}},
		{"forward always to an extension", []User{{Name: "201", ForwardAlways: "202"}, {Name: "202"}}, func(t *testing.T, g *rig, in *calltest.Leg) {
			if l := wait(t, g.users.Dialed(), "forward target"); l.Remote().Number != "202" {
				t.Fatalf("dialled %s, want 202", l.Remote().Number)
			}
		}},
		{"forward always outside", []User{{Name: "201", External: true, ForwardAlways: "5551234"}}, func(t *testing.T, g *rig, in *calltest.Leg) {
			if l := wait(t, g.line.Dialed(), "call out"); l.Remote().Number != "5551234" {
				t.Fatalf("dialled %s, want 5551234", l.Remote().Number)
			}
		}},
		{"an inside-only user does not forward outside", []User{{Name: "201", ForwardAlways: "5551234"}}, func(t *testing.T, g *rig, in *calltest.Leg) {
			eventually(t, "refused", hasOp(in, "reject:rejected"))
			select {
			case l := <-g.line.Dialed():
				t.Fatalf("forwarded outside to %s", l.Remote().Number)
			default:
			}
		}},
		{"forward busy", []User{{Name: "201", ForwardBusy: "202"}, {Name: "202"}}, func(t *testing.T, g *rig, in *calltest.Leg) {
			first := wait(t, g.users.Dialed(), "201")
			first.Emit(call.Event{Kind: call.Ended, Cause: call.Busy, Remote: true})
			if l := wait(t, g.users.Dialed(), "forward target"); l.Remote().Number != "202" {
				t.Fatalf("dialled %s, want 202", l.Remote().Number)
			}
		}},
		{"forward no answer", []User{{Name: "201", ForwardNoAnswer: "202", ForwardNoAnswerAfter: 50 * time.Millisecond}, {Name: "202"}}, func(t *testing.T, g *rig, in *calltest.Leg) {
			first := wait(t, g.users.Dialed(), "201")
			second := wait(t, g.users.Dialed(), "forward target")
			if second.Remote().Number != "202" {
				t.Fatalf("dialled %s, want 202", second.Remote().Number)
			}
			eventually(t, "201 stopped ringing", hasOp(first, "hangup:cancelled"))
			second.Emit(call.Event{Kind: call.Answered})
			eventually(t, "answered", hasOp(in, "answer"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newRig(t, nil, tc.users...)
			g.r.links["trunk:carrier"].Ring = []string{"201"}
			in := incoming("5550000")
			g.r.FromLink(context.Background(), "trunk:carrier", in)
			tc.run(t, g, in)
		})
	}
}
