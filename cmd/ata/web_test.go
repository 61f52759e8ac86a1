package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/internal/kamailiotest"
)

// webClient is a browser stand-in: a cookie jar and the CSRF dance.
type webClient struct {
	t    *testing.T
	base string
	http *http.Client
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func newWebClient(t *testing.T, base string) *webClient {
	jar, _ := cookiejar.New(nil)
	return &webClient{t: t, base: base, http: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// form GETs a page for its CSRF token and POSTs the form back.
func (w *webClient) form(path string, fields url.Values) *http.Response {
	w.t.Helper()
	res, err := w.http.Get(w.base + path)
	if err != nil {
		w.t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := csrfField.FindSubmatch(body)
	if m == nil {
		w.t.Fatalf("GET %s: no CSRF field (status %d)", path, res.StatusCode)
	}
	fields.Set("csrf", string(m[1]))
	req, _ := http.NewRequest("POST", w.base+path, strings.NewReader(fields.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", w.base)
	res, err = w.http.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	res.Body.Close()
	return res
}

func (w *webClient) api(method, path string, body any) (*http.Response, []byte) {
	w.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, w.base+path, rd)
	req.Header.Set("Origin", w.base)
	if method != "GET" {
		res, data := w.api("GET", "/api/session", nil)
		if res.StatusCode != 200 {
			w.t.Fatalf("GET /api/session: %d %s", res.StatusCode, data)
		}
		var s struct {
			CSRF string `json:"csrf_token"`
		}
		json.Unmarshal(data, &s)
		req.Header.Set("X-CSRF-Token", s.CSRF)
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := w.http.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res, data
}

// TestWebUIConfiguresLineOnRealKamailio: first boot, set the password,
// log in, enter the SIP account through the API the pages use, and the
// status turns registered by itself on the real firmware and Kamailio.
func TestWebUIConfiguresLineOnRealKamailio(t *testing.T) {
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "secret"}})
	web := freePort(t)
	f := startFirmware(t, strings.Replace(baseConfig, `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = %q", web), 1)+
		"\n[sip]\nlisten = \"127.0.0.1:0\"\n")
	w := newWebClient(t, "http://"+web)

	if res, _ := w.api("GET", "/api/status", nil); res.StatusCode != 403 {
		t.Fatalf("status before first-boot setup: %d, want 403", res.StatusCode)
	}
	const pw = "correct horse battery staple"
	if res := w.form("/setup", url.Values{"username": {"admin"}, "password": {pw}, "confirm": {pw}}); res.StatusCode >= 400 {
		t.Fatalf("setup: %d", res.StatusCode)
	}
	for _, bad := range []string{"admin", "password"} { // defaults never work
		other := newWebClient(t, w.base)
		other.form("/login", url.Values{"username": {"admin"}, "password": {bad}})
		if res, _ := other.api("GET", "/api/status", nil); res.StatusCode != 401 {
			t.Fatalf("after admin/%s the API answers %d, want 401", bad, res.StatusCode)
		}
	}
	w = newWebClient(t, w.base)
	if res := w.form("/login", url.Values{"username": {"admin"}, "password": {pw}}); res.StatusCode >= 400 {
		t.Fatalf("login: %d", res.StatusCode)
	}
	res, data := w.api("GET", "/api/config", nil)
	if res.StatusCode != 200 {
		t.Fatalf("GET /api/config: %d %s", res.StatusCode, data)
	}
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	// A bad port is refused and names the field; nothing changes.
	cfg["line"] = []any{map[string]any{"number": "1001", "service_domain": kam.Addr().String(), "password": "secret", "registrar": "127.0.0.1:99999"}}
	res, data = w.api("PUT", "/api/config", cfg)
	if res.StatusCode != 422 || !strings.Contains(string(data), "line[0].registrar") {
		t.Fatalf("bad port: %d %s", res.StatusCode, data)
	}
	cfg["line"] = []any{map[string]any{"number": "1001", "service_domain": kam.Addr().String(), "auth_user": "1001", "password": "secret"}}
	start := time.Now()
	if res, data = w.api("PUT", "/api/config", cfg); res.StatusCode != 204 {
		t.Fatalf("PUT /api/config: %d %s", res.StatusCode, data)
	}
	for {
		_, data = w.api("GET", "/api/status", nil)
		if strings.Contains(string(data), `"registered"`) {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("not registered 5 s after saving: %s", data)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("registered %v after saving the account", time.Since(start).Round(time.Millisecond))
	waitRegistered(t, kam, "1001")
	if _, data = w.api("GET", "/api/config", nil); strings.Contains(string(data), "secret") {
		t.Fatalf("the SIP password came back to the browser: %s", data)
	}
	if st, err := f.phone.State(context.Background()); err != nil || st.Hook != "on" {
		t.Fatalf("the phone's state after the save: %+v %v", st, err)
	}
}

// TestWebStatusMessageWaiting: a message-summary NOTIFY (sipp, from the
// provider's address) shows in the web UI's status and /metrics.
func TestWebStatusMessageWaiting(t *testing.T) {
	r := newMultiRig(t, "")
	done := sipp(t, freeUDPPort(t), "notify_mwi.xml", map[string]string{"waiting": "yes", "new": "2", "old": "1"}, "-s", "1001", r.f.sipAddr(t))
	waitSipp(t, done, 10*time.Second)
	type line struct {
		Number          string `json:"number"`
		MessagesWaiting bool   `json:"messages_waiting"`
		New             int    `json:"new_messages"`
		Old             int    `json:"old_messages"`
		Messages        string `json:"messages"`
	}
	var st struct {
		Lines []line `json:"lines"`
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r.webAPI("/api/status", &st)
		if len(st.Lines) > 0 && st.Lines[0].New == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status lines after the NOTIFY: %+v", st.Lines)
		}
	}
	if l := st.Lines[0]; l.Number != "1001" || !l.MessagesWaiting || l.Old != 1 || l.Messages != "2 new voice messages" {
		t.Errorf("line after the NOTIFY: %+v", l)
	}
	res, data := r.w.api("GET", "/metrics", nil)
	if res.StatusCode != 200 || !strings.Contains(string(data), `ata_line_messages_waiting{line="1001"} 1`) ||
		!strings.Contains(string(data), `ata_line_new_messages{line="1001"} 2`) {
		t.Errorf("metrics after the NOTIFY: %d\n%s", res.StatusCode, data)
	}
}
