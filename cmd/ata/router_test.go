package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/internal/baresiptest"
	"github.com/openata/ata/internal/kamailiotest"
)

// TestRouterModeTrunk: in router mode an IP trunk's INVITE from its listed
// address rings the trunk's ring list (the port), one from another
// address is dropped, and the port's calls that match a route leave
// through the trunk with the route's rewriting.
func TestRouterModeTrunk(t *testing.T) {
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "secret"}})
	carrierUAS, uasDone := startSippUAS(t, "uas")
	cfg := strings.Replace(lineConfig(kam, ""), `dial_plan = "(xxxx)"`, `dial_plan = "(9xxxx|xxxx)"`, 1) + fmt.Sprintf(`
[router]
enabled = true
listen = "127.0.0.1:0"

[[trunk]]
name = "carrier"
addresses = ["127.0.0.7"]
dial = %q
ring = ["100"]

[[route]]
pattern = "<9:>xxxx"
via = "trunk:carrier"
`, carrierUAS)
	f := startFirmware(t, cfg)
	waitRegistered(t, kam, "1001")
	ata := f.sipAddr(t)
	ctx := context.Background()

	// From the carrier's address: the port rings; lifting the handset answers.
	done := sipp(t, "127.0.0.7:"+strings.Split(freeUDPPort(t), ":")[1], "uac_call.xml",
		map[string]string{"caller": "5550177", "name": "CARRIER", "answer_ms": "10000"}, "-s", "4930123", ata)
	f.waitLog(t, "to=ringing", 5*time.Second)
	if err := f.phone.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	waitSipp(t, done, 15*time.Second)
	f.waitLog(t, "to=disconnected", 5*time.Second)
	if err := f.phone.Hook(ctx, "on"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)

	// From any other address: nothing.
	done = sipp(t, "127.0.0.8:"+strings.Split(freeUDPPort(t), ":")[1], "uac_call.xml",
		map[string]string{"caller": "5550188", "name": "STRANGER", "answer_ms": "3000"}, "-s", "4930123", "-recv_timeout", "4000", ata)
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a stranger's trunk INVITE was answered")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("sipp did not give up")
	}

	// Out through the route: 92000 leaves on the trunk as 2000.
	if err := f.phone.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	if err := f.phone.Dial(ctx, "92000", "dtmf"); err != nil {
		t.Fatal(err)
	}
	f.waitLog(t, "router: port call out", 5*time.Second)
	if !strings.Contains(f.log(), `number=92000 via=trunk:carrier sent=2000`) {
		t.Fatalf("route not taken as expected:\n%s", f.log())
	}
	f.waitLog(t, "to=talking", 10*time.Second)
	if err := f.phone.Hook(ctx, "on"); err != nil {
		t.Fatal(err)
	}
	waitSipp(t, uasDone, 15*time.Second)
}

// TestRouterModeUsers: baresip phones register to the router's users'
// socket with digest; a user calls a number at the provider (out through
// the line with the line's credentials, audio both ways), a provider call
// rings the port and the user together and the user takes it (the port
// stops ringing; audio both ways), a user limited to internal calls is
// refused outside numbers and nothing reaches the provider.
func TestRouterModeUsers(t *testing.T) {
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "secret", "2000": "pw2000"}})
	users := freeUDPPort(t)
	cfg := lineConfig(kam, `ring = ["100", "201"]`) + fmt.Sprintf(`
[router]
enabled = true
listen = %q

[[user]]
name = "201"
password = "kitchen-secret-201"
display_name = "Kitchen"
external = true

[[user]]
name = "202"
password = "hall-secret-202"
`, users)
	f := startFirmware(t, cfg)
	waitRegistered(t, kam, "1001")
	far := baresiptest.Start(t, baresiptest.Opts{User: "2000", Registrar: kam.Addr().String(), Password: "pw2000",
		Incoming: baresiptest.AutoAnswer, AnswerDelay: 300 * time.Millisecond,
		Audio: baresiptest.Tone(1000, -10, 60*time.Second), MaxCall: 90 * time.Second})
	kitchen := baresiptest.Start(t, baresiptest.Opts{User: "201", Registrar: users, Password: "kitchen-secret-201",
		Incoming: baresiptest.AutoAnswer, AnswerDelay: 1500 * time.Millisecond,
		Audio: baresiptest.Tone(600, -10, 60*time.Second), MaxCall: 90 * time.Second})
	hall := baresiptest.Start(t, baresiptest.Opts{User: "202", Registrar: users, Password: "hall-secret-202",
		Audio: baresiptest.Tone(800, -10, 60*time.Second), MaxCall: 90 * time.Second})

	// 201 calls the provider's 2000: out through line 1.
	kitchen.Dial("sip:2000@" + users)
	far.WaitEvent(baresiptest.Established, 10*time.Second)
	kitchen.WaitEvent(baresiptest.Established, 10*time.Second)
	time.Sleep(3 * time.Second)
	kitchen.Hangup()
	far.WaitEvent(baresiptest.Closed, 10*time.Second)
	kitchen.WaitEvent(baresiptest.Closed, 10*time.Second)
	if l := baresiptest.ToneLevel(far.RecordedAudio(), 600); l < -16 {
		t.Errorf("2000 heard the user's 600 Hz at %.1f dBm0", l)
	}
	if l := baresiptest.ToneLevel(kitchen.RecordedAudio(), 1000); l < -16 {
		t.Errorf("the user heard 2000's 1000 Hz at %.1f dBm0", l)
	}
	if !strings.Contains(f.log(), `router: call ended" from=user:201 to=2000 route=line:1`) {
		t.Errorf("no router record of 201's call out:\n%s", f.log())
	}
	// One call log record with both legs, the route and who hung up.
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dataDirOf(t, f), "calls.jsonl"))
		var e map[string]any
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if strings.Contains(l, `"from":"user:201"`) {
				json.Unmarshal([]byte(l), &e)
			}
		}
		if e != nil {
			if e["route"] != "line:1" || e["ended_by"] != "caller" || e["number"] != "2000" || e["codec"] != "PCMU" || e["peer_codec"] != "PCMU" ||
				e["leg"] == nil || e["peer_leg"] == nil || e["duration_s"].(float64) < 2 {
				t.Errorf("call log record of the routed call: %v", e)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no call log record of the routed call:\n%s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// 2000 calls the line: the port and 201 ring; 201 answers.
	far.Dial("sip:1001@" + kam.Addr().String())
	f.waitLog(t, "to=ringing", 10*time.Second)
	kitchen.WaitEvent(baresiptest.Established, 10*time.Second)
	far.WaitEvent(baresiptest.Established, 10*time.Second)
	deadline = time.Now().Add(5 * time.Second)
	for {
		st, err := f.phone.State(context.Background())
		if err == nil && !st.Ringing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the port still rings after the user answered")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(3 * time.Second)
	far.Hangup()
	kitchen.WaitEvent(baresiptest.Closed, 10*time.Second)
	far.WaitEvent(baresiptest.Closed, 10*time.Second)
	if l := baresiptest.ToneLevel(kitchen.RecordedAudio(), 1000); l < -16 {
		t.Errorf("the user heard the provider's caller at %.1f dBm0", l)
	}
	if l := baresiptest.ToneLevel(far.RecordedAudio(), 600); l < -16 {
		t.Errorf("the provider's caller heard the user at %.1f dBm0", l)
	}

	// 202 may only call inside: 403 for 2000, and nothing goes out.
	before := strings.Count(f.log(), "sip: calling")
	hall.Dial("sip:2000@" + users)
	if ev := hall.WaitEvent(baresiptest.Closed, 10*time.Second); ev.Status != 403 {
		t.Errorf("an internal-only user's outside call ended with %+v, want 403", ev)
	}
	if n := strings.Count(f.log(), "sip: calling"); n != before {
		t.Errorf("an internal-only user's call went out (%d INVITEs sent)", n-before)
	}
}

// TestRouterModeInternalCalls: with no provider at all, user 201 (PCMU)
// calls user 202 (a phone that only does PCMA): the router anchors the
// call and transcodes, audio both ways; 201 calls the port's extension:
// the port rings and, lifted, talks to 201; an INVITE without
// credentials is challenged and goes nowhere.
func TestRouterModeInternalCalls(t *testing.T) {
	f, users := startWithUsers(t, baseConfig)
	kitchen := baresiptest.Start(t, baresiptest.Opts{User: "201", Registrar: users, Password: "kitchen-secret-201",
		Audio: baresiptest.Tone(600, -10, 60*time.Second), MaxCall: 90 * time.Second})
	hall := baresiptest.Start(t, baresiptest.Opts{User: "202", Registrar: users, Password: "hall-secret-202", AudioCodecs: "PCMA",
		Incoming: baresiptest.AutoAnswer, AnswerDelay: 300 * time.Millisecond,
		Audio: baresiptest.Tone(800, -10, 60*time.Second), MaxCall: 90 * time.Second})

	// User to user, PCMU to PCMA.
	kitchen.Dial("sip:202@" + users)
	kitchen.WaitEvent(baresiptest.Established, 10*time.Second)
	hall.WaitEvent(baresiptest.Established, 10*time.Second)
	time.Sleep(3 * time.Second)
	kitchen.Hangup()
	kitchen.WaitEvent(baresiptest.Closed, 10*time.Second)
	hall.WaitEvent(baresiptest.Closed, 10*time.Second)
	if l := baresiptest.ToneLevel(hall.RecordedAudio(), 600); l < -16 {
		t.Errorf("202 (PCMA) heard 201 at %.1f dBm0", l)
	}
	if l := baresiptest.ToneLevel(kitchen.RecordedAudio(), 800); l < -16 {
		t.Errorf("201 (PCMU) heard 202 at %.1f dBm0", l)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dataDirOf(t, f), "calls.jsonl"))
		if strings.Contains(string(b), `"codec":"PCMU"`) && strings.Contains(string(b), `"peer_codec":"PCMA"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the call log does not show PCMU on one leg and PCMA on the other:\n%s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// User to the port.
	ctx := context.Background()
	kitchen.Dial("sip:100@" + users)
	f.waitLog(t, "to=ringing", 10*time.Second)
	if err := f.phone.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	kitchen.WaitEvent(baresiptest.Established, 10*time.Second)
	// The handset talks for most of the call: 201's recording is the whole
	// call, and its level is measured over all of it.
	if err := f.phone.Speak(ctx, baresiptest.Tone(700, -10, 6*time.Second)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	ear, err := f.phone.Listen(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if l := baresiptest.ToneLevel(ear, 600); l < -16 {
		t.Errorf("the handset heard 201 at %.1f dBm0", l)
	}
	time.Sleep(5 * time.Second)
	if err := f.phone.Hook(ctx, "on"); err != nil {
		t.Fatal(err)
	}
	kitchen.WaitEvent(baresiptest.Closed, 10*time.Second)
	if l := baresiptest.ToneLevel(kitchen.RecordedAudio(), 700); l < -16 {
		t.Errorf("201 heard the handset at %.1f dBm0", l)
	}

	// No credentials: challenged, nothing placed.
	before := strings.Count(f.log(), "sip: calling")
	done := sipp(t, freeUDPPort(t), "uac_call.xml", map[string]string{"caller": "666", "name": "NOAUTH", "answer_ms": "2000"},
		"-s", "201", "-recv_timeout", "3000", users)
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("an INVITE without credentials was answered")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("sipp did not give up")
	}
	if n := strings.Count(f.log(), "sip: calling"); n != before {
		t.Errorf("an unauthenticated INVITE placed %d calls", n-before)
	}
}

// TestRouterModeTransferUserToUser: the port talks to user 201, puts it
// on hold with a flash, calls user 202 and hangs up: the transfer on
// hang-up joins 201 and 202 (baresip 1.0 has no Replaces, so 201 is
// referred to 202 and calls it through the router), and the port is free.
func TestRouterModeTransferUserToUser(t *testing.T) {
	f, users := startWithUsers(t, strings.Replace(baseConfig, `dial_plan = "(911|[2-8]xxxxxx)"`, `dial_plan = "(xxx)"`, 1))
	answer := func(user, pw string, hz float64) *baresiptest.Phone {
		return baresiptest.Start(t, baresiptest.Opts{User: user, Registrar: users, Password: pw,
			Incoming: baresiptest.AutoAnswer, AnswerDelay: 300 * time.Millisecond,
			Audio: baresiptest.Tone(hz, -10, 60*time.Second), MaxCall: 90 * time.Second})
	}
	kitchen := answer("201", "kitchen-secret-201", 600)
	hall := answer("202", "hall-secret-202", 800)
	ctx := context.Background()
	hook := func(a string) {
		if err := f.phone.Hook(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	dial := func(n string) {
		if err := f.phone.Dial(ctx, n, "dtmf"); err != nil {
			t.Fatal(err)
		}
	}
	hook("off")
	dial("201")
	kitchen.WaitEvent(baresiptest.Established, 10*time.Second)
	f.waitLog(t, "to=talking", 10*time.Second)
	hook("flash")
	f.waitLog(t, "flash: second call", 5*time.Second)
	dial("202")
	hall.WaitEvent(baresiptest.Established, 10*time.Second)
	f.waitLog(t, "shape=consulting", 5*time.Second)
	hook("on")
	// 201 is referred to 202 and calls it through the router.
	kitchen.WaitEvent(baresiptest.Transfer, 10*time.Second)
	f.waitLog(t, `msg="sip: incoming call" line=router from=201`, 15*time.Second) // the port only called 201 before
	time.Sleep(2 * time.Second)
	if st, err := f.phone.State(ctx); err != nil || st.Ringing {
		t.Fatalf("the port after the transfer: %+v %v", st, err)
	}
	kitchen.Hangup()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(f.log(), `router: call ended" from=user:201 to=202`) {
		if time.Now().After(deadline) {
			t.Fatalf("no routed call 201 → 202 after the transfer:\n%s", f.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(f.log(), "cause=transferred") {
		t.Errorf("the port's call did not end as transferred:\n%s", f.log())
	}
}

// startWithUsers runs the firmware on base (no provider line) in router
// mode with users 201 and 202 on a users' socket of their own; it
// returns the firmware and that socket's address.
func startWithUsers(t *testing.T, base string) (*firmware, string) {
	t.Helper()
	users := freeUDPPort(t)
	f := startFirmware(t, base+fmt.Sprintf(`
[sip]
listen = "127.0.0.1:0"

[router]
enabled = true
listen = %q

[[user]]
name = "201"
password = "kitchen-secret-201"

[[user]]
name = "202"
password = "hall-secret-202"
`, users))
	f.waitLog(t, "registrar: listening", 5*time.Second)
	return f, users
}
