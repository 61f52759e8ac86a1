package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/openata/ata/config"
	"github.com/openata/ata/update"
)

// updateBoot settles the card's update state at boot (rcS, before ata
// starts): a pending update that is not what runs was rolled back, and
// its result is recorded for the status page. It prints "trial: ..." when
// the running system is an update on its trial boot (rcS then starts
// update-watch), else "committed: ...", with the slots.
func updateBoot(root string) error {
	c, err := update.Discover(root)
	if err != nil {
		return err
	}
	c.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	trying, err := c.Settle()
	if err != nil {
		return err
	}
	a, err := c.Autoboot()
	if err != nil {
		return err
	}
	state := "committed"
	if trying {
		state = "trial"
	}
	fmt.Printf("%s: running p%d, committed p%d, tryboot p%d\n", state, c.Running, a.Committed, a.Try)
	return nil
}

// updateWatch is the trial boot's deadline, kept outside ata so that a
// firmware that does not start at all is rolled back too: when ata has not
// committed the update within [system] update_health_timeout, the trial
// is marked failed (with what ata last said it waited for) and the box
// reboots normally, which the firmware starts from the committed slot.
// The hardware watchdog covers a kernel that hangs before this runs.
func updateWatch(root string, timeout, poll time.Duration, reboot func() error) error {
	c, err := update.Discover(root)
	if err != nil {
		return err
	}
	c.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !c.Trying() {
			fmt.Fprintln(os.Stderr, "update-watch: committed")
			return nil
		}
		time.Sleep(poll)
	}
	if !c.Trying() {
		return nil
	}
	// ata records what it waits for while it runs; one that never got so
	// far leaves its last exit (ata-supervise).
	if p := c.Status().Pending; p != nil && p.Waiting == "" {
		if b, err := os.ReadFile(filepath.Join(root, "run/ata-last-exit")); err == nil {
			c.Waiting(strings.TrimSpace(string(b)))
		} else {
			c.Waiting("ata did not start")
		}
	}
	if err := c.Fail(); err != nil {
		fmt.Fprintf(os.Stderr, "update-watch: %v\n", err)
	}
	fmt.Fprintf(os.Stderr, "update-watch: not healthy within %v: rebooting into the committed slot\n", timeout)
	return reboot()
}

// healthTimeout is [system] update_health_timeout of the first config
// file that parses (the web UI's saved file, then the given one), else
// the default; and which file it came from.
func healthTimeout(files []string) (time.Duration, string) {
	var tried []string
	for _, f := range files {
		if cfg, err := config.Load(f); err == nil {
			// The web UI saves into the data directory; that file rules.
			saved := filepath.Join(cfg.System.DataDir, "ata.toml")
			if !filepath.IsAbs(saved) {
				saved = filepath.Join("/", saved) // ata runs in /
			}
			if s, err := config.Load(saved); err == nil && saved != f {
				return s.System.UpdateHealthTimeout.D(), saved
			}
			return cfg.System.UpdateHealthTimeout.D(), f
		}
		tried = append(tried, f)
	}
	return config.Default().System.UpdateHealthTimeout.D(), fmt.Sprintf("the default; no config in %v", tried)
}
