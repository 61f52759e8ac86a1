package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/internal/kamailiotest"
	"github.com/openata/ata/update"
)

// trialCardRoot is a system root (ATA_UPDATE_ROOT) as on the image's card
// during an update's trial boot: v2 was written to slot B (p3), which the
// firmware started once; slot A (p2, v1) is still the committed one.
func trialCardRoot(t *testing.T) string {
	root := t.TempDir()
	files := map[string]string{
		"proc/mounts":              "/dev/vda4 /data ext4 rw,noatime 0 0\n/dev/vda1 /boot vfat rw 0 0\n",
		"proc/cmdline":             "console=ttyAMA0 ata.boot_partition=3\n",
		"boot/autoboot.txt":        string(update.Autoboot{Committed: 2, Try: 3}.Format()),
		"boot/slot-2.json":         `{"format":1,"board":"rpi3","version":"v1","built":1000}`,
		"boot/slot-3.json":         `{"format":1,"board":"rpi3","version":"v2","built":2000}`,
		"dev/vda2":                 "slot A",
		"dev/vda3":                 "slot B",
		"data/update/pending.json": `{"version":"v2","from":2,"to":3}`,
	}
	for name, body := range files {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func readAutoboot(t *testing.T, root string) update.Autoboot {
	b, err := os.ReadFile(filepath.Join(root, "boot/autoboot.txt"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := update.ParseAutoboot(b)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// On its trial boot the firmware commits the update once the web UI
// answers and its line is registered: slot B becomes the committed one.
func TestTrialBootCommitsWhenHealthy(t *testing.T) {
	t.Parallel()
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "secret"}})
	root := trialCardRoot(t)
	f := launchFirmwareEnv(t, lineConfig(kam, ""), "debug", nil, []string{"ATA_UPDATE_ROOT=" + root})
	f.waitLog(t, "update healthy: committed", 30*time.Second)
	waitRegistered(t, kam, "1001")
	if a := readAutoboot(t, root); a != (update.Autoboot{Committed: 3, Try: 2}) {
		t.Errorf("autoboot.txt after the commit: %+v, want slot B (3) committed", a)
	}
	var r update.Result
	b, _ := os.ReadFile(filepath.Join(root, "data/update/result.json"))
	if json.Unmarshal(b, &r) != nil || r.Outcome != update.OutcomeCommitted || r.Version != "v2" {
		t.Errorf("result.json: %s", b)
	}
	if _, err := os.Stat(filepath.Join(root, "data/update/pending.json")); err == nil {
		t.Error("pending.json still there after the commit")
	}
}

// A line the registrar refuses (the same settings registered before the
// update) keeps the trial uncommitted, and the reason is recorded for
// the rollback.
func TestTrialBootNotCommittedWhileRefused(t *testing.T) {
	t.Parallel()
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "another-password"}})
	root := trialCardRoot(t)
	f := launchFirmwareEnv(t, lineConfig(kam, ""), "debug", nil, []string{"ATA_UPDATE_ROOT=" + root})
	f.waitLog(t, "trial boot of an update", 10*time.Second)
	deadline := time.Now().Add(20 * time.Second)
	var p update.Pending
	for {
		b, _ := os.ReadFile(filepath.Join(root, "data/update/pending.json"))
		json.Unmarshal(b, &p)
		if strings.HasPrefix(p.Waiting, "line 1001: ") && !strings.Contains(p.Waiting, "not registered yet") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pending.json never recorded the refused line: %+v", p)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("waiting for: %s", p.Waiting)
	time.Sleep(2 * healthPoll)
	if a := readAutoboot(t, root); a.Committed != 2 {
		t.Errorf("committed slot %d with the line refused, want 2 (unchanged)", a.Committed)
	}
	if strings.Contains(f.log(), "update healthy: committed") {
		t.Error("committed with the line refused")
	}
}
