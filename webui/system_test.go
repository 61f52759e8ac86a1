package webui_test

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// The System page shows [system] timezone, ntp_server, syslog and
// [provisioning] as they are, saves them, and refuses a bad value next to
// its field with nothing saved.
func TestSystemPage(t *testing.T) {
	e, c := ready(t)
	page := c.get("/system").Body.String()
	f := pageForm(page)
	for _, id := range []string{"timezone", "ntp_server", "syslog", "provisioning_url", "provisioning_interval", "firmware_url", "firmware_hour"} {
		if !f.Has(id) {
			t.Errorf("the System page has no field %s", id)
		}
	}
	if f.Get("provisioning_interval") != "24" || f.Get("firmware_hour") != "3" {
		t.Errorf("defaults shown as interval %q h, hour %q; want 24 and 3", f.Get("provisioning_interval"), f.Get("firmware_hour"))
	}
	before := *e.b.Config()
	wantRedirect(t, c.postPage("/system", "/system", f), "/system", "unchanged save")
	if after := *e.b.Config(); !reflect.DeepEqual(after.System, before.System) || !reflect.DeepEqual(after.Provisioning, before.Provisioning) {
		t.Fatalf("saving the page as shown changed it: %+v %+v", after.System, after.Provisioning)
	}

	f.Set("timezone", "Europe/Berlin")
	f.Set("ntp_server", "ntp.example.net")
	f.Set("syslog", "udp://192.0.2.10:514")
	f.Set("provisioning_url", "https://prov.example.net/{mac}.toml")
	f.Set("provisioning_interval", "0.5")
	wantRedirect(t, c.postPage("/system", "/system", f), "/system", "save")
	cfg := e.b.Config()
	if s := cfg.System; s.Timezone != "Europe/Berlin" || s.NTPServer != "ntp.example.net" || s.Syslog != "udp://192.0.2.10:514" {
		t.Errorf("[system] saved as %+v", s)
	}
	if p := cfg.Provisioning; p.URL != "https://prov.example.net/{mac}.toml" || p.Interval.D() != 30*time.Minute {
		t.Errorf("[provisioning] saved as %+v", p)
	}

	for _, bad := range []struct{ field, value, want string }{
		{"timezone", "Mars/Olympus", "IANA"},
		{"syslog", "http://192.0.2.10", "udp://"},
		{"provisioning_url", "ftp://x/{mac}", "http"},
		{"provisioning_interval", "0", "hours"},
		{"firmware_hour", "24", "hour"},
	} {
		g := pageForm(c.get("/system").Body.String())
		g.Set(bad.field, bad.value)
		res := c.postPage("/system", "/system", g)
		body := res.Body.String()
		if res.Code != 422 || !strings.Contains(body, `id="e-`+bad.field+`"`) || !strings.Contains(body, bad.want) {
			t.Errorf("%s = %q: status %d, want 422 with an error at the field naming %q", bad.field, bad.value, res.Code, bad.want)
		}
		if now := e.b.Config(); now.System != cfg.System || now.Provisioning != cfg.Provisioning {
			t.Errorf("%s = %q saved something", bad.field, bad.value)
		}
	}
}
