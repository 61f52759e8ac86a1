package webui_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/config"
)

var stateRE = regexp.MustCompile(`<li id="state-([a-z_]+)"[^>]*>([^<]*)</li>`)

// summary is the Features page's "in force now" list by id.
func summary(body string) map[string]string {
	m := map[string]string{}
	for _, x := range stateRE.FindAllStringSubmatch(body, -1) {
		m[x[1]] = html.UnescapeString(x[2])
	}
	return m
}

// The page shows the defaults, each field saves and shows again as saved,
// and the page posted as shown changes nothing.
func TestFeaturesRoundTrip(t *testing.T) {
	e, c := ready(t)
	body := c.get("/features").Body.String()
	f := pageForm(body)
	for k, want := range map[string]string{"dnd": "", "dnd_status": "486", "reject_anonymous": "", "forward_always": "",
		"forward_busy": "", "forward_no_answer": "", "forward_no_answer_after": "20", "forward_method": "redirect",
		"hotline": "", "warmline_after": "0", "call_waiting": "on", "ring_timeout": "120"} {
		if f.Get(k) != want {
			t.Errorf("%s shown as %q, want %q", k, f.Get(k), want)
		}
	}
	if s := summary(body); s["dnd"] != "Do not disturb is off." || s["forward"] != "Calls are not forwarded." || len(s) != 2 {
		t.Errorf("default summary: %v", s)
	}
	before := e.b.Config().Phone
	wantRedirect(t, c.postPage("/features", "/features", f), "/features", "unchanged save")
	if after := e.b.Config().Phone; !reflect.DeepEqual(after, before) {
		t.Fatalf("saving the page as shown changed it:\n got %+v\nwant %+v", after, before)
	}

	for _, tc := range []struct {
		id, in, shown string
		check         func(p config.Phone) bool
	}{
		{"dnd", "on", "on", func(p config.Phone) bool { return p.DND }},
		{"dnd", "", "", func(p config.Phone) bool { return !p.DND }},
		{"dnd_status", "480", "480", func(p config.Phone) bool { return p.DNDStatus == 480 }},
		{"dnd_status", "603", "603", func(p config.Phone) bool { return p.DNDStatus == 603 }},
		{"reject_anonymous", "on", "on", func(p config.Phone) bool { return p.RejectAnonymous }},
		{"reject_anonymous", "", "", func(p config.Phone) bool { return !p.RejectAnonymous }},
		{"forward_always", " 5551234 ", "5551234", func(p config.Phone) bool { return p.ForwardAlways == "5551234" }},
		{"forward_always", "", "", func(p config.Phone) bool { return p.ForwardAlways == "" }},
		{"forward_busy", "+4930123#", "+4930123#", func(p config.Phone) bool { return p.ForwardBusy == "+4930123#" }},
		{"forward_no_answer", "voicemail.box_1-a", "voicemail.box_1-a", func(p config.Phone) bool { return p.ForwardNoAnswer == "voicemail.box_1-a" }},
		{"forward_no_answer", strings.Repeat("9", 32), strings.Repeat("9", 32), func(p config.Phone) bool { return len(p.ForwardNoAnswer) == 32 }},
		{"forward_no_answer_after", "35", "35", func(p config.Phone) bool { return p.ForwardNoAnswerAfter.D() == 35*time.Second }},
		{"forward_no_answer_after", "1", "1", func(p config.Phone) bool { return p.ForwardNoAnswerAfter.D() == time.Second }},
		{"forward_no_answer_after", "300", "300", func(p config.Phone) bool { return p.ForwardNoAnswerAfter.D() == 5*time.Minute }},
		{"forward_method", "bridge", "bridge", func(p config.Phone) bool { return p.ForwardMethod == "bridge" }},
		{"forward_method", "redirect", "redirect", func(p config.Phone) bool { return p.ForwardMethod == "redirect" }},
		{"hotline", "*98", "*98", func(p config.Phone) bool { return p.Hotline == "*98" }},
		{"warmline_after", "5", "5", func(p config.Phone) bool { return p.WarmlineAfter.D() == 5*time.Second }},
		{"warmline_after", "60", "60", func(p config.Phone) bool { return p.WarmlineAfter.D() == time.Minute }},
		{"warmline_after", "0", "0", func(p config.Phone) bool { return p.WarmlineAfter == 0 }},
	} {
		f := pageForm(c.get("/features").Body.String())
		if tc.in == "" && (tc.id == "dnd" || tc.id == "reject_anonymous") {
			f.Del(tc.id)
		} else {
			f.Set(tc.id, tc.in)
		}
		wantRedirect(t, c.postPage("/features", "/features", f), "/features", tc.id+"="+tc.in)
		if !tc.check(e.b.Config().Phone) {
			t.Errorf("%s=%q: saved as %+v", tc.id, tc.in, e.b.Config().Phone)
		}
		if got := pageForm(c.get("/features").Body.String()).Get(tc.id); got != tc.shown {
			t.Errorf("%s=%q: shown as %q, want %q", tc.id, tc.in, got, tc.shown)
		}
	}
}

// Each bad value is refused next to its field with config's rule in
// words; nothing is saved, and everything typed is shown again.
func TestFeaturesRefused(t *testing.T) {
	e, c := ready(t)
	for _, tc := range []struct{ id, in, msg string }{
		{"forward_always", "555 1234", "without spaces"},
		{"forward_always", "555\t1234", "without spaces"},
		{"forward_busy", "555\x001234", "cannot be dialled"},
		{"forward_busy", "555;1234", `";" cannot be dialled`},
		{"forward_no_answer", "sip:bob@example.org", `":" cannot be dialled`},
		{"forward_no_answer", strings.Repeat("1", 33), "at most 32"},
		{"hotline", "9\r\n11", "cannot be dialled"},
		{"hotline", "émile", "cannot be dialled"},
		{"forward_no_answer_after", "0", "from 1 to 300"},
		{"forward_no_answer_after", "301", "from 1 to 300"},
		{"forward_no_answer_after", "20s", "from 1 to 300"},
		{"forward_no_answer_after", "", "from 1 to 300"},
		{"forward_no_answer_after", "NaN", "from 1 to 300"},
		{"warmline_after", "-1", "from 0 (dial at once) to 60"},
		{"warmline_after", "61", "from 0 (dial at once) to 60"},
		{"warmline_after", "abc", "from 0 (dial at once) to 60"},
		{"dnd_status", "404", "486"},
		{"dnd_status", "", "486"},
		{"forward_method", "fax", "redirect or bridge"},
		{"ring_timeout", "3601", "3600"},
	} {
		before, applies := e.b.Config(), e.b.Applies
		f := pageForm(c.get("/features").Body.String())
		f.Set("dnd", "on")
		f.Set("hotline", "4444")
		if tc.id == "hotline" {
			f.Set("forward_always", "4444")
		}
		f.Set(tc.id, tc.in)
		w := c.postPage("/features", "/features", f)
		what := tc.id + "=" + tc.in
		wantCode(t, w, http.StatusUnprocessableEntity, what)
		body := w.Body.String()
		errs := fieldErrors(body)
		if msg := html.UnescapeString(errs[tc.id]); !strings.Contains(msg, tc.msg) {
			t.Errorf("%q: error %q next to the field, want %q (errors %v)", what, msg, tc.msg, errs)
		}
		if len(errs) != 1 {
			t.Errorf("%q: errors on other fields: %v", what, errs)
		}
		if !strings.Contains(body, "Nothing was saved") {
			t.Errorf("%q: no summary", what)
		}
		shown := pageForm(body)
		want := tc.in
		if tc.id == "dnd_status" || tc.id == "forward_method" {
			want = "" // a select shows no choice it does not have
		}
		if shown.Get(tc.id) != want && !strings.ContainsAny(tc.in, "\x00\r") {
			t.Errorf("%q: shown as %q", what, shown.Get(tc.id))
		}
		if shown.Get("dnd") != "on" || (tc.id != "hotline" && shown.Get("hotline") != "4444") {
			t.Errorf("%q: the page lost what was entered: %v", what, shown)
		}
		// The summary is what is in force, not what was typed.
		if s := summary(body); s["dnd"] != "Do not disturb is off." {
			t.Errorf("%q: summary %v", what, s)
		}
		if e.b.Applies != applies || !reflect.DeepEqual(e.b.Config(), before) {
			t.Fatalf("%q: something was saved", what)
		}
	}
}

// The summary reads the running config on every load: a change made
// elsewhere (a star code on the handset) shows at once.
func TestFeaturesSummary(t *testing.T) {
	e, c := ready(t)
	cfg := *e.b.Config()
	p := &cfg.Phone
	p.DND, p.DNDStatus = true, 603
	p.ForwardAlways, p.ForwardBusy, p.ForwardNoAnswer = "5551234", "5550001", "5550002"
	p.ForwardNoAnswerAfter = config.Duration(15 * time.Second)
	p.RejectAnonymous, p.Hotline, p.WarmlineAfter = true, "112", config.Duration(4*time.Second)
	if err := e.b.Apply(context.Background(), &cfg); err != nil {
		t.Fatal(err)
	}
	body := c.get("/features").Body.String()
	want := map[string]string{
		"dnd":               "Do not disturb is ON: the phone does not ring, callers are told declined (603).",
		"forward_always":    "Calls are forwarded to 5551234 (by redirect).",
		"forward_busy":      "When busy, calls are forwarded to 5550001.",
		"forward_no_answer": "Calls not answered within 15 s are forwarded to 5550002.",
		"reject_anonymous":  "Anonymous calls are refused.",
		"hotline":           "Warm line: lifting the handset dials 112 after 4 s without a digit.",
	}
	if got := summary(body); !reflect.DeepEqual(got, want) {
		t.Fatalf("summary\n got %v\nwant %v", got, want)
	}
	if !strings.Contains(body, `<li id="state-dnd" class="on">`) {
		t.Error("DND on is not marked")
	}
	f := pageForm(body)
	if f.Get("dnd") != "on" || f.Get("dnd_status") != "603" || f.Get("forward_always") != "5551234" || f.Get("warmline_after") != "4" {
		t.Errorf("form: %v", f)
	}
	p.DND, p.WarmlineAfter, p.ForwardMethod = false, 0, "bridge"
	if err := e.b.Apply(context.Background(), &cfg); err != nil {
		t.Fatal(err)
	}
	s := summary(c.get("/features").Body.String())
	if s["dnd"] != "Do not disturb is off." || s["hotline"] != "Hot line: lifting the handset dials 112 at once." ||
		s["forward_always"] != "Calls are forwarded to 5551234 (by the ATA)." {
		t.Fatalf("after a change elsewhere: %v", s)
	}
}

// The Phone and Features pages each leave the other's settings alone.
func TestFeaturesAndPhonePagesIndependent(t *testing.T) {
	e, c := ready(t)
	f := pageForm(c.get("/features").Body.String())
	f.Set("dnd", "on")
	f.Set("forward_always", "5551234")
	f.Del("call_waiting")
	f.Set("ring_timeout", "45")
	wantRedirect(t, c.postPage("/features", "/features", f), "/features", "features")
	feat := e.b.Config().Phone

	g := pageForm(c.get("/phone").Body.String())
	for _, k := range []string{"dnd", "forward_always", "call_waiting", "ring_timeout", "three_way"} {
		if g.Has(k) {
			t.Errorf("the Phone page still has %s", k)
		}
	}
	g.Set("region", "de")
	wantRedirect(t, c.postPage("/phone", "/phone", g), "/phone", "phone")
	p := e.b.Config().Phone
	if p.Region != "de" {
		t.Fatalf("region %q", p.Region)
	}
	p.Region = feat.Region
	if !reflect.DeepEqual(p, feat) {
		t.Fatalf("the Phone page changed the features:\n got %+v\nwant %+v", p, feat)
	}
	wantRedirect(t, c.postPage("/features", "/features", pageForm(c.get("/features").Body.String())), "/features", "again")
	if e.b.Config().Phone.Region != "de" {
		t.Fatal("the Features page changed the region")
	}
}

// The nav has Features between Phone and Call Log.
func TestFeaturesNav(t *testing.T) {
	_, c := ready(t)
	body := c.get("/features").Body.String()
	i, j, k := strings.Index(body, `href="/phone"`), strings.Index(body, `href="/features" aria-current="page"`), strings.Index(body, `href="/calls"`)
	if i < 0 || j < 0 || k < 0 || !(i < j && j < k) {
		t.Fatalf("nav order phone %d features %d calls %d", i, j, k)
	}
}

// /api/config carries the new keys under their file names; a PUT sets
// them and a bad value is refused by key.
func TestAPIConfigFeatures(t *testing.T) {
	e, c := ready(t)
	tok := csrfToken(t, c)
	put := func(body string) *httptest.ResponseRecorder {
		return c.do("PUT", "/api/config", strings.NewReader(body), "Content-Type", "application/json", "X-CSRF-Token", tok)
	}
	get := func() map[string]any {
		var m map[string]any
		if err := json.Unmarshal(c.do("GET", "/api/config", nil).Body.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := get()
	p := m["phone"].(map[string]any)
	for k, v := range map[string]any{"dnd": false, "dnd_status": float64(486), "reject_anonymous": false, "forward_always": "",
		"forward_busy": "", "forward_no_answer": "", "forward_no_answer_after": "20s", "forward_method": "redirect",
		"hotline": "", "warmline_after": "0s"} {
		if got, ok := p[k]; !ok || got != v {
			t.Errorf("GET phone.%s = %#v (present %v), want %#v", k, got, ok, v)
		}
	}
	p["dnd"], p["dnd_status"], p["reject_anonymous"] = true, 480, true
	p["forward_always"], p["forward_busy"], p["forward_no_answer"] = "5551234", "5550001", "5550002"
	p["forward_no_answer_after"], p["forward_method"], p["hotline"], p["warmline_after"] = "45s", "bridge", "112", "3s"
	body, _ := json.Marshal(m)
	wantCode(t, put(string(body)), http.StatusNoContent, "PUT")
	got := e.b.Config().Phone
	if !got.DND || got.DNDStatus != 480 || !got.RejectAnonymous || got.ForwardAlways != "5551234" || got.ForwardBusy != "5550001" ||
		got.ForwardNoAnswer != "5550002" || got.ForwardNoAnswerAfter.D() != 45*time.Second || got.ForwardMethod != "bridge" ||
		got.Hotline != "112" || got.WarmlineAfter.D() != 3*time.Second {
		t.Fatalf("after PUT: %+v", got)
	}
	if p := get()["phone"].(map[string]any); p["dnd"] != true || p["forward_always"] != "5551234" || p["warmline_after"] != "3s" {
		t.Fatalf("GET after PUT: %v", p)
	}
	if s := summary(c.get("/features").Body.String()); s["dnd"] == "" || !strings.HasPrefix(s["dnd"], "Do not disturb is ON") ||
		s["forward_always"] != "Calls are forwarded to 5551234 (by the ATA)." {
		t.Fatalf("the page after a PUT: %v", s)
	}

	applies := e.b.Applies
	for _, tc := range []struct{ body, key string }{
		{`{"phone":{"dnd_status":404}}`, "phone.dnd_status"},
		{`{"phone":{"forward_always":"555 1234"}}`, "phone.forward_always"},
		{`{"phone":{"hotline":"` + strings.Repeat("1", 33) + `"}}`, "phone.hotline"},
		{`{"phone":{"forward_no_answer_after":"6m"}}`, "phone.forward_no_answer_after"},
		{`{"phone":{"forward_method":"fax"}}`, "phone.forward_method"},
		{`{"phone":{"warmline_after":"2m"}}`, "phone.warmline_after"},
		{`{"phone":{"dnd":"yes"}}`, "dnd"},
	} {
		w := put(tc.body)
		wantCode(t, w, http.StatusUnprocessableEntity, tc.body)
		if !strings.Contains(w.Body.String(), tc.key) {
			t.Errorf("%s: answer %s does not name %s", tc.body, w.Body.String(), tc.key)
		}
	}
	if e.b.Applies != applies {
		t.Fatal("an invalid PUT reached Apply")
	}
}
