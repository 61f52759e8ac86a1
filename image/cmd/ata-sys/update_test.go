package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/update"
)

// trialRoot is a system root on an update's trial boot (slot B, p3, not
// yet committed), ata having last exited with status 3.
func trialRoot(t *testing.T) string {
	root := t.TempDir()
	for name, body := range map[string]string{
		"proc/mounts":              "/dev/mmcblk0p4 /data ext4 rw 0 0\n",
		"proc/cmdline":             "ata.boot_partition=3\n",
		"boot/autoboot.txt":        string(update.Autoboot{Committed: 2, Try: 3}.Format()),
		"dev/mmcblk0p2":            "A",
		"dev/mmcblk0p3":            "B",
		"data/update/pending.json": `{"version":"v2","from":2,"to":3}`,
		"run/ata-last-exit":        "ata exited with status 3 after 0s\n",
	} {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o644)
	}
	return root
}

func TestUpdateWatchRollsBack(t *testing.T) {
	root := trialRoot(t)
	rebooted := false
	if err := updateWatch(root, 300*time.Millisecond, 20*time.Millisecond, func() error { rebooted = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if !rebooted {
		t.Fatal("no reboot past the deadline")
	}
	var p update.Pending
	b, _ := os.ReadFile(filepath.Join(root, "data/update/pending.json"))
	json.Unmarshal(b, &p)
	if !p.Failed || p.Waiting != "ata exited with status 3 after 0s" {
		t.Errorf("pending after the deadline: %+v", p)
	}
	// The next boot, from the committed slot, records the rollback.
	os.WriteFile(filepath.Join(root, "proc/cmdline"), []byte("ata.boot_partition=2\n"), 0o644)
	c, err := update.Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	if trying, err := c.Settle(); trying || err != nil {
		t.Fatal(trying, err)
	}
	if r := c.Status().Last; r == nil || r.Outcome != update.OutcomeRolledBack || !strings.Contains(r.Reason, "ata exited with status 3") {
		t.Errorf("result %+v", r)
	}
}

func TestUpdateWatchCommitted(t *testing.T) {
	root := trialRoot(t)
	c, err := update.Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(100*time.Millisecond, func() { c.Commit() })
	rebooted := false
	if err := updateWatch(root, 2*time.Second, 20*time.Millisecond, func() error { rebooted = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if rebooted {
		t.Error("rebooted though the update was committed")
	}
}

func TestHealthTimeout(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ata.toml")
	os.WriteFile(cfg, []byte("[system]\ndata_dir = \""+dir+"/none\"\nupdate_health_timeout = \"45s\"\n"), 0o644)
	if d, from := healthTimeout([]string{filepath.Join(dir, "missing.toml"), cfg}); d != 45*time.Second || from != cfg {
		t.Errorf("timeout %v from %s, want 45s from %s", d, from, cfg)
	}
	if d, _ := healthTimeout(nil); d != 5*time.Minute {
		t.Errorf("default %v, want 5m", d)
	}
}
