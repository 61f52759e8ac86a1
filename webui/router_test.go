package webui_test

import (
	"bufio"
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/config"
	"github.com/openata/ata/sip/registrar"
	"github.com/openata/ata/webui"
)

const goodSIPPassword = "kitchen-phone-42"

// routerReady is a logged-in env in router mode: one line (ringing the
// port and 201), user 201 with a password written in clear (as by hand).
func routerReady(t *testing.T) (*env, *client) {
	t.Helper()
	e, c := ready(t)
	on := true
	cfg := config.Default()
	cfg.Router.Enabled = true
	cfg.Lines = []config.Line{{Active: &on, Number: "4930123456", ServiceDomain: "sip.example.net", AuthUser: "4930123456",
		Password: "s3cret-sip-pw", Registrar: "sip.example.net:5060", Ring: []string{"100", "201"}}}
	cfg.Users = []config.User{{Name: "201", Password: "plain-written-pw", DisplayName: "Kitchen", External: true}}
	if err := e.b.Apply(context.Background(), cfg); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return e, c
}

func (e *env) applies() int {
	e.b.Lock()
	defer e.b.Unlock()
	return e.b.Applies
}

// fieldError is the message shown at a field (id "e-<id>"), or "".
func fieldError(body, id string) string {
	i := strings.Index(body, `id="e-`+id+`">`)
	if i < 0 {
		return ""
	}
	rest := body[i+len(`id="e-`+id+`">`):]
	return html.UnescapeString(rest[:strings.Index(rest, "<")])
}

// The UI stores what the registrar verifies: config.UserHA1 is
// registrar.HA1 in the users' realm.
func TestUserHA1IsRegistrarHA1(t *testing.T) {
	for _, tc := range [][2]string{{"201", goodSIPPassword}, {"kitchen", "ü-unicode pass"}, {"", ""}} {
		m, s := config.UserHA1(tc[0], tc[1])
		wm, ws := registrar.HA1(tc[0], config.DigestRealm, tc[1])
		if m != wm || s != ws || len(m) != 32 || len(s) != 64 {
			t.Errorf("UserHA1(%q, %q) = %s, %s; registrar.HA1 = %s, %s", tc[0], tc[1], m, s, wm, ws)
		}
	}
}

func TestRouterUsersAdd(t *testing.T) {
	e, c := routerReady(t)
	w := c.postPage("/users", "/users", url.Values{"name": {"202"}, "display_name": {"Office"}, "password": {goodSIPPassword}, "external": {"on"}})
	wantRedirect(t, w, "/users", "add user")
	cfg := e.b.Config()
	if len(cfg.Users) != 2 {
		t.Fatalf("users: %+v", cfg.Users)
	}
	u := cfg.Users[1]
	md5hex, shahex := registrar.HA1("202", config.DigestRealm, goodSIPPassword)
	if u.Name != "202" || u.DisplayName != "Office" || !u.External || u.Password != "" || u.HA1MD5 != md5hex || u.HA1SHA256 != shahex {
		t.Fatalf("saved user %+v, want HA1 %s/%s and no password", u, md5hex, shahex)
	}
	data, _ := config.Marshal(cfg)
	if strings.Contains(string(data), goodSIPPassword) {
		t.Fatalf("the saved file holds the password:\n%s", data)
	}
	page := c.get("/users").Body.String()
	if !strings.Contains(page, "User 202 added") || !strings.Contains(page, `id="user-202"`) {
		t.Fatalf("users page after adding: %.2000s", page)
	}
	// A user added without "may call out" is internal only.
	wantRedirect(t, c.postPage("/users", "/users", url.Values{"name": {"203"}, "password": {"another-long-one"}}), "/users", "add 203")
	if u := e.b.Config().Users[2]; u.External {
		t.Fatalf("203 saved as external without the box ticked")
	}
}

// The users page lists each user's registered phones from the status.
func TestRouterUsersContacts(t *testing.T) {
	e, c := routerReady(t)
	e.b.SetContacts("201", webui.UserContact{URI: "sip:201@192.168.1.23:5060", Source: "192.168.1.23:5060", Transport: "udp",
		UserAgent: "Yealink SIP-T46U", Expires: e.clock.Now().Add(150 * time.Second)})
	page := c.get("/users").Body.String()
	for _, want := range []string{"sip:201@192.168.1.23:5060", "from 192.168.1.23:5060 (UDP), Yealink SIP-T46U, expires in 2:30", "Kitchen",
		"Password stored in clear"} {
		if !strings.Contains(page, want) {
			t.Errorf("users page lacks %q", want)
		}
	}
}

// Weak passwords, duplicate names and the port's extension are refused at
// their field with nothing saved.
func TestRouterUsersRefused(t *testing.T) {
	e, c := routerReady(t)
	before := e.applies()
	for _, tc := range []struct{ name, pw, field, want string }{
		{"202", "", "password", "Enter a password"},
		{"202", "short-pw", "password", "at least 10 characters (you typed 8)"},
		{"202", "my202phone!", "password", "contains the user name"},
		{"202", "password1234", "password", "commonly used"},
		{"202", "abcdefghijkl", "password", "sequential"},
		{"202", "xyxyxyxyxyxy", "password", "repeated"},
		{"201", goodSIPPassword, "name", "201 is already a user"},
		{"100", goodSIPPassword, "name", "analog port's extension"},
		{"", goodSIPPassword, "name", "Enter the extension"},
		{"20 1", goodSIPPassword, "name", "without spaces"},
	} {
		w := c.postPage("/users", "/users", url.Values{"name": {tc.name}, "password": {tc.pw}, "external": {"on"}})
		wantCode(t, w, http.StatusUnprocessableEntity, tc.name+"/"+tc.pw)
		if msg := fieldError(w.Body.String(), tc.field); !strings.Contains(msg, tc.want) {
			t.Errorf("%q/%q: at %s %q, want %q", tc.name, tc.pw, tc.field, msg, tc.want)
		}
		if strings.Contains(w.Body.String(), tc.pw) && tc.pw != "" {
			t.Errorf("%q: the refused password is echoed in the page", tc.pw)
		}
	}
	if got := e.applies(); got != before || len(e.b.Config().Users) != 1 {
		t.Fatalf("a refused form saved: %d applies (was %d), users %+v", got, before, e.b.Config().Users)
	}
}

// Editing resets the password (HA1 only from then on); a new extension
// needs a new password and moves the user in every ring list.
func TestRouterUsersEdit(t *testing.T) {
	e, c := routerReady(t)
	page := c.get("/users?edit=201").Body.String()
	if !strings.Contains(page, `action="/users/edit"`) || !strings.Contains(page, `value="Kitchen"`) {
		t.Fatalf("edit form: %.1500s", page)
	}
	// Reset the password.
	w := c.postPage("/users?edit=201", "/users/edit", url.Values{"user": {"201"}, "name": {"201"}, "display_name": {"Kitchen"},
		"password": {goodSIPPassword}, "external": {"on"}})
	wantRedirect(t, w, "/users", "reset password")
	u := e.b.Config().Users[0]
	if m, _ := registrar.HA1("201", config.DigestRealm, goodSIPPassword); u.Password != "" || u.HA1MD5 != m {
		t.Fatalf("after reset: %+v", u)
	}
	// Rename without a password: refused.
	before := e.applies()
	w = c.postPage("/users?edit=201", "/users/edit", url.Values{"user": {"201"}, "name": {"211"}, "password": {""}})
	wantCode(t, w, http.StatusUnprocessableEntity, "rename without password")
	if msg := fieldError(w.Body.String(), "password"); !strings.Contains(msg, "new extension needs a new password") {
		t.Fatalf("rename without password: %q", msg)
	}
	if e.applies() != before {
		t.Fatal("refused rename saved")
	}
	// Rename with one: the hashes are the new name's, the ring lists follow.
	e.b.SetContacts("201", webui.UserContact{URI: "sip:201@192.168.1.23", Source: "192.168.1.23:5060", Expires: e.clock.Now().Add(time.Hour)})
	w = c.postPage("/users?edit=201", "/users/edit", url.Values{"user": {"201"}, "name": {"211"}, "display_name": {"Kitchen"},
		"password": {"a-new-long-password"}})
	wantRedirect(t, w, "/users", "rename")
	cfg := e.b.Config()
	m, s := registrar.HA1("211", config.DigestRealm, "a-new-long-password")
	if u := cfg.Users[0]; u.Name != "211" || u.HA1MD5 != m || u.HA1SHA256 != s || u.Password != "" || u.External {
		t.Fatalf("renamed user %+v", u)
	}
	if !reflect.DeepEqual(cfg.Lines[0].Ring, []string{"100", "211"}) {
		t.Fatalf("line ring after rename: %v", cfg.Lines[0].Ring)
	}
	if page := c.get("/users").Body.String(); strings.Contains(page, "sip:201@") || strings.Contains(page, `id="user-201"`) {
		t.Fatalf("the old name's phone is still shown under the renamed user")
	}
}

func TestRouterUsersRemove(t *testing.T) {
	e, c := routerReady(t)
	page := c.get("/users?remove=201").Body.String()
	if !strings.Contains(page, `id="confirm-remove"`) || !strings.Contains(page, "ring list of line 1 (4930123456)") {
		t.Fatalf("no in-page confirmation: %.2000s", page)
	}
	if strings.Contains(c.get("/users").Body.String(), `id="confirm-remove"`) {
		t.Fatal("the confirmation shows without being asked for")
	}
	wantRedirect(t, c.postPage("/users", "/users/remove", url.Values{"user": {"201"}}), "/users", "remove")
	cfg := e.b.Config()
	if len(cfg.Users) != 0 || !reflect.DeepEqual(cfg.Lines[0].Ring, []string{"100"}) {
		t.Fatalf("after remove: users %+v, line ring %v", cfg.Users, cfg.Lines[0].Ring)
	}
	wantCode(t, c.postPage("/users", "/users/remove", url.Values{"user": {"201"}}), http.StatusConflict, "remove again")
}

func TestRouterTrunks(t *testing.T) {
	e, c := routerReady(t)
	good := url.Values{"trunk": {"0"}, "was": {""}, "name": {"carrier"}, "dial": {"carrier.example.net:5060"},
		"addresses": {"203.0.113.5,\r\n198.51.100.0/28"}, "ring": {"100", "201"}}
	wantRedirect(t, c.postPage("/trunks", "/trunks", good), "/trunks", "add trunk")
	want := config.Trunk{Name: "carrier", Dial: "carrier.example.net:5060", Addresses: []string{"203.0.113.5", "198.51.100.0/28"}, Ring: []string{"100", "201"}}
	if got := e.b.Config().Trunks; len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("trunks %+v", got)
	}
	page := c.get("/trunks").Body.String()
	// A new trunk rings the port unless told otherwise.
	if !strings.Contains(page, `id="trunk-carrier"`) || !strings.Contains(page, `id="f-ring-100" name="ring" value="100" checked>`) ||
		!strings.Contains(page, `id="f-ring-201" name="ring" value="201">`) {
		t.Fatalf("trunks page: %s", page)
	}
	page = c.get("/trunks?edit=0").Body.String()
	if !strings.Contains(page, `value="carrier.example.net:5060"`) || !strings.Contains(page, "203.0.113.5\n198.51.100.0/28</textarea>") ||
		!strings.Contains(page, `id="f-ring-201" name="ring" value="201" checked>`) {
		t.Fatalf("trunk edit page: %s", page)
	}
	before := e.applies()
	for _, tc := range []struct {
		key, val, field, want string
		ring                  []string
	}{
		{"addresses", "203.0.113.5\n10.0.0.0/33", "addresses", "not a network", nil},
		{"addresses", "carrier.example.net", "addresses", "not an address", nil},
		{"addresses", "", "addresses", "Empty: list the addresses", nil},
		{"name", "carrier", "name", "already a trunk's name", nil},
		{"name", "my carrier", "name", "without spaces", nil},
		{"dial", "", "dial", "Missing: the host", nil},
		{"", "", "ring", `"999" is no extension`, []string{"100", "999"}},
	} {
		f := url.Values{}
		for k, v := range good {
			f[k] = v
		}
		f.Set("trunk", "1")
		f.Set("name", "other")
		if tc.key != "" {
			f.Set(tc.key, tc.val)
		}
		if tc.ring != nil {
			f["ring"] = tc.ring
		}
		w := c.postPage("/trunks", "/trunks", f)
		wantCode(t, w, http.StatusUnprocessableEntity, tc.field+" "+tc.val)
		if msg := fieldError(w.Body.String(), tc.field); !strings.Contains(msg, tc.want) {
			t.Errorf("%s=%q: at %s %q, want %q", tc.key, tc.val, tc.field, msg, tc.want)
		}
	}
	if e.applies() != before || len(e.b.Config().Trunks) != 1 {
		t.Fatal("a refused trunk was saved")
	}
	// A route through it keeps it; a rename takes the route along.
	wantRedirect(t, c.postPage("/routes", "/routes", url.Values{"pattern": {"<9:>xx."}, "via": {"trunk:carrier"}}), "/routes", "add route")
	edit := url.Values{"trunk": {"0"}, "was": {"carrier"}, "name": {"carrier2"}, "dial": {"carrier.example.net"},
		"addresses": {"203.0.113.5"}, "ring": {"201"}}
	wantRedirect(t, c.postPage("/trunks?edit=0", "/trunks", edit), "/trunks", "edit trunk")
	if cfg := e.b.Config(); cfg.Trunks[0].Name != "carrier2" || cfg.Routes[0].Via != "trunk:carrier2" {
		t.Fatalf("after rename: %+v %+v", cfg.Trunks, cfg.Routes)
	}
	w := c.postPage("/trunks", "/trunks/delete", url.Values{"trunk": {"0"}, "was": {"carrier2"}})
	wantCode(t, w, http.StatusUnprocessableEntity, "delete trunk with a route")
	if !strings.Contains(w.Body.String(), "route 1 (&lt;9:&gt;xx.) goes through trunk carrier2") {
		t.Fatalf("refusal: %.2000s", w.Body.String())
	}
	if !strings.Contains(c.get("/trunks?delete=0").Body.String(), `id="confirm-delete"`) {
		t.Fatal("no in-page confirmation of deleting a trunk")
	}
	wantRedirect(t, c.postPage("/routes", "/routes/delete", url.Values{"route": {"0"}, "pattern": {"<9:>xx."}, "via": {"trunk:carrier2"}}), "/routes", "delete route")
	wantCode(t, c.postPage("/trunks", "/trunks/delete", url.Values{"trunk": {"0"}, "was": {"carrier"}}), http.StatusConflict, "stale delete")
	wantRedirect(t, c.postPage("/trunks", "/trunks/delete", url.Values{"trunk": {"0"}, "was": {"carrier2"}}), "/trunks", "delete trunk")
	if len(e.b.Config().Trunks) != 0 {
		t.Fatal("trunk not deleted")
	}
}

func TestRouterLinesRing(t *testing.T) {
	e, c := routerReady(t)
	wantRedirect(t, c.postPage("/trunks", "/trunks/lines", url.Values{"lines": {"1"}, "ring0": {"201"}}), "/trunks", "line ring")
	if r := e.b.Config().Lines[0].Ring; !reflect.DeepEqual(r, []string{"201"}) {
		t.Fatalf("line ring %v", r)
	}
	w := c.postPage("/trunks", "/trunks/lines", url.Values{"lines": {"1"}, "ring0": {"201", "555"}})
	wantCode(t, w, http.StatusUnprocessableEntity, "unknown extension")
	if msg := fieldError(w.Body.String(), "ring0"); !strings.Contains(msg, `"555" is no extension`) {
		t.Fatalf("at ring0: %q", msg)
	}
	if r := e.b.Config().Lines[0].Ring; !reflect.DeepEqual(r, []string{"201"}) {
		t.Fatalf("refused ring list saved: %v", r)
	}
}

func TestRouterRoutes(t *testing.T) {
	e, c := routerReady(t)
	wantRedirect(t, c.postPage("/trunks", "/trunks", url.Values{"trunk": {"0"}, "name": {"carrier"}, "dial": {"carrier.example.net"},
		"addresses": {"203.0.113.5"}}), "/trunks", "trunk")
	add := func(p, via string) {
		t.Helper()
		wantRedirect(t, c.postPage("/routes", "/routes", url.Values{"pattern": {p}, "via": {via}}), "/routes", "add "+p)
	}
	add("<9:>xx.", "trunk:carrier")
	add("0xx.", "line:1")
	before := e.applies()
	for _, tc := range []struct{ pattern, via, field, want string }{
		{"[12", "line:1", "pattern", ""},
		{"", "line:1", "pattern", "Enter the numbers"},
		{"1xx", "line:2", "via", "Choose a line or a trunk"},
		{"1xx", "trunk:nope", "via", "Choose a line or a trunk"},
	} {
		w := c.postPage("/routes", "/routes", url.Values{"pattern": {tc.pattern}, "via": {tc.via}})
		wantCode(t, w, http.StatusUnprocessableEntity, tc.pattern+" "+tc.via)
		if msg := fieldError(w.Body.String(), tc.field); msg == "" || !strings.Contains(msg, tc.want) {
			t.Errorf("%q via %q: at %s %q, want %q", tc.pattern, tc.via, tc.field, msg, tc.want)
		}
	}
	if e.applies() != before {
		t.Fatal("a refused route was saved")
	}
	try := func(n string) string {
		t.Helper()
		body := c.get("/routes?try=" + url.QueryEscape(n)).Body.String()
		i := strings.Index(body, `id="try-result" role="status">`)
		if i < 0 {
			return ""
		}
		rest := body[i+len(`id="try-result" role="status">`):]
		return html.UnescapeString(rest[:strings.Index(rest, "<")])
	}
	if r := try("9030123"); !strings.Contains(r, "through Trunk carrier") || !strings.Contains(r, "route 1 (<9:>xx.)") || !strings.Contains(r, "sent as 030123") {
		t.Errorf("try 9030123: %q", r)
	}
	if r := try("030123"); !strings.Contains(r, "through Line 1") || !strings.Contains(r, "route 2 (0xx.)") {
		t.Errorf("try 030123: %q", r)
	}
	if r := try("201"); !strings.Contains(r, "201 is a user") {
		t.Errorf("try 201: %q", r)
	}
	if r := try("100"); !strings.Contains(r, "analog port") {
		t.Errorf("try 100: %q", r)
	}
	if r := try("555"); !strings.Contains(r, "no route matches") {
		t.Errorf("try 555: %q", r)
	}
	// Move route 2 up: the order changes, and "try" follows it.
	wantRedirect(t, c.postPage("/routes", "/routes/move", url.Values{"route": {"1"}, "pattern": {"0xx."}, "via": {"line:1"}, "dir": {"up"}}), "/routes", "move up")
	if rs := e.b.Config().Routes; rs[0].Pattern != "0xx." || rs[1].Pattern != "<9:>xx." {
		t.Fatalf("after move: %+v", rs)
	}
	// The page as loaded before the move now names another route: refused.
	wantCode(t, c.postPage("/routes", "/routes/move", url.Values{"route": {"1"}, "pattern": {"0xx."}, "via": {"line:1"}, "dir": {"up"}}), http.StatusConflict, "stale move")
	wantCode(t, c.postPage("/routes", "/routes/move", url.Values{"route": {"0"}, "pattern": {"0xx."}, "via": {"line:1"}, "dir": {"up"}}), http.StatusConflict, "first up")
	wantRedirect(t, c.postPage("/routes", "/routes/move", url.Values{"route": {"0"}, "pattern": {"0xx."}, "via": {"line:1"}, "dir": {"down"}}), "/routes", "move down")
	if rs := e.b.Config().Routes; rs[0].Pattern != "<9:>xx." {
		t.Fatalf("after move down: %+v", rs)
	}
}

func TestRouterSettings(t *testing.T) {
	e, c := ready(t)
	page := c.get("/router").Body.String()
	if !strings.Contains(page, `id="router-off"`) || !strings.Contains(page, "192.168.0.0/16") {
		t.Fatalf("settings page: %.2000s", page)
	}
	f := pageForm(page)
	f.Set("enabled", "on")
	f.Set("allow_networks", "192.168.0.0/16\n10.0.0.0/33")
	before := e.applies()
	w := c.postPage("/router", "/router", f)
	wantCode(t, w, http.StatusUnprocessableEntity, "bad network")
	if msg := fieldError(w.Body.String(), "allow_networks"); !strings.Contains(msg, `"10.0.0.0/33" is not a network`) {
		t.Fatalf("at allow_networks: %q", msg)
	}
	for k, v := range map[string]string{"listen": "0.0.0.0", "auth_failures": "0", "block_for": "90000", "port_extension": "1 00"} {
		g := pageForm(page)
		g.Set(k, v)
		w := c.postPage("/router", "/router", g)
		wantCode(t, w, http.StatusUnprocessableEntity, k)
		if fieldError(w.Body.String(), k) == "" {
			t.Errorf("%s=%q: no error at the field", k, v)
		}
	}
	if e.applies() != before || e.b.Config().Router.Enabled {
		t.Fatal("refused settings were saved")
	}
	f.Set("allow_networks", "192.168.0.0/16, 10.0.0.0/8")
	f.Set("port_extension", "10")
	wantRedirect(t, c.postPage("/router", "/router", f), "/router", "save")
	r := e.b.Config().Router
	if !r.Enabled || !reflect.DeepEqual(r.AllowNetworks, []string{"192.168.0.0/16", "10.0.0.0/8"}) || r.PortExtension != "10" || r.BlockFor.D() != 10*time.Minute {
		t.Fatalf("saved %+v", r)
	}
}

// The port's new extension replaces the old one in every ring list.
func TestRouterPortExtensionRenamesRings(t *testing.T) {
	e, c := routerReady(t)
	f := pageForm(c.get("/router").Body.String())
	f.Set("allow_networks", "192.168.0.0/16") // a textarea: pageForm reads inputs only
	f.Set("port_extension", "10")
	wantRedirect(t, c.postPage("/router", "/router", f), "/router", "save")
	if r := e.b.Config().Lines[0].Ring; !reflect.DeepEqual(r, []string{"10", "201"}) {
		t.Fatalf("line ring %v", r)
	}
}

func routedCall(now time.Time) webui.RoutedCall {
	return webui.RoutedCall{From: "user:201", Caller: "201", To: "030123456", Route: "line:1", AnsweredBy: "030123456",
		Start: now.Add(-70 * time.Second), Answered: now.Add(-65 * time.Second), Legs: []webui.RoutedLeg{
			{ID: "u1", Side: "caller", Codec: "PCMU", Loss: 0.001, JitterMS: 1.4, MOS: 4.38},
			{ID: "l1", Side: "callee", Codec: "PCMA", Loss: 0.02, JitterMS: 6.2, MOS: 4.01}}}
}

func TestRouterStatus(t *testing.T) {
	e, c := ready(t)
	st, raw := statusOf(t, c)
	if st.Router != nil || !strings.Contains(raw, `"router":null`) || !strings.Contains(c.get("/").Body.String(), `id="router-card" hidden`) {
		t.Fatalf("router off: %+v, card shown", st.Router)
	}
	if m := c.get("/metrics").Body.String(); strings.Contains(m, "ata_router_") {
		t.Fatal("router metrics while router mode is off")
	}
	e, c = routerReady(t)
	now := e.clock.Now()
	// Live: the events stream carries the router (app.js renders it).
	next := events(t, e, c)
	if r := next().Router; r == nil || len(r.Calls) != 0 || r.UsersRegistered != 0 {
		t.Fatalf("first event's router: %+v", r)
	}
	e.b.SetContacts("201", webui.UserContact{URI: "sip:201@192.168.1.23:5060", Source: "192.168.1.23:5060", Transport: "udp",
		UserAgent: "Yealink", Expires: now.Add(time.Hour)})
	if r := next().Router; r == nil || r.UsersRegistered != 1 {
		t.Fatalf("event after a registration: %+v", r)
	}
	e.b.SetRouterCounters(23, 1, 412, 57)
	e.b.SetRoutedCalls(routedCall(now))
	for r := next().Router; len(r.Calls) == 0; r = next().Router {
	}
	st, _ = statusOf(t, c)
	page := c.get("/").Body.String()
	r := st.Router
	if r == nil || r.UsersRegistered != 1 || len(r.Users) != 1 || r.Users[0].Contacts[0].ExpiresInS != 3600 || len(r.Calls) != 1 {
		t.Fatalf("router status %+v", r)
	}
	call := r.Calls[0]
	if call.State != "answered" || call.DurationS != 65 || call.Text != "201 → 030123456 via line:1" || len(call.Legs) != 2 ||
		call.Legs[1].Codec != "PCMA" || call.Legs[1].Label != "Callee side (030123456)" || call.Legs[0].MOS != 4.38 {
		t.Fatalf("routed call %+v", call)
	}
	for _, want := range []string{`id="router-card">`, "1 of 1 users registered, 1 source blocked", "201 → 030123456 via line:1",
		"Caller side (201)", "Callee side (030123456)", "<td>PCMA</td>", "2.0 %", "4.01", ">1:05<"} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	m := c.get("/metrics").Body.String()
	for _, want := range []string{"ata_router_users_registered 1\n", "ata_router_auth_failures_total 23\n", "ata_router_blocked_sources 1\n",
		"ata_router_dropped_outside_total 412\n", "ata_router_calls 1\n", "# TYPE ata_router_auth_failures_total counter\n"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// events opens /api/events and returns a func giving the next status.
func events(t *testing.T, e *env, c *client) func() webui.StatusJSON {
	t.Helper()
	ts := httptest.NewServer(e.h)
	t.Cleanup(ts.Close)
	req, _ := http.NewRequestWithContext(t.Context(), "GET", ts.URL+"/api/events", nil)
	req.AddCookie(&http.Cookie{Name: "ata_session", Value: c.session()})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	data := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				data <- d
			}
		}
		close(data)
	}()
	return func() webui.StatusJSON {
		t.Helper()
		select {
		case d := <-data:
			var st webui.StatusJSON
			if err := json.Unmarshal([]byte(d), &st); err != nil {
				t.Fatalf("event %q: %v", d, err)
			}
			return st
		case <-time.After(3 * time.Second):
			t.Fatal("no event")
		}
		return webui.StatusJSON{}
	}
}

func TestRouterCallLog(t *testing.T) {
	e, c := ready(t)
	start := e.clock.Now().Add(-time.Hour)
	e.b.AddCalls(
		webui.CallRecord{Start: start, End: start.Add(time.Minute), Direction: "out", Number: "030987654", Name: "201", Duration: 55,
			Cause: "normal", From: "user:201", Route: "line:1", AnsweredBy: "030987654", EndedBy: "callee",
			Codec: "PCMU", Loss: 0.002, JitterMS: 1.8, MOS: 4.36, PeerLeg: "l", PeerCodec: "PCMA", PeerLoss: 0.031, PeerJitterMS: 7.5, PeerMOS: 3.12},
		webui.CallRecord{Start: start, End: start.Add(time.Minute), Direction: "in", Number: "+4930555777", Duration: 40, Cause: "normal",
			From: "trunk:carrier", Route: "trunk:carrier", AnsweredBy: "202", EndedBy: "caller", Remote: true},
		webui.CallRecord{Start: start, End: start.Add(time.Minute), Direction: "in", Number: "5001", Cause: "normal", Remote: true},
	)
	page := html.UnescapeString(c.get("/calls").Body.String())
	for _, want := range []string{"201 → 030987654", "via line:1, answered by 030987654", "Callee (030987654)",
		"other leg: PCMA", "3.1 %", "8 ms", "3.12", "+4930555777 → 202", "via trunk:carrier, answered by 202", "Caller (+4930555777)"} {
		if !strings.Contains(page, want) {
			t.Errorf("call log lacks %q", want)
		}
	}
	// A call of the port alone keeps its plain form.
	if !strings.Contains(page, `<td data-label="Number">5001</td>`) {
		t.Errorf("the port's own call is not plain")
	}
}
