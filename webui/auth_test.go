package webui_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/webui"
)

var pages = []string{"/", "/sip", "/phone", "/calls", "/maintenance", "/maintenance/config.toml"}
var apis = []struct{ method, path string }{
	{"GET", "/api/status"}, {"GET", "/api/events"}, {"GET", "/api/config"}, {"PUT", "/api/config"},
	{"GET", "/api/calls"}, {"GET", "/api/log"}, {"POST", "/api/reboot"}, {"POST", "/api/factory-reset"},
	{"POST", "/api/capture/start"}, {"GET", "/api/capture.pcap"}, {"GET", "/metrics"},
}

// Before the admin password is set, every page leads to the set-password
// page and every API (and /metrics) is refused.
func TestFirstBootLocksEverythingElse(t *testing.T) {
	e := newEnv(t)
	c := e.client("192.0.2.1:1")
	for _, p := range append(pages, "/login") {
		wantRedirect(t, c.get(p), "/setup", "GET "+p)
	}
	wantRedirect(t, c.post("/sip", url.Values{"number": {"1"}}), "/setup", "POST /sip")
	for _, a := range apis {
		w := c.do(a.method, a.path, strings.NewReader("{}"))
		wantCode(t, w, http.StatusForbidden, a.method+" "+a.path)
	}
	// Default credentials do nothing before setup either.
	wantRedirect(t, c.post("/login", url.Values{"username": {"admin"}, "password": {"admin"}}), "/setup", "POST /login")
	if c.session() != "" || e.b.Applies != 0 {
		t.Fatalf("first boot: session %q, applies %d", c.session(), e.b.Applies)
	}
	wantCode(t, c.get("/setup"), http.StatusOK, "GET /setup")
}

// Weak, common and mismatched passwords are refused and nothing is stored.
func TestSetupRefusesWeakPasswords(t *testing.T) {
	e := newEnv(t)
	c := e.client("192.0.2.1:1")
	for _, tc := range []struct{ pw, confirm, want string }{
		{"admin", "admin", "at least 12"},
		{"short pw", "short pw", "at least 12"},
		{"Password1234", "Password1234", "commonly used"},
		{"correcthorsebatterystaple", "correcthorsebatterystaple", "commonly used"},
		{"aaaaaaaaaaaaaa", "aaaaaaaaaaaaaa", "repeated or sequential"},
		{"abcabcabcabc", "abcabcabcabc", "repeated or sequential"},
		{"123456789012", "123456789012", "repeated or sequential"},
		{testPassword, testPassword + "x", "differ"},
	} {
		w := c.postPage("/setup", "/setup", url.Values{"password": {tc.pw}, "confirm": {tc.confirm}})
		wantCode(t, w, http.StatusUnprocessableEntity, "setup "+tc.pw)
		if !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("setup %q: page lacks %q", tc.pw, tc.want)
		}
		if c.session() != "" {
			t.Fatalf("setup %q: got a session", tc.pw)
		}
	}
	if _, err := os.Stat(filepath.Join(e.dir, webui.AdminFile)); !os.IsNotExist(err) {
		t.Fatalf("admin file exists after refused setups: %v", err)
	}
	wantRedirect(t, c.get("/"), "/setup", "still first boot")
}

// The first-boot form sets the password (hashed, on disk), logs in, and can
// never be used again to overwrite it; a new server on the same data
// directory knows the password.
func TestFirstBootFlow(t *testing.T) {
	e := newEnv(t)
	c := e.client("192.0.2.1:1")
	w := c.setup(testPassword)
	wantRedirect(t, w, "/sip", "setup")
	if c.session() == "" {
		t.Fatal("setup did not log in")
	}
	wantCode(t, c.get("/sip"), http.StatusOK, "SIP page after setup")

	data, err := os.ReadFile(filepath.Join(e.dir, webui.AdminFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "$argon2id$v=19$m=7168,t=5,p=1$") || strings.Contains(string(data), testPassword) {
		t.Fatalf("admin file should hold an argon2id hash and not the password: %s", data)
	}
	if fi, _ := os.Stat(filepath.Join(e.dir, webui.AdminFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin file mode %v, want 0600", fi.Mode().Perm())
	}

	// Setup is gone: another visitor cannot replace the password.
	other := e.client("198.51.100.7:1")
	wantRedirect(t, other.get("/setup"), "/login", "GET /setup after setup")
	tok := other.csrf("/login") // a valid pre-login token does not help
	wantRedirect(t, other.post("/setup", url.Values{"password": {"attacker chosen pw"}, "confirm": {"attacker chosen pw"}, "csrf": {tok}}), "/login", "POST /setup after setup")
	wantCode(t, other.login("admin", "attacker chosen pw"), http.StatusUnauthorized, "attacker password")

	// Restart: same directory, the password still works.
	srv2, err := webui.New(e.b, webui.Options{DataDir: e.dir, Clock: e.clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e.h = srv2.Handler()
	c2 := e.client("192.0.2.2:1")
	wantRedirect(t, c2.login("admin", testPassword), "/", "login after restart")
}

// A damaged admin file stops New instead of falling back to first boot.
func TestDamagedAdminFileIsAnError(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, webui.AdminFile), []byte(`{"password_hash":"x"`), 0o600)
	if _, err := webui.New(newEnv(t).b, webui.Options{DataDir: dir}); err == nil {
		t.Fatal("New accepted a damaged admin file")
	}
}

func TestLogin(t *testing.T) {
	e, setupClient := ready(t)
	_ = setupClient
	c := e.client("192.0.2.9:1")
	wantRedirect(t, c.get("/calls"), "/login?next=%2Fcalls", "not logged in")
	w := c.postPage("/login?next=%2Fcalls", "/login", url.Values{"username": {"admin"}, "password": {testPassword}, "next": {"/calls"}})
	wantRedirect(t, w, "/calls", "login with next")
	wantCode(t, c.get("/calls"), http.StatusOK, "calls after login")

	// next must stay on this server.
	c2 := e.client("192.0.2.10:1")
	w = c2.postPage("/login", "/login", url.Values{"username": {"admin"}, "password": {testPassword}, "next": {"//evil.example/x"}})
	if loc := w.Header().Get("Location"); loc != "/" {
		t.Fatalf("open redirect: Location %q", loc)
	}
}

// admin/admin and other defaults never log in, before or after setup.
func TestDefaultCredentialsNeverWork(t *testing.T) {
	e, _ := ready(t)
	for i, cred := range [][2]string{
		{"admin", "admin"}, {"admin", ""}, {"admin", "password"}, {"admin", "1234"}, {"root", "root"},
		{"admin", "admin1234567"}, {"user", "user"}, {"root", testPassword}, {"", testPassword},
	} {
		// A fresh address each time, so throttling is not what refuses them.
		c := e.client("203.0.113." + string(rune('1'+i)) + ":1")
		w := c.login(cred[0], cred[1])
		wantCode(t, w, http.StatusUnauthorized, cred[0]+"/"+cred[1])
		if c.session() != "" {
			t.Fatalf("%s/%s got a session", cred[0], cred[1])
		}
		wantRedirect(t, c.get("/"), "/login", "status after "+cred[0]+"/"+cred[1])
	}
}

// Login always issues a new 128-bit session id: a planted or old id is
// worthless afterwards.
func TestSessionRotation(t *testing.T) {
	e, _ := ready(t)
	c := e.client("192.0.2.20:1")
	planted := "00112233445566778899aabbccddeeff"
	c.cookies["ata_session"] = &http.Cookie{Name: "ata_session", Value: planted}
	wantRedirect(t, c.login("admin", testPassword), "/", "login 1")
	first := c.session()
	if first == planted || len(first) != 32 {
		t.Fatalf("session id %q: want 32 hex digits (128 bits), not the planted one", first)
	}
	// Log in again while the old session cookie is still sent.
	delete(c.cookies, "ata_session")
	tok := c.csrf("/login")
	c.cookies["ata_session"] = &http.Cookie{Name: "ata_session", Value: first}
	wantRedirect(t, c.post("/login", url.Values{"username": {"admin"}, "password": {testPassword}, "csrf": {tok}}), "/", "login 2")
	second := c.session()
	if second == first {
		t.Fatal("second login kept the session id")
	}
	old := e.client("192.0.2.20:2")
	old.cookies["ata_session"] = &http.Cookie{Name: "ata_session", Value: first}
	wantRedirect(t, old.get("/"), "/login", "old session id after re-login")
	wantCode(t, c.get("/"), http.StatusOK, "new session")
}

func TestSessionCookieFlags(t *testing.T) {
	e := newEnv(t)
	c := e.client("192.0.2.1:1")
	tok := c.csrf("/setup")
	form := url.Values{"password": {testPassword}, "confirm": {testPassword}, "csrf": {tok}}
	r := strings.NewReader(form.Encode())
	// Over TLS the cookie is Secure.
	w := c.do("POST", "https://ata.example/setup", r, "Content-Type", "application/x-www-form-urlencoded")
	var ck *http.Cookie
	for _, k := range w.Result().Cookies() {
		if k.Name == "ata_session" {
			ck = k
		}
	}
	if ck == nil {
		t.Fatalf("no session cookie: %d", w.Code)
	}
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || !ck.Secure || ck.Path != "/" {
		t.Fatalf("cookie flags: %+v", ck)
	}
	if w.Header().Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS over TLS")
	}
	// Plain HTTP (the usual LAN case): HttpOnly and SameSite, not Secure.
	c2 := e.client("192.0.2.2:1")
	w = c2.login("admin", testPassword)
	for _, k := range w.Result().Cookies() {
		if k.Name == "ata_session" && (k.Secure || !k.HttpOnly || k.SameSite != http.SameSiteStrictMode) {
			t.Fatalf("cookie over http: %+v", k)
		}
	}
}

func TestSessionIdleExpiry(t *testing.T) {
	e, c := ready(t)
	e.clock.Advance(webui.SessionIdle - time.Second)
	wantCode(t, c.get("/"), http.StatusOK, "just inside the idle limit")
	e.clock.Advance(webui.SessionIdle - time.Second) // the request above reset the idle timer
	wantCode(t, c.get("/"), http.StatusOK, "idle timer was reset")
	e.clock.Advance(webui.SessionIdle)
	wantRedirect(t, c.get("/"), "/login", "after the idle limit")
	wantCode(t, c.do("GET", "/api/status", nil), http.StatusUnauthorized, "API after the idle limit")
}

func TestSessionAbsoluteExpiry(t *testing.T) {
	e, c := ready(t)
	step := webui.SessionIdle / 2
	for elapsed := time.Duration(0); elapsed+step < webui.SessionAbsolute; elapsed += step {
		e.clock.Advance(step)
		if w := c.get("/"); w.Code != http.StatusOK {
			t.Fatalf("active session refused after %v: %d", elapsed+step, w.Code)
		}
	}
	e.clock.Advance(step)
	wantRedirect(t, c.get("/"), "/login", "after the absolute limit, though active")
}

func TestLogout(t *testing.T) {
	e, c := ready(t)
	id := c.session()
	// Logout is a state change: it needs the token too.
	wantCode(t, c.post("/logout", url.Values{}), http.StatusForbidden, "logout without CSRF")
	wantRedirect(t, c.postPage("/", "/logout", url.Values{}), "/login", "logout")
	if c.session() != "" {
		t.Fatal("logout did not clear the cookie")
	}
	old := e.client("192.0.2.1:2")
	old.cookies["ata_session"] = &http.Cookie{Name: "ata_session", Value: id}
	wantRedirect(t, old.get("/"), "/login", "session id after logout")
}

// After ThrottleFailures wrong passwords from one address, even the right
// password is refused (429) until the lockout ends; it doubles on each
// further failure; other addresses are unaffected.
func TestLoginThrottling(t *testing.T) {
	e, _ := ready(t)
	c := e.client("198.51.100.50:1234")
	for i := 1; i <= webui.ThrottleFailures; i++ {
		w := c.login("admin", "wrong password "+string(rune('a'+i)))
		want := http.StatusUnauthorized
		if i == webui.ThrottleFailures {
			want = http.StatusTooManyRequests
		}
		wantCode(t, w, want, "wrong password")
	}
	w := c.login("admin", testPassword)
	wantCode(t, w, http.StatusTooManyRequests, "right password during lockout")
	if ra := w.Header().Get("Retry-After"); ra != "30" {
		t.Fatalf("Retry-After %q, want 30", ra)
	}
	if c.session() != "" {
		t.Fatal("session during lockout")
	}
	// Another port of the same address is the same client; another address is not.
	wantCode(t, e.client("198.51.100.50:9999").login("admin", testPassword), http.StatusTooManyRequests, "same address, other port")
	other := e.client("198.51.100.51:1")
	wantRedirect(t, other.login("admin", testPassword), "/", "other address")

	e.clock.Advance(webui.ThrottleBase + time.Second)
	w = c.login("admin", "still wrong")
	wantCode(t, w, http.StatusTooManyRequests, "6th failure")
	if ra := w.Header().Get("Retry-After"); ra != "60" {
		t.Fatalf("second lockout Retry-After %q, want 60 (doubled)", ra)
	}
	e.clock.Advance(2*webui.ThrottleBase + time.Second)
	wantRedirect(t, c.login("admin", testPassword), "/", "right password after the lockout")
	// Success clears the count.
	wantCode(t, e.client("198.51.100.50:1").login("admin", "wrong again"), http.StatusUnauthorized, "count was reset")
}

// IPv6 clients are throttled per /64, so rotating addresses inside one
// subnet does not reset the count.
func TestLoginThrottlingIPv6Prefix(t *testing.T) {
	e, _ := ready(t)
	for i := range webui.ThrottleFailures {
		c := e.client("[2001:db8:1:2::" + string(rune('a'+i)) + "]:1")
		c.login("admin", "nope nope nope")
	}
	wantCode(t, e.client("[2001:db8:1:2::ffff]:1").login("admin", testPassword), http.StatusTooManyRequests, "same /64")
	wantRedirect(t, e.client("[2001:db8:1:3::1]:1").login("admin", testPassword), "/", "other /64")
}

func TestChangePassword(t *testing.T) {
	e, c := ready(t)
	other := e.client("192.0.2.77:1")
	wantRedirect(t, other.login("admin", testPassword), "/", "second browser")
	newPW := "a much better passphrase"

	w := c.postPage("/maintenance", "/maintenance/password", url.Values{"current": {"not it at all"}, "new": {newPW}, "confirm": {newPW}})
	wantCode(t, w, http.StatusUnauthorized, "wrong current password")
	w = c.postPage("/maintenance", "/maintenance/password", url.Values{"current": {testPassword}, "new": {"password1234"}, "confirm": {"password1234"}})
	wantCode(t, w, http.StatusUnprocessableEntity, "common new password")

	old := c.session()
	w = c.postPage("/maintenance", "/maintenance/password", url.Values{"current": {testPassword}, "new": {newPW}, "confirm": {newPW}})
	wantRedirect(t, w, "/maintenance", "change")
	if c.session() == "" || c.session() == old {
		t.Fatal("password change should issue a new session")
	}
	wantCode(t, c.get("/maintenance"), http.StatusOK, "own session after change")
	wantRedirect(t, other.get("/"), "/login", "other session after change")
	wantCode(t, e.client("192.0.2.78:1").login("admin", testPassword), http.StatusUnauthorized, "old password")
	wantRedirect(t, e.client("192.0.2.79:1").login("admin", newPW), "/", "new password")
}

func TestFactoryResetNeedsPassword(t *testing.T) {
	e, c := ready(t)
	w := c.postPage("/maintenance", "/maintenance/factory-reset", url.Values{"password": {"wrong wrong wrong"}, "confirm": {"1"}})
	wantCode(t, w, http.StatusUnauthorized, "factory reset, wrong password")
	if e.b.Resets != 0 {
		t.Fatal("reset with a wrong password")
	}
	w = c.postPage("/maintenance", "/maintenance/factory-reset", url.Values{"password": {testPassword}, "confirm": {"1"}})
	wantRedirect(t, w, "/setup", "factory reset")
	if e.b.Resets != 1 {
		t.Fatalf("resets %d", e.b.Resets)
	}
	if _, err := os.Stat(filepath.Join(e.dir, webui.AdminFile)); !os.IsNotExist(err) {
		t.Fatal("admin file survived the factory reset")
	}
	wantRedirect(t, c.get("/"), "/setup", "after reset")
	wantCode(t, c.get("/setup"), http.StatusOK, "first boot again")
}
