package webui

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/openata/ata/config"
)

// view is what every page template gets.
type view struct {
	Title   string
	Nav     string // the active menu entry
	CSRF    string
	Version string
	Flash   string // a success message
	Error   string // a message for the whole form
	Authed  bool
	Page    any // the page's own data
}

// field is one form control with its label, help and error, rendered by
// the "field" template so every page looks and behaves the same.
type field struct {
	ID          string // the id and name
	Label       string
	Kind        string // text, number, password, checkbox, select, static
	Value       string
	Checked     bool
	Options     []option
	Help        string
	Err         string
	Placeholder string
	Unit        string // shown after the input ("s", "ms")
	Min, Max    string
	Step        string
	Pattern     string
	InputMode   string
	AutoComp    string
	Required    bool
	Disabled    bool
	Narrow      bool   // a port number, a timer: a short input
	Needs       string // a checkbox only matters while the checkbox with this id is ticked
	MaxLen      int    // maxlength of a text input: config's limit of the key it sets (see keyMax)
}

// keyMax is the longest value config takes for a text key ("line.number"),
// for a field that sets that one key: the browser then stops typing where
// the server would refuse.
func keyMax(key string) int { return config.TextRules[key].Max }

type option struct {
	Value, Label string
	Selected     bool
}

// row is one line of a form: one field, or an address and its port.
type row []field

// section is a fieldset.
type section struct {
	ID       string
	Legend   string
	Intro    string
	Rows     []row
	Advanced bool // rendered as a <details>, open when it holds an error
	Open     bool
}

func (s section) HasError() bool {
	for _, r := range s.Rows {
		for _, f := range r {
			if f.Err != "" {
				return true
			}
		}
	}
	return false
}

var templateFuncs = template.FuncMap{
	"percent": func(f float64) string { return fmt.Sprintf("%.1f %%", f*100) },
	"ms":      func(f float64) string { return fmt.Sprintf("%.0f ms", f) },
	"mos": func(f float64) string {
		if f == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f", f)
	},
	// A time in its own zone: the call log's entries carry [system]
	// timezone's offset (cmd/ata), which the host's Local would undo.
	"clock":    func(t time.Time) string { return t.Format("2006-01-02 15:04:05") },
	"duration": formatDuration,
	"seconds":  func(s float64) string { return formatDuration(time.Duration(s * float64(time.Second))) },
	"secs":     func(s int64) string { return formatDuration(time.Duration(s) * time.Second) },
	"add":      func(a, b int) int { return a + b },
	"bytes":    formatBytes,
}

// formatDuration writes 0:42, 12:05 or 3:12:05.
func formatDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	sec := int64(d.Round(time.Second) / time.Second)
	h, m, s := sec/3600, sec/60%60, sec%60
	if h >= 24 {
		return fmt.Sprintf("%dd %d:%02d:%02d", h/24, h%24, m, s)
	}
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}

// formatBytes writes 512 B, 3.4 KiB, 10.0 MiB.
func formatBytes(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

var pageNames = []string{"setup", "login", "status", "sip", "phone", "features", "calls", "maintenance", "error", "notfound",
	"users", "trunks", "routes", "router", "system"}

func parsePages() (map[string]*template.Template, error) {
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(templateFuncs).ParseFS(templateFS,
			"templates/layout.html", "templates/fields.html", "templates/router-parts.html", "templates/update-parts.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("webui: template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// render executes a page into a buffer first, so a template error gives a
// clean 500 instead of half a page.
func (s *Server) render(w http.ResponseWriter, status int, name string, v view) {
	v.Version = s.opt.Version
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		s.log.Error("webui: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// renderPage renders a page behind the login, with the session's CSRF token
// and its one-shot message.
func (s *Server) renderPage(w http.ResponseWriter, status int, name string, ss *session, v view) {
	v.Authed = true
	v.CSRF = ss.csrf
	if v.Flash == "" && v.Error == "" {
		v.Flash = s.sessions.takeFlash(ss)
	}
	s.render(w, status, name, v)
}

func (s *Server) renderError(w http.ResponseWriter, status int, msg string) {
	s.render(w, status, "error", view{Title: http.StatusText(status), Error: msg})
}
