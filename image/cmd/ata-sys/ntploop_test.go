package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestNTPLoopRetriesThenFollowsTheConfig: a failed round is tried again
// after retry, a good one not before every; a changed [system]
// ntp_server is asked first, at once.
func TestNTPLoopRetriesThenFollowsTheConfig(t *testing.T) {
	var mu sync.Mutex
	configured := ""
	var calls [][]string
	fail := true
	l := ntpLoop{
		configured: func() string { mu.Lock(); defer mu.Unlock(); return configured },
		fallback:   []string{"10.0.2.2:123", "pool.ntp.org"},
		set: func(s []string) error {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, slices.Clone(s))
			if fail {
				fail = false
				return errors.New("no server answered")
			}
			return nil
		},
		every: time.Hour, retry: 30 * time.Millisecond, check: 10 * time.Millisecond,
		logf: t.Logf,
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { l.run(stop); close(done) }()
	defer func() { close(stop); <-done }()
	snapshot := func() [][]string { mu.Lock(); defer mu.Unlock(); return slices.Clone(calls) }
	waitRounds := func(n int) [][]string {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); len(snapshot()) < n && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond) // and no more than n
		return snapshot()
	}
	if c := waitRounds(2); len(c) != 2 || !slices.Equal(c[0], l.fallback) || !slices.Equal(c[1], l.fallback) {
		t.Fatalf("after a failure then a success: %v, want 2 rounds on the fallbacks", c)
	}
	mu.Lock()
	configured = "ntp.example.net"
	mu.Unlock()
	if c := waitRounds(3); len(c) != 3 || !slices.Equal(c[2], []string{"ntp.example.net", "10.0.2.2:123", "pool.ntp.org"}) {
		t.Fatalf("after [system] ntp_server changed: %v, want one more round asking it first", c)
	}
}

func TestConfiguredNTP(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ata.toml")
	if got := configuredNTP(p); got != "" {
		t.Errorf("missing file: %q", got)
	}
	os.WriteFile(p, []byte("[system]\nntp_server = \"192.0.2.1:123\"\n"), 0o644)
	if got := configuredNTP(p); got != "192.0.2.1:123" {
		t.Errorf("got %q", got)
	}
	os.WriteFile(p, []byte("[system\n"), 0o644)
	if got := configuredNTP(p); got != "" {
		t.Errorf("a file that does not read: %q", got)
	}
}
