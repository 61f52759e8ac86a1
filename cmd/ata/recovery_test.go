package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/internal/kamailiotest"
)

// Kamailio killed (SIGKILL: its in-memory location table is lost) and
// started again: the firmware notices within its keep-alives (1 s, 2
// misses, short for the test), registers again soon after Kamailio's
// return (well before its hour-long binding would be refreshed), and a
// call through Kamailio then rings the phone.
func TestKamailioKilledThenIncomingCallRings(t *testing.T) {
	sippAddr := freeUDPPort(t)
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "secret"}, FarEnd: sippAddr})
	cfg := strings.Replace(lineConfig(kam, `register_expires = "1h"`), "[sip]\nlisten = \"127.0.0.1:0\"\n",
		"[sip]\nlisten = \"127.0.0.1:0\"\nkeepalive = \"1s\"\nkeepalive_misses = 2\n", 1)
	f := startFirmware(t, cfg)
	waitRegistered(t, kam, "1001")
	time.Sleep(1500 * time.Millisecond) // keep-alives flow
	kam.Kill()
	killed := time.Now()
	f.waitLog(t, "flow failed", 10*time.Second)
	t.Logf("flow failure noticed %v after the kill", time.Since(killed).Round(100*time.Millisecond))
	time.Sleep(2 * time.Second)
	kam.Start()
	back := time.Now()
	deadline := back.Add(20 * time.Second) // probe every ≤1 s, then the fleet spread (≤10 s)
	for {
		if c, err := kam.Contacts("1001"); err == nil && len(c) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not registered again 20 s after Kamailio's return; firmware log:\n%s", f.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("registered at Kamailio again %v after its return", time.Since(back).Round(100*time.Millisecond))
	done := sipp(t, sippAddr, "uac_call.xml", map[string]string{"caller": "5550177", "name": "AFTER RESTART", "answer_ms": "10000"}, "-s", "1001", kam.Addr().String())
	f.waitLog(t, "to=ringing", 5*time.Second)
	if err := f.phone.Hook(context.Background(), "off"); err != nil {
		t.Fatal(err)
	}
	waitSipp(t, done, 15*time.Second)
}
