package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/internal/kamailiotest"
	"github.com/openata/ata/internal/syncbuf"
)

// statusView is the part of GET /api/status these tests read.
type statusView struct {
	Problems []struct {
		Key, Message, Instead string
	} `json:"problems"`
	RestartNeeded []string `json:"restart_needed"`
	ConfigFile    string   `json:"config_file"`
	ConfigNote    string   `json:"config_note"`
	SavesTo       string   `json:"saves_to"`
	Pending       *struct {
		Keys       []string `json:"keys"`
		ConfirmURL string   `json:"confirm_url"`
	} `json:"pending"`
	Lines []struct {
		Number, State string
	} `json:"lines"`
}

func (s statusView) problem(key string) string {
	for _, p := range s.Problems {
		if p.Key == key {
			return p.Message + " (" + p.Instead + ")"
		}
	}
	return ""
}

// admin does the first-boot setup on the web UI at base and returns the
// logged-in client.
func admin(t *testing.T, base string) *webClient {
	t.Helper()
	const pw = "correct horse battery staple"
	waitWebUp(t, base)
	w := newWebClient(t, base)
	if res := w.form("/setup", url.Values{"username": {"admin"}, "password": {pw}, "confirm": {pw}}); res.StatusCode >= 400 {
		t.Fatalf("web setup: %d", res.StatusCode)
	}
	return w
}

// waitWebUp waits until the web UI at base accepts connections: the
// firmware starts it after the sim API (what launchFirmware waits for).
func waitWebUp(t *testing.T, base string) {
	t.Helper()
	host := strings.TrimPrefix(base, "http://")
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", host, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("web UI at %s: %v", base, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *webClient) status() statusView {
	w.t.Helper()
	res, data := w.api("GET", "/api/status", nil)
	if res.StatusCode != 200 {
		w.t.Fatalf("GET /api/status: %d %s", res.StatusCode, data)
	}
	var st statusView
	if err := json.Unmarshal(data, &st); err != nil {
		w.t.Fatal(err)
	}
	return st
}

func (w *webClient) config() map[string]any {
	w.t.Helper()
	res, data := w.api("GET", "/api/config", nil)
	if res.StatusCode != 200 {
		w.t.Fatalf("GET /api/config: %d %s", res.StatusCode, data)
	}
	var cfg map[string]any
	json.Unmarshal(data, &cfg)
	return cfg
}

func section(cfg map[string]any, name string) map[string]any {
	m, _ := cfg[name].(map[string]any)
	if m == nil {
		m = map[string]any{}
		cfg[name] = m
	}
	return m
}

// serving reports whether an HTTP server answers at addr.
func serving(addr string) bool {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := c.Get("http://" + addr + "/login")
	if err != nil {
		return false
	}
	res.Body.Close()
	return true
}

func dataDirOf(t *testing.T, f *firmware) string {
	t.Helper()
	data, err := os.ReadFile(f.config)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "data_dir = "); ok {
			return strings.Trim(v, `"'`)
		}
	}
	t.Fatal("no data_dir in the test config")
	return ""
}

// TestSIPPortInUseRefused: a save that moves SIP to a port another
// program holds is refused naming the field, and the line keeps working
// on its old socket; a free port is taken after the UI confirms it.
func TestSIPPortInUseRefused(t *testing.T) {
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "secret"}})
	web := freePort(t)
	cfg := strings.Replace(lineConfig(kam, ""), `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = %q", web), 1)
	f := startFirmware(t, cfg)
	waitRegistered(t, kam, "1001")
	before, _ := kam.Contacts("1001")
	w := admin(t, "http://"+web)

	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	c := w.config()
	section(c, "sip")["listen"] = busy.LocalAddr().String()
	res, data := w.api("PUT", "/api/config", c)
	_, port, _ := net.SplitHostPort(busy.LocalAddr().String())
	if res.StatusCode != 422 || !strings.Contains(string(data), "sip.listen") || !strings.Contains(string(data), "port "+port+" is in use by another program") {
		t.Fatalf("SIP port in use: %d %s", res.StatusCode, data)
	}
	if _, err := os.Stat(filepath.Join(dataDirOf(t, f), "ata.toml")); err == nil {
		t.Error("a refused save wrote the config")
	}
	time.Sleep(500 * time.Millisecond)
	if after, _ := kam.Contacts("1001"); len(after) != 1 || after[0] != before[0] {
		t.Fatalf("contacts after the refused save: %v, before %v", after, before)
	}
	if st := w.status(); len(st.Lines) != 1 || st.Lines[0].State != "registered" || len(st.Problems) != 0 {
		t.Fatalf("status after the refused save: %+v", st)
	}

	// A free port: applied at once, rolls back unless confirmed; confirmed.
	free := freeUDPPort(t)
	section(c, "sip")["listen"] = free
	res, data = w.api("PUT", "/api/config", c)
	var accepted struct {
		Pending struct {
			ConfirmURL string `json:"confirm_url"`
		} `json:"pending"`
	}
	json.Unmarshal(data, &accepted)
	if res.StatusCode != 202 || accepted.Pending.ConfirmURL == "" {
		t.Fatalf("free SIP port: %d %s", res.StatusCode, data)
	}
	res, err = w.http.Get(accepted.Pending.ConfirmURL)
	if err != nil || res.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirm: %v %v", res, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	_, freePortNum, _ := net.SplitHostPort(free)
	for {
		cs, _ := kam.Contacts("1001")
		if len(cs) == 1 && strings.Contains(cs[0], ":"+freePortNum) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not registered from the new port %s: %v", free, cs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st := w.status(); st.Pending != nil {
		t.Fatalf("still pending after the confirmation: %+v", st.Pending)
	}
}

// TestStartsWithSIPPortInUse: a config whose SIP socket cannot be bound
// still brings up the web UI, which names the problem; fixing it there
// registers the line.
func TestStartsWithSIPPortInUse(t *testing.T) {
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "secret"}})
	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	web := freePort(t)
	cfg := strings.Replace(lineConfig(kam, ""), `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = %q", web), 1)
	cfg = strings.Replace(cfg, "[sip]\nlisten = \"127.0.0.1:0\"", fmt.Sprintf("[sip]\nlisten = %q", busy.LocalAddr()), 1)
	startFirmware(t, cfg)
	w := admin(t, "http://"+web)
	st := w.status()
	_, port, _ := net.SplitHostPort(busy.LocalAddr().String())
	if p := st.problem("sip.listen"); !strings.Contains(p, "port "+port+" is in use by another program") {
		t.Fatalf("status problems %+v, want sip.listen in use", st.Problems)
	}
	c := w.config()
	section(c, "sip")["listen"] = "127.0.0.1:0"
	if res, data := w.api("PUT", "/api/config", c); res.StatusCode >= 300 && res.StatusCode != 202 {
		t.Fatalf("fixing sip.listen: %d %s", res.StatusCode, data)
	}
	waitRegistered(t, kam, "1001")
	if p := w.status().problem("sip.listen"); p != "" {
		t.Fatalf("problem still shown after the fix: %s", p)
	}
}

// TestWebAddressChangeRollsBackUnlessConfirmed: the web UI moves to a new
// address at once and also keeps the old one; unconfirmed, the old
// settings come back by themselves; confirmed from the new address, the
// old one closes.
func TestWebAddressChangeRollsBackUnlessConfirmed(t *testing.T) {
	web := freePort(t)
	f := launchFirmwareEnv(t, strings.Replace(baseConfig, `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = %q", web), 1),
		"debug", nil, []string{"ATA_CONFIRM_TIMEOUT=3s"})
	w := admin(t, "http://"+web)
	saved := filepath.Join(dataDirOf(t, f), "ata.toml")

	next := freePort(t)
	c := w.config()
	section(c, "web")["listen"] = next
	res, data := w.api("PUT", "/api/config", c)
	if res.StatusCode != 202 || !strings.Contains(string(data), next+"/confirm/") {
		t.Fatalf("web address change: %d %s", res.StatusCode, data)
	}
	if !serving(next) || !serving(web) {
		t.Fatalf("while waiting: new address serving %v, old %v", serving(next), serving(web))
	}
	time.Sleep(4 * time.Second)
	if serving(next) || !serving(web) {
		t.Fatalf("after the window: new address serving %v, old %v; want only the old", serving(next), serving(web))
	}
	if p := w.status().problem("web.listen"); !strings.Contains(p, "not confirmed") || !strings.Contains(p, web) {
		t.Fatalf("status after the rollback: %q", p)
	}
	if b, _ := os.ReadFile(saved); !strings.Contains(string(b), web) || strings.Contains(string(b), next) {
		t.Fatalf("saved config after the rollback:\n%s", b)
	}

	// Again, and this time a browser reaches the new address.
	res, data = w.api("PUT", "/api/config", c)
	var accepted struct {
		Pending struct {
			ConfirmURL string `json:"confirm_url"`
		} `json:"pending"`
	}
	json.Unmarshal(data, &accepted)
	if res.StatusCode != 202 || !strings.HasPrefix(accepted.Pending.ConfirmURL, "http://"+next+"/confirm/") {
		t.Fatalf("second change: %d %s", res.StatusCode, data)
	}
	browser := newWebClient(t, "http://"+next)
	if res, err := browser.http.Get(accepted.Pending.ConfirmURL); err != nil || res.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirm at the new address: %v %v", res, err)
	}
	time.Sleep(4 * time.Second)
	if !serving(next) || serving(web) {
		t.Fatalf("after confirming: new address serving %v, old %v; want only the new", serving(next), serving(web))
	}
	if b, _ := os.ReadFile(saved); !strings.Contains(string(b), next) {
		t.Fatalf("saved config after confirming:\n%s", b)
	}
}

// TestConfigFileIsOnlyRead: the -config file is never rewritten; saves go
// to the data directory, win at the next start, and the status page says
// which file is in force; a board setting waits for a restart and says so.
func TestConfigFileIsOnlyRead(t *testing.T) {
	web := freePort(t)
	text := "# my hand-written config\n" + strings.Replace(baseConfig, `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = %q", web), 1)
	f := startFirmware(t, text)
	original, _ := os.ReadFile(f.config)
	w := admin(t, "http://"+web)
	if st := w.status(); st.ConfigFile != f.config || st.SavesTo != filepath.Join(dataDirOf(t, f), "ata.toml") {
		t.Fatalf("status before a save: file %q, saves to %q", st.ConfigFile, st.SavesTo)
	}
	c := w.config()
	section(c, "phone")["region"] = "de"
	section(c, "board")["audio_capture"] = "hw:1,0"
	res, data := w.api("PUT", "/api/config", c)
	if res.StatusCode != 200 || !strings.Contains(string(data), "board.audio_capture") {
		t.Fatalf("save with a board change: %d %s, want 200 naming board.audio_capture", res.StatusCode, data)
	}
	if st := w.status(); strings.Join(st.RestartNeeded, ",") != "board.audio_capture" {
		t.Fatalf("restart needed: %v", st.RestartNeeded)
	}
	if now, _ := os.ReadFile(f.config); string(now) != string(original) {
		t.Fatalf("the -config file was rewritten:\n%s", now)
	}
	saved, err := os.ReadFile(filepath.Join(dataDirOf(t, f), "ata.toml"))
	if err != nil || !strings.Contains(string(saved), "region = 'de'") {
		t.Fatalf("saved config (%v):\n%s", err, saved)
	}
	f.restart(t)
	w = newWebClient(t, "http://"+web)
	if res := w.form("/login", url.Values{"username": {"admin"}, "password": {"correct horse battery staple"}}); res.StatusCode >= 400 {
		t.Fatalf("login after restart: %d", res.StatusCode)
	}
	st := w.status()
	if st.ConfigFile != filepath.Join(dataDirOf(t, f), "ata.toml") || !strings.Contains(st.ConfigNote, f.config) || len(st.RestartNeeded) != 0 {
		t.Fatalf("after restart: file %q note %q restart %v", st.ConfigFile, st.ConfigNote, st.RestartNeeded)
	}
}

// startRaw runs the firmware on a config file and waits for its web UI
// (not the sim API: a degraded start may have none); stop kills it.
func startRaw(t *testing.T, cfgPath, web string) (log *syncbuf.Buffer, stop func()) {
	t.Helper()
	log = &syncbuf.Buffer{}
	cmd := exec.Command(ataBin, "-config", cfgPath)
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var once bool
	stop = func() {
		if once {
			return
		}
		once = true
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("firmware log:\n%s", log.String())
		}
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(10 * time.Second)
	for !serving(web) {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("firmware exited: %v\n%s", err, log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("web UI did not come up\n%s", log.String())
		}
	}
	return log, stop
}

// TestDegradedStart: settings that cannot be used no longer stop the
// firmware: it starts what it can, and the status page names each key.
func TestDegradedStart(t *testing.T) {
	for _, tc := range []struct{ name, toml, key, want string }{
		{"unknown region", "[phone]\nregion = \"zz\"\n", "phone.region", "known"},
		{"line without a number", "[[line]]\nservice_domain = \"voip.example.net\"\n", "line[0].number", "line 1 is left out"},
		{"bad codec turns the line off", "[[line]]\nnumber = \"1001\"\nservice_domain = \"voip.example.net\"\ncodecs = [\"G729\"]\n", "line[0].codecs", "line 1 is off"},
		{"bad gpio", "[board]\nname = \"rpi-ag1171\"\ngpio_shk = 40\n", "board.gpio_shk", "BCM GPIO 40"},
		{"pi without a sound card", "[board]\nname = \"rpi-ag1171\"\naudio_capture = \"hw:7,0\"\n", "board.name", "not running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			web := freePort(t)
			cfg := filepath.Join(dir, "ata.toml")
			text := fmt.Sprintf("[system]\ndata_dir = %q\n[web]\nlisten = %q\n[sip]\nlisten = \"127.0.0.1:0\"\n", dir, web) + tc.toml
			os.WriteFile(cfg, []byte(text), 0o600)
			startRaw(t, cfg, web)
			st := admin(t, "http://"+web).status()
			if p := st.problem(tc.key); !strings.Contains(p, tc.want) {
				t.Fatalf("problem for %s: %q, want it to mention %q (all: %+v)", tc.key, p, tc.want, st.Problems)
			}
		})
	}
}

// TestLastKnownGoodConfig: after a good start the config is kept as
// ata.toml.good in the data directory; a file that no longer reads runs
// on it (and the status page says so); with no good copy the start is
// refused, as before.
func TestLastKnownGoodConfig(t *testing.T) {
	dir := t.TempDir()
	web := freePort(t)
	cfg := filepath.Join(dir, "ata.toml") // as on the image: the -config file lives in the data directory
	os.WriteFile(cfg, []byte(fmt.Sprintf("[system]\ndata_dir = %q\n[web]\nlisten = %q\n[sip]\nlisten = \"127.0.0.1:0\"\n[phone]\nregion = \"de\"\n", dir, web)), 0o600)
	log, stop := startRaw(t, cfg, web)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(cfg + ".good"); err == nil && strings.Contains(string(b), "region = 'de'") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no last known good config after a good start\n%s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()

	os.WriteFile(cfg, []byte("[phone\nregion = \"fr\"\n"), 0o600) // a hand edit gone wrong
	startRaw(t, cfg, web)
	st := admin(t, "http://"+web).status()
	if p := st.problem("config"); !strings.Contains(p, "last known good") || st.ConfigFile != cfg+".good" {
		t.Fatalf("on a broken file: problem %q, file in force %q", p, st.ConfigFile)
	}

	other := filepath.Join(t.TempDir(), "ata.toml")
	os.WriteFile(other, []byte("[phone\n"), 0o600)
	refused := exec.Command(ataBin, "-config", other)
	refused.Dir = t.TempDir() // the default data directory ("data") holds no good config
	out, err := refused.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "ata.toml:") {
		t.Fatalf("a broken file with no good copy: %v\n%s", err, out)
	}
}
