package switchboard

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openata/ata/call"
	"github.com/openata/ata/sip"
)

type fakePort struct {
	mu    sync.Mutex
	lines []call.Dialer
}

func (p *fakePort) Incoming(l call.Leg) {}
func (p *fakePort) SetLine(ctx context.Context, d call.Dialer) {
	p.mu.Lock()
	p.lines = append(p.lines, d)
	p.mu.Unlock()
}
func (p *fakePort) setLines() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lines)
}

func settings(number string) Settings {
	return Settings{
		Stack: sip.StackConfig{Listen: "127.0.0.1:0"},
		// A registrar nobody answers: the line keeps trying, which is enough here.
		Accounts:   []sip.Account{{Number: number, ServiceDomain: "127.0.0.1:9", Password: "x"}},
		RTPPortMin: 30000, RTPPortMax: 30100,
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSettingsWaitForIdlePort: changed SIP settings apply at once on an
// idle port, and wait for the port's calls to end otherwise.
func TestSettingsWaitForIdlePort(t *testing.T) {
	var idle atomic.Bool
	port := &fakePort{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sb := New(port, idle.Load, nil, log)
	if err := sb.Build(settings("1001")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sb.Start(ctx)
	defer sb.Stop(0)
	if sb.Registration("1001") == nil || sb.SIPPort() == 0 {
		t.Fatal("line 1001 not running after Start")
	}
	waitFor(t, "the port to get the line", func() bool { return port.setLines() == 1 })

	sb.Apply(settings("1002")) // a call is up: nothing changes yet
	if sb.Registration("1001") == nil || sb.Registration("1002") != nil {
		t.Fatal("settings applied during a call")
	}
	idle.Store(true)
	sb.PortIdle()
	waitFor(t, "the new line", func() bool { return sb.Registration("1002") != nil })
	if sb.Registration("1001") != nil {
		t.Fatal("the old line still runs")
	}
	waitFor(t, "the port to get the new line", func() bool { return port.setLines() == 2 })

	sb.Apply(settings("1003")) // idle: at once
	if sb.Registration("1003") == nil {
		t.Fatal("settings not applied on an idle port")
	}
}

// TestBadSettingsRefusedAtBuild: a listen address that cannot be bound
// fails Build, before anything runs.
func TestBadSettingsRefusedAtBuild(t *testing.T) {
	sb := New(&fakePort{}, func() bool { return true }, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s := settings("1001")
	s.Stack.Listen = "192.0.2.1:5060" // not an address of this machine
	if err := sb.Build(s); err == nil {
		t.Fatal("Build accepted an address it cannot bind")
	}
}
