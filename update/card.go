package update

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// AutobootFile is the Raspberry Pi firmware's slot selection on the boot
// partition: [all] boot_partition is the committed slot, [tryboot]
// boot_partition the one a `reboot "0 tryboot"` starts once.
const AutobootFile = "autoboot.txt"

// Card is the SD card as updates see it: the boot partition (p1, FAT,
// mounted) with autoboot.txt and each slot's manifest (slot-N.json), the
// two slot partitions, and the update state on the data partition. Tests
// use files in a temporary directory.
type Card struct {
	BootDir string
	// Slots are the two slot partitions' devices by partition number
	// (e.g. 2: /dev/mmcblk0p2, 3: /dev/mmcblk0p3).
	Slots map[int]string
	// StateDir holds pending.json (an update being tried) and
	// result.json (how the last one ended), on the data partition.
	StateDir string
	// Running is the partition the running system was started from.
	Running int
	Log     *slog.Logger
}

// Pending is an update installed and being tried.
type Pending struct {
	Version   string    `json:"version"`
	From      int       `json:"from"` // the slot it replaces as the committed one
	To        int       `json:"to"`   // the slot it was written to
	Installed time.Time `json:"installed"`
	// Waiting is what the new system still waited for at its last
	// health check ("line 1001: 403 Forbidden"); the rollback's reason.
	Waiting string `json:"waiting,omitempty"`
	// Failed is set when the health deadline passed, just before the
	// reboot that rolls back.
	Failed bool `json:"failed,omitempty"`
}

// Result is how the last update ended.
type Result struct {
	Version string    `json:"version"`
	Outcome string    `json:"outcome"` // OutcomeCommitted or OutcomeRolledBack
	Reason  string    `json:"reason,omitempty"`
	At      time.Time `json:"at"`
	// Running is the version that runs now.
	Running string `json:"running,omitempty"`
}

// Outcomes of an update.
const (
	OutcomeCommitted  = "committed"
	OutcomeRolledBack = "rolled back"
)

// SlotInfo is one slot for the status page.
type SlotInfo struct {
	Partition int       `json:"partition"`
	Name      string    `json:"name"` // "A" or "B"
	Manifest  *Manifest `json:"manifest,omitempty"`
	Running   bool      `json:"running"`
	Committed bool      `json:"committed"`
}

// Status is the card's update state.
type Status struct {
	Slots   []SlotInfo `json:"slots"`
	Pending *Pending   `json:"pending,omitempty"`
	Last    *Result    `json:"last,omitempty"`
	// Trying: the running system is an update on its one try.
	Trying bool `json:"trying"`
}

func (c *Card) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.Default()
}

// slotNumbers are the slot partitions in order (A, B).
func (c *Card) slotNumbers() []int {
	var n []int
	for k := range c.Slots {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}

func (c *Card) slotName(p int) string {
	if i := slices.Index(c.slotNumbers(), p); i >= 0 {
		return string(rune('A' + i))
	}
	return strconv.Itoa(p)
}

// other is the slot that is not p.
func (c *Card) other(p int) (int, error) {
	n := c.slotNumbers()
	if len(n) != 2 || !slices.Contains(n, p) {
		return 0, fmt.Errorf("update: running partition %d is not one of the slots %v", p, n)
	}
	if n[0] == p {
		return n[1], nil
	}
	return n[0], nil
}

// Autoboot is autoboot.txt's two slot choices.
type Autoboot struct{ Committed, Try int }

// ParseAutoboot reads the [all] and [tryboot] boot_partition of an
// autoboot.txt.
func ParseAutoboot(b []byte) (Autoboot, error) {
	var a Autoboot
	section := "all"
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]"):
			section = strings.ToLower(l[1 : len(l)-1])
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok || strings.TrimSpace(k) != "boot_partition" {
				continue
			}
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 1 || n > 63 {
				return a, fmt.Errorf("autoboot.txt: boot_partition=%s is not a partition number", strings.TrimSpace(v))
			}
			switch section {
			case "all":
				a.Committed = n
			case "tryboot":
				a.Try = n
			}
		}
	}
	if a.Committed == 0 {
		return a, errors.New("autoboot.txt: no [all] boot_partition")
	}
	return a, nil
}

// Format is the file's text ([tryboot] left out when there is no Try).
func (a Autoboot) Format() []byte {
	b := fmt.Appendf(nil, `# Slot selection, read by the Raspberry Pi firmware (written by the
# firmware's updater: change it only to pick a slot by hand).
# [all]: the committed slot; [tryboot]: the slot reboot "0 tryboot" starts once.
[all]
tryboot_a_b=1
boot_partition=%d
`, a.Committed)
	if a.Try != 0 {
		b = fmt.Appendf(b, "[tryboot]\nboot_partition=%d\n", a.Try)
	}
	return b
}

// Autoboot reads the boot partition's autoboot.txt.
func (c *Card) Autoboot() (Autoboot, error) {
	b, err := os.ReadFile(filepath.Join(c.BootDir, AutobootFile))
	if err != nil {
		return Autoboot{}, fmt.Errorf("update: %w", err)
	}
	return ParseAutoboot(b)
}

func (c *Card) setAutoboot(a Autoboot) error {
	return writeFileSync(filepath.Join(c.BootDir, AutobootFile), a.Format())
}

// SlotManifest is the manifest of what slot p holds; nil when unknown
// (empty, or being written).
func (c *Card) SlotManifest(p int) *Manifest {
	b, err := os.ReadFile(c.slotManifestPath(p))
	if err != nil {
		return nil
	}
	var m Manifest
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return &m
}

func (c *Card) slotManifestPath(p int) string {
	return filepath.Join(c.BootDir, fmt.Sprintf("slot-%d.json", p))
}

// RunningManifest is the running slot's manifest.
func (c *Card) RunningManifest() *Manifest { return c.SlotManifest(c.Running) }

// Inactive is the slot an install writes: the one not running.
func (c *Card) Inactive() (int, error) { return c.other(c.Running) }

// SlotSize is a slot partition's size in bytes.
func (c *Card) SlotSize(p int) (int64, error) {
	f, err := os.Open(c.Slots[p])
	if err != nil {
		return 0, fmt.Errorf("update: slot %s: %w", c.slotName(p), err)
	}
	defer f.Close()
	return f.Seek(0, io.SeekEnd)
}

// Expect is what a bundle must match on this card (board as given).
func (c *Card) Expect(board string, force bool) (Expect, error) {
	p, err := c.Inactive()
	if err != nil {
		return Expect{}, err
	}
	size, err := c.SlotSize(p)
	if err != nil {
		return Expect{}, err
	}
	return Expect{Board: board, Running: c.RunningManifest(), Force: force, SlotSize: size}, nil
}

// Install writes a staged bundle to the inactive slot, reads it back and
// compares its hash, records its manifest and the pending try, and points
// autoboot.txt's [tryboot] at it. The committed slot and what runs are
// not touched: a failure leaves the box as it was (the inactive slot
// marked empty). The caller then reboots with RebootTry.
func (c *Card) Install(st *Staged) error {
	a, err := c.Autoboot()
	if err != nil {
		return err
	}
	if a.Committed != c.Running {
		return fmt.Errorf("update: an update is on its trial boot (slot %s); wait until it is committed or rolled back", c.slotName(c.Running))
	}
	target, err := c.other(c.Running)
	if err != nil {
		return err
	}
	m := st.Manifest
	name := c.slotName(target)
	// The slot's old content is gone from here on.
	if err := os.Remove(c.slotManifestPath(target)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("update: slot %s: %w", name, err)
	}
	start := time.Now()
	if err := c.writeSlot(target, st); err != nil {
		return err
	}
	written := time.Since(start)
	if err := c.verifySlot(target, m); err != nil {
		return err
	}
	c.log().Info("update: slot written and verified", "slot", name, "partition", target, "version", m.Version,
		"bytes", m.Image.Size, "write", written.Round(time.Millisecond), "verify", (time.Since(start) - written).Round(time.Millisecond))
	js, _ := json.MarshalIndent(m, "", "  ")
	if err := writeFileSync(c.slotManifestPath(target), js); err != nil {
		return fmt.Errorf("update: slot %s manifest: %w", name, err)
	}
	if err := c.savePending(&Pending{Version: m.Version, From: c.Running, To: target, Installed: time.Now().UTC()}); err != nil {
		return err
	}
	if a.Try != target {
		a.Try = target
		if err := c.setAutoboot(a); err != nil {
			return err
		}
	}
	c.log().Info("update: installed; the next tryboot starts it once", "slot", name, "version", m.Version)
	return nil
}

func (c *Card) writeSlot(p int, st *Staged) error {
	img, err := st.Open()
	if err != nil {
		return err
	}
	defer img.Close()
	f, err := os.OpenFile(c.Slots[p], os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("update: slot %s: %w", c.slotName(p), err)
	}
	n, err := io.Copy(f, io.LimitReader(img, st.Manifest.Image.Size))
	if err == nil && n != st.Manifest.Image.Size {
		err = fmt.Errorf("the staged image has %d of %d bytes", n, st.Manifest.Image.Size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("update: writing slot %s: %w", c.slotName(p), err)
	}
	return nil
}

// verifySlot reads the slot back from the card (not the page cache) and
// compares the image's hash.
func (c *Card) verifySlot(p int, m *Manifest) error {
	f, err := os.Open(c.Slots[p])
	if err != nil {
		return fmt.Errorf("update: slot %s: %w", c.slotName(p), err)
	}
	defer f.Close()
	dropCache(f)
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, m.Image.Size))
	if err != nil {
		return fmt.Errorf("update: reading slot %s back: %w", c.slotName(p), err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != m.Image.Size || got != m.Image.SHA256 {
		return errorf(KindHash, "slot %s read back differs from what was written (SHA-256 %s…, want %s…): the card may be failing; nothing was switched",
			c.slotName(p), got[:16], m.Image.SHA256[:16])
	}
	return nil
}

// Settle runs once at boot, before the firmware starts: an update that
// was pending and is not what runs now was rolled back (by the health
// deadline's reboot, or a reset before it); its result is recorded. It
// reports whether the running system is an update on its trial boot.
func (c *Card) Settle() (trying bool, err error) {
	a, err := c.Autoboot()
	if err != nil {
		return false, err
	}
	p, err := c.pending()
	if err != nil || p == nil {
		return false, err
	}
	if c.Running == p.To && a.Committed != c.Running {
		c.log().Info("update: trial boot of a new version", "version", p.Version, "slot", c.slotName(p.To))
		return true, nil
	}
	reason := p.Waiting
	switch {
	case p.Failed && reason == "":
		reason = "it was not healthy within the update health timeout"
	case p.Failed:
		reason = "not healthy within the update health timeout: " + reason
	case reason != "":
		reason = "the box restarted during its trial boot, still waiting for: " + reason
	default:
		reason = "it did not start (the box restarted before the new version reported)"
	}
	r := &Result{Version: p.Version, Outcome: OutcomeRolledBack, Reason: reason, At: time.Now().UTC()}
	if m := c.RunningManifest(); m != nil {
		r.Running = m.Version
	}
	c.log().Warn("update: rolled back", "version", p.Version, "reason", reason, "running", r.Running)
	if err := c.saveResult(r); err != nil {
		return false, err
	}
	return false, c.removePending()
}

// Trying reports whether the running system is an update on its trial
// boot (pending, running from the slot it was written to, not committed).
func (c *Card) Trying() bool {
	a, err := c.Autoboot()
	if err != nil {
		return false
	}
	p, _ := c.pending()
	return p != nil && p.To == c.Running && a.Committed != c.Running
}

// Commit makes the running slot the committed one: the new system is
// healthy. The other slot becomes the next try's target.
func (c *Card) Commit() error {
	a, err := c.Autoboot()
	if err != nil {
		return err
	}
	p, err := c.pending()
	if err != nil {
		return err
	}
	if a.Committed == c.Running {
		return nil // nothing on trial
	}
	other, err := c.other(c.Running)
	if err != nil {
		return err
	}
	if err := c.setAutoboot(Autoboot{Committed: c.Running, Try: other}); err != nil {
		return err
	}
	r := &Result{Outcome: OutcomeCommitted, At: time.Now().UTC()}
	if m := c.RunningManifest(); m != nil {
		r.Version, r.Running = m.Version, m.Version
	} else if p != nil {
		r.Version = p.Version
	}
	if err := c.saveResult(r); err != nil {
		return err
	}
	c.log().Info("update: committed", "version", r.Version, "slot", c.slotName(c.Running))
	return c.removePending()
}

// Waiting records what a trial boot still waits for (its rollback's reason
// if the deadline passes); unchanged text is not written again.
func (c *Card) Waiting(what string) error {
	p, err := c.pending()
	if err != nil || p == nil || p.Waiting == what {
		return err
	}
	p.Waiting = what
	return c.savePending(p)
}

// Fail marks the trial as failed, before the reboot that rolls back.
func (c *Card) Fail() error {
	p, err := c.pending()
	if err != nil || p == nil {
		return err
	}
	p.Failed = true
	return c.savePending(p)
}

// Status is the card's update state for the status page.
func (c *Card) Status() Status {
	var s Status
	a, _ := c.Autoboot()
	for _, p := range c.slotNumbers() {
		s.Slots = append(s.Slots, SlotInfo{Partition: p, Name: c.slotName(p), Manifest: c.SlotManifest(p),
			Running: p == c.Running, Committed: p == a.Committed})
	}
	s.Pending, _ = c.pending()
	s.Last, _ = c.lastResult()
	s.Trying = s.Pending != nil && s.Pending.To == c.Running && a.Committed != c.Running
	return s
}

func (c *Card) pending() (*Pending, error) {
	var p Pending
	ok, err := readJSON(filepath.Join(c.StateDir, "pending.json"), &p)
	if !ok {
		return nil, err
	}
	return &p, err
}

func (c *Card) lastResult() (*Result, error) {
	var r Result
	ok, err := readJSON(filepath.Join(c.StateDir, "result.json"), &r)
	if !ok {
		return nil, err
	}
	return &r, err
}

func (c *Card) savePending(p *Pending) error {
	return writeJSON(c.StateDir, "pending.json", p)
}

func (c *Card) removePending() error {
	err := os.Remove(filepath.Join(c.StateDir, "pending.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (c *Card) saveResult(r *Result) error { return writeJSON(c.StateDir, "result.json", r) }

func readJSON(path string, v any) (bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("update: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("update: %s: %w", path, err)
	}
	return true, nil
}

func writeJSON(dir, name string, v any) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileSync(filepath.Join(dir, name), b)
}

// writeFileSync replaces path atomically (a new file, synced, renamed
// over the old one, the directory synced).
func writeFileSync(path string, b []byte) error {
	tmp := path + ".new"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("update: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
