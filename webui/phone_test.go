package webui_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/config"
)

var (
	inputRE  = regexp.MustCompile(`<input type="(\w+)" id="f-[^"]*" name="([^"]+)"([^>]*)>`)
	valueRE  = regexp.MustCompile(` value="([^"]*)"`)
	selectRE = regexp.MustCompile(`(?s)<select id="f-[^"]*" name="([^"]+)"[^>]*>(.*?)</select>`)
	chosenRE = regexp.MustCompile(`<option value="([^"]*)" selected>`)
)

// pageForm is what a browser posts for a rendered settings form left as it
// is: every input's value, ticked boxes as "on", unticked ones absent.
func pageForm(body string) url.Values {
	f := url.Values{}
	for _, m := range inputRE.FindAllStringSubmatch(body, -1) {
		kind, name, attrs := m[1], m[2], m[3]
		switch {
		case kind == "checkbox":
			if strings.Contains(attrs, " checked") {
				f.Set(name, "on")
			}
		case kind == "password":
		default:
			if v := valueRE.FindStringSubmatch(attrs); v != nil {
				f.Set(name, html.UnescapeString(v[1]))
			} else {
				f.Set(name, "")
			}
		}
	}
	for _, m := range selectRE.FindAllStringSubmatch(body, -1) {
		if v := chosenRE.FindStringSubmatch(m[2]); v != nil {
			f.Set(m[1], html.UnescapeString(v[1]))
		}
	}
	return f
}

var features = []string{"call_waiting", "call_waiting_caller_id", "three_way", "transfer_on_hangup"}

func featureValues(p config.Phone) map[string]bool {
	return map[string]bool{"call_waiting": p.CallWaiting, "call_waiting_caller_id": p.CallWaitingCallerID,
		"three_way": p.ThreeWay, "transfer_on_hangup": p.TransferOnHangup}
}

// The Features page shows the calling features as they are, saves each box
// ticked and unticked, and the ring timeout in whole seconds.
func TestFeaturesCallWaitingGroup(t *testing.T) {
	e, c := ready(t)
	f := pageForm(c.get("/features").Body.String())
	for _, id := range features {
		if f.Get(id) != "on" {
			t.Errorf("%s is on by default but the page shows it unticked", id)
		}
	}
	if f.Get("ring_timeout") != "120" {
		t.Errorf("ring_timeout shown as %q, want 120", f.Get("ring_timeout"))
	}
	// The page posted as shown changes nothing.
	before := e.b.Config().Phone
	wantRedirect(t, c.postPage("/features", "/features", f), "/features", "unchanged save")
	if after := e.b.Config().Phone; !reflect.DeepEqual(after, before) {
		t.Fatalf("saving the page as shown changed the phone settings:\n got %+v\nwant %+v", after, before)
	}

	for _, id := range features {
		f := pageForm(c.get("/features").Body.String())
		f.Del(id) // unticked: the browser leaves it out
		wantRedirect(t, c.postPage("/features", "/features", f), "/features", "untick "+id)
		for k, on := range featureValues(e.b.Config().Phone) {
			if on != (k != id) {
				t.Errorf("after unticking %s: %s = %v", id, k, on)
			}
		}
		g := pageForm(c.get("/features").Body.String())
		if g.Has(id) {
			t.Errorf("after unticking %s the page shows it ticked", id)
		}
		g.Set(id, "on")
		wantRedirect(t, c.postPage("/features", "/features", g), "/features", "tick "+id)
		for k, on := range featureValues(e.b.Config().Phone) {
			if !on {
				t.Errorf("after ticking %s again: %s is off", id, k)
			}
		}
		if pageForm(c.get("/features").Body.String()).Get(id) != "on" {
			t.Errorf("after ticking %s the page shows it unticked", id)
		}
	}

	for _, tc := range []struct {
		in   string
		want time.Duration
	}{{"30", 30 * time.Second}, {"0", 0}, {" 3600 ", time.Hour}, {"1", time.Second}} {
		f := pageForm(c.get("/features").Body.String())
		f.Set("ring_timeout", tc.in)
		wantRedirect(t, c.postPage("/features", "/features", f), "/features", "ring_timeout "+tc.in)
		if got := e.b.Config().Phone.RingTimeout.D(); got != tc.want {
			t.Errorf("ring_timeout %q saved as %v, want %v", tc.in, got, tc.want)
		}
		if shown := pageForm(c.get("/features").Body.String()).Get("ring_timeout"); shown != strings.TrimSpace(tc.in) {
			t.Errorf("ring_timeout %q shown as %q", tc.in, shown)
		}
	}
}

// A bad ring timeout is refused next to its field; nothing of the page is
// saved, and the page keeps what was entered.
func TestFeaturesRingTimeoutRefused(t *testing.T) {
	e, c := ready(t)
	for _, bad := range []string{"-1", "3601", "1.5", "30s", "abc", ""} {
		before, applies := e.b.Config(), e.b.Applies
		f := pageForm(c.get("/features").Body.String())
		f.Set("ring_timeout", bad)
		f.Del("call_waiting")
		f.Set("forward_busy", "5550000")
		w := c.postPage("/features", "/features", f)
		wantCode(t, w, http.StatusUnprocessableEntity, "ring_timeout "+bad)
		body := w.Body.String()
		if msg := fieldErrors(body)["ring_timeout"]; !strings.Contains(msg, "0 to ring until the caller hangs up") || !strings.Contains(msg, "3600") {
			t.Errorf("ring_timeout %q: error %q next to the field (errors %v)", bad, msg, fieldErrors(body))
		}
		if !strings.Contains(body, "Nothing was saved") {
			t.Errorf("ring_timeout %q: no summary", bad)
		}
		shown := pageForm(body)
		if shown.Get("ring_timeout") != bad || shown.Has("call_waiting") || shown.Get("forward_busy") != "5550000" {
			t.Errorf("ring_timeout %q: the page lost what was entered: %v", bad, shown)
		}
		if e.b.Applies != applies || !reflect.DeepEqual(e.b.Config(), before) {
			t.Fatalf("ring_timeout %q: something was saved", bad)
		}
	}
}

// A ring timeout that is not whole seconds (possible in the file) survives
// saving the page untouched.
func TestFeaturesRingTimeoutFractionKept(t *testing.T) {
	e, c := ready(t)
	cfg := *e.b.Config()
	cfg.Phone.RingTimeout = config.Duration(90500 * time.Millisecond)
	if err := e.b.Apply(context.Background(), &cfg); err != nil {
		t.Fatal(err)
	}
	f := pageForm(c.get("/features").Body.String())
	if f.Get("ring_timeout") != "90.5" {
		t.Fatalf("shown as %q", f.Get("ring_timeout"))
	}
	wantRedirect(t, c.postPage("/features", "/features", f), "/features", "untouched")
	if d := e.b.Config().Phone.RingTimeout.D(); d != 90500*time.Millisecond {
		t.Fatalf("ring_timeout became %v", d)
	}
	f.Set("ring_timeout", "91.5")
	wantCode(t, c.postPage("/features", "/features", f), http.StatusUnprocessableEntity, "a new fraction")
}

// The SIP page edits the shared dial plan but leaves the calling features
// alone.
func TestSIPSaveKeepsCallingFeatures(t *testing.T) {
	e, c := ready(t)
	cfg := *e.b.Config()
	cfg.Phone.CallWaiting, cfg.Phone.ThreeWay = false, false
	cfg.Phone.RingTimeout = config.Duration(45 * time.Second)
	if err := e.b.Apply(context.Background(), &cfg); err != nil {
		t.Fatal(err)
	}
	wantRedirect(t, c.postPage("/sip", "/sip", sipForm()), "/sip", "save")
	p := e.b.Config().Phone
	if p.CallWaiting || p.ThreeWay || !p.CallWaitingCallerID || !p.TransferOnHangup || p.RingTimeout.D() != 45*time.Second {
		t.Fatalf("the SIP page changed the calling features: %+v", p)
	}
}

// /api/config carries the calling features under their file keys; a PUT
// sets them, a bad value is refused by key, and (as in a file) a key left
// out takes its default.
func TestAPIConfigCallingFeatures(t *testing.T) {
	e, c := ready(t)
	tok := csrfToken(t, c)
	put := func(body string) *httptest.ResponseRecorder {
		return c.do("PUT", "/api/config", strings.NewReader(body), "Content-Type", "application/json", "X-CSRF-Token", tok)
	}
	phone := func() map[string]any {
		var m map[string]any
		if err := json.Unmarshal(c.do("GET", "/api/config", nil).Body.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		p, _ := m["phone"].(map[string]any)
		return p
	}
	want := map[string]any{"call_waiting": true, "call_waiting_caller_id": true, "three_way": true, "transfer_on_hangup": true, "ring_timeout": "2m0s"}
	p := phone()
	for k, v := range want {
		if p[k] != v {
			t.Errorf("GET phone.%s = %#v, want %#v", k, p[k], v)
		}
	}

	var m map[string]any
	json.Unmarshal(c.do("GET", "/api/config", nil).Body.Bytes(), &m)
	mp := m["phone"].(map[string]any)
	mp["call_waiting"], mp["three_way"], mp["ring_timeout"] = false, false, "30s"
	body, _ := json.Marshal(m)
	wantCode(t, put(string(body)), http.StatusNoContent, "PUT")
	got := featureValues(e.b.Config().Phone)
	if got["call_waiting"] || got["three_way"] || !got["call_waiting_caller_id"] || !got["transfer_on_hangup"] ||
		e.b.Config().Phone.RingTimeout.D() != 30*time.Second {
		t.Fatalf("after PUT: %+v", e.b.Config().Phone)
	}
	if p := phone(); p["call_waiting"] != false || p["three_way"] != false || p["ring_timeout"] != "30s" {
		t.Fatalf("GET after PUT: %v", p)
	}

	applies := e.b.Applies
	for _, tc := range []struct{ body, key string }{
		{`{"phone":{"ring_timeout":"500ms"}}`, "phone.ring_timeout"},
		{`{"phone":{"ring_timeout":"2h"}}`, "phone.ring_timeout"},
		{`{"phone":{"call_waiting":"yes"}}`, "call_waiting"},
		{`{"phone":{"three_way":1}}`, "three_way"},
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

	// Unlike a form post, a key left out is not "off": it is the default.
	wantCode(t, put(`{"phone":{"region":"us"}}`), http.StatusNoContent, "PUT without the features")
	if p := e.b.Config().Phone; !p.CallWaiting || !p.ThreeWay || p.RingTimeout.D() != 120*time.Second {
		t.Fatalf("left-out keys did not take their defaults: %+v", p)
	}
}
