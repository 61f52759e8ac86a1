// Package webui is the firmware's web interface: status with live updates,
// SIP account and phone settings, call log and maintenance, with a JSON API
// and Prometheus metrics on the same authentication.
//
// Security model: there is no default password. Until the admin sets one
// (at least MinPasswordLen characters, not on an embedded list of common
// passwords) every page redirects to /setup and every API answers 403. The
// password is kept as an argon2id hash in DataDir/admin.json. Sessions are
// 128-bit random ids in an HttpOnly, SameSite=Strict cookie, replaced at
// login, ending after SessionIdle without use or SessionAbsolute in all.
// Every state-changing request needs the session's CSRF token (form field
// "csrf" or header X-CSRF-Token) and is refused cross-origin. Logins are
// throttled per client address (see ThrottleFailures).
package webui

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure a Server.
type Options struct {
	// DataDir is where admin.json (password hash, CSRF secret) lives.
	DataDir string
	// Version is shown in the footer, /api/status and /metrics.
	Version string
	// MetricsPublic serves /metrics without a login (the config's
	// web.metrics_public does the same).
	MetricsPublic bool
	// Clock gives the time; nil means time.Now. Sessions and throttling use it.
	Clock func() time.Time
	// Logger gets logins, lockouts and saves; nil means slog.Default().
	Logger *slog.Logger
}

// Server is the web UI. Create it with New, serve its Handler.
type Server struct {
	b        Backend
	opt      Options
	now      func() time.Time
	log      *slog.Logger
	admin    *adminStore
	sessions *sessionStore
	throttle *throttle
	pages    map[string]*template.Template
	handler  http.Handler
}

// Cookie names.
const (
	sessionCookie = "ata_session"
	preCookie     = "ata_pre" // nonce of the pre-login CSRF token
	maxFormBytes  = 256 << 10 // a config upload is a few KiB
)

// New builds the web UI on backend. It reads (or starts without)
// DataDir/admin.json; a damaged admin file is an error.
func New(backend Backend, opt Options) (*Server, error) {
	if backend == nil {
		return nil, errors.New("webui: nil backend")
	}
	if opt.DataDir == "" {
		return nil, errors.New("webui: Options.DataDir is empty")
	}
	admin, err := openAdminStore(opt.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Server{
		b: backend, opt: opt, now: opt.Clock, log: opt.Logger, admin: admin,
		sessions: newSessionStore(), throttle: newThrottle(),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	s.handler = s.routes()
	return s, nil
}

// Handler serves the whole UI, API and /metrics.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticFiles(http.FileServerFS(static))))

	mux.HandleFunc("GET /setup", s.setupPage)
	mux.HandleFunc("POST /setup", s.setupPost)
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.loginPost)
	mux.HandleFunc("POST /logout", s.page(s.logout))

	mux.HandleFunc("GET /{$}", s.page(s.statusPage))
	mux.HandleFunc("GET /sip", s.page(s.sipPage))
	mux.HandleFunc("POST /sip", s.page(s.sipPost))
	mux.HandleFunc("POST /sip/delete", s.page(s.sipDeletePost))
	mux.HandleFunc("GET /phone", s.page(s.phonePage))
	mux.HandleFunc("POST /phone", s.page(s.phonePost))
	mux.HandleFunc("GET /features", s.page(s.featuresPage))
	mux.HandleFunc("POST /features", s.page(s.featuresPost))
	mux.HandleFunc("GET /calls", s.page(s.callsPage))
	mux.HandleFunc("GET /system", s.page(s.systemPage))
	mux.HandleFunc("POST /system", s.page(s.systemPost))
	s.routerRoutes(mux)
	mux.HandleFunc("GET /maintenance", s.page(s.maintenancePage))
	mux.HandleFunc("POST /maintenance/password", s.page(s.passwordPost))
	mux.HandleFunc("GET /maintenance/config.toml", s.page(s.configDownload))
	mux.HandleFunc("POST /maintenance/config", s.page(s.configUpload))
	mux.HandleFunc("POST /maintenance/reboot", s.page(s.rebootPost))
	mux.HandleFunc("POST /maintenance/factory-reset", s.page(s.factoryResetPost))
	mux.HandleFunc("POST /maintenance/capture/start", s.page(s.captureStartPost))
	mux.HandleFunc("POST /maintenance/capture/stop", s.page(s.captureStopPost))
	mux.HandleFunc("GET /maintenance/capture.pcap", s.page(s.pcapDownload))

	mux.HandleFunc("GET /api/session", s.api(s.apiSession))
	mux.HandleFunc("GET /api/status", s.api(s.apiStatus))
	mux.HandleFunc("GET /api/events", s.api(s.apiEvents))
	mux.HandleFunc("GET /api/config", s.api(s.apiConfigGet))
	mux.HandleFunc("PUT /api/config", s.api(s.apiConfigPut))
	mux.HandleFunc("GET /api/calls", s.api(s.apiCalls))
	mux.HandleFunc("GET /api/log", s.api(s.apiLog))
	mux.HandleFunc("POST /api/password", s.api(s.apiPassword))
	mux.HandleFunc("POST /api/reboot", s.api(s.apiReboot))
	mux.HandleFunc("POST /api/factory-reset", s.api(s.apiFactoryReset))
	mux.HandleFunc("GET /api/capture", s.api(s.apiCaptureStatus))
	mux.HandleFunc("POST /api/capture/start", s.api(s.apiCaptureStart))
	mux.HandleFunc("POST /api/capture/stop", s.api(s.apiCaptureStop))
	mux.HandleFunc("GET /api/capture.pcap", s.api(s.pcapDownload))
	s.updateRoutes(mux)
	mux.HandleFunc("GET /metrics", s.metrics)
	mux.HandleFunc("GET /confirm/{token}", s.confirm)
	// Every other address: a 404 page with the way on, JSON under /api/.
	mux.HandleFunc("/", s.notFound(mux))
	mux.HandleFunc("/api/", s.apiNotFound(mux))

	// Browsers' cross-origin unsafe requests are refused before any
	// handler runs; the CSRF token is the second, independent check.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))
	return securityHeaders(cop.Handler(mux))
}

// csp allows only this origin's script and style files: no inline script,
// no framing, forms post only here.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		// Pages show settings and a session's CSRF token: never cache.
		// Static files override this.
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

func staticFiles(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache") // revalidate: a firmware update changes them
		next.ServeHTTP(w, r)
	})
}

// handlerFunc is a handler behind the login.
type handlerFunc func(http.ResponseWriter, *http.Request, *session)

// page guards an HTML page: first boot redirects to /setup, no session to
// /login, and unsafe methods need the CSRF token.
func (s *Server) page(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.admin.isSet() {
			http.Redirect(w, r, "/setup", http.StatusSeeOther)
			return
		}
		ss := s.session(r, true)
		if ss == nil {
			next := r.URL.RequestURI()
			if r.Method != http.MethodGet {
				next = r.URL.Path
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		}
		r, tooLarge := readBody(r)
		if tooLarge != "" {
			s.renderError(w, http.StatusRequestEntityTooLarge, tooLarge)
			return
		}
		if !s.csrfOK(r, ss) {
			s.renderError(w, http.StatusForbidden, "This form has expired or did not come from this page. Go back, reload the page and try again.")
			return
		}
		h(w, r, ss)
	}
}

// api guards a JSON endpoint: 403 before the admin password is set, 401
// without a session, 403 without the CSRF header on unsafe methods.
func (s *Server) api(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.admin.isSet() {
			writeJSONError(w, http.StatusForbidden, "set the admin password first (open /setup)", nil)
			return
		}
		// The event stream does not count as use: an open status page
		// must not keep a session alive forever.
		ss := s.session(r, r.URL.Path != "/api/events")
		if ss == nil {
			writeJSONError(w, http.StatusUnauthorized, "log in first", nil)
			return
		}
		if !s.csrfOK(r, ss) {
			writeJSONError(w, http.StatusForbidden, "missing or wrong CSRF token (X-CSRF-Token header)", nil)
			return
		}
		h(w, r, ss)
	}
}

// session returns the request's live session, or nil.
func (s *Server) session(r *http.Request, touch bool) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	return s.sessions.get(c.Value, s.now(), touch)
}

func isSafeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// csrfOK checks the token of an unsafe request: the X-CSRF-Token header
// (JavaScript) or the "csrf" form field. Multipart forms are parsed here
// with a size cap.
func (s *Server) csrfOK(r *http.Request, ss *session) bool {
	if isSafeMethod(r.Method) {
		return true
	}
	if tok := r.Header.Get("X-CSRF-Token"); tok != "" {
		return equalTokens(tok, ss.csrf)
	}
	if !parseForm(r) {
		return false
	}
	return equalTokens(r.PostFormValue("csrf"), ss.csrf)
}

// parseForm parses a urlencoded or multipart body of at most maxFormBytes.
func parseForm(r *http.Request) bool {
	if r.PostForm != nil {
		return true
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxFormBytes)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		return r.ParseMultipartForm(maxFormBytes) == nil
	}
	return r.ParseForm() == nil
}

func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, ss *session) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: ss.id, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
		MaxAge: int(SessionAbsolute / time.Second),
	})
}

func clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
}

// startSession replaces any session of the request with a new one (a new id
// at every login: no session fixation).
func (s *Server) startSession(w http.ResponseWriter, r *http.Request) *session {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.sessions.delete(c.Value)
	}
	ss := s.sessions.create(s.now())
	s.setSessionCookie(w, r, ss)
	clearCookie(w, r, preCookie)
	return ss
}

// preSessionToken returns the CSRF token for the login and setup forms,
// setting the nonce cookie it is bound to when the request has none.
func (s *Server) preSessionToken(w http.ResponseWriter, r *http.Request) string {
	nonce := ""
	if c, err := r.Cookie(preCookie); err == nil && len(c.Value) == 32 {
		nonce = c.Value
	} else {
		nonce = randomID()
		http.SetCookie(w, &http.Cookie{
			Name: preCookie, Value: nonce, Path: "/",
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
		})
	}
	return s.admin.preToken(nonce)
}

func (s *Server) preSessionOK(r *http.Request) bool {
	c, err := r.Cookie(preCookie)
	if err != nil || !parseForm(r) {
		return false
	}
	return equalTokens(r.PostFormValue("csrf"), s.admin.preToken(c.Value))
}

// localPath accepts only a path on this server as a redirect target.
func localPath(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// apiError is the body of every API error.
type apiError struct {
	Error  string            `json:"error"`
	Fields map[string]string `json:"fields,omitempty"` // config key → message
}

func writeJSONError(w http.ResponseWriter, status int, msg string, fields map[string]string) {
	writeJSON(w, status, apiError{Error: msg, Fields: fields})
}

func (s *Server) clientAddr(r *http.Request) string { return clientKey(r.RemoteAddr).String() }

func (s *Server) logf(r *http.Request, msg string, args ...any) {
	s.log.Info("webui: "+msg, append([]any{"client", s.clientAddr(r)}, args...)...)
}

func retryAfter(d time.Duration) string {
	return fmt.Sprint(int((d + time.Second - 1) / time.Second))
}
