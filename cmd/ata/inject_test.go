package main

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openata/ata/internal/kamailiotest"
	"github.com/openata/ata/internal/syncbuf"
)

// injected is a display name that would add a header to every REGISTER
// and INVITE if it reached the SIP stack as written.
const injected = "Bob\r\nX-Injected: yes"

// sipAccountForm is the SIP page's form for line 0 on kam, as a browser
// posts it.
func sipAccountForm(kam *kamailiotest.Server, sipPort, displayName string) url.Values {
	return url.Values{"line": {"0"}, "active": {"on"}, "number": {"1001"}, "display_name": {displayName},
		"service_domain": {kam.Addr().String()}, "auth_user": {"1001"}, "local_port": {sipPort},
		"expires": {"3600"}, "transport": {"udp"}, "codec1": {"PCMU"}, "codec2": {"PCMA"},
		"dtmf_mode": {"rfc4733"}, "ptime": {"20"}, "dial_plan": {"(xxxx)"}, "keepalive": {"30"},
		"keepalive_method": {"crlf"}, "accept_proxy_only": {"on"}}
}

// TestInjectedDisplayNameNeverReachesTheWire posts a display name with
// CRLF and a header to the running firmware through the SIP page, the
// JSON API and a config upload: each is refused (422), and the firmware's
// own capture of its SIP shows no X-Injected, while a valid name posted
// the same way does reach the REGISTER (so the capture would show it).
func TestInjectedDisplayNameNeverReachesTheWire(t *testing.T) {
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "secret"}})
	web := freePort(t)
	_, sipPort, _ := net.SplitHostPort(freeUDPPort(t))
	cfg := strings.Replace(lineConfig(kam, `display_name = "Hall"`), `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = %q", web), 1)
	cfg = strings.Replace(cfg, "[sip]\nlisten = \"127.0.0.1:0\"", "[sip]\nlisten = \"127.0.0.1:"+sipPort+"\"", 1)
	startFirmware(t, cfg)
	waitRegistered(t, kam, "1001")

	w := newWebClient(t, "http://"+web)
	const pw = "correct horse battery staple"
	if res := w.form("/setup", url.Values{"password": {pw}, "confirm": {pw}}); res.StatusCode >= 400 {
		t.Fatalf("setup: %d", res.StatusCode)
	}
	if res, data := w.api("POST", "/api/capture/start", nil); res.StatusCode != 200 {
		t.Fatalf("capture start: %d %s", res.StatusCode, data)
	}

	// The SIP page.
	if res := w.form("/sip", sipAccountForm(kam, sipPort, injected)); res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("SIP page with CRLF in the display name: %d, want 422", res.StatusCode)
	}
	// The JSON API.
	_, data := w.api("GET", "/api/config", nil)
	body := strings.Replace(string(data), `"display_name": "Hall"`, `"display_name": "Bob\r\nX-Injected: yes"`, 1)
	if body == string(data) {
		t.Fatalf("the API's config has no display name to replace: %s", data)
	}
	req, _ := http.NewRequest("PUT", w.base+"/api/config", strings.NewReader(body))
	if res := w.withToken(req); res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("PUT /api/config with CRLF in the display name: %d, want 422", res.StatusCode)
	}
	// A config upload.
	file := strings.Replace(cfgFile(t, w), `display_name = 'Hall'`, `display_name = "Bob\r\nX-Injected: yes"`, 1)
	if res := w.upload(t, file); res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("upload with CRLF in the display name: %d, want 422", res.StatusCode)
	}
	// The positive control: a valid name goes the same way and re-registers.
	if res := w.form("/sip", sipAccountForm(kam, sipPort, "Hall Two")); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("SIP page with a valid display name: %d, want 303", res.StatusCode)
	}
	deadline := time.Now().Add(10 * time.Second)
	var pcap []byte
	for {
		_, pcap = w.api("GET", "/api/capture.pcap", nil)
		if bytes.Contains(pcap, []byte(`"Hall Two" <sip:1001@`)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the capture never showed the re-REGISTER with the valid name (%d bytes)", len(pcap))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if bytes.Contains(pcap, []byte("X-Injected")) || bytes.Contains(pcap, []byte("Bob\r\n")) {
		t.Fatal("the injected header reached the wire")
	}
	t.Logf("capture: %d bytes, REGISTERs: %d, no X-Injected", len(pcap), bytes.Count(pcap, []byte("REGISTER sip:")))
}

// withToken sends req with the session's CSRF header.
func (w *webClient) withToken(req *http.Request) *http.Response {
	w.t.Helper()
	_, data := w.api("GET", "/api/session", nil)
	tok := strings.Split(strings.Split(string(data), `"csrf_token": "`)[1], `"`)[0]
	req.Header.Set("X-CSRF-Token", tok)
	req.Header.Set("Origin", w.base)
	req.Header.Set("Content-Type", "application/json")
	res, err := w.http.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// cfgFile is the running configuration as the Maintenance page downloads it.
func cfgFile(t *testing.T, w *webClient) string {
	t.Helper()
	res, err := w.http.Get(w.base + "/maintenance/config.toml")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("download: %d", res.StatusCode)
	}
	return string(data)
}

// upload posts file on the Maintenance page's upload form.
func (w *webClient) upload(t *testing.T, file string) *http.Response {
	t.Helper()
	res, err := w.http.Get(w.base + "/maintenance")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := csrfField.FindSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF field on the Maintenance page")
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("csrf", string(m[1]))
	fw, _ := mw.CreateFormFile("config", "ata.toml")
	io.WriteString(fw, file)
	mw.Close()
	req, _ := http.NewRequest("POST", w.base+"/maintenance/config", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", w.base)
	if res, err = w.http.Do(req); err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// TestInjectedDisplayNameInConfigFile starts the firmware on a file whose
// first line has CRLF in its display name and whose second is valid:
// dumpcap on loopback sees the valid line register and never the
// injected header (the bad line is refused at start, or left out).
func TestInjectedDisplayNameInConfigFile(t *testing.T) {
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "secret", "1002": "secret"}})
	pcap := filepath.Join(t.TempDir(), "lo.pcapng")
	dump := exec.Command("dumpcap", "-q", "-i", "lo", "-f", fmt.Sprintf("udp port %d", kam.Addr().Port()), "-w", pcap)
	var dumpErr bytes.Buffer
	dump.Stderr = &dumpErr
	if err := dump.Start(); err != nil {
		t.Fatalf("dumpcap (apt-get install tshark): %v", err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			dump.Process.Signal(syscall.SIGINT)
			dump.Wait()
		}
	}
	t.Cleanup(stop)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if fi, err := os.Stat(pcap); err == nil && fi.Size() > 0 {
			break // the file header is written once capturing
		}
		if time.Now().After(deadline) {
			t.Fatalf("dumpcap did not start: %s", dumpErr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	second := fmt.Sprintf("\n[[line]]\nnumber = \"1002\"\nservice_domain = %q\nauth_user = \"1002\"\npassword = \"secret\"\ndisplay_name = \"Good\"\n", kam.Addr())
	log, done := tryFirmware(t, lineConfig(kam, `display_name = "Bob\r\nX-Injected: yes"`)+second)
	select {
	case <-done:
		// Refused at start: the message names the key.
		if !strings.Contains(log(), "line[0].display_name") {
			t.Fatalf("the firmware exited without naming line[0].display_name:\n%s", log())
		}
		t.Log("the firmware refused the file at start")
	case <-time.After(3 * time.Second):
		// Started without the bad line: the good one registers, the bad one never.
		waitRegistered(t, kam, "1002")
		if c, _ := kam.Contacts("1001"); len(c) > 0 {
			t.Fatalf("the line with the injected display name registered: %v", c)
		}
		t.Log("the firmware runs without the bad line")
	}
	time.Sleep(500 * time.Millisecond) // the last packets reach the file
	stop()
	data, err := os.ReadFile(pcap)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("X-Injected")) {
		t.Fatal("the injected header reached the wire")
	}
	t.Logf("loopback capture: %d bytes, REGISTERs: %d, no X-Injected", len(data), bytes.Count(data, []byte("REGISTER sip:")))
}

// tryFirmware starts the firmware on cfg without waiting for it to come
// up: it may refuse the file and exit (done is closed then).
func tryFirmware(t *testing.T, cfg string) (log func() string, done <-chan struct{}) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ata.toml")
	body := strings.ReplaceAll(strings.ReplaceAll(cfg, "SIM_LISTEN", freePort(t)), "DATA_DIR", t.TempDir())
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	stderr := &syncbuf.Buffer{}
	cmd := exec.Command(ataBin, "-config", path, "-log-level", "debug")
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("firmware log:\n%s", stderr.String())
		}
	})
	return stderr.String, exited
}
