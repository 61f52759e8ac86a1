package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

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
