// Package sipptest runs sipp (Debian's sip-tester) scenarios as SIP peers
// in integration tests: one call per run, bound to a loopback address.
package sipptest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Run starts sipp on bind (host:port) with the scenario file. Each key
// fills {{key}} in the file (sipp checks status lines and timeouts before
// its own [key] substitution) and is passed as -key too; extra arguments
// follow (-s SERVICE, the remote address, -rtp_echo ...). sipp runs one
// call with a 40 s limit and a random media port. The channel receives
// nil when the scenario passes, else an error with sipp's output. sipp is
// killed when the test ends.
func Run(t testing.TB, bind, file string, keys map[string]string, extra ...string) <-chan error {
	t.Helper()
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Fatal("install sipp: apt-get install sip-tester")
	}
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range keys {
		text = []byte(strings.ReplaceAll(string(text), "{{"+k+"}}", v))
	}
	scenario := filepath.Join(t.TempDir(), filepath.Base(file))
	if err := os.WriteFile(scenario, text, 0o644); err != nil {
		t.Fatal(err)
	}
	host, port, ok := strings.Cut(bind, ":")
	if !ok {
		t.Fatalf("sipptest: bind address %q: want host:port", bind)
	}
	args := []string{"-sf", scenario, "-i", host, "-p", port, "-m", "1", "-nostdin",
		"-timeout", "40s", "-timeout_error", "-mp", strconv.Itoa(20000 + rand.IntN(10000)*2)}
	for k, v := range keys {
		args = append(args, "-key", k, v)
	}
	cmd := exec.Command("sipp", append(args, extra...)...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		if err != nil {
			err = fmt.Errorf("sipp %s: %v\n%s", filepath.Base(file), err, out.String())
		}
		done <- err
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	return done
}

// Wait waits up to d for a scenario started by Run to pass.
func Wait(t testing.TB, done <-chan error, d time.Duration) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(d):
		t.Fatal("sipp scenario did not finish")
	}
}
