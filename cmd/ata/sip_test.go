package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/sip/kamailiotest"
)

// lineConfig is a firmware config with one line on the test Kamailio;
// four-digit numbers dial at once.
func lineConfig(kam *kamailiotest.Server, extra string) string {
	return fmt.Sprintf(`
[system]
data_dir = "DATA_DIR"

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
func (f *firmware) waitLog(t *testing.T, s string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(f.stderr.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("firmware log never said %q", s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitRegistered(t *testing.T, kam *kamailiotest.Server, user string) {
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
