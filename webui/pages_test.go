package webui_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/config"
	"github.com/openata/ata/webui"
)

// sipForm is a complete, valid SIP Account Setup form.
func sipForm() url.Values {
	return url.Values{
		"line": {"0"}, "active": {"on"}, "number": {"1001"}, "display_name": {"Hall"},
		"local_port": {"5062"}, "server_host": {"sip.example.net"}, "server_port": {"5070"},
		"register_host": {""}, "register_port": {""}, "service_domain": {"example.net"},
		"auth_user": {"u1001"}, "password": {"Sup3r-Secret-SIP"},
		"proxy_active": {"on"}, "proxy_host": {"sbc.example.net"}, "proxy_port": {"5080"},
		"expires": {"1800"}, "transport": {"udp"}, "codec1": {"PCMA"}, "codec2": {"PCMU"},
		"dtmf_mode": {"info"}, "ptime": {"20"}, "dial_plan": {"(911|xx.T)"}, "keepalive": {"25"},
		"keepalive_method": {"options"}, "accept_proxy_only": {"on"},
	}
}

func TestSIPAccountSave(t *testing.T) {
	e, c := ready(t)
	before := e.b.Config()
	w := c.postPage("/sip", "/sip", sipForm())
	wantRedirect(t, w, "/sip?line=0", "save")
	cfg := e.b.Config()
	if e.b.Applies != 1 || cfg == before {
		t.Fatalf("applies %d", e.b.Applies)
	}
	if len(cfg.Lines) != 1 {
		t.Fatalf("lines: %+v", cfg.Lines)
	}
	l := cfg.Lines[0]
	got := fmt.Sprintf("%v %s %s %s %s %s %s %s %v %v %s %d", l.IsActive(), l.Number, l.DisplayName, l.ServiceDomain, l.AuthUser,
		l.Password, l.Registrar, l.OutboundProxy, l.RegisterExpires, l.Codecs, l.DTMFMode, l.Ptime)
	want := "true 1001 Hall example.net u1001 Sup3r-Secret-SIP sip.example.net:5070 sbc.example.net:5080 30m0s [PCMA PCMU] info 20"
	if got != want {
		t.Fatalf("line:\n got %s\nwant %s", got, want)
	}
	if cfg.SIP.Listen != "0.0.0.0:5062" || cfg.SIP.KeepAlive.D() != 25*time.Second || cfg.SIP.KeepAliveMethod != "options" ||
		!cfg.SIP.AcceptProxyOnly || cfg.Phone.DialPlan != "(911|xx.T)" {
		t.Fatalf("shared settings: %+v %+v", cfg.SIP, cfg.Phone)
	}
	// The running config was not modified in place.
	if len(before.Lines) != 0 || before.SIP.Listen != "0.0.0.0:5060" {
		t.Fatalf("the old config object changed: %+v", before)
	}
	page := c.get("/sip?line=0").Body.String()
	if !strings.Contains(page, "Saved and applied") || !strings.Contains(page, `value="sbc.example.net"`) {
		t.Fatalf("page after save lacks the message or the values")
	}
	// The fake registers the line by itself a moment later.
	deadline := time.Now().Add(2 * time.Second)
	for {
		var st webui.StatusJSON
		json.Unmarshal(c.do("GET", "/api/status", nil).Body.Bytes(), &st)
		if len(st.Lines) == 1 && st.Lines[0].State == "registered" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("line never registered: %+v", st.Lines)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The voicemail number (dialled by *98) is saved with the line and shown.
func TestSIPVoicemailNumber(t *testing.T) {
	e, c := ready(t)
	f := sipForm()
	f.Set("voicemail_number", "*8000")
	wantRedirect(t, c.postPage("/sip", "/sip", f), "/sip?line=0", "save")
	if got := e.b.Config().Lines[0].VoicemailNumber; got != "*8000" {
		t.Fatalf("voicemail_number %q, want *8000", got)
	}
	if page := c.get("/sip?line=0").Body.String(); !strings.Contains(page, `value="*8000"`) {
		t.Fatal("the page does not show the saved voicemail number")
	}
}

var errorRE = regexp.MustCompile(`<p class="error" id="e-([a-z_0-9]+)">([^<]*)</p>`)

// fieldErrors extracts field id → message from a rendered form.
func fieldErrors(body string) map[string]string {
	m := map[string]string{}
	for _, x := range errorRE.FindAllStringSubmatch(body, -1) {
		m[x[1]] = x[2]
	}
	return m
}

// A bad port is shown next to its field, and nothing reaches the backend.
func TestSIPBadPort(t *testing.T) {
	for _, tc := range []struct{ field, value string }{
		{"server_port", "99999"}, {"server_port", "50x"}, {"local_port", "0"}, {"proxy_port", "65536"}, {"register_port", "-1"},
	} {
		t.Run(tc.field+"="+tc.value, func(t *testing.T) {
			e, c := ready(t)
			before := e.b.Config()
			f := sipForm()
			f.Set(tc.field, tc.value)
			if tc.field == "register_port" {
				f.Set("server_host", "")
				f.Set("server_port", "")
				f.Set("register_host", "sip.example.net")
			}
			w := c.postPage("/sip", "/sip", f)
			wantCode(t, w, http.StatusUnprocessableEntity, "bad port")
			body := w.Body.String()
			errs := fieldErrors(body)
			if !strings.Contains(errs[tc.field], "port number from 1 to 65535") || len(errs) != 1 {
				t.Fatalf("errors %v, want one next to %s", errs, tc.field)
			}
			if !strings.Contains(body, `id="f-`+tc.field+`" name="`+tc.field+`" value="`+tc.value+`"`) {
				t.Errorf("the bad value is not shown back in its field")
			}
			if !regexp.MustCompile(`id="f-` + tc.field + `"[^>]*aria-invalid="true"`).MatchString(body) {
				t.Errorf("field not marked aria-invalid")
			}
			if e.b.Applies != 0 || e.b.Config() != before {
				t.Fatalf("backend changed: applies %d", e.b.Applies)
			}
		})
	}
}

// Errors the config package finds (and the backend's own) land next to the
// field they concern.
func TestSIPConfigErrorsMapToFields(t *testing.T) {
	e, c := ready(t)
	for _, tc := range []struct{ field, value, wantField, want string }{
		{"number", "", "number", "missing"},
		{"number", "10 01", "number", "not a SIP user name"},
		{"service_domain", "", "service_domain", "missing"},
		{"server_host", "bad host", "server_host", "host name or an IP address"},
		{"expires", "30", "expires", "60 to 86400"},
		{"codec2", "PCMA", "codec2", "different codec"},
		{"dial_plan", "(12[", "dial_plan", ""},
		{"keepalive_method", "carrier-pigeon", "keepalive_method", "unknown"},
		{"dtmf_mode", "smoke", "dtmf_mode", "unknown mode"},
		{"ptime", "30", "ptime", "10 or 20"},
		{"transport", "sctp", "transport", "Choose UDP, TCP, TLS"},
		{"srtp", "always", "srtp", "off, optional or mandatory"},
		{"tls_ca_file", "/nonexistent/ca.pem", "tls_ca_file", "Cannot read /nonexistent/ca.pem"},
		{"register_host", "other.example.net", "register_host", "one server"},
		{"voicemail_number", "80 00", "voicemail_number", "want digits"},
		{"stun_server", "stun.example.net:99999", "stun_server", "1 to 65535"},
		{"stun_server", "stun example", "stun_server", "not a host name"},
		{"rtp_latching", "sometimes", "rtp_latching", "auto, always, never"},
	} {
		f := sipForm()
		f.Set(tc.field, tc.value)
		w := c.postPage("/sip", "/sip", f)
		wantCode(t, w, http.StatusUnprocessableEntity, tc.field+"="+tc.value)
		errs := fieldErrors(w.Body.String())
		if msg, ok := errs[tc.wantField]; !ok || !strings.Contains(strings.ToLower(msg), strings.ToLower(tc.want)) {
			t.Errorf("%s=%q: errors %v, want %q next to %s", tc.field, tc.value, errs, tc.want, tc.wantField)
		}
	}
	if e.b.Applies != 0 {
		t.Fatalf("applies %d after invalid forms", e.b.Applies)
	}
}

// The SIP password never goes back to the browser: not in the page, not
// after a failed save, not in the JSON API.
func TestSIPPasswordNeverEchoed(t *testing.T) {
	e, c := ready(t)
	secret := "Sup3r-Secret-SIP"
	wantRedirect(t, c.postPage("/sip", "/sip", sipForm()), "/sip", "save")
	page := c.get("/sip").Body.String()
	if strings.Contains(page, secret) || !strings.Contains(page, `placeholder="unchanged"`) {
		t.Fatal("the SIP page shows the password or lacks the 'unchanged' placeholder")
	}
	// A failed save with a new password typed in does not echo it either.
	f := sipForm()
	f.Set("password", "Another-Secret-42")
	f.Set("server_port", "0")
	w := c.postPage("/sip", "/sip", f)
	wantCode(t, w, http.StatusUnprocessableEntity, "bad save")
	if strings.Contains(w.Body.String(), "Another-Secret-42") {
		t.Fatal("a failed save echoed the typed password")
	}
	api := c.do("GET", "/api/config", nil).Body.String()
	if strings.Contains(api, secret) || !strings.Contains(api, `"password_set": true`) {
		t.Fatalf("API config leaks or lacks password_set: %s", api)
	}
	// Saving with the field empty keeps the password.
	f = sipForm()
	f.Set("password", "")
	f.Set("display_name", "Hall 2")
	wantRedirect(t, c.postPage("/sip", "/sip", f), "/sip", "save unchanged")
	if l := e.b.Config().Lines[0]; l.Password != secret || l.DisplayName != "Hall 2" {
		t.Fatalf("after an 'unchanged' save: %+v", l)
	}
	// Unless removal is asked for.
	f.Set("clear_password", "on")
	wantRedirect(t, c.postPage("/sip", "/sip", f), "/sip", "clear")
	if e.b.Config().Lines[0].Password != "" {
		t.Fatal("clear_password kept the password")
	}
}

func TestPhoneSave(t *testing.T) {
	e, c := ready(t)
	f := url.Values{"region": {"de"}, "caller_id": {"etsi-fsk"}, "flash_min": {"80"}, "flash_max": {"700"},
		"dial_plan": {"(0xx.T|110|112)"}, "inter_digit_timeout": {"3.5"}, "first_digit_timeout": {"20"}, "ring_cadence": {"1,4"},
		"echo_canceller": {"on"}, "echo_tail": {"128"}, "fax_mode": {"off"}, "tx_gain_db": {"-3"}, "rx_gain_db": {"2.5"},
	}
	for _, bad := range []struct{ id, v string }{{"tx_gain_db", "13"}, {"rx_gain_db", "loud"}, {"echo_tail", "200"}, {"fax_mode", "t38"}} {
		g := url.Values{}
		for k, v := range f {
			g[k] = v
		}
		g.Set(bad.id, bad.v)
		res := c.postPage("/phone", "/phone", g)
		if res.Code != 422 {
			t.Fatalf("%s=%q: status %d, want 422", bad.id, bad.v, res.Code)
		}
	}
	wantRedirect(t, c.postPage("/phone", "/phone", f), "/phone", "save")
	if p := e.b.Config().Phone; !p.EchoCanceller || p.EchoTail.D() != 128*time.Millisecond || p.FaxMode != "off" || p.TxGainDB != -3 || p.RxGainDB != 2.5 {
		t.Fatalf("audio settings not saved: %+v", p)
	}
	p := e.b.Config().Phone
	if p.Region != "de" || p.CallerID != "etsi-fsk" || p.FlashMin.D() != 80*time.Millisecond || p.FlashMax.D() != 700*time.Millisecond ||
		p.InterDigitTimeout.D() != 3500*time.Millisecond || p.FirstDigitTimeout.D() != 20*time.Second || p.RingCadence != "1,4" {
		t.Fatalf("phone: %+v", p)
	}
	for _, tc := range []struct{ field, value string }{
		{"region", "xx"}, {"ring_cadence", "1,2,3"}, {"flash_min", "800"}, {"inter_digit_timeout", "0"}, {"caller_id", "morse"},
	} {
		g := url.Values{}
		for k, v := range f {
			g[k] = v
		}
		g.Set(tc.field, tc.value)
		w := c.postPage("/phone", "/phone", g)
		wantCode(t, w, http.StatusUnprocessableEntity, tc.field)
		if _, ok := fieldErrors(w.Body.String())[tc.field]; !ok {
			t.Errorf("%s=%s: no error next to the field: %v", tc.field, tc.value, fieldErrors(w.Body.String()))
		}
	}
	if e.b.Applies != 1 {
		t.Fatalf("applies %d", e.b.Applies)
	}
}

// PUT /api/config takes the file's keys as JSON, keeps an omitted
// password, and answers invalid input with fields and no change.
func TestAPIConfig(t *testing.T) {
	e, c := ready(t)
	tok := csrfToken(t, c)
	put := func(body string) *httptest.ResponseRecorder {
		return c.do("PUT", "/api/config", strings.NewReader(body), "Content-Type", "application/json", "X-CSRF-Token", tok)
	}
	w := put(`{"phone":{"region":"fr"},"line":[{"number":"2001","service_domain":"voip.example.org","password":"pw-one","ptime":10}]}`)
	wantCode(t, w, http.StatusNoContent, "PUT")
	if l := e.b.Config().Lines[0]; l.Password != "pw-one" || l.Ptime != 10 || e.b.Config().Phone.Region != "fr" {
		t.Fatalf("after PUT: %+v", l)
	}
	var m map[string]any
	json.Unmarshal(c.do("GET", "/api/config", nil).Body.Bytes(), &m)
	m["line"].([]any)[0].(map[string]any)["display_name"] = "Study"
	body, _ := json.Marshal(m) // the GET shape, password redacted, round-trips
	wantCode(t, put(string(body)), http.StatusNoContent, "PUT of GET")
	if l := e.b.Config().Lines[0]; l.Password != "pw-one" || l.DisplayName != "Study" {
		t.Fatalf("round trip lost the password or the edit: %+v", l)
	}

	applies := e.b.Applies
	for _, tc := range []struct{ body, key string }{
		{`{"line":[{"number":"2001","service_domain":"voip.example.org","registrar":"r.example.org:99999"}]}`, "line[0].registrar"},
		{`{"phone":{"region":"zz"}}`, "phone.region"},
		{`{"sip":{"listen":"nope"}}`, "sip.listen"},
	} {
		w := put(tc.body)
		wantCode(t, w, http.StatusUnprocessableEntity, tc.body)
		var ae struct {
			Error  string
			Fields map[string]string
		}
		json.Unmarshal(w.Body.Bytes(), &ae)
		if ae.Fields[tc.key] == "" {
			t.Errorf("%s: fields %v, want %s", tc.body, ae.Fields, tc.key)
		}
	}
	wantCode(t, put(`{"bogus":{"x":1}}`), http.StatusUnprocessableEntity, "unknown key")
	wantCode(t, put(`not json`), http.StatusUnprocessableEntity, "not JSON")
	if e.b.Applies != applies {
		t.Fatal("an invalid PUT reached Apply")
	}
}

func csrfToken(t *testing.T, c *client) string {
	t.Helper()
	var s struct {
		CSRF string `json:"csrf_token"`
	}
	if err := json.Unmarshal(c.do("GET", "/api/session", nil).Body.Bytes(), &s); err != nil || s.CSRF == "" {
		t.Fatalf("GET /api/session: %v", err)
	}
	return s.CSRF
}

func upload(c *client, name string, data []byte, tok string) *httptest.ResponseRecorder {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("csrf", tok)
	fw, _ := mw.CreateFormFile("config", name)
	fw.Write(data)
	mw.Close()
	return c.do("POST", "/maintenance/config", &buf, "Content-Type", mw.FormDataContentType())
}

// An uploaded config replaces nothing unless config.Parse and Apply accept
// it; errors name the file and line.
func TestConfigUpload(t *testing.T) {
	e, c := ready(t)
	tok := c.csrf("/maintenance")
	before := e.b.Config()
	for _, tc := range []struct{ name, data, want string }{
		{"bad.toml", "[phone]\nregion = \"de\"\nflash_min = \"12 parsecs\"\n", `[phone] flash_min: &#34;12 parsecs&#34; is not a duration: want a number and a unit such as &#34;4s&#34; or &#34;900ms&#34; (bad.toml, line 3).`},
		{"unknown.toml", "[phone]\nregoin = \"de\"\n", `unknown key &#34;phone.regoin&#34;`},
		{"line.toml", "[[line]]\nnumber = \"1\"\nservice_domain = \"x.example\"\nregistrar = \"x.example:0\"\n", "Line 1: registrar: &#34;x.example:0&#34;: port &#34;0&#34; is not a number from 1 to 65535 (line.toml, line 1)."},
		{"region.toml", "[phone]\nregion = \"atlantis\"\n", "[phone] region: "},
		{"ptime.toml", "[[line]]\nnumber = \"1\"\nservice_domain = \"x.example\"\nptime = \"20\"\n", "Line 1: ptime must be a whole number such as 20, not text in quotes (ptime.toml, line 4)."},
		{"crlf.toml", "[[line]]\nnumber = \"1\"\nservice_domain = \"x.example\"\ndisplay_name = \"Bob\\r\\nX-Injected: yes\"\n", "Line 1: display_name: contains a line break (crlf.toml, line 1)."},
		{"empty.toml", "  \n", "empty"},
	} {
		w := upload(c, tc.name, []byte(tc.data), tok)
		wantCode(t, w, http.StatusUnprocessableEntity, tc.name)
		if got := fieldErrors(w.Body.String())["config"]; !strings.Contains(got, tc.want) {
			t.Errorf("%s: error %q, want %q", tc.name, got, tc.want)
		}
	}
	if e.b.Applies != 0 || e.b.Config() != before {
		t.Fatal("an invalid upload changed the config")
	}
	wantCode(t, upload(c, "x.toml", []byte("[phone]\nregion=\"de\"\n"), "forged"), http.StatusForbidden, "upload without CSRF")

	// Download, edit, upload: the round trip applies.
	e.b.Apply(t.Context(), withLine(e.b.Config()))
	dl := c.get("/maintenance/config.toml")
	wantCode(t, dl, http.StatusOK, "download")
	if !strings.Contains(dl.Header().Get("Content-Disposition"), "attachment") || dl.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("download headers: %v", dl.Header())
	}
	edited := strings.Replace(dl.Body.String(), "region = 'us'", "region = 'uk'", 1)
	if w := upload(c, "ata-config.toml", []byte(edited), tok); w.Code != http.StatusSeeOther {
		t.Fatalf("valid upload: %d %v\n%s", w.Code, fieldErrors(w.Body.String()), edited)
	}
	if cfg := e.b.Config(); cfg.Phone.Region != "uk" || cfg.Lines[0].Password != "pw" {
		t.Fatalf("after upload: region %s, lines %+v", cfg.Phone.Region, cfg.Lines)
	}
}

func withLine(c *config.Config) *config.Config {
	n := *c
	n.Lines = []config.Line{{Number: "7", ServiceDomain: "x.example", Password: "pw"}}
	return &n
}

// Forged state changes (no token, wrong token, cross-site) are refused and
// reach no backend method.
func TestCSRFRefusesForgedRequests(t *testing.T) {
	e, c := ready(t)
	f := sipForm()
	wantCode(t, c.post("/sip", f), http.StatusForbidden, "POST /sip without token")
	f.Set("csrf", "0123456789abcdef0123456789abcdef")
	wantCode(t, c.post("/sip", f), http.StatusForbidden, "POST /sip with a wrong token")
	wantCode(t, c.post("/maintenance/reboot", url.Values{}), http.StatusForbidden, "reboot without token")
	wantCode(t, c.do("POST", "/api/reboot", nil), http.StatusForbidden, "API reboot without header")
	wantCode(t, c.do("PUT", "/api/config", strings.NewReader(`{}`), "X-CSRF-Token", "nope"), http.StatusForbidden, "API PUT wrong header")
	// A cross-site form post is refused even with a valid token.
	f.Set("csrf", c.csrf("/sip"))
	w := c.do("POST", "/sip", strings.NewReader(f.Encode()), "Content-Type", "application/x-www-form-urlencoded",
		"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
	wantCode(t, w, http.StatusForbidden, "cross-site POST")
	// Another session's token does not work.
	other := e.client("192.0.2.55:1")
	other.login("admin", testPassword)
	f.Set("csrf", other.csrf("/sip"))
	wantCode(t, c.post("/sip", f), http.StatusForbidden, "another session's token")
	// The login form needs its own token.
	anon := e.client("192.0.2.56:1")
	wantCode(t, anon.post("/login", url.Values{"username": {"admin"}, "password": {testPassword}}), http.StatusForbidden, "login without token")
	if e.b.Applies != 0 || e.b.Reboots != 0 {
		t.Fatalf("forged requests reached the backend: applies %d reboots %d", e.b.Applies, e.b.Reboots)
	}
	wantCode(t, c.do("POST", "/api/reboot", nil, "X-CSRF-Token", csrfToken(t, c)), http.StatusAccepted, "API reboot with header")
	if e.b.Reboots != 1 {
		t.Fatal("genuine reboot not done")
	}
}

var inlineScriptRE = regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]|\son[a-z]+\s*=|javascript:|<style`)

func TestSecurityHeaders(t *testing.T) {
	e, c := ready(t)
	anon := e.client("192.0.2.99:1")
	for _, tc := range []struct {
		c    *client
		path string
	}{{anon, "/login"}, {anon, "/static/app.js"}, {c, "/"}, {c, "/sip"}, {c, "/phone"}, {c, "/calls"}, {c, "/maintenance"}, {c, "/api/config"}, {c, "/api/status"}} {
		w := tc.c.get(tc.path)
		wantCode(t, w, http.StatusOK, tc.path)
		h := w.Header()
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", tc.path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP allows inline code: %q", tc.path, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", tc.path, h)
		}
		if !strings.HasPrefix(tc.path, "/static/") && h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", tc.path, h.Get("Cache-Control"))
		}
		if strings.HasPrefix(h.Get("Content-Type"), "text/html") && inlineScriptRE.MatchString(w.Body.String()) {
			t.Errorf("%s: inline script or style: %q", tc.path, inlineScriptRE.FindString(w.Body.String()))
		}
	}
}

func TestMetricsAuth(t *testing.T) {
	e := newEnv(t)
	anon := e.client("192.0.2.1:1")
	wantCode(t, anon.get("/metrics"), http.StatusForbidden, "metrics before setup")
	c := e.client("192.0.2.2:1")
	c.setup(testPassword)
	wantCode(t, anon.get("/metrics"), http.StatusUnauthorized, "metrics without session")
	e.b.Apply(t.Context(), withLine(e.b.Config()))
	e.b.SetLine(0, webui.LineStatus{Number: "7", Domain: "x.example", State: webui.LineRegistered})
	e.b.SetCall(&webui.CallStatus{Number: "5", Direction: "out", Since: e.clock.Now(), Codec: "PCMU", Loss: 0.02, JitterMS: 12, MOS: 4.1}, "off", "talking")
	e.b.SetXRuns(3)
	w := c.get("/metrics")
	wantCode(t, w, http.StatusOK, "metrics with session")
	body := w.Body.String()
	for _, want := range []string{
		`ata_line_registered{number="7",domain="x.example"} 1`,
		`ata_line_state{number="7",domain="x.example",state="failing"} 0`,
		"# TYPE ata_calls_total counter", "ata_call_active 1", "ata_call_rtp_loss_ratio 0.02",
		"ata_call_rtp_jitter_seconds 0.012", "ata_call_mos 4.1", "ata_uptime_seconds ", `ata_build_info{version="test-1"} 1`,
		"# TYPE ata_audio_xruns_total counter", "ata_audio_xruns_total 3",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	pub := newEnv(t, func(o *webui.Options) { o.MetricsPublic = true })
	pc := pub.client("192.0.2.3:1")
	pc.setup(testPassword)
	wantCode(t, pub.client("192.0.2.4:1").get("/metrics"), http.StatusOK, "public metrics without session")
}

// The event stream sends the status at once and again when Changes ticks,
// and unsubscribes when the client goes away.
func TestSSEUpdatesOnChange(t *testing.T) {
	e, c := ready(t)
	ts := httptest.NewServer(e.h)
	defer ts.Close()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", ts.URL+"/api/events", nil)
	req.AddCookie(&http.Cookie{Name: "ata_session", Value: c.session()})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		var ev strings.Builder
		for sc.Scan() {
			if sc.Text() == "" {
				events <- ev.String()
				ev.Reset()
				continue
			}
			ev.WriteString(sc.Text() + "\n")
		}
		close(events)
	}()
	next := func(what string) string {
		select {
		case ev := <-events:
			return ev
		case <-time.After(3 * time.Second):
			t.Fatalf("no event: %s", what)
		}
		return ""
	}
	if ev := next("initial"); !strings.HasPrefix(ev, "event: status\ndata: {") || strings.Contains(ev, "registered") {
		t.Fatalf("initial event: %q", ev)
	}
	e.b.SetLine(0, webui.LineStatus{Number: "1001", Domain: "example.net", State: webui.LineRegistered})
	ev := next("after the change")
	var st webui.StatusJSON
	if err := json.Unmarshal([]byte(strings.TrimPrefix(strings.TrimSpace(strings.SplitN(ev, "\n", 2)[1]), "data: ")), &st); err != nil {
		t.Fatalf("event %q: %v", ev, err)
	}
	if len(st.Lines) != 1 || st.Lines[0].State != "registered" || st.Lines[0].Text != "Registered" {
		t.Fatalf("event status: %+v", st.Lines)
	}
	if e.b.Subscribers() != 1 {
		t.Fatalf("subscribers %d", e.b.Subscribers())
	}
	resp.Body.Close()
	for deadline := time.Now().Add(2 * time.Second); e.b.Subscribers() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the stream did not unsubscribe after the client left")
		}
	}
}

func TestCallLogPages(t *testing.T) {
	e, c := ready(t)
	start := time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC)
	for i := range 30 {
		e.b.AddCalls(webui.CallRecord{Start: start.Add(time.Duration(i) * time.Hour), Direction: "out",
			Number: fmt.Sprintf("555%04d", i), Duration: 61, Cause: "normal", Codec: "PCMU", Loss: 0.01, JitterMS: 4, MOS: 4.2})
	}
	p1 := c.get("/calls").Body.String()
	if !strings.Contains(p1, "Calls 1–25 of 30") || strings.Index(p1, "5550029") > strings.Index(p1, "5550028") || strings.Contains(p1, "5550004") {
		t.Fatal("page 1 is not the newest 25, newest first")
	}
	for _, col := range []string{"Loss", "Jitter", "MOS", "1.0 %", "4 ms", "4.20", "1:01"} {
		if !strings.Contains(p1, col) {
			t.Errorf("page 1 lacks %q", col)
		}
	}
	p2 := c.get("/calls?page=2").Body.String()
	if !strings.Contains(p2, "5550004") || !strings.Contains(p2, "5550000") || strings.Contains(p2, "5550005") {
		t.Fatal("page 2 is not the oldest 5")
	}
	var api webui.CallsJSON
	json.Unmarshal(c.do("GET", "/api/calls?offset=2&limit=3", nil).Body.Bytes(), &api)
	if api.Total != 30 || len(api.Calls) != 3 || api.Calls[0].Number != "5550027" {
		t.Fatalf("api calls: %+v", api)
	}
	wantCode(t, c.do("GET", "/api/calls?limit=100000", nil), http.StatusBadRequest, "limit too large")
}

func TestMaintenanceActions(t *testing.T) {
	e, c := ready(t)
	page := c.get("/maintenance").Body.String()
	if !strings.Contains(page, "ata: started") || !strings.Contains(page, "Start capture") {
		t.Fatal("maintenance page lacks the log or the capture button")
	}
	wantCode(t, c.get("/maintenance/capture.pcap"), http.StatusNotFound, "pcap before any capture")
	wantRedirect(t, c.postPage("/maintenance", "/maintenance/capture/start", url.Values{}), "/maintenance", "start")
	if !e.b.CaptureStatus().Running {
		t.Fatal("capture not running")
	}
	wantRedirect(t, c.postPage("/maintenance", "/maintenance/capture/stop", url.Values{}), "/maintenance", "stop")
	w := c.get("/maintenance/capture.pcap")
	wantCode(t, w, http.StatusOK, "pcap")
	if w.Header().Get("Content-Type") != "application/vnd.tcpdump.pcap" || !bytes.HasPrefix(w.Body.Bytes(), []byte{0xd4, 0xc3, 0xb2, 0xa1}) {
		t.Fatalf("pcap: %s % x", w.Header().Get("Content-Type"), w.Body.Bytes()[:4])
	}
	wantCode(t, c.postPage("/maintenance", "/maintenance/reboot", url.Values{"confirm": {"1"}}), http.StatusOK, "reboot")
	if e.b.Reboots != 1 {
		t.Fatal("no reboot")
	}
}

// STUN Server and RTP Latching (Advanced) are saved, shown, and kept by a
// form that does not carry them.
func TestSIPSTUNAndLatching(t *testing.T) {
	e, c := ready(t)
	page := c.get("/sip?line=0").Body.String()
	if !strings.Contains(page, `name="stun_server"`) || !strings.Contains(page, `name="rtp_latching"`) {
		t.Fatal("the SIP page lacks STUN Server or RTP Latching")
	}
	f := sipForm()
	f.Set("stun_server", "stun.example.net:3479")
	f.Set("rtp_latching", "never")
	wantRedirect(t, c.postPage("/sip", "/sip", f), "/sip?line=0", "save")
	if s := e.b.Config().SIP; s.STUNServer != "stun.example.net:3479" || s.RTPLatching != "never" {
		t.Fatalf("saved stun_server %q, rtp_latching %q", s.STUNServer, s.RTPLatching)
	}
	page = c.get("/sip?line=0").Body.String()
	if !strings.Contains(page, `value="stun.example.net:3479"`) || !regexp.MustCompile(`value="never"[^>]*selected`).MatchString(page) {
		t.Fatal("the page does not show the saved STUN server and latching")
	}
	wantRedirect(t, c.postPage("/sip", "/sip", sipForm()), "/sip?line=0", "save")
	if s := e.b.Config().SIP; s.STUNServer != "stun.example.net:3479" || s.RTPLatching != "never" {
		t.Fatalf("a form without the fields changed them: stun_server %q, rtp_latching %q", s.STUNServer, s.RTPLatching)
	}
}
