package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/internal/baresiptest"
	"github.com/openata/ata/internal/kamailiotest"
)

// TestRouterUserAddedFromWeb: on the real firmware in router mode, user
// 201 is added through the Users page's form; a baresip phone then
// registers with that password, and the Users page and /api/status show
// its contact, all within a minute of starting the form. The saved file
// holds the password's HA1 only.
func TestRouterUserAddedFromWeb(t *testing.T) {
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "secret"}})
	users, web := freeUDPPort(t), freePort(t)
	cfg := strings.Replace(lineConfig(kam, ""), `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = %q", web), 1) + fmt.Sprintf(`
[router]
enabled = true
listen = %q
`, users)
	f := startFirmware(t, cfg)
	w := loginWeb(t, "http://"+web)
	const pw = "kitchen-phone-42"

	start := time.Now()
	// A weak password is refused: nothing is saved.
	if res := w.form("/users", url.Values{"name": {"201"}, "password": {"short"}, "external": {"on"}}); res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("weak password: %d, want 422", res.StatusCode)
	}
	res := w.form("/users", url.Values{"name": {"201"}, "display_name": {"Kitchen"}, "password": {pw}, "external": {"on"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/users" {
		t.Fatalf("add user: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	// Start fails the test unless the phone registers within 5 s.
	baresiptest.Start(t, baresiptest.Opts{User: "201", Registrar: users, Password: pw})
	for {
		page := w.get("/users")
		_, data := w.api("GET", "/api/status", nil)
		var st struct {
			Router *struct {
				UsersRegistered int `json:"users_registered"`
				Users           []struct {
					Name     string `json:"name"`
					Contacts []struct {
						URI, Source, UserAgent string
					} `json:"contacts"`
				} `json:"users"`
			} `json:"router"`
		}
		json.Unmarshal(data, &st)
		if st.Router != nil && st.Router.UsersRegistered == 1 && strings.Contains(page, `id="user-201"`) &&
			strings.Contains(page, "(UDP), baresip") && strings.Contains(page, "expires in") {
			t.Logf("user added and its phone registered, shown on the Users page, %v after starting the form", time.Since(start).Round(time.Millisecond))
			break
		}
		if time.Since(start) > time.Minute {
			i := strings.Index(page, `<table class="users"`)
			j := strings.Index(string(data), `"router"`)
			t.Fatalf("no registered phone for 201 a minute after adding it:\nstatus %.3000s\npage %.3000s", data[max(j, 0):], page[max(i, 0):])
		}
		time.Sleep(200 * time.Millisecond)
	}
	saved, err := os.ReadFile(filepath.Join(dataDirOf(t, f), "ata.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if s := string(saved); strings.Contains(s, pw) || !strings.Contains(s, "ha1_md5") || !strings.Contains(s, "ha1_sha256") {
		t.Fatalf("saved config:\n%s", s)
	}
}

// get fetches a page's body.
func (w *webClient) get(path string) string {
	w.t.Helper()
	res, err := w.http.Get(w.base + path)
	if err != nil {
		w.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}
