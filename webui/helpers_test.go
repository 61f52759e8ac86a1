package webui_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openata/ata/webui"
	"github.com/openata/ata/webui/internal/fakebackend"
)

// testPassword is a valid admin password.
const testPassword = "correct horse battery"

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	t     *testing.T
	dir   string
	b     *fakebackend.Backend
	clock *fakeClock
	srv   *webui.Server
	h     http.Handler
}

func newEnv(t *testing.T, opts ...func(*webui.Options)) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), clock: &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}}
	e.b = fakebackend.New(nil)
	e.b.RegisterDelay = 20 * time.Millisecond
	t.Cleanup(e.b.Close)
	o := webui.Options{DataDir: e.dir, Version: "test-1", Clock: e.clock.Now, Logger: slog.New(slog.DiscardHandler)}
	for _, f := range opts {
		f(&o)
	}
	srv, err := webui.New(e.b, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.srv, e.h = srv, srv.Handler()
	return e
}

// client is a browser stand-in: it keeps cookies and a remote address.
type client struct {
	e       *env
	remote  string
	cookies map[string]*http.Cookie
}

func (e *env) client(remote string) *client {
	return &client{e: e, remote: remote, cookies: map[string]*http.Cookie{}}
}

func (c *client) do(method, target string, body io.Reader, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, body)
	r.RemoteAddr = c.remote
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	for _, ck := range c.cookies {
		r.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	w := httptest.NewRecorder()
	c.e.h.ServeHTTP(w, r)
	for _, ck := range w.Result().Cookies() {
		if ck.MaxAge < 0 {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck
		}
	}
	return w
}

func (c *client) get(target string) *httptest.ResponseRecorder { return c.do("GET", target, nil) }

func (c *client) post(target string, form url.Values) *httptest.ResponseRecorder {
	return c.do("POST", target, strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf loads a page and returns its form's CSRF token.
func (c *client) csrf(page string) string {
	c.e.t.Helper()
	w := c.get(page)
	m := csrfRE.FindStringSubmatch(w.Body.String())
	if m == nil {
		c.e.t.Fatalf("GET %s (%d): no csrf field in %.300s", page, w.Code, w.Body.String())
	}
	return m[1]
}

// postPage posts a form with the CSRF token of the page it is on.
func (c *client) postPage(page, target string, form url.Values) *httptest.ResponseRecorder {
	form.Set("csrf", c.csrf(page))
	return c.post(target, form)
}

func (c *client) session() string {
	if ck := c.cookies["ata_session"]; ck != nil {
		return ck.Value
	}
	return ""
}

// setup sets the admin password through the first-boot page.
func (c *client) setup(pw string) *httptest.ResponseRecorder {
	return c.postPage("/setup", "/setup", url.Values{"password": {pw}, "confirm": {pw}})
}

func (c *client) login(user, pw string) *httptest.ResponseRecorder {
	return c.postPage("/login", "/login", url.Values{"username": {user}, "password": {pw}})
}

// ready returns an env whose admin password is set and a logged-in client.
func ready(t *testing.T, opts ...func(*webui.Options)) (*env, *client) {
	t.Helper()
	e := newEnv(t, opts...)
	c := e.client("192.0.2.1:40000")
	if w := c.setup(testPassword); w.Code != http.StatusSeeOther || c.session() == "" {
		t.Fatalf("setup: %d %s", w.Code, w.Body.String())
	}
	return e, c
}

func wantCode(t *testing.T, w *httptest.ResponseRecorder, code int, what string) {
	t.Helper()
	if w.Code != code {
		t.Fatalf("%s: status %d, want %d; body: %.500s", what, w.Code, code, w.Body.String())
	}
}

func wantRedirect(t *testing.T, w *httptest.ResponseRecorder, prefix, what string) {
	t.Helper()
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), prefix) {
		t.Fatalf("%s: %d to %q, want 303 to %s…", what, w.Code, w.Header().Get("Location"), prefix)
	}
}
