package webui

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openata/ata/config"
)

// Router mode's pages: Users, Trunks, Routes and Settings, one "Router"
// entry in the menu and tabs between them (the menu must fit a 390 px
// phone). Each form posts only its own table's keys; the config is
// validated as a whole, and a problem lands at its field with nothing
// saved.

// routerTab is one tab of the router pages.
type routerTab struct {
	Href, Label string
	Current     bool
}

// routerPage is what every router page has: the tabs, and whether router
// mode is off (the pages still edit the tables, for turning it on later).
type routerPage struct {
	Tabs []routerTab
	Off  bool
}

func newRouterPage(cfg *config.Config, current string) routerPage {
	p := routerPage{Off: !cfg.Router.Enabled}
	for _, t := range [][2]string{{"/users", "Users"}, {"/trunks", "Trunks"}, {"/routes", "Routes"}, {"/router", "Settings"}} {
		p.Tabs = append(p.Tabs, routerTab{Href: t[0], Label: t[1], Current: t[0] == current})
	}
	return p
}

func (s *Server) routerRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /users", s.page(s.usersPage))
	mux.HandleFunc("POST /users", s.page(s.usersAddPost))
	mux.HandleFunc("POST /users/edit", s.page(s.usersEditPost))
	mux.HandleFunc("POST /users/remove", s.page(s.usersRemovePost))
	mux.HandleFunc("GET /trunks", s.page(s.trunksPage))
	mux.HandleFunc("POST /trunks", s.page(s.trunksPost))
	mux.HandleFunc("POST /trunks/delete", s.page(s.trunksDeletePost))
	mux.HandleFunc("POST /trunks/lines", s.page(s.linesRingPost))
	mux.HandleFunc("GET /routes", s.page(s.routesPage))
	mux.HandleFunc("POST /routes", s.page(s.routesAddPost))
	mux.HandleFunc("POST /routes/move", s.page(s.routesMovePost))
	mux.HandleFunc("POST /routes/delete", s.page(s.routesDeletePost))
	mux.HandleFunc("GET /router", s.page(s.routerSettingsPage))
	mux.HandleFunc("POST /router", s.page(s.routerSettingsPost))
}

// The Users page.

type usersData struct {
	routerPage
	Users  []userRow
	Form   []section // add, or edit when Edit is set
	Edit   string    // the user being edited
	Remove *userRemove
}

type userRow struct {
	Name, DisplayName string
	External          bool
	Plain             bool // the file holds the password in clear (hand-written)
	Contacts          []contactRow
}

type contactRow struct {
	URI, Source, Transport, UserAgent, ExpiresIn string
}

// userRemove is the in-page confirmation of removing a user.
type userRemove struct {
	Name, DisplayName string
	Rings             []string // the lines and trunks whose ring lists name it
}

// MinSIPPasswordLen is the shortest password a local user gets from the
// web UI. Shorter than the admin's: a phone's password is typed once into
// the phone, and the registrar blocks a source after a few wrong guesses.
const MinSIPPasswordLen = 10

// checkSIPPassword says what is wrong with a new user password, or "".
func checkSIPPassword(name, pw string) string {
	n := utf8.RuneCountInString(pw)
	lower := strings.ToLower(pw)
	switch {
	case pw == "":
		return "Enter a password: the phone registers with it."
	case config.TextProblem(pw, config.MaxPassword) != "":
		return sentence(config.TextProblem(pw, config.MaxPassword))
	case n < MinSIPPasswordLen:
		return fmt.Sprintf("Use at least %d characters (you typed %d): scanners guess short SIP passwords within hours.", MinSIPPasswordLen, n)
	case name != "" && strings.Contains(lower, strings.ToLower(name)):
		return "The password contains the user name: it is the first thing a scanner tries."
	case commonPasswords[lower]:
		return "This password is on a list of commonly used passwords: choose another."
	case trivial(pw):
		return "This password is a repeated or sequential pattern: choose another."
	}
	return ""
}

// checkUserName checks a user name for the form: an extension, not the
// port's, not another user's (was: the user's name before this edit).
func checkUserName(errs *formErrors, cfg *config.Config, name, was string) bool {
	switch {
	case name == "":
		errs.add("name", "Enter the extension: the number others dial and the phone's SIP user name, e.g. 201.")
		return false
	case !checkNumber(errs, "name", name):
		return false
	case name == cfg.Router.PortExtension:
		errs.add("name", fmt.Sprintf("%s is the analog port's extension: choose another.", name))
		return false
	}
	for _, u := range cfg.Users {
		if u.Name == name && u.Name != was {
			errs.add("name", fmt.Sprintf("%s is already a user: choose another extension.", name))
			return false
		}
	}
	return true
}

// userKeyMapper files user[i]'s keys under the form's fields.
func userKeyMapper(i int) keyMapper {
	prefix := fmt.Sprintf("user[%d].", i)
	return func(key, msg string) string {
		rest, ok := strings.CutPrefix(key, prefix)
		if !ok {
			return ""
		}
		switch rest {
		case "name", "display_name":
			return rest
		case "password", "ha1_md5", "ha1_sha256":
			return "password"
		}
		return ""
	}
}

func (s *Server) usersPage(w http.ResponseWriter, r *http.Request, ss *session) {
	cfg := s.b.Config()
	q := r.URL.Query()
	d := s.usersView(cfg, "", nil, nil)
	if name := q.Get("edit"); name != "" {
		if i := userIndex(cfg, name); i >= 0 {
			u := cfg.Users[i]
			v := url.Values{"name": {u.Name}, "display_name": {u.DisplayName}}
			if u.External {
				v.Set("external", "on")
			}
			d = s.usersView(cfg, name, v, nil)
		}
	}
	if name := q.Get("remove"); name != "" {
		if i := userIndex(cfg, name); i >= 0 {
			d.Remove = &userRemove{Name: name, DisplayName: cfg.Users[i].DisplayName, Rings: ringsNaming(cfg, name)}
		}
	}
	s.renderPage(w, http.StatusOK, "users", ss, view{Title: "Users", Nav: "router", Page: d})
}

func userIndex(cfg *config.Config, name string) int {
	return slices.IndexFunc(cfg.Users, func(u config.User) bool { return u.Name == name })
}

// ringsNaming lists the lines and trunks whose ring list has ext.
func ringsNaming(cfg *config.Config, ext string) []string {
	var out []string
	for i, l := range cfg.Lines {
		if slices.Contains(l.Ring, ext) {
			out = append(out, fmt.Sprintf("line %d (%s)", i+1, l.Number))
		}
	}
	for _, t := range cfg.Trunks {
		if slices.Contains(t.Ring, ext) {
			out = append(out, "trunk "+t.Name)
		}
	}
	return out
}

// renameInRings replaces (to == "": removes) an extension in every ring
// list, so a renamed or removed user leaves no stale entry behind.
func renameInRings(cfg *config.Config, from, to string) {
	fix := func(ring []string) []string {
		out := ring[:0:0]
		for _, e := range ring {
			switch {
			case e != from:
				out = append(out, e)
			case to != "" && !slices.Contains(ring, to):
				out = append(out, to)
			}
		}
		if ring != nil && out == nil {
			out = []string{}
		}
		return out
	}
	for i := range cfg.Lines {
		cfg.Lines[i].Ring = fix(cfg.Lines[i].Ring)
	}
	for i := range cfg.Trunks {
		cfg.Trunks[i].Ring = fix(cfg.Trunks[i].Ring)
	}
}

func (s *Server) usersView(cfg *config.Config, edit string, v url.Values, errs map[string]string) usersData {
	d := usersData{routerPage: newRouterPage(cfg, "/users"), Edit: edit}
	contacts := map[string][]UserContact{}
	if rs := s.b.Status().Router; rs != nil {
		for _, u := range rs.Users {
			contacts[u.Name] = u.Contacts
		}
	}
	now := s.now()
	for _, u := range cfg.Users {
		row := userRow{Name: u.Name, DisplayName: u.DisplayName, External: u.External, Plain: u.Password != ""}
		for _, c := range contacts[u.Name] {
			row.Contacts = append(row.Contacts, contactRow{URI: c.URI, Source: c.Source, Transport: strings.ToUpper(c.Transport),
				UserAgent: c.UserAgent, ExpiresIn: formatDuration(c.Expires.Sub(now))})
		}
		d.Users = append(d.Users, row)
	}
	if v == nil {
		v = url.Values{"external": {"on"}}
	}
	pwLabel, pwHelp := "Password", fmt.Sprintf("At least %d characters, not the user name. Enter it in the phone; only its hashes are stored.", MinSIPPasswordLen)
	if edit != "" {
		pwLabel, pwHelp = "New password", "Leave empty to keep the password. A changed extension needs a new password: the stored hashes include the name."
	}
	d.Form = []section{{ID: "user", Legend: map[bool]string{true: "Add a user", false: "Edit user " + edit}[edit == ""], Rows: []row{
		{{ID: "name", Label: "Extension (SIP user name)", Kind: "text", Value: v.Get("name"), Required: true, InputMode: "tel",
			AutoComp: "off", Err: errs["name"], MaxLen: keyMax("user.name"), Placeholder: "201",
			Help: "The number others dial to reach this phone, and the user name the phone registers with."},
			{ID: "display_name", Label: "Display name", Kind: "text", Value: v.Get("display_name"), Err: errs["display_name"],
				MaxLen: keyMax("user.display_name"), Placeholder: "Kitchen", Help: "Shown to the people this user calls."}},
		{{ID: "password", Label: pwLabel, Kind: "password", Required: edit == "", AutoComp: "new-password", Err: errs["password"],
			MaxLen: keyMax("user.password"), Help: pwHelp}},
		{{ID: "external", Label: "May call out through the provider lines and trunks", Kind: "checkbox", Checked: v.Get("external") == "on",
			Err: errs["external"], Help: "Off: internal calls only (the port and other users)."}},
	}}}
	return d
}

func (s *Server) usersAddPost(w http.ResponseWriter, r *http.Request, ss *session) {
	cur := s.b.Config()
	f := r.PostForm
	errs := &formErrors{}
	cfg := cloneConfig(cur)
	name := strings.TrimSpace(f.Get("name"))
	u := config.User{Name: name, DisplayName: strings.TrimSpace(f.Get("display_name")), External: f.Get("external") == "on"}
	okName := checkUserName(errs, cur, name, "")
	if msg := checkSIPPassword(name, f.Get("password")); msg != "" {
		errs.add("password", msg)
	} else if okName {
		u.HA1MD5, u.HA1SHA256 = config.UserHA1(name, f.Get("password"))
	}
	cfg.Users = append(cfg.Users, u)
	s.applyConfig(r.Context(), cfg, errs, userKeyMapper(len(cur.Users)))
	if !errs.ok() {
		s.renderPage(w, http.StatusUnprocessableEntity, "users", ss, view{Title: "Users", Nav: "router",
			Error: errs.summary(), Page: s.usersView(cur, "", f, errs.fields)})
		return
	}
	s.logf(r, "router user added", "user", name)
	msg := fmt.Sprintf("User %s added: set the phone to register as %s with this password.", name, name)
	if cur.Router.Enabled {
		l := cur.Router.Listen
		if h, p := splitHostPort(l); h == "0.0.0.0" || h == "::" || h == "" {
			l = "this adapter's address, port " + p
		}
		msg = fmt.Sprintf("User %s added: set the phone to register as %s at %s with this password.", name, name, l)
	} else {
		msg += " Router mode is off: turn it on under Settings."
	}
	s.sessions.setFlash(ss, s.savedMessage(msg))
	s.afterSave(w, r, "/users")
}

// usersEditPost changes a user: display name, calling out, a new
// password, or a new extension (which needs a new password, and moves the
// user's place in every ring list).
func (s *Server) usersEditPost(w http.ResponseWriter, r *http.Request, ss *session) {
	cur := s.b.Config()
	f := r.PostForm
	was := f.Get("user")
	i := userIndex(cur, was)
	if i < 0 {
		s.renderError(w, http.StatusConflict, "That user no longer exists: nothing was saved. Open the Users page again.")
		return
	}
	errs := &formErrors{}
	cfg := cloneConfig(cur)
	u := &cfg.Users[i]
	name := strings.TrimSpace(f.Get("name"))
	okName := checkUserName(errs, cur, name, was)
	pw := f.Get("password")
	switch {
	case pw == "" && name != was:
		errs.add("password", "A new extension needs a new password: the stored hashes include the name.")
	case pw != "":
		if msg := checkSIPPassword(name, pw); msg != "" {
			errs.add("password", msg)
		} else if okName {
			u.HA1MD5, u.HA1SHA256 = config.UserHA1(name, pw)
			u.Password = "" // only the hashes are kept
		}
	}
	u.Name, u.DisplayName, u.External = name, strings.TrimSpace(f.Get("display_name")), f.Get("external") == "on"
	if okName && name != was {
		renameInRings(cfg, was, name)
	}
	s.applyConfig(r.Context(), cfg, errs, userKeyMapper(i))
	if !errs.ok() {
		s.renderPage(w, http.StatusUnprocessableEntity, "users", ss, view{Title: "Users", Nav: "router",
			Error: errs.summary(), Page: s.usersView(cur, was, f, errs.fields)})
		return
	}
	s.logf(r, "router user changed", "user", was, "name", name, "password", pw != "")
	msg := fmt.Sprintf("User %s saved.", name)
	if name != was {
		msg = fmt.Sprintf("User %s is now %s: set the phone to register as %s with the new password.", was, name, name)
	} else if pw != "" {
		msg = fmt.Sprintf("User %s saved with a new password: enter it in the phone.", name)
	}
	s.sessions.setFlash(ss, s.savedMessage(msg))
	s.afterSave(w, r, "/users")
}

func (s *Server) usersRemovePost(w http.ResponseWriter, r *http.Request, ss *session) {
	cur := s.b.Config()
	name := r.PostFormValue("user")
	i := userIndex(cur, name)
	if i < 0 {
		s.renderError(w, http.StatusConflict, "That user no longer exists: nothing was removed. Open the Users page again.")
		return
	}
	cfg := cloneConfig(cur)
	cfg.Users = slices.Delete(cfg.Users, i, i+1)
	renameInRings(cfg, name, "")
	errs := &formErrors{}
	s.applyConfig(r.Context(), cfg, errs, func(string, string) string { return "" })
	if !errs.ok() {
		s.renderPage(w, http.StatusUnprocessableEntity, "users", ss, view{Title: "Users", Nav: "router",
			Error: errs.summary(), Page: s.usersView(cur, "", nil, nil)})
		return
	}
	s.logf(r, "router user removed", "user", name)
	s.sessions.setFlash(ss, s.savedMessage(fmt.Sprintf("User %s removed: its phones can no longer register or call.", name)))
	http.Redirect(w, r, "/users", http.StatusSeeOther)
}

// The Settings tab: [router].

var netSplitRE = regexp.MustCompile(`[\s,]+`)

// splitList reads a list typed one per line or comma separated.
func splitList(v string) []string {
	var out []string
	for _, p := range netSplitRE.Split(strings.TrimSpace(v), -1) {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

type routerSettingsData struct {
	routerPage
	Sections []section
	Networks textArea
}

// textArea is a multi-line field (the field template has none).
type textArea struct {
	ID, Label, Value, Help, Err string
	Rows                        int
}

func routerSettingsValues(cfg *config.Config) url.Values {
	r := cfg.Router
	v := url.Values{"listen": {r.Listen}, "allow_networks": {strings.Join(r.AllowNetworks, "\n")},
		"port_extension": {r.PortExtension}, "auth_failures": {strconv.Itoa(r.AuthFailures)},
		"block_for": {trimSeconds(r.BlockFor.D())}}
	if r.Enabled {
		v.Set("enabled", "on")
	}
	return v
}

func routerSettingsView(cfg *config.Config, v url.Values, errs map[string]string) routerSettingsData {
	return routerSettingsData{routerPage: newRouterPage(cfg, "/router"), Sections: []section{{ID: "router", Legend: "Router mode",
		Intro: "Local SIP phones register to this adapter as users; calls are routed between them, the analog port, the provider lines and trunks.",
		Rows: []row{
			{{ID: "enabled", Label: "Router mode on", Kind: "checkbox", Checked: v.Get("enabled") == "on", Err: errs["enabled"],
				Help: "On: the users' SIP socket listens and incoming calls ring the lines' and trunks' ring lists."}},
			{{ID: "listen", Label: "Users' SIP socket (address:port)", Kind: "text", Value: v.Get("listen"), Err: errs["listen"],
				MaxLen: keyMax("router.listen"), Help: "UDP and TCP. 0.0.0.0:5062 listens on every address of the adapter."},
				{ID: "port_extension", Label: "Analog port's extension", Kind: "text", Value: v.Get("port_extension"), InputMode: "tel",
					Err: errs["port_extension"], MaxLen: keyMax("router.port_extension"), Narrow: true,
					Help: "Users dial this to ring the phone on the analog port."}},
			{{ID: "auth_failures", Label: "Failed logins a minute before a source is blocked", Kind: "number", Value: v.Get("auth_failures"),
				Min: "1", Max: "1000", Step: "1", Err: errs["auth_failures"], Narrow: true},
				{ID: "block_for", Label: "Blocked for", Kind: "number", Value: v.Get("block_for"), Unit: "s", Min: "0", Max: "86400",
					Step: "1", Err: errs["block_for"], Narrow: true, Help: "Seconds a blocked source is ignored, up to a day."}},
		}}},
		Networks: textArea{ID: "allow_networks", Label: "Networks allowed to talk to it", Value: v.Get("allow_networks"), Rows: 6,
			Err:  errs["allow_networks"],
			Help: "One address or network per line (192.168.0.0/16, fd00::/8). Anything else is dropped without an answer: keep it to your own networks."},
	}
}

func (s *Server) routerSettingsPage(w http.ResponseWriter, r *http.Request, ss *session) {
	cfg := s.b.Config()
	s.renderPage(w, http.StatusOK, "router", ss, view{Title: "Router settings", Nav: "router",
		Page: routerSettingsView(cfg, routerSettingsValues(cfg), nil)})
}

func routerKeyMapper(key, msg string) string {
	name, ok := strings.CutPrefix(key, "router.")
	if !ok {
		return ""
	}
	name, _, _ = strings.Cut(name, "[")
	switch name {
	case "enabled", "listen", "allow_networks", "port_extension", "auth_failures", "block_for":
		return name
	}
	return ""
}

func (s *Server) routerSettingsPost(w http.ResponseWriter, r *http.Request, ss *session) {
	cur := s.b.Config()
	f := r.PostForm
	errs := &formErrors{}
	cfg := cloneConfig(cur)
	rt := &cfg.Router
	rt.Enabled = f.Get("enabled") == "on"
	rt.Listen = strings.TrimSpace(f.Get("listen"))
	rt.AllowNetworks = splitList(f.Get("allow_networks"))
	for _, n := range rt.AllowNetworks {
		if _, err := config.ParseNetwork(n); err != nil {
			errs.add("allow_networks", sentence(err.Error()))
			break
		}
	}
	if rt.Enabled && len(rt.AllowNetworks) == 0 {
		errs.add("allow_networks", "Enter at least one network: with none, no phone can reach the router.")
	}
	ext := strings.TrimSpace(f.Get("port_extension"))
	if ext == "" {
		errs.add("port_extension", "Enter the analog port's extension, e.g. 100.")
	} else if checkNumber(errs, "port_extension", ext) {
		if userIndex(cur, ext) >= 0 {
			errs.add("port_extension", fmt.Sprintf("%s is a user's extension: choose another.", ext))
		}
	}
	if ext != cur.Router.PortExtension && errs.fields["port_extension"] == "" {
		renameInRings(cfg, cur.Router.PortExtension, ext)
	}
	rt.PortExtension = ext
	if n, err := strconv.Atoi(strings.TrimSpace(f.Get("auth_failures"))); err != nil || n < 1 || n > 1000 {
		errs.add("auth_failures", "Enter a whole number from 1 to 1000.")
	} else {
		rt.AuthFailures = n
	}
	if strings.TrimSpace(f.Get("block_for")) != trimSeconds(cur.Router.BlockFor.D()) {
		if d, ok := parseSeconds(errs, "block_for", f.Get("block_for"), 0, 24*time.Hour); ok {
			rt.BlockFor = config.Duration(d)
		}
	}
	s.applyConfig(r.Context(), cfg, errs, routerKeyMapper)
	if !errs.ok() {
		s.renderPage(w, http.StatusUnprocessableEntity, "router", ss, view{Title: "Router settings", Nav: "router",
			Error: errs.summary(), Page: routerSettingsView(cur, f, errs.fields)})
		return
	}
	s.logf(r, "router settings saved", "enabled", rt.Enabled)
	s.sessions.setFlash(ss, s.savedMessage(map[bool]string{true: "Saved and applied: router mode is on.", false: "Saved and applied: router mode is off."}[rt.Enabled]))
	s.afterSave(w, r, "/router")
}
