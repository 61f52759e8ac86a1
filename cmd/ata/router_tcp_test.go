package main

import (
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/internal/baresiptest"
)

// TestRouterModeTCPUser: user 202's phone registers over TCP
// (;transport=tcp) and is rung over the connection it registered on:
// 201 (UDP) calls it, audio both ways, 202 hangs up; 201 calls again and
// hangs up, 202's call ends. Once 202's phone has gone away (its
// connection closed), a call to it fails at once.
func TestRouterModeTCPUser(t *testing.T) {
	t.Parallel()
	f, users := startWithUsers(t, baseConfig)
	kitchen := baresiptest.Start(t, baresiptest.Opts{User: "201", Registrar: users, Password: "kitchen-secret-201",
		Audio: baresiptest.Tone(600, -10, 60*time.Second), MaxCall: 90 * time.Second})
	hall := baresiptest.Start(t, baresiptest.Opts{User: "202", Registrar: users, Password: "hall-secret-202", Transport: "tcp",
		Incoming: baresiptest.AutoAnswer, AnswerDelay: 300 * time.Millisecond,
		Audio: baresiptest.Tone(800, -10, 60*time.Second), MaxCall: 90 * time.Second})
	f.waitLog(t, "user=202 bindings=1", 5*time.Second)
	for _, line := range strings.Split(f.log(), "\n") {
		if strings.Contains(line, "bindings changed") && strings.Contains(line, "user=202") && !strings.Contains(line, "transport=TCP") {
			t.Fatalf("202 did not register over TCP: %s", line)
		}
	}

	// 201 calls 202 over TCP; 202 hangs up.
	kitchen.Dial("sip:202@" + users)
	kitchen.WaitEvent(baresiptest.Established, 10*time.Second)
	hall.WaitEvent(baresiptest.Established, 10*time.Second)
	f.waitLog(t, "sip: calling over the phone's TCP connection", time.Second)
	time.Sleep(3 * time.Second)
	hall.Hangup()
	hall.WaitEvent(baresiptest.Closed, 10*time.Second)
	kitchen.WaitEvent(baresiptest.Closed, 10*time.Second)
	if l := baresiptest.ToneLevel(hall.RecordedAudio(), 600); l < -16 {
		t.Errorf("202 (TCP) heard 201 at %.1f dBm0", l)
	}
	if l := baresiptest.ToneLevel(kitchen.RecordedAudio(), 800); l < -16 {
		t.Errorf("201 heard 202 (TCP) at %.1f dBm0", l)
	}

	// Again; 201 hangs up: the router's BYE reaches 202 over its connection.
	kitchen.Dial("sip:202@" + users)
	kitchen.WaitEvent(baresiptest.Established, 10*time.Second)
	hall.WaitEvent(baresiptest.Established, 10*time.Second)
	time.Sleep(time.Second)
	kitchen.Hangup()
	kitchen.WaitEvent(baresiptest.Closed, 10*time.Second)
	hall.WaitEvent(baresiptest.Closed, 10*time.Second)

	// 202's phone goes away without unregistering: its connection closes,
	// and a call to it fails at once rather than after an INVITE timeout.
	hall.Kill()
	time.Sleep(200 * time.Millisecond) // the registrar reads the connection's end
	start := time.Now()
	kitchen.Dial("sip:202@" + users)
	ev := kitchen.WaitEvent(baresiptest.Closed, 10*time.Second)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the call to 202 with its phone gone ended after %v (%s)", d, ev)
	}
	f.waitLog(t, "its TCP connection is closed", time.Second)
}
