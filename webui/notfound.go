package webui

import (
	"net/http"
	"strings"
	"unicode/utf8"
)

// notFoundData is what the "notfound" page shows: the address that has no
// page, and the way on for where the visitor stands (first boot, logged
// out, logged in).
type notFoundData struct {
	Path     string
	Allow    string // the methods the address takes, for a 405
	Setup    bool   // the admin password is not set yet
	LoggedIn bool
}

// probeMethods are the methods a route of this server uses.
var probeMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut}

// allowedMethods lists the methods with which a request to r's path would
// reach a route other than the catch-alls, so that a known address asked
// with the wrong method still gets a 405, not a 404.
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var out []string
	for _, m := range probeMethods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" && pattern != "/api/" {
			out = append(out, m)
		}
	}
	return out
}

// notFound answers a path no route serves with a page in the layout that
// says so and offers the way on. It is the mux's "/" catch-all.
func (s *Server) notFound(mux *http.ServeMux) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		status, title := http.StatusNotFound, "Page not found"
		d := notFoundData{Path: shortPath(r.URL.Path), Setup: !s.admin.isSet()}
		if allow := allowedMethods(mux, r); len(allow) > 0 {
			status, title = http.StatusMethodNotAllowed, "Not a page to open"
			d.Allow = strings.Join(allow, ", ")
			w.Header().Set("Allow", d.Allow)
		}
		v := view{Title: title, Page: &d}
		// A session is looked at, not touched: a mistyped address is no use
		// of the UI, and its one-shot message stays for the next page.
		if ss := s.session(r, false); ss != nil && !d.Setup {
			d.LoggedIn, v.Authed, v.CSRF = true, true, ss.csrf
		}
		s.render(w, status, "notfound", v)
	}
}

// apiNotFound answers an /api/ path no route serves in the API's JSON.
func (s *Server) apiNotFound(mux *http.ServeMux) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if allow := allowedMethods(mux, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeJSONError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+shortPath(r.URL.Path)+" (allowed: "+strings.Join(allow, ", ")+")", nil)
			return
		}
		writeJSONError(w, http.StatusNotFound, "no such API endpoint: "+shortPath(r.URL.Path)+" (see the README's API table)", nil)
	}
}

// shortPath keeps a mistyped (or hostile) address from filling the page.
func shortPath(p string) string {
	const max = 120
	if utf8.RuneCountInString(p) <= max {
		return p
	}
	return string([]rune(p)[:max]) + "…"
}
