package main

import (
	"context"
	"fmt"
	"github.com/openata/ata/internal/syncbuf"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openata/ata/board/pcm"
	"github.com/openata/ata/board/sim"
)

// ataBin is the firmware binary built once for these end-to-end tests.
var ataBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ata-e2e")
	if err != nil {
		panic(err)
	}
	ataBin = filepath.Join(dir, "ata")
	build := exec.Command("go", "build", "-o", ataBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build ata: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func freeUDPPort(t testing.TB) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

type firmware struct {
	cmd    *exec.Cmd
	stderr *syncbuf.Buffer // read by the test while exec's goroutine writes it
	config string          // the config file it runs on (saves go there)
	args   []string        // the command line
	env    []string        // added to the environment
	phone  *sim.Client
	done   chan error
}

// startFirmware runs the ata binary on a config (debug logging) and waits
// for its sim API.
func startFirmware(tb testing.TB, configTOML string) *firmware {
	tb.Helper()
	return launchFirmware(tb, configTOML, "debug", nil)
}

// launchFirmware runs the ata binary, behind the command prefix if any
// (chrt), at a log level; the sim API is up when it returns.
func launchFirmware(tb testing.TB, configTOML, logLevel string, prefix []string) *firmware {
	tb.Helper()
	return launchFirmwareEnv(tb, configTOML, logLevel, prefix, nil)
}

// launchFirmwareEnv is launchFirmware with variables added to the
// firmware's environment.
func launchFirmwareEnv(tb testing.TB, configTOML, logLevel string, prefix, env []string) *firmware {
	tb.Helper()
	simAddr := freePort(tb)
	cfg := filepath.Join(tb.TempDir(), "ata.toml")
	body := strings.ReplaceAll(configTOML, "SIM_LISTEN", simAddr)
	body = strings.ReplaceAll(body, "DATA_DIR", tb.TempDir())
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		tb.Fatal(err)
	}
	f := &firmware{stderr: &syncbuf.Buffer{}, config: cfg, env: env,
		args: append(append([]string(nil), prefix...), ataBin, "-config", cfg, "-log-level", logLevel)}
	f.phone = &sim.Client{BaseURL: "http://" + simAddr}
	tb.Cleanup(func() {
		f.cmd.Process.Kill()
		<-f.done
		if tb.Failed() || os.Getenv("ATA_TEST_LOG") != "" {
			tb.Logf("firmware log:\n%s", f.log())
		}
	})
	f.start(tb)
	return f
}

// start runs the firmware process and waits for its sim API.
func (f *firmware) start(tb testing.TB) {
	tb.Helper()
	f.done = make(chan error, 1)
	f.cmd = exec.Command(f.args[0], f.args[1:]...)
	f.cmd.Env = append(os.Environ(), f.env...)
	f.cmd.Stderr = f.stderr
	if err := f.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func(cmd *exec.Cmd, done chan error) { done <- cmd.Wait() }(f.cmd, f.done)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := f.phone.State(context.Background()); err == nil {
			return
		}
		select {
		case err := <-f.done:
			f.done <- err // for the cleanup, which waits for the exit
			tb.Fatalf("firmware exited: %v\n%s", err, f.log())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("sim API did not come up\n%s", f.log())
		}
	}
}

// restart stops the firmware (SIGTERM: it unregisters, as a reboot from
// the web UI does) and starts it again on the same config file (and so
// the same sim API address).
func (f *firmware) restart(tb testing.TB) {
	tb.Helper()
	f.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-f.done:
	case <-time.After(10 * time.Second):
		tb.Fatal("the firmware did not stop on SIGTERM")
	}
	f.start(tb)
}

// log is what the firmware has logged so far.
func (f *firmware) log() string { return f.stderr.String() }

// level is the level in dBm0 of frequency f in x (Goertzel).
func level(x []int16, f float64) float64 { return pcm.ToneLevel(x, f) }

// runs returns the lengths, in 10 ms steps, of the complete on and off runs
// of frequency f in x (the partial first and last runs are dropped).
func runs(x []int16, f float64) []int {
	var out []int
	prev, n := false, 0
	for i := 0; i+80 <= len(x); i += 80 {
		on := level(x[i:i+80], f) > -35
		if i > 0 && on != prev {
			out = append(out, n)
			n = 0
		}
		prev = on
		n++
	}
	if len(out) < 2 {
		return nil
	}
	return out[1:]
}

const baseConfig = `
[system]
data_dir = "DATA_DIR"

[web]
listen = "127.0.0.1:0"

[board]
name = "sim"
sim_listen = "SIM_LISTEN"

[phone]
region = "us"
dial_plan = "(911|[2-8]xxxxxx)"
`

func TestFirmwareOnSimBoard(t *testing.T) {
	f := startFirmware(t, baseConfig)
	ctx := context.Background()
	st, err := f.phone.State(ctx)
	if err != nil || st.Hook != "on" || st.Ringing {
		t.Fatalf("initial state %+v, %v", st, err)
	}
	if err := f.phone.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	ear, err := f.phone.Listen(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, hz := range []float64{350, 440} {
		if l := level(ear, hz); math.Abs(l+13) > 1.5 {
			t.Errorf("dial tone: %v Hz at %.1f dBm0, want -13", hz, l)
		}
	}
	if l := level(ear, 480); l > -40 {
		t.Errorf("dial tone has 480 Hz at %.1f dBm0", l)
	}
	// 911 completes the plan at once; without a SIP line that is reorder.
	if err := f.phone.Dial(ctx, "911", "dtmf"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	ear, err = f.phone.Listen(ctx, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// US reorder: 480+620 Hz, 250 ms on, 250 ms off.
	rr := runs(ear, 620)
	if len(rr) < 4 {
		t.Errorf("reorder at 620 Hz: runs %v, want 250 ms on/off", rr)
	}
	for _, n := range rr {
		if n < 24 || n > 26 {
			t.Errorf("reorder at 620 Hz: runs of %v×10 ms, want 25", rr)
			break
		}
	}
	if err := f.phone.Hook(ctx, "on"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the port calls it a hang-up after the flash window
	ear, err = f.phone.Listen(ctx, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if l := level(ear, 620); l > -60 {
		t.Errorf("tone still playing after hang-up: %.1f dBm0", l)
	}
	if !strings.Contains(f.stderr.String(), "to=reorder") {
		t.Errorf("no transition to reorder logged")
	}
	evs, err := f.phone.Events(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var hooks []bool
	for _, e := range evs {
		if e.Kind == "hook" {
			hooks = append(hooks, e.On)
		}
	}
	if fmt.Sprint(hooks) != "[false true]" { // lifted, put down
		t.Errorf("hook events %v", hooks)
	}
}

func TestPulseDialingReachesCallControl(t *testing.T) {
	f := startFirmware(t, baseConfig)
	ctx := context.Background()
	if err := f.phone.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	if err := f.phone.Dial(ctx, "5551234", "pulse"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	log := f.stderr.String()
	if !strings.Contains(log, "number=5551234") {
		t.Fatalf("pulse-dialled number not collected; log:\n%s", log)
	}
}

// TestBadConfigRefusedAtStart: a file that does not parse, with no last
// known good config to fall back on, is the one config the firmware
// refuses to start on (settings that parse but cannot be used start
// degraded: TestDegradedStart).
func TestBadConfigRefusedAtStart(t *testing.T) {
	for _, tc := range []struct{ name, toml, want string }{
		{"unknown key", "[phone]\nregion = \"us\"\nring_cadance = \"2,4\"\n", `ata.toml:3: unknown key "phone.ring_cadance"`},
		{"not TOML", "[phone\nregion = \"us\"\n", `ata.toml:1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "ata.toml")
			os.WriteFile(cfg, []byte(tc.toml), 0o600)
			cmd := exec.Command(ataBin, "-config", cfg)
			cmd.Dir = t.TempDir() // the default data directory ("data") holds no good config
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("started with a bad config:\n%s", out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("output lacks %q:\n%s", tc.want, out)
			}
		})
	}
}

func TestSIGTERMStopsCleanly(t *testing.T) {
	f := startFirmware(t, baseConfig)
	f.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-f.done:
		f.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, f.log())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("still running 5 s after SIGTERM")
	}
}
