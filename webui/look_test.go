package webui_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/webui"
)

// An unknown address is a 404 page in the layout with the way on for
// where the visitor stands; under /api/ a JSON 404; a known address with
// the wrong method stays a 405.
func TestNotFound(t *testing.T) {
	e := newEnv(t)
	visitor := e.client("192.0.2.30:1")

	w := visitor.get("/no-such-page")
	wantCode(t, w, http.StatusNotFound, "first boot")
	page := w.Body.String()
	for _, want := range []string{"<title>Page not found · openata</title>", `<link rel="stylesheet" href="/static/style.css">`,
		`id="not-found"`, "There is no page at <code class=\"path\">/no-such-page</code>", `<a href="/setup">Set the admin password</a>`} {
		if !strings.Contains(page, want) {
			t.Errorf("first boot 404 lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, `aria-label="Main"`) || strings.Contains(page, `href="/login"`) {
		t.Error("first boot 404 shows the menu or a login")
	}
	if w.Header().Get("Content-Security-Policy") == "" || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Errorf("404 headers: %v", w.Header())
	}

	_, c := ready(t)
	e = c.e
	visitor = e.client("192.0.2.31:1")
	w = visitor.get("/stauts?x=1")
	wantCode(t, w, http.StatusNotFound, "logged out")
	page = w.Body.String()
	if !strings.Contains(page, `<a href="/">Status</a>`) || !strings.Contains(page, `<a href="/login">Log in</a>`) ||
		strings.Contains(page, `aria-label="Main"`) || strings.Contains(page, "/setup") {
		t.Errorf("logged-out 404:\n%s", page)
	}

	w = c.get("/sip/line/7")
	wantCode(t, w, http.StatusNotFound, "logged in")
	page = w.Body.String()
	if !strings.Contains(page, `<a href="/">Status</a>`) || strings.Contains(page, `href="/login"`) ||
		!strings.Contains(page, `aria-label="Main"`) || !strings.Contains(page, "Log out") {
		t.Errorf("logged-in 404:\n%s", page)
	}
	wantCode(t, c.do("POST", "/nowhere", nil), http.StatusNotFound, "POST to an unknown page")

	// What the address says is text, and a long one is cut.
	w = c.get("/%3Cscript%3Ex/" + strings.Repeat("a", 5000))
	wantCode(t, w, http.StatusNotFound, "hostile path")
	if page = w.Body.String(); strings.Contains(page, "<script>x") || !strings.Contains(page, "&lt;script&gt;x/aaa") ||
		strings.Contains(page, strings.Repeat("a", 200)) {
		t.Errorf("hostile path shown as: %.600s", page[strings.Index(page, "<main"):])
	}

	// A form's address opened as a page: 405, same layout, Allow.
	w = c.get("/maintenance/reboot")
	wantCode(t, w, http.StatusMethodNotAllowed, "GET of a POST route")
	if w.Header().Get("Allow") != "POST" || !strings.Contains(w.Body.String(), "not a page to open") {
		t.Errorf("405: Allow %q\n%s", w.Header().Get("Allow"), w.Body.String())
	}

	for _, tc := range []struct {
		method, path string
		code         int
		allow, msg   string
	}{
		{"GET", "/api/nope", http.StatusNotFound, "", "no such API endpoint: /api/nope"},
		{"POST", "/api/status/x", http.StatusNotFound, "", "no such API endpoint: /api/status/x"},
		{"DELETE", "/api/status", http.StatusMethodNotAllowed, "GET", "DELETE is not allowed on /api/status"},
		{"GET", "/api/reboot", http.StatusMethodNotAllowed, "POST", "GET is not allowed on /api/reboot"},
	} {
		w := c.do(tc.method, tc.path, nil, "X-CSRF-Token", csrfToken(t, c))
		wantCode(t, w, tc.code, tc.method+" "+tc.path)
		var body struct{ Error string }
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || !strings.Contains(body.Error, tc.msg) ||
			!strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") || w.Header().Get("Allow") != tc.allow {
			t.Errorf("%s %s: %s %q (%v) Allow %q", tc.method, tc.path, w.Header().Get("Content-Type"), w.Body.String(), err, w.Header().Get("Allow"))
		}
	}
	// The known routes still answer.
	wantCode(t, c.get("/api/status"), http.StatusOK, "api status")
	wantCode(t, c.get("/static/style.css"), http.StatusOK, "style")
	wantCode(t, c.get("/static/nojs.css"), http.StatusOK, "nojs style")
	wantCode(t, c.get("/"), http.StatusOK, "status")
}

var (
	openConfirmRE = regexp.MustCompile(`<div class="notice [a-z]+ confirm" id="confirm-(restart|reset)" role="alertdialog"[^>]*>`)
	hiddenStepRE  = regexp.MustCompile(`<form [^>]*id="(restart-step|reset-step|restart-needed)"[^>]* hidden>`)
)

// openConfirms lists the in-page confirmations a page shows open, and the
// first steps it hides.
func openConfirms(page string) (open, hiddenSteps []string) {
	for _, m := range openConfirmRE.FindAllStringSubmatch(page, -1) {
		if !strings.HasSuffix(m[0], " hidden>") {
			open = append(open, m[1])
		}
	}
	for _, m := range hiddenStepRE.FindAllStringSubmatch(page, -1) {
		hiddenSteps = append(hiddenSteps, m[1])
	}
	return open, hiddenSteps
}

// A restart acts only on the confirmation's post (confirm=1): the first
// button's post, or a crafted single one, only opens the confirmation.
func TestRestartNeedsConfirmation(t *testing.T) {
	e, c := ready(t)
	if open, hidden := openConfirms(c.get("/maintenance").Body.String()); len(open) != 0 || len(hidden) != 0 {
		t.Fatalf("maintenance page opens with confirmations %v, first steps hidden %v", open, hidden)
	}
	w := c.postPage("/maintenance", "/maintenance/reboot", url.Values{})
	wantRedirect(t, w, "/maintenance?confirm=restart#confirm-restart", "restart without confirm")
	w = c.postPage("/maintenance", "/maintenance/reboot", url.Values{"confirm": {"yes"}})
	wantRedirect(t, w, "/maintenance?confirm=restart#confirm-restart", "restart with confirm=yes")
	if e.b.Reboots != 0 {
		t.Fatal("restarted without the confirmation")
	}
	page := c.get("/maintenance?confirm=restart").Body.String()
	if open, hidden := openConfirms(page); strings.Join(open, ",") != "restart" || strings.Join(hidden, ",") != "restart-step" {
		t.Fatalf("confirmation page: open %v, hidden %v", open, hidden)
	}
	for _, want := range []string{"Restart the adapter now?", "A call in progress ends", `name="confirm" value="1"`, `<a class="button" href="/maintenance" data-cancel="restart-step">Cancel</a>`} {
		if !strings.Contains(page, want) {
			t.Errorf("confirmation lacks %q", want)
		}
	}
	if strings.Contains(page, "data-confirm=") || strings.Contains(page, "window.confirm") {
		t.Error("a script dialog is still asked for")
	}

	// The Status page's Restart (restart-needed keys) asks in its own page.
	e.b.Lock()
	e.b.RestartNeeded = []string{"web.listen"}
	e.b.Unlock()
	if open, hidden := openConfirms(c.get("/").Body.String()); len(open) != 0 || len(hidden) != 0 {
		t.Fatalf("status page opens with confirmations %v, hidden %v", open, hidden)
	}
	w = c.postPage("/", "/maintenance/reboot", url.Values{"from": {"status"}})
	wantRedirect(t, w, "/?confirm=restart#confirm-restart", "status restart without confirm")
	if e.b.Reboots != 0 {
		t.Fatal("restarted from the status page without the confirmation")
	}
	page = c.get("/?confirm=restart").Body.String()
	if open, hidden := openConfirms(page); strings.Join(open, ",") != "restart" || strings.Join(hidden, ",") != "restart-needed" {
		t.Fatalf("status confirmation: open %v, hidden %v", open, hidden)
	}

	wantCode(t, c.postPage("/", "/maintenance/reboot", url.Values{"confirm": {"1"}}), http.StatusOK, "confirmed restart")
	if e.b.Reboots != 1 {
		t.Fatalf("reboots %d after the confirmation", e.b.Reboots)
	}
}

// A factory reset, too, acts only on the confirmation's post, which asks
// for the password; a wrong one shows the confirmation again, open.
func TestFactoryResetNeedsConfirmation(t *testing.T) {
	e, c := ready(t)
	w := c.postPage("/maintenance", "/maintenance/factory-reset", url.Values{"password": {testPassword}})
	wantRedirect(t, w, "/maintenance?confirm=reset#confirm-reset", "reset without confirm")
	if e.b.Resets != 0 {
		t.Fatal("reset without the confirmation")
	}
	wantCode(t, c.get("/"), http.StatusOK, "still set up and logged in")
	page := c.get("/maintenance?confirm=reset").Body.String()
	if open, hidden := openConfirms(page); strings.Join(open, ",") != "reset" || strings.Join(hidden, ",") != "reset-step" {
		t.Fatalf("reset confirmation: open %v, hidden %v", open, hidden)
	}
	w = c.postPage("/maintenance", "/maintenance/factory-reset", url.Values{"password": {"not the password"}, "confirm": {"1"}})
	wantCode(t, w, http.StatusUnauthorized, "wrong password")
	if open, _ := openConfirms(w.Body.String()); strings.Join(open, ",") != "reset" || !strings.Contains(w.Body.String(), `id="e-reset_password"`) {
		t.Fatalf("wrong password: confirmation %v\n%s", open, w.Body.String())
	}
	wantRedirect(t, c.postPage("/maintenance", "/maintenance/factory-reset", url.Values{"password": {testPassword}, "confirm": {"1"}}), "/setup", "confirmed reset")
	if e.b.Resets != 1 {
		t.Fatalf("resets %d", e.b.Resets)
	}
}

// The Maintenance page shows the firmware log newest first, and says so.
func TestLogNewestFirst(t *testing.T) {
	e, c := ready(t)
	e.clock.Advance(time.Second)
	e.b.StartCapture()
	e.b.StopCapture()
	want := e.b.LogLines(webui.LogViewLines) // oldest first
	if len(want) < 3 {
		t.Fatalf("log: %q", want)
	}
	page := c.get("/maintenance").Body.String()
	if !strings.Contains(page, "newest first") || strings.Contains(page, "oldest first") {
		t.Error("the page does not say the order")
	}
	pre := regexp.MustCompile(`(?s)<pre class="log"[^>]*>(.*?)</pre>`).FindStringSubmatch(page)
	if pre == nil {
		t.Fatal("no log")
	}
	got := strings.Split(strings.TrimSuffix(pre[1], "\n"), "\n")
	if len(got) != len(want) {
		t.Fatalf("%d lines shown, %d in the log", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[len(want)-1-i] {
			t.Fatalf("line %d: %q, want %q (newest first)\n%s", i, got[i], want[len(want)-1-i], pre[1])
		}
	}
	if !strings.Contains(got[0], "capture: stopped") || !strings.Contains(got[len(got)-1], "ata: started") {
		t.Fatalf("order: %q", got)
	}
	// The backend's own order is left alone (the API keeps oldest first).
	if again := e.b.LogLines(webui.LogViewLines); again[0] != want[0] {
		t.Fatal("the backend's log was reordered")
	}
}

var helpButtonRE = regexp.MustCompile(`<button type="button" class="help-toggle" aria-expanded="(true|false)" aria-controls="h-([a-z0-9_]+)">`)

// A field's help is behind a "?" button, open from the start where the
// field has an error; the input still names it in aria-describedby. Text
// inputs that set one config key carry its length limit.
func TestFieldHelpOnDemand(t *testing.T) {
	_, c := ready(t)
	for _, path := range []string{"/sip", "/phone", "/features"} {
		page := c.get(path).Body.String()
		buttons := helpButtonRE.FindAllStringSubmatch(page, -1)
		if len(buttons) < 5 {
			t.Fatalf("%s: %d help buttons", path, len(buttons))
		}
		for _, b := range buttons {
			id := b[2]
			if b[1] != "false" {
				t.Errorf("%s: %s's help starts open without an error", path, id)
			}
			if !strings.Contains(page, `<p class="help" id="h-`+id+`" hidden>`) {
				t.Errorf("%s: %s's help is not hidden", path, id)
			}
			if id != "resend" && !regexp.MustCompile(`id="f-`+id+`"[^>]*aria-describedby="h-`+id+`"`).MatchString(page) {
				t.Errorf("%s: f-%s is not described by its help", path, id)
			}
		}
		if n := strings.Count(page, `class="help"`); n != len(buttons) {
			t.Errorf("%s: %d help texts, %d buttons", path, n, len(buttons))
		}
	}

	// An error: the help is open, the error and the help describe the input.
	form := url.Values{"line": {"0"}, "number": {"1001"}, "service_domain": {"example.net"}, "local_port": {"5060"},
		"server_port": {"99999"}, "expires": {"3600"}, "transport": {"udp"}, "codec1": {"PCMU"}, "dtmf_mode": {"rfc4733"},
		"ptime": {"20"}, "dial_plan": {"(xx.T)"}, "keepalive": {"30"}, "keepalive_method": {"crlf"}, "display_name": {"Kitchen"}}
	w := c.postPage("/sip", "/sip", form)
	wantCode(t, w, http.StatusUnprocessableEntity, "bad port")
	page := w.Body.String()
	if !strings.Contains(page, `aria-expanded="true" aria-controls="h-server_port"`) || !strings.Contains(page, `<p class="help" id="h-server_port">`) ||
		!strings.Contains(page, `aria-describedby="e-server_port h-server_port"`) {
		t.Errorf("the invalid field's help is not open:\n%s", page)
	}
	if !strings.Contains(page, `aria-expanded="false" aria-controls="h-number"`) {
		t.Error("a valid field's help opened too")
	}

	sip := c.get("/sip").Body.String()
	for id, max := range map[string]int{"number": 64, "display_name": 64, "auth_user": 64, "voicemail_number": 32,
		"service_domain": 259, "server_host": 253, "proxy_host": 253, "password": 128, "dial_plan": 1024} {
		if !regexp.MustCompile(`id="f-` + id + `"[^>]* maxlength="` + strconv.Itoa(max) + `"`).MatchString(sip) {
			t.Errorf("sip: f-%s has no maxlength %d", id, max)
		}
	}
	features := c.get("/features").Body.String()
	for _, id := range []string{"forward_always", "forward_busy", "forward_no_answer", "hotline"} {
		if !regexp.MustCompile(`id="f-` + id + `"[^>]* maxlength="32"`).MatchString(features) {
			t.Errorf("features: f-%s has no maxlength 32", id)
		}
	}
	if !regexp.MustCompile(`id="f-ring_cadence"[^>]* maxlength="128"`).MatchString(c.get("/phone").Body.String()) {
		t.Error("phone: ring cadence has no maxlength")
	}
}

// Idle, the Status page's lines and phone cards are one line each; the
// ids the live update fills are there either way.
func TestStatusCompactWhenIdle(t *testing.T) {
	e, c := ready(t)
	page := c.get("/").Body.String()
	for _, want := range []string{
		`<section class="card wide idle" aria-labelledby="h-lines" id="lines-card">`,
		`<table class="lines" hidden>`, `<p class="empty" id="no-lines">No SIP account yet. <a href="/sip">Set one up</a>.</p>`,
		`<section class="card wide idle" aria-labelledby="h-phone" id="phone-card">`,
		`<p class="muted empty">No call.</p>`,
		`<span id="hook">On hook</span>`, `<span id="phone-state">idle</span>`, `<tbody id="lines">`, `<div id="calls">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("idle status page lacks %q", want)
		}
	}
	if strings.Contains(page, `id="health"`) {
		t.Error("idle status page shows the attention card")
	}

	// A line and calls: the cards are full, no longer idle.
	form := url.Values{"line": {"0"}, "active": {"on"}, "number": {"1001"}, "service_domain": {"example.net"}, "local_port": {"5060"},
		"expires": {"3600"}, "transport": {"udp"}, "codec1": {"PCMU"}, "dtmf_mode": {"rfc4733"},
		"ptime": {"20"}, "dial_plan": {"(xx.T)"}, "keepalive": {"30"}, "keepalive_method": {"crlf"}}
	wantRedirect(t, c.postPage("/sip", "/sip", form), "/sip", "save a line")
	e.b.SetCalls(threeCalls(e.clock.Now()), "off", "talking")
	page = c.get("/").Body.String()
	for _, want := range []string{
		`<section class="card wide" aria-labelledby="h-lines" id="lines-card">`, `<table class="lines">`, `<td class="aor">1001@example.net</td>`,
		`<p class="empty" id="no-lines" hidden>`,
		`<section class="card wide" aria-labelledby="h-phone" id="phone-card">`, `<span id="hook">Off hook</span>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("busy status page lacks %q", want)
		}
	}
	if strings.Contains(page, "No call.") {
		t.Error("busy status page says there is no call")
	}
}
