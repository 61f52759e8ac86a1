package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/internal/kamailiotest"
	"github.com/openata/ata/internal/sipptest"
)

// lineConfig is a firmware config with one line on the test Kamailio;
// four-digit numbers dial at once.
func lineConfig(kam *kamailiotest.Server, extra string) string {
	return fmt.Sprintf(`
[system]
data_dir = "DATA_DIR"

[web]
listen = "127.0.0.1:0"

[board]
name = "sim"
sim_listen = "SIM_LISTEN"

[phone]
region = "us"
dial_plan = "(xxxx)"

[sip]
listen = "127.0.0.1:0"

[[line]]
number = "1001"
service_domain = "%s"
auth_user = "1001"
password = "secret"
%s
`, kam.Addr(), extra)
}

// waitLog waits until the firmware's log contains s.
func (f *firmware) waitLog(t testing.TB, s string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(f.log(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("firmware log never said %q", s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitRegistered(t testing.TB, kam *kamailiotest.Server, user string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := kam.Contacts(user); err == nil && len(c) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never registered; kamailio log:\n%s", user, kam.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startSippUAS runs sipp's built-in answering scenario for one call.
func startSippUAS(t *testing.T, scenario string, extra ...string) (addr string, done chan error) {
	t.Helper()
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Fatal("install sipp: apt-get install sip-tester")
	}
	addr = freeUDPPort(t)
	host, port, _ := strings.Cut(addr, ":")
	args := append([]string{"-sn", scenario, "-i", host, "-p", port, "-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error"}, extra...)
	cmd := exec.Command("sipp", args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done = make(chan error, 1)
	go func() {
		err := cmd.Wait()
		if err != nil {
			err = fmt.Errorf("%v\n%s", err, out.String())
		}
		done <- err
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	return addr, done
}

func TestOutgoingCallThroughKamailioToSipp(t *testing.T) {
	farEnd, sippDone := startSippUAS(t, "uas")
	f := dialFarEnd(t, farEnd)
	ctx := context.Background()
	f.waitLog(t, "to=talking", 10*time.Second)
	time.Sleep(500 * time.Millisecond)
	if err := f.phone.Hook(ctx, "on"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-sippDone:
		if err != nil {
			t.Fatalf("sipp: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sipp did not see the call end")
	}
}

// sipp runs a scenario file from testdata/sipp (see sipptest.Run).
func sipp(t *testing.T, addr, scenario string, keys map[string]string, extra ...string) <-chan error {
	t.Helper()
	return sipptest.Run(t, addr, filepath.Join("testdata", "sipp", scenario), keys, extra...)
}

func waitSipp(t *testing.T, done <-chan error, d time.Duration) {
	t.Helper()
	sipptest.Wait(t, done, d)
}

// callFarEnd sets up Kamailio with sipp as the far end, the firmware
// registered on it, and dials 2000 from the virtual phone.
func callFarEnd(t *testing.T, scenario string, keys map[string]string) (*firmware, <-chan error) {
	t.Helper()
	farEnd := freeUDPPort(t)
	done := sipp(t, farEnd, scenario, keys)
	return dialFarEnd(t, farEnd), done
}

// dialFarEnd starts Kamailio relaying unknown numbers to farEnd and the
// firmware registered on it as 1001, lifts the handset and dials 2000.
func dialFarEnd(t *testing.T, farEnd string) *firmware {
	t.Helper()
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "secret"}, FarEnd: farEnd})
	f := startFirmware(t, lineConfig(kam, ""))
	waitRegistered(t, kam, "1001")
	ctx := context.Background()
	if err := f.phone.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	if err := f.phone.Dial(ctx, "2000", "dtmf"); err != nil {
		t.Fatal(err)
	}
	return f
}

// checkCadence asserts that frequency hz in the earpiece goes on and off
// in runs of the given length (10 ms units, ±1).
func checkCadence(t *testing.T, ear []int16, hz float64, onOff int, what string) {
	t.Helper()
	rr := runs(ear, hz)
	if len(rr) < 3 {
		t.Fatalf("%s: %v Hz runs %v, want a %d0 ms cadence", what, hz, rr, onOff)
	}
	for _, n := range rr {
		if n < onOff-1 || n > onOff+1 {
			t.Fatalf("%s: %v Hz runs %v×10 ms, want %d", what, hz, rr, onOff)
		}
	}
}

func TestBusyGivesBusyTone(t *testing.T) {
	f, done := callFarEnd(t, "uas_status.xml", map[string]string{"status": "486", "reason": "Busy Here"})
	f.waitLog(t, "to=busy", 10*time.Second)
	waitSipp(t, done, 10*time.Second)
	ear, err := f.phone.Listen(context.Background(), 2500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	checkCadence(t, ear, 620, 50, "busy tone") // US busy: 480+620 Hz, 0.5 s on, 0.5 s off
}

func TestNotFoundGivesReorder(t *testing.T) {
	f, done := callFarEnd(t, "uas_status.xml", map[string]string{"status": "404", "reason": "Not Found"})
	f.waitLog(t, "to=reorder", 10*time.Second)
	waitSipp(t, done, 10*time.Second)
	ear, err := f.phone.Listen(context.Background(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	checkCadence(t, ear, 620, 25, "reorder tone") // US reorder: 0.25 s on, 0.25 s off
}

func TestEarlyMediaHeardBeforeAnswer(t *testing.T) {
	farEnd := freeUDPPort(t)
	done := sipp(t, farEnd, "uas_early_media.xml", nil, "-rtp_echo")
	// The far end sends back what the handset says: a steady tone that
	// comes back in the earpiece is, to a line echo canceller, a perfectly
	// predictable echo of the earpiece, and it would (rightly) take it out
	// of the mouthpiece; this test is about the early media path, so the
	// canceller is off (the echo tests in echo_test.go cover it).
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "secret"}, FarEnd: farEnd})
	f := startFirmware(t, strings.Replace(lineConfig(kam, ""), `dial_plan = "(xxxx)"`, "dial_plan = \"(xxxx)\"\necho_canceller = false", 1))
	waitRegistered(t, kam, "1001")
	ctx := context.Background()
	if err := f.phone.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	if err := f.phone.Dial(ctx, "2000", "dtmf"); err != nil {
		t.Fatal(err)
	}
	f.waitLog(t, "to=early-media", 10*time.Second)
	// The far end echoes its RTP: what the handset says before the answer
	// comes back through the early media path.
	f.speak(t, 1000, 2*time.Second)
	time.Sleep(300 * time.Millisecond)
	ear, err := f.phone.Listen(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(f.log(), "to=talking") {
		t.Fatal("answered before the early media was checked; the scenario waits 3 s")
	}
	if l := level(ear, 1000); l < -16 {
		t.Fatalf("early media not heard: 1000 Hz at %.1f dBm0", l)
	}
	f.waitLog(t, "to=talking", 10*time.Second)
	if err := f.phone.Hook(ctx, "on"); err != nil {
		t.Fatal(err)
	}
	waitSipp(t, done, 10*time.Second)
}

// sipAddr is the firmware's SIP address, from its start-up log.
func (f *firmware) sipAddr(t testing.TB) string {
	t.Helper()
	f.waitLog(t, "ata: SIP line", 5*time.Second)
	m := regexp.MustCompile(`msg="ata: SIP line".* listen=(\S+)`).FindStringSubmatch(f.log())
	if m == nil {
		t.Fatal("no SIP listen address in the log")
	}
	return m[1]
}

// TestGhostInviteNeverRings sends INVITEs for our number straight to the
// ATA from an address that is not the proxy, as SIP scanners do.
func TestGhostInviteNeverRings(t *testing.T) {
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "secret"}})
	f := startFirmware(t, lineConfig(kam, ""))
	waitRegistered(t, kam, "1001")
	ata := f.sipAddr(t)
	scanner := "127.0.0.2:" + strings.Split(freeUDPPort(t), ":")[1]
	done := sipp(t, scanner, "uac_call.xml", map[string]string{"caller": "100", "name": "friendly-scanner", "answer_ms": "3000"},
		"-s", "1001", "-recv_timeout", "4000", ata)
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the ghost INVITE was answered")
		}
		t.Logf("sipp: %.300s", err)
	case <-time.After(20 * time.Second):
		t.Fatal("sipp did not give up")
	}
	ctx := context.Background()
	evs, err := f.phone.Events(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Kind == "ring" {
			t.Fatalf("the phone rang for a ghost call: %+v", e)
		}
	}
	if strings.Contains(f.log(), "incoming call") {
		t.Fatal("the ghost INVITE reached call control")
	}

	// The control: the same INVITE from the proxy's address rings the phone.
	trusted := freeUDPPort(t)
	done = sipp(t, trusted, "uac_call.xml", map[string]string{"caller": "5550100", "name": "PROXY", "answer_ms": "10000"}, "-s", "1001", ata)
	f.waitLog(t, "to=ringing", 5*time.Second)
	if err := f.phone.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	waitSipp(t, done, 15*time.Second)
}

// TestSessionTimerAndHold: an incoming call with Session-Expires is
// accepted with the timer (refresher=uac, Require: timer); a re-INVITE
// that holds the ATA (sendonly) is answered recvonly; BYE ends it.
func TestSessionTimerAndHold(t *testing.T) {
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "secret"}})
	f := startFirmware(t, lineConfig(kam, ""))
	waitRegistered(t, kam, "1001")
	done := sipp(t, freeUDPPort(t), "uac_timer_hold.xml", map[string]string{"caller": "5550100", "name": "TIMER", "answer_ms": "10000"}, "-s", "1001", f.sipAddr(t))
	f.waitLog(t, "to=ringing", 5*time.Second)
	if err := f.phone.Hook(context.Background(), "off"); err != nil {
		t.Fatal(err)
	}
	waitSipp(t, done, 15*time.Second)
	f.waitLog(t, "to=disconnected", 5*time.Second)
}

// TestTwoLinesRegisterAndEachRings: both [[line]]s register on one socket,
// a call to the second line's number rings the phone, and a number that is
// neither is refused.
func TestTwoLinesRegisterAndEachRings(t *testing.T) {
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "secret", "1002": "two"}})
	cfg := lineConfig(kam, "") + fmt.Sprintf(`
[[line]]
number = "1002"
service_domain = "%s"
password = "two"
`, kam.Addr())
	f := startFirmware(t, cfg)
	waitRegistered(t, kam, "1001")
	waitRegistered(t, kam, "1002")
	ata := f.sipAddr(t)
	done := sipp(t, freeUDPPort(t), "uac_call.xml", map[string]string{"caller": "5550102", "name": "LINE TWO", "answer_ms": "10000"}, "-s", "1002", ata)
	f.waitLog(t, "to=ringing", 5*time.Second)
	if err := f.phone.Hook(context.Background(), "off"); err != nil {
		t.Fatal(err)
	}
	waitSipp(t, done, 15*time.Second)
	done = sipp(t, freeUDPPort(t), "uac_call.xml", map[string]string{"caller": "5550103", "name": "NOBODY", "answer_ms": "3000"}, "-s", "1003", ata)
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a call for 1003 was answered")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("sipp did not give up on 1003")
	}
	if !strings.Contains(f.log(), `INVITE for another user refused`) {
		t.Fatal("the call for 1003 was not refused by the line router")
	}
}
