//go:build imagetest

package image_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openata/ata/internal/kamailiotest"
	"github.com/openata/ata/update"
	"github.com/openata/ata/webui"
)

// updateTools: the bundle tool, built once for the host, and a test key
// pair the image under test is built with (KEYS=dir: its public half is
// linked into ata).
type updateTools struct {
	bundle string // ata-bundle
	keys   string // update.key, update.pub
	pub    string
}

func makeUpdateTools(t *testing.T, repo string) updateTools {
	dir := t.TempDir()
	u := updateTools{bundle: filepath.Join(dir, "ata-bundle"), keys: filepath.Join(dir, "keys")}
	build := exec.Command("go", "build", "-o", u.bundle, "./update/cmd/ata-bundle")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ata-bundle: %v\n%s", err, out)
	}
	if out, err := exec.Command(u.bundle, "keygen", u.keys).CombinedOutput(); err != nil {
		t.Fatalf("ata-bundle keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(filepath.Join(u.keys, "update.pub"))
	if err != nil {
		t.Fatal(err)
	}
	u.pub = strings.TrimSpace(string(pub))
	return u
}

// builtImage is one build of the card: its image file, its version and
// its update bundle (if made).
type builtImage struct {
	img, version, bundle string
}

// buildVariant builds the rpi3 card again with another ata binary (its own
// version string and build time) into its own output directory, reusing
// the package cache and ata-sys, and packs its slot into a bundle.
func buildVariant(repo, out string, u updateTools, version string, built int64, ataBin string) (builtImage, error) {
	env := append(os.Environ(), "OUT_DIR="+out, "CACHE_DIR="+filepath.Join(repo, "out", "cache"),
		"ATA_BIN="+ataBin, "ATA_SYS_BIN="+filepath.Join(repo, "out", "ata-sys-linux-arm64"),
		"VERSION="+version, fmt.Sprintf("SOURCE_DATE_EPOCH=%d", built), "KEYS="+u.keys, "ATA_BUNDLE="+u.bundle)
	for _, step := range [][]string{{"./image/build.sh", board}, {"./image/bundle.sh", board}} {
		cmd := exec.Command(step[0], step[1:]...)
		cmd.Dir, cmd.Env = repo, env
		if b, err := cmd.CombinedOutput(); err != nil {
			return builtImage{}, fmt.Errorf("%s (version %s): %v\n%s", step[0], version, err, b)
		}
	}
	return builtImage{img: filepath.Join(out, "ata-"+board+".img"), version: version,
		bundle: filepath.Join(out, "ata-"+board+"-"+version+".update")}, nil
}

// crossBuildAta builds ata for the guest with a version and the test key.
func crossBuildAta(repo, dir, version, pub string) (string, error) {
	bin := filepath.Join(dir, "ata")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version+" -X main.updateKey="+pub, "-o", bin, "./cmd/ata")
	build.Dir = repo
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ata %s: %v\n%s", version, err, out)
	}
	return bin, nil
}

// bootUpdate is the A/B update end to end under QEMU, on one card kept
// across reboots (QEMU has no Pi firmware: qemu.sh starts the slot the
// card's autoboot.txt names, [tryboot] after the guest asked for a
// tryboot reboot, as the firmware would):
//
//  1. the card of an older version boots; a bundle with a bad signature
//     is refused (422, kind signature) and nothing on the card changes;
//     the current build's bundle is uploaded through POST /api/update;
//  2. the guest restarts with "0 tryboot": the new version comes up from
//     slot B, registers and commits itself (autoboot.txt now names B);
//  3. a bundle whose firmware exits at start is installed (to slot A) and
//     tried: update-watch reboots past [system] update_health_timeout;
//  4. the firmware starts the committed slot B again: the new version
//     runs and the status page says the update was rolled back and why.
func bootUpdate(t *testing.T, repo string, u updateTools, current builtImage) {
	commitTime, err := strconv.ParseInt(strings.TrimSpace(string(mustOutput(t, repo, "git", "log", "-1", "--format=%ct"))), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	// The old and the broken version build in parallel.
	var old, broken builtImage
	var oldErr, brokenErr error
	var wg sync.WaitGroup
	t0 := time.Now()
	oldDir, oldOut, brokenDir, brokenOut := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	wg.Add(2)
	go func() {
		defer wg.Done()
		var bin string
		if bin, oldErr = crossBuildAta(repo, oldDir, current.version+"-old", u.pub); oldErr == nil {
			old, oldErr = buildVariant(repo, oldOut, u, current.version+"-old", commitTime-3600, bin)
		}
	}()
	go func() {
		defer wg.Done()
		script := filepath.Join(brokenDir, "ata")
		if brokenErr = os.WriteFile(script, []byte("#!/bin/sh\necho 'ata: a firmware built to fail: exiting at start' >&2\nexit 3\n"), 0o755); brokenErr == nil {
			broken, brokenErr = buildVariant(repo, brokenOut, u, current.version+"-broken", commitTime+3600, script)
		}
	}()
	wg.Wait()
	if oldErr != nil || brokenErr != nil {
		t.Fatalf("builds: %v; %v", oldErr, brokenErr)
	}
	t.Logf("built the old image and the broken bundle in %.1fs", time.Since(t0).Seconds())
	st, err := os.Stat(current.bundle)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("update bundle %s: %.1f MiB", filepath.Base(current.bundle), float64(st.Size())/(1<<20))
	fmt.Printf("image test: update bundle size: %.1f MiB\n", float64(st.Size())/(1<<20))

	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{sipUser: sipPassword}})
	ntpPort := startSNTP(t)
	disk := filepath.Join(t.TempDir(), "card.img")
	copyFile(t, old.img, disk)
	if err := os.Truncate(disk, 256<<20); err != nil {
		t.Fatal(err)
	}
	start := dataStart(t, disk)
	writeData(t, disk, start, map[string]string{
		"ata.toml":     ataConfig(kam.Addr().Port()) + "\n[system]\nupdate_health_timeout = \"30s\"\n",
		"network.conf": fmt.Sprintf("mode=dhcp\nntp=10.0.2.2:%d\n", ntpPort),
	})
	ports := guestPorts{web: freeTCPPort(t), sim: freeTCPPort(t), sip: freeUDPPort(t)}
	web := fmt.Sprintf("http://127.0.0.1:%d", ports.web)

	// 1: the old version.
	con := bootCard(t, disk, ports, false)
	con.wait(t, `msg="ata: started"`, 90*time.Second)
	con.wait(t, "to=registered", 30*time.Second)
	c := newWebClient(t, web)
	c.setup(t)
	if v := c.status(t).Version; v != old.version {
		t.Fatalf("running %s, want the old version %s", v, old.version)
	}
	before := cardHash(t, disk)
	bad, err := os.ReadFile(current.bundle)
	if err != nil {
		t.Fatal(err)
	}
	sig := len(update.Magic) + 4 + int(binary.BigEndian.Uint32(bad[len(update.Magic):])) // magic, length, manifest
	bad[sig+10] ^= 0x40                                                                  // a byte of the signature
	code, body := c.upload(t, bad)
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, `"kind": "signature"`) {
		t.Errorf("bundle with a bad signature: %d %s, want 422 kind signature", code, body)
	}
	if after := cardHash(t, disk); after != before {
		t.Errorf("the refused bundle changed the card's boot or slot partitions")
	}
	if us := c.updateStatus(t); us.Pending != nil || us.Slots[1].Manifest != nil {
		t.Errorf("after the refused bundle: %+v", us)
	}
	tUpload := time.Now()
	code, body = c.upload(t, mustRead(t, current.bundle))
	if code != http.StatusAccepted {
		t.Fatalf("POST /api/update: %d %s", code, body)
	}
	t.Logf("bundle uploaded, verified and written in %.1fs", time.Since(tUpload).Seconds())
	waitReboot(t, con, update.TrybootArg)
	t.Logf("in the guest:\n%s", con.grep(`msg="update: `))

	// 2: the tryboot of the new version: it registers and commits itself.
	con = bootCard(t, disk, ports, true)
	con.wait(t, "to=registered", 120*time.Second)
	at, _ := con.arrival("to=registered")
	toRegistered := con.started.Add(at).Sub(tUpload)
	con.wait(t, "update healthy: committed", 30*time.Second)
	t.Logf("upload -> new version registered under QEMU: %.1fs", toRegistered.Seconds())
	fmt.Printf("image test: update upload -> new version registered: %.1fs\n", toRegistered.Seconds())
	c = newWebClient(t, web)
	c.login(t)
	us := c.updateStatus(t)
	if us.Running != current.version || us.Last == nil || us.Last.Outcome != update.OutcomeCommitted || !us.Slots[1].Running || !us.Slots[1].Committed {
		t.Fatalf("after the update: %+v (last %+v)", us, us.Last)
	}
	if v := c.status(t).Version; v != current.version {
		t.Errorf("running %s after the update, want %s", v, current.version)
	}

	// 3: a firmware that exits at start, tried once and rolled back.
	code, body = c.upload(t, mustRead(t, broken.bundle))
	if code != http.StatusAccepted {
		t.Fatalf("POST /api/update (the broken bundle): %d %s", code, body)
	}
	waitReboot(t, con, update.TrybootArg)
	con = bootCard(t, disk, ports, true)
	con.wait(t, "ata exited with status 3", 120*time.Second)
	tTrial := time.Now()
	waitReboot(t, con, "")
	t.Logf("broken firmware rolled back by update-watch %.1fs after its first exit", time.Since(tTrial).Seconds())

	// 4: the committed slot again, saying what happened.
	con = bootCard(t, disk, ports, false)
	con.wait(t, `msg="ata: started"`, 120*time.Second)
	c = newWebClient(t, web)
	c.login(t)
	us = c.updateStatus(t)
	if us.Running != current.version || us.Last == nil || us.Last.Outcome != update.OutcomeRolledBack ||
		us.Last.Version != broken.version || !strings.Contains(us.Last.Reason, "ata exited with status 3") {
		t.Errorf("after the rollback: running %s, last %+v", us.Running, us.Last)
	}
	page := c.get(t, "/")
	if !strings.Contains(page, "The update to "+broken.version+" was rolled back: not healthy within the update health timeout: ata exited with status 3") {
		t.Errorf("the status page does not say the update was rolled back and why:\n%s", page)
	}
	t.Logf("status page: %s", regexp.MustCompile(`\s+`).ReplaceAllString(page[strings.Index(page, `id="update-last"`):][:300], " "))
}

type guestPorts struct{ web, sim, sip int }

// grep is the console's lines containing s, each with its arrival time.
func (c *console) grep(s string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, l := range c.stamps {
		if strings.Contains(l.line, s) {
			fmt.Fprintf(&b, "\t%6.2fs %s\n", l.at.Seconds(), l.line)
		}
	}
	return b.String()
}

// bootCard boots the card under QEMU (qemu.sh, the card itself as the
// disk): the committed slot, or autoboot.txt's [tryboot] one.
func bootCard(t *testing.T, disk string, p guestPorts, tryboot bool) *console {
	qemu := exec.Command("./qemu.sh", disk)
	qemu.Env = append(os.Environ(), "QEMU_DISK_REUSE=1", fmt.Sprintf("QEMU_TRYBOOT=%v", map[bool]int{true: 1}[tryboot]),
		fmt.Sprintf("WEB_PORT=%d", p.web), fmt.Sprintf("SIM_PORT=%d", p.sim), fmt.Sprintf("SIP_PORT=%d", p.sip))
	return startConsole(t, qemu)
}

// waitReboot waits for the guest to restart (with arg, or none) and QEMU
// (-no-reboot) to exit.
func waitReboot(t *testing.T, con *console, arg string) {
	t.Helper()
	want := "reboot: Restarting system"
	if arg != "" {
		want += " with command '" + arg + "'"
	}
	con.wait(t, want, 90*time.Second)
	select {
	case <-con.eof:
	case <-time.After(30 * time.Second):
		t.Fatal("QEMU did not exit after the guest's reboot")
	}
	if arg == "" && strings.Contains(con.String(), "with command") {
		t.Fatalf("a reboot with a command, want a plain one:\n%s", con)
	}
}

// cardHash is the hash of the card's boot partition and slot B, which a
// refused bundle must leave alone.
func cardHash(t *testing.T, disk string) string {
	out, err := exec.Command("sfdisk", "--json", disk).Output()
	if err != nil {
		t.Fatal(err)
	}
	var pt struct {
		PartitionTable struct{ Partitions []partition } `json:"partitiontable"`
	}
	json.Unmarshal(out, &pt)
	f, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	for _, i := range []int{0, 2} {
		p := pt.PartitionTable.Partitions[i]
		io.Copy(h, io.NewSectionReader(f, p.Start*sector, p.Size*sector))
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// webClient is a logged-in API client of the guest's web UI.
type webClient struct {
	base  string
	hc    *http.Client
	token string
}

func newWebClient(t *testing.T, base string) *webClient {
	jar, _ := cookiejar.New(nil)
	c := &webClient{base: base, hc: &http.Client{Jar: jar, Timeout: 120 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if resp, err := c.hc.Get(base + "/login"); err == nil {
			resp.Body.Close()
			return c
		} else if time.Now().After(deadline) {
			t.Fatalf("web UI %s: %v", base, err)
		}
	}
}

var (
	csrfFieldRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	csrfMetaRE  = regexp.MustCompile(`name="csrf-token" content="([^"]+)"`)
)

func (c *webClient) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := c.hc.Get(c.base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func (c *webClient) form(t *testing.T, page string, v url.Values) {
	t.Helper()
	m := csrfFieldRE.FindStringSubmatch(c.get(t, page))
	if m == nil {
		t.Fatalf("GET %s: no csrf field", page)
	}
	v.Set("csrf", m[1])
	resp, err := c.hc.PostForm(c.base+page, v)
	if err != nil {
		t.Fatalf("POST %s: %v", page, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST %s: %s", page, resp.Status)
	}
	m = csrfMetaRE.FindStringSubmatch(c.get(t, "/maintenance"))
	if m == nil {
		t.Fatalf("not logged in after POST %s", page)
	}
	c.token = m[1]
}

const adminPassword = "image test password 1"

func (c *webClient) setup(t *testing.T) {
	c.form(t, "/setup", url.Values{"password": {adminPassword}, "confirm": {adminPassword}})
}

func (c *webClient) login(t *testing.T) {
	c.form(t, "/login", url.Values{"username": {"admin"}, "password": {adminPassword}})
}

// upload posts a bundle to /api/update as the raw body.
func (c *webClient) upload(t *testing.T, b []byte) (int, string) {
	req, _ := http.NewRequest("POST", c.base+"/api/update", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("X-CSRF-Token", c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatalf("POST /api/update: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (c *webClient) updateStatus(t *testing.T) webui.UpdateStatus {
	t.Helper()
	var us webui.UpdateStatus
	if b := c.get(t, "/api/update"); json.Unmarshal([]byte(b), &us) != nil || !us.Available || len(us.Slots) != 2 {
		t.Fatalf("GET /api/update: %s", b)
	}
	return us
}

func (c *webClient) status(t *testing.T) webui.StatusJSON {
	t.Helper()
	var st webui.StatusJSON
	if b := c.get(t, "/api/status"); json.Unmarshal([]byte(b), &st) != nil {
		t.Fatalf("GET /api/status: %s", b)
	}
	return st
}

func mustRead(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustOutput(t *testing.T, dir, name string, args ...string) []byte {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return out
}
