package main

import (
	"context"
	"github.com/openata/ata/internal/syncbuf"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/board/sim"
	"github.com/openata/ata/config"
	"github.com/openata/ata/internal/kamailiotest"
)

// TestApplyWithoutRestart runs the firmware in-process, then saves new
// settings: the account re-registers within 2 s, the region's tones change
// at once, and the file on disk holds the new config.
func TestApplyWithoutRestart(t *testing.T) {
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "secret", "1002": "other"}})
	dir := t.TempDir()
	text := strings.NewReplacer("SIM_LISTEN", freePort(t), "DATA_DIR", dir).Replace(lineConfig(kam, ""))
	path := filepath.Join(dir, "ata.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	cfg, files, probs, err := loadConfig(path, log)
	if err != nil || len(probs) > 0 {
		t.Fatal(err, probs)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("firmware log:\n%s", logs.String())
		}
	})
	a, err := newApp(cfg, files, probs, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitRegistered(t, kam, "1001")

	phone := &sim.Client{BaseURL: "http://" + cfg.Board.SimListen}
	next := *a.Config()
	next.Lines = append([]config.Line(nil), next.Lines...)
	next.Lines[0].Number, next.Lines[0].AuthUser, next.Lines[0].Password = "1002", "1002", "other"
	next.Phone.Region = "de"
	start := time.Now()
	if err := a.Apply(ctx, &next); err != nil {
		t.Fatal(err)
	}
	waitRegistered(t, kam, "1002")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("re-registered after %v, want ≤ 2 s", d)
	}
	if c, _ := kam.Contacts("1001"); len(c) != 0 {
		t.Errorf("the old account is still registered: %v", c)
	}
	if err := phone.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	ear, err := phone.Listen(ctx, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if l := level(ear, 425); math.Abs(l-(-13)) > 2 { // German dial tone
		t.Errorf("dial tone after switching to de: 425 Hz at %.1f dBm0", l)
	}
	saved, err := config.Load(path)
	if err != nil || saved.Lines[0].Number != "1002" || saved.Phone.Region != "de" {
		t.Fatalf("saved config %+v, %v", saved, err)
	}

	// An invalid config changes nothing.
	bad := next
	bad.Phone.Region = "atlantis"
	if err := a.Apply(ctx, &bad); err == nil || !strings.Contains(err.Error(), "phone.region") {
		t.Fatalf("bad region accepted: %v", err)
	}
	if saved, _ := config.Load(path); saved.Phone.Region != "de" {
		t.Fatalf("a refused save changed the file: %q", saved.Phone.Region)
	}
}
