package webui

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/openata/ata/config"
	"github.com/openata/ata/fxs/dialplan"
	"github.com/openata/ata/router"
)

// The Trunks tab: IP trunks (calls from listed addresses without
// registration) and who rings for each provider line.

type trunksData struct {
	routerPage
	Trunks []config.Trunk
	// Edit is the trunk in the form: its index, or len(Trunks) for a new one.
	Edit      int
	Editing   bool // an existing trunk is in the form
	Sections  []section
	Addresses textArea
	Ring      ringBoxes
	Delete    *config.Trunk
	DeleteAt  int
	Lines     []lineRing
	LinesErr  string
}

// ringBoxes are the extensions as checkboxes; the form posts each ticked
// one as "ring" (or "ring<N>" for line N).
type ringBoxes struct {
	Name  string
	Boxes []ringBox
	Err   string
}

type ringBox struct {
	Ext, Label string
	Checked    bool
}

type lineRing struct {
	Index  int
	Label  string
	Ring   ringBoxes
	Legend string
}

// extensionLabels are the extensions a ring list can name, with words.
func extensionLabels(cfg *config.Config) [][2]string {
	out := [][2]string{{cfg.Router.PortExtension, cfg.Router.PortExtension + " (analog port)"}}
	for _, u := range cfg.Users {
		l := u.Name
		if u.DisplayName != "" {
			l += " (" + u.DisplayName + ")"
		}
		out = append(out, [2]string{u.Name, l})
	}
	return out
}

func ringView(cfg *config.Config, name string, on []string, err string) ringBoxes {
	rb := ringBoxes{Name: name, Err: err}
	for _, e := range extensionLabels(cfg) {
		rb.Boxes = append(rb.Boxes, ringBox{Ext: e[0], Label: e[1], Checked: slices.Contains(on, e[0])})
	}
	return rb
}

// readRing reads a ring list's ticked boxes; an extension that does not
// exist (a stale page, a crafted post) is an error at the list.
func readRing(errs *formErrors, id string, cfg *config.Config, vals []string) []string {
	known := map[string]bool{}
	for _, e := range extensionLabels(cfg) {
		known[e[0]] = true
	}
	out := []string{}
	for _, v := range vals {
		if !known[v] {
			errs.add(id, fmt.Sprintf("%q is no extension: tick the port or a user.", v))
			return nil
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func trunkValues(t config.Trunk) url.Values {
	return url.Values{"name": {t.Name}, "addresses": {strings.Join(t.Addresses, "\n")}, "dial": {t.Dial}, "ring": t.Ring}
}

func (s *Server) trunksView(cfg *config.Config, edit int, v url.Values, errs map[string]string) trunksData {
	d := trunksData{routerPage: newRouterPage(cfg, "/trunks"), Trunks: cfg.Trunks, Edit: edit, Editing: edit < len(cfg.Trunks)}
	legend := "Add a trunk"
	if d.Editing {
		legend = "Edit trunk " + cfg.Trunks[edit].Name
	}
	d.Sections = []section{{ID: "trunk", Legend: legend, Rows: []row{
		{{ID: "name", Label: "Name", Kind: "text", Value: v.Get("name"), Required: true, AutoComp: "off", Err: errs["name"],
			MaxLen: keyMax("trunk.name"), Placeholder: "carrier", Help: "A short name without spaces; routes name it as trunk:NAME."},
			{ID: "dial", Label: "Outgoing calls go to (host[:port])", Kind: "text", Value: v.Get("dial"), Required: true, AutoComp: "off",
				Err: errs["dial"], MaxLen: keyMax("trunk.dial"), Placeholder: "carrier.example.net:5060"}},
	}}}
	d.Addresses = textArea{ID: "addresses", Label: "Calls are accepted from", Value: v.Get("addresses"), Rows: 3, Err: errs["addresses"],
		Help: "The trunk's addresses or networks, one per line or comma separated. INVITEs from them on the SIP port are taken without registration; keep the list tight."}
	d.Ring = ringView(cfg, "ring", v["ring"], errs["ring"])
	for i, l := range cfg.Lines {
		d.Lines = append(d.Lines, lineRing{Index: i, Legend: fmt.Sprintf("Line %d (%s@%s)", i+1, l.Number, l.ServiceDomain),
			Ring: ringView(cfg, "ring"+strconv.Itoa(i), l.Ring, errs["ring"+strconv.Itoa(i)])})
	}
	return d
}

func (s *Server) trunksPage(w http.ResponseWriter, r *http.Request, ss *session) {
	cfg := s.b.Config()
	q := r.URL.Query()
	edit := len(cfg.Trunks)
	v := url.Values{"ring": {cfg.Router.PortExtension}}
	if n, err := strconv.Atoi(q.Get("edit")); err == nil && n >= 0 && n < len(cfg.Trunks) {
		edit, v = n, trunkValues(cfg.Trunks[n])
	}
	d := s.trunksView(cfg, edit, v, nil)
	if n, err := strconv.Atoi(q.Get("delete")); err == nil && n >= 0 && n < len(cfg.Trunks) {
		t := cfg.Trunks[n]
		d.Delete, d.DeleteAt = &t, n
	}
	s.renderPage(w, http.StatusOK, "trunks", ss, view{Title: "Trunks", Nav: "router", Page: d})
}

func trunkKeyMapper(i int) keyMapper {
	prefix := fmt.Sprintf("trunk[%d].", i)
	return func(key, msg string) string {
		rest, ok := strings.CutPrefix(key, prefix)
		if !ok {
			return ""
		}
		rest, _, _ = strings.Cut(rest, "[")
		switch rest {
		case "name", "addresses", "dial", "ring":
			return rest
		}
		return ""
	}
}

// trunkAt reads the form's trunk index and checks the trunk is still the
// one the page showed ("was": its name), so a stale page never edits or
// deletes another trunk. n == len(trunks) is a new trunk.
func trunkAt(cur *config.Config, f url.Values, allowNew bool) (int, bool) {
	n, err := strconv.Atoi(f.Get("trunk"))
	switch {
	case err != nil || n < 0 || n > len(cur.Trunks):
		return 0, false
	case n == len(cur.Trunks):
		return n, allowNew && f.Get("was") == ""
	}
	return n, cur.Trunks[n].Name == f.Get("was")
}

func (s *Server) trunksPost(w http.ResponseWriter, r *http.Request, ss *session) {
	cur := s.b.Config()
	f := r.PostForm
	i, ok := trunkAt(cur, f, true)
	if !ok {
		s.renderError(w, http.StatusConflict, "The trunks changed since this page was loaded: nothing was saved. Open the Trunks page again.")
		return
	}
	errs := &formErrors{}
	cfg := cloneConfig(cur)
	t := config.Trunk{Name: strings.TrimSpace(f.Get("name")), Dial: strings.TrimSpace(f.Get("dial")),
		Addresses: splitList(f.Get("addresses"))}
	for j, o := range cur.Trunks {
		if j != i && o.Name == t.Name && t.Name != "" {
			errs.add("name", fmt.Sprintf("%s is already a trunk's name: choose another.", t.Name))
		}
	}
	for _, a := range t.Addresses {
		if _, err := config.ParseNetwork(a); err != nil {
			errs.add("addresses", sentence(err.Error()))
			break
		}
	}
	t.Ring = readRing(errs, "ring", cur, f["ring"])
	if i == len(cfg.Trunks) {
		cfg.Trunks = append(cfg.Trunks, t)
	} else {
		old := cfg.Trunks[i].Name
		cfg.Trunks[i] = t
		// Routes through a renamed trunk follow it.
		for k := range cfg.Routes {
			if cfg.Routes[k].Via == "trunk:"+old && t.Name != "" {
				cfg.Routes[k].Via = "trunk:" + t.Name
			}
		}
	}
	s.applyConfig(r.Context(), cfg, errs, trunkKeyMapper(i))
	if !errs.ok() {
		s.renderPage(w, http.StatusUnprocessableEntity, "trunks", ss, view{Title: "Trunks", Nav: "router",
			Error: errs.summary(), Page: s.trunksView(cur, i, f, errs.fields)})
		return
	}
	s.logf(r, "trunk saved", "trunk", t.Name)
	s.sessions.setFlash(ss, s.savedMessage(fmt.Sprintf("Trunk %s saved and applied.", t.Name)))
	s.afterSave(w, r, "/trunks")
}

func (s *Server) trunksDeletePost(w http.ResponseWriter, r *http.Request, ss *session) {
	cur := s.b.Config()
	i, ok := trunkAt(cur, r.PostForm, false)
	if !ok {
		s.renderError(w, http.StatusConflict, "The trunks changed since this page was loaded: nothing was deleted. Open the Trunks page again.")
		return
	}
	name := cur.Trunks[i].Name
	for k, rt := range cur.Routes {
		if rt.Via == "trunk:"+name {
			d := s.trunksView(cur, len(cur.Trunks), url.Values{}, nil)
			s.renderPage(w, http.StatusUnprocessableEntity, "trunks", ss, view{Title: "Trunks", Nav: "router",
				Error: fmt.Sprintf("Nothing was deleted: route %d (%s) goes through trunk %s. Delete or change that route first.", k+1, rt.Pattern, name),
				Page:  d})
			return
		}
	}
	cfg := cloneConfig(cur)
	cfg.Trunks = slices.Delete(cfg.Trunks, i, i+1)
	errs := &formErrors{}
	s.applyConfig(r.Context(), cfg, errs, func(string, string) string { return "" })
	if !errs.ok() {
		s.renderPage(w, http.StatusUnprocessableEntity, "trunks", ss, view{Title: "Trunks", Nav: "router",
			Error: errs.summary(), Page: s.trunksView(cur, len(cur.Trunks), url.Values{}, nil)})
		return
	}
	s.logf(r, "trunk deleted", "trunk", name)
	s.sessions.setFlash(ss, s.savedMessage(fmt.Sprintf("Trunk %s deleted: calls from its addresses are no longer taken.", name)))
	http.Redirect(w, r, "/trunks", http.StatusSeeOther)
}

// linesRingPost saves who rings for each provider line's calls.
func (s *Server) linesRingPost(w http.ResponseWriter, r *http.Request, ss *session) {
	cur := s.b.Config()
	f := r.PostForm
	if n, err := strconv.Atoi(f.Get("lines")); err != nil || n != len(cur.Lines) {
		s.renderError(w, http.StatusConflict, "The lines changed since this page was loaded: nothing was saved. Open the Trunks page again.")
		return
	}
	errs := &formErrors{}
	cfg := cloneConfig(cur)
	for i := range cfg.Lines {
		id := "ring" + strconv.Itoa(i)
		cfg.Lines[i].Ring = readRing(errs, id, cur, f[id])
	}
	s.applyConfig(r.Context(), cfg, errs, func(key, msg string) string {
		if i, name, ok := lineKey(key); ok && strings.HasPrefix(name, "ring") {
			return "ring" + strconv.Itoa(i)
		}
		return ""
	})
	if !errs.ok() {
		s.renderPage(w, http.StatusUnprocessableEntity, "trunks", ss, view{Title: "Trunks", Nav: "router",
			Error: errs.summary(), Page: s.trunksView(cur, len(cur.Trunks), url.Values{"ring": {cur.Router.PortExtension}}, errs.fields)})
		return
	}
	s.logf(r, "line ring lists saved")
	s.sessions.setFlash(ss, s.savedMessage("Saved and applied: the lines' calls ring the ticked extensions."))
	s.afterSave(w, r, "/trunks")
}

// The Routes tab: numbers that are no extension go out through the first
// route whose digit map matches.

type routesData struct {
	routerPage
	Routes   []routeRow
	Sections []section
	Try      string
	Result   string
	TryErr   string
}

type routeRow struct {
	Index          int
	Pattern, Via   string
	First, Last    bool
	ViaLabel       string
	PatternProblem string
}

// viaOptions are the links a route can name, in the router's order.
func viaOptions(cfg *config.Config) [][2]string {
	var out [][2]string
	for i, l := range cfg.Lines {
		out = append(out, [2]string{fmt.Sprintf("line:%d", i+1), fmt.Sprintf("Line %d (%s@%s)", i+1, l.Number, l.ServiceDomain)})
	}
	for _, t := range cfg.Trunks {
		out = append(out, [2]string{"trunk:" + t.Name, "Trunk " + t.Name + " (" + t.Dial + ")"})
	}
	return out
}

func viaLabel(cfg *config.Config, via string) string {
	for _, o := range viaOptions(cfg) {
		if o[0] == via {
			return o[1]
		}
	}
	return via
}

func (s *Server) routesView(cfg *config.Config, v url.Values, errs map[string]string) routesData {
	d := routesData{routerPage: newRouterPage(cfg, "/routes")}
	for i, rt := range cfg.Routes {
		d.Routes = append(d.Routes, routeRow{Index: i, Pattern: rt.Pattern, Via: rt.Via, First: i == 0, Last: i == len(cfg.Routes)-1,
			ViaLabel: viaLabel(cfg, rt.Via)})
	}
	var opts []option
	for _, o := range viaOptions(cfg) {
		opts = append(opts, option{Value: o[0], Label: o[1], Selected: v.Get("via") == o[0]})
	}
	d.Sections = []section{{ID: "route", Legend: "Add a route", Rows: []row{
		{{ID: "pattern", Label: "Numbers (digit map)", Kind: "text", Value: v.Get("pattern"), Required: true, AutoComp: "off",
			Err: errs["pattern"], MaxLen: keyMax("route.pattern"), Placeholder: "<9:>xx.",
			Help: "The dial plan's syntax: x a digit, . repeats, [1-5] a range, | alternatives, <9:> removes a leading 9 from the number sent."},
			{ID: "via", Label: "Goes out through", Kind: "select", Options: opts, Err: errs["via"]}},
	}}}
	return d
}

// tryNumber tells where the router sends number with cfg's users, lines,
// trunks and routes: router.Resolve itself, on a router built without
// dialers (Resolve places no call). A line counts as up when it is
// registered now, as in the firmware.
func tryNumber(cfg *config.Config, st Status, number string) (string, error) {
	o := router.Options{PortExtension: cfg.Router.PortExtension}
	for _, u := range cfg.Users {
		o.Users = append(o.Users, router.User{Name: u.Name, External: u.External})
	}
	for i := range cfg.Lines {
		up := i < len(st.Lines) && st.Lines[i].State == LineRegistered
		o.Links = append(o.Links, router.Link{Name: fmt.Sprintf("line:%d", i+1), Up: func() bool { return up }})
	}
	for _, t := range cfg.Trunks {
		o.Links = append(o.Links, router.Link{Name: "trunk:" + t.Name})
	}
	for _, rt := range cfg.Routes {
		o.Routes = append(o.Routes, router.Route{Pattern: rt.Pattern, Via: rt.Via})
	}
	rr, err := router.New(o)
	if err != nil {
		return "", err
	}
	kind, target, send, err := rr.Resolve(number)
	switch {
	case errors.Is(err, router.ErrNoRoute):
		if len(cfg.Routes) == 0 {
			return fmt.Sprintf("%s: no route, and no line is registered: the call is refused.", number), nil
		}
		return fmt.Sprintf("%s: no route matches: the call is refused.", number), nil
	case err != nil:
		return "", err
	case kind == "ext" && target == cfg.Router.PortExtension:
		return fmt.Sprintf("%s is the analog port: it rings the phone.", number), nil
	case kind == "ext":
		return fmt.Sprintf("%s is a user: it rings that user's phones.", number), nil
	}
	which := "with no routes, the first registered line"
	for i, rt := range cfg.Routes {
		if p, err := dialplan.Parse(rt.Pattern); err == nil && rt.Via == target {
			if m := p.Match(number); (m.Status == dialplan.Complete || m.Status == dialplan.CompleteWithMore) && m.Number == send {
				which = fmt.Sprintf("route %d (%s)", i+1, rt.Pattern)
				break
			}
		}
	}
	msg := fmt.Sprintf("%s goes out through %s by %s", number, viaLabel(cfg, target), which)
	if send != number {
		msg += fmt.Sprintf(", sent as %s", send)
	}
	return msg + ". Users not allowed to call out get 403.", nil
}

func (s *Server) routesPage(w http.ResponseWriter, r *http.Request, ss *session) {
	cfg := s.b.Config()
	d := s.routesView(cfg, url.Values{}, nil)
	if n := strings.TrimSpace(r.URL.Query().Get("try")); n != "" {
		d.Try = n
		errs := &formErrors{}
		if checkNumber(errs, "try", n) {
			res, err := tryNumber(cfg, s.b.Status(), n)
			if err != nil {
				d.TryErr = sentence(err.Error())
			} else {
				d.Result = res
			}
		} else {
			d.TryErr = errs.fields["try"]
		}
	}
	s.renderPage(w, http.StatusOK, "routes", ss, view{Title: "Routes", Nav: "router", Page: d})
}

func routeKeyMapper(i int) keyMapper {
	prefix := fmt.Sprintf("route[%d].", i)
	return func(key, msg string) string {
		rest, ok := strings.CutPrefix(key, prefix)
		if ok && (rest == "pattern" || rest == "via") {
			return rest
		}
		return ""
	}
}

func (s *Server) routesAddPost(w http.ResponseWriter, r *http.Request, ss *session) {
	cur := s.b.Config()
	f := r.PostForm
	errs := &formErrors{}
	rt := config.Route{Pattern: strings.TrimSpace(f.Get("pattern")), Via: f.Get("via")}
	if rt.Pattern == "" {
		errs.add("pattern", "Enter the numbers this route takes, e.g. <9:>xx. for numbers dialled with a leading 9.")
	} else if _, err := dialplan.Parse(rt.Pattern); err != nil {
		errs.add("pattern", sentence(err.Error()))
	}
	if !slices.ContainsFunc(viaOptions(cur), func(o [2]string) bool { return o[0] == rt.Via }) {
		errs.add("via", "Choose a line or a trunk.")
	}
	cfg := cloneConfig(cur)
	cfg.Routes = append(cfg.Routes, rt)
	s.applyConfig(r.Context(), cfg, errs, routeKeyMapper(len(cur.Routes)))
	if !errs.ok() {
		s.renderPage(w, http.StatusUnprocessableEntity, "routes", ss, view{Title: "Routes", Nav: "router",
			Error: errs.summary(), Page: s.routesView(cur, f, errs.fields)})
		return
	}
	s.logf(r, "route added", "pattern", rt.Pattern, "via", rt.Via)
	s.sessions.setFlash(ss, s.savedMessage(fmt.Sprintf("Route %d added: %s through %s.", len(cfg.Routes), rt.Pattern, rt.Via)))
	s.afterSave(w, r, "/routes")
}

// routeAt reads the posted route index and checks it is still the route
// the page showed.
func routeAt(cur *config.Config, f url.Values) (int, bool) {
	n, err := strconv.Atoi(f.Get("route"))
	if err != nil || n < 0 || n >= len(cur.Routes) {
		return 0, false
	}
	return n, cur.Routes[n].Pattern == f.Get("pattern") && cur.Routes[n].Via == f.Get("via")
}

func (s *Server) routesMovePost(w http.ResponseWriter, r *http.Request, ss *session) {
	cur := s.b.Config()
	i, ok := routeAt(cur, r.PostForm)
	j := i - 1
	if r.PostFormValue("dir") == "down" {
		j = i + 1
	}
	if !ok || j < 0 || j >= len(cur.Routes) {
		s.renderError(w, http.StatusConflict, "The routes changed since this page was loaded: nothing was moved. Open the Routes page again.")
		return
	}
	cfg := cloneConfig(cur)
	cfg.Routes[i], cfg.Routes[j] = cfg.Routes[j], cfg.Routes[i]
	s.saveRoutes(w, r, ss, cur, cfg, fmt.Sprintf("Route %s is now number %d.", cur.Routes[i].Pattern, j+1))
}

func (s *Server) routesDeletePost(w http.ResponseWriter, r *http.Request, ss *session) {
	cur := s.b.Config()
	i, ok := routeAt(cur, r.PostForm)
	if !ok {
		s.renderError(w, http.StatusConflict, "The routes changed since this page was loaded: nothing was deleted. Open the Routes page again.")
		return
	}
	cfg := cloneConfig(cur)
	cfg.Routes = slices.Delete(cfg.Routes, i, i+1)
	s.saveRoutes(w, r, ss, cur, cfg, fmt.Sprintf("Route %d (%s) deleted.", i+1, cur.Routes[i].Pattern))
}

func (s *Server) saveRoutes(w http.ResponseWriter, r *http.Request, ss *session, cur, cfg *config.Config, done string) {
	errs := &formErrors{}
	s.applyConfig(r.Context(), cfg, errs, func(string, string) string { return "" })
	if !errs.ok() {
		s.renderPage(w, http.StatusUnprocessableEntity, "routes", ss, view{Title: "Routes", Nav: "router",
			Error: errs.summary(), Page: s.routesView(cur, url.Values{}, nil)})
		return
	}
	s.logf(r, "routes saved", "routes", len(cfg.Routes))
	s.sessions.setFlash(ss, s.savedMessage(done))
	http.Redirect(w, r, "/routes", http.StatusSeeOther)
}
