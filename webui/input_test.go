package webui_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"maps"
	"mime/multipart"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/openata/ata/config"
	"github.com/pelletier/go-toml/v2"
)

// badValues are what a crafted POST puts into a field: a header
// injection, a NUL, a 10 kB value.
var badValues = []struct{ name, v string }{
	{"CRLF", "Bob\r\nX-Injected: yes"},
	{"NUL", "12\x003"},
	{"10kB", strings.Repeat("7", 10240)},
}

// checkboxRE finds the checkboxes of a form: they carry no text (any
// value but "on" is "off").
var checkboxRE = regexp.MustCompile(`<input type="checkbox" id="f-[^"]*" name="([^"]+)"`)

// Every text field and select of every settings form refuses a CRLF, a NUL
// and a 10 kB value with 422, the field marked, and nothing saved.
func TestFormsRefuseControlCharactersAndHugeValues(t *testing.T) {
	for _, page := range []string{"/sip?line=0", "/sip?line=1", "/phone", "/features"} {
		e, c := ready(t)
		e.b.Apply(t.Context(), withLine(e.b.Config()))
		body := c.get(page).Body.String()
		base := pageForm(body)
		target, _, _ := strings.Cut(page, "?")
		if strings.HasPrefix(page, "/sip") {
			base.Set("line", strings.TrimPrefix(page, "/sip?line="))
			base.Set("password", "")
			if page == "/sip?line=1" { // a new line: fill what it needs
				base.Set("number", "2000")
				base.Set("service_domain", "y.example")
			}
		}
		checkboxes := map[string]bool{}
		for _, m := range checkboxRE.FindAllStringSubmatch(body, -1) {
			checkboxes[m[1]] = true
		}
		fields := slices.Sorted(maps.Keys(base))
		if len(fields) < 8 {
			t.Fatalf("%s: only %d fields found: %v", page, len(fields), fields)
		}
		// The form as shown saves: the refusals below are the values'.
		wantCode(t, c.postPage(page, target, cloneForm(base)), http.StatusSeeOther, page+" unchanged")
		for _, name := range fields {
			if checkboxes[name] || name == "line" {
				continue
			}
			for _, bad := range badValues {
				t.Run(fmt.Sprintf("%s/%s/%s", page, name, bad.name), func(t *testing.T) {
					before, applies := e.b.Config(), e.b.Applies
					f := cloneForm(base)
					f.Set(name, bad.v)
					w := c.postPage(page, target, f)
					wantCode(t, w, http.StatusUnprocessableEntity, name)
					errs := fieldErrors(w.Body.String())
					if errs[name] == "" {
						t.Fatalf("no error next to %s: %v", name, errs)
					}
					if e.b.Applies != applies || e.b.Config() != before {
						t.Fatal("the backend's config changed")
					}
					if len(w.Body.String()) > 100_000 {
						t.Fatalf("the page is %d bytes", len(w.Body.String()))
					}
				})
			}
		}
	}
}

func cloneForm(f url.Values) url.Values {
	n := url.Values{}
	for k, v := range f {
		n[k] = slices.Clone(v)
	}
	return n
}

// The messages name the problem in words.
func TestFormMessages(t *testing.T) {
	e, c := ready(t)
	e.b.Apply(t.Context(), withLine(e.b.Config()))
	f := pageForm(c.get("/sip?line=0").Body.String())
	f.Set("display_name", "Bob\r\nX-Injected: yes")
	errs := fieldErrors(c.postPage("/sip", "/sip", f).Body.String())
	if errs["display_name"] != "Contains a line break." {
		t.Errorf("display name: %q", errs["display_name"])
	}
	f = pageForm(c.get("/sip?line=0").Body.String())
	f.Set("display_name", strings.Repeat("x", 10240))
	errs = fieldErrors(c.postPage("/sip", "/sip", f).Body.String())
	if errs["display_name"] != "10240 characters, at most 64." {
		t.Errorf("display name: %q", errs["display_name"])
	}
}

// A second line with the first line's number is refused at its field.
func TestSIPDuplicateLineNumber(t *testing.T) {
	e, c := ready(t)
	e.b.Apply(t.Context(), withLine(e.b.Config()))
	f := sipForm()
	f.Set("line", "1")
	f.Set("number", "7")
	w := c.postPage("/sip?line=1", "/sip", f)
	wantCode(t, w, http.StatusUnprocessableEntity, "duplicate number")
	if got := fieldErrors(w.Body.String())["number"]; html.UnescapeString(got) != "7 is already line 1's number." {
		t.Fatalf("number: %q", got)
	}
	if n := len(e.b.Config().Lines); n != 1 {
		t.Fatalf("%d lines", n)
	}
}

// A form far over any setting's size is refused as too large, not as an
// expired form.
func TestFormTooLarge(t *testing.T) {
	e, c := ready(t)
	f := sipForm()
	f.Set("display_name", strings.Repeat("x", 300<<10))
	w := c.postPage("/sip", "/sip", f)
	wantCode(t, w, http.StatusRequestEntityTooLarge, "300 KiB form")
	body := html.UnescapeString(w.Body.String())
	if !strings.Contains(body, "larger than 256 KiB") || strings.Contains(body, "expired") {
		t.Fatalf("body: %.600s", body)
	}
	if e.b.Applies != 0 {
		t.Fatal("saved")
	}
}

func uploadBody(tok, name string, data []byte) (*bytes.Buffer, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("csrf", tok)
	fw, _ := mw.CreateFormFile("config", name)
	fw.Write(data)
	mw.Close()
	return &buf, mw.FormDataContentType()
}

// An upload over 1 MB gets its own message with its size; one within the
// limit is read; the page states the limit.
func TestConfigUploadLimit(t *testing.T) {
	e, c := ready(t)
	page := c.get("/maintenance").Body.String()
	if !strings.Contains(page, "at most 1 MB") {
		t.Fatal("the Maintenance page does not state the upload limit")
	}
	tok := c.csrf("/maintenance")
	before := e.b.Config()
	for _, tc := range []struct {
		size int
		want string
	}{
		{1_500_000, "The file is 1.5 MB; the limit is 1 MB."},
		{5_600_000, "The file is 5.6 MB; the limit is 1 MB."},
		{1_000_001, "The file is just over 1 MB; the limit is 1 MB."},
	} {
		data := bytes.Repeat([]byte("# padding\n"), tc.size/10+1)[:tc.size]
		w := upload(c, "big.toml", data, tok)
		wantCode(t, w, http.StatusRequestEntityTooLarge, fmt.Sprint(tc.size))
		body := html.UnescapeString(w.Body.String())
		if got := html.UnescapeString(fieldErrors(w.Body.String())["config"]); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%d bytes: %q, want %q", tc.size, got, tc.want)
		}
		if strings.Contains(body, "expired") {
			t.Errorf("%d bytes: 'expired' on the page", tc.size)
		}
	}
	if e.b.Applies != 0 || e.b.Config() != before {
		t.Fatal("an upload over the limit changed the config")
	}
	// Exactly the limit: read and applied.
	cfg := []byte("[phone]\nregion = \"de\"\n")
	data := append(cfg, bytes.Repeat([]byte("#"), 1_000_000-len(cfg))...)
	wantCode(t, upload(c, "full.toml", data, tok), http.StatusSeeOther, "1 MB upload")
	if e.b.Config().Phone.Region != "de" {
		t.Fatal("the 1 MB upload was not applied")
	}
	// A script's upload with the token in the header (curl -F config=@file).
	body, ct := uploadBody("", "script.toml", []byte("[phone]\nregion = \"uk\"\n"))
	wantCode(t, c.do("POST", "/maintenance/config", body, "Content-Type", ct, "X-CSRF-Token", tok), http.StatusSeeOther, "upload with the header token")
	if e.b.Config().Phone.Region != "uk" {
		t.Fatal("the upload with the header token was not applied")
	}
	// Over the limit with a forged token: still refused as a forgery.
	big := bytes.Repeat([]byte("#"), 2_000_000)
	wantCode(t, upload(c, "big.toml", big, "forged"), http.StatusForbidden, "forged big upload")
}

// twoLineConfig is the backend's config with lines 1000 and 2000.
func twoLineConfig(c *config.Config) *config.Config {
	n := *c
	n.Lines = []config.Line{{Number: "1000", ServiceDomain: "x.example", Password: "pw"},
		{Number: "2000", ServiceDomain: "y.example", DisplayName: "Hall"}}
	return &n
}

var confirmRE = regexp.MustCompile(`(?s)<section class="notice err confirm" id="confirm-delete".*?</section>`)

// Deleting a line takes a second step in the page; the line deleted is the
// one confirmed, and the others are kept as they were.
func TestSIPDeleteLine(t *testing.T) {
	e, c := ready(t)
	if err := e.b.Apply(t.Context(), twoLineConfig(e.b.Config())); err != nil {
		t.Fatal(err)
	}
	page := c.get("/sip?line=1").Body.String()
	if !strings.Contains(page, `href="/sip?line=1&amp;delete=1#confirm-delete"`) || confirmRE.MatchString(page) {
		t.Fatal("line 2's page: no Delete link, or a confirmation not asked for")
	}
	confirm := confirmRE.FindString(c.get("/sip?line=1&delete=1").Body.String())
	if !strings.Contains(confirm, "Delete line 2 (2000)?") || !strings.Contains(confirm, `action="/sip/delete"`) ||
		!strings.Contains(confirm, `name="number" value="2000"`) || !strings.Contains(confirm, `href="/sip?line=1">Keep it`) {
		t.Fatalf("confirmation: %s", confirm)
	}
	applies := e.b.Applies

	// Forged, stale or out of range: nothing is deleted.
	wantCode(t, c.post("/sip/delete", url.Values{"line": {"1"}, "number": {"2000"}, "csrf": {"forged"}}), http.StatusForbidden, "forged")
	wantCode(t, c.postPage("/sip", "/sip/delete", url.Values{"line": {"1"}, "number": {"1000"}}), http.StatusConflict, "stale number")
	wantCode(t, c.postPage("/sip", "/sip/delete", url.Values{"line": {"2"}, "number": {"2000"}}), http.StatusConflict, "no such line")
	if e.b.Applies != applies || len(e.b.Config().Lines) != 2 {
		t.Fatal("a refused delete changed the config")
	}

	w := c.postPage("/sip", "/sip/delete", url.Values{"line": {"0"}, "number": {"1000"}})
	wantRedirect(t, w, "/sip?line=0", "delete line 1")
	cfg := e.b.Config()
	if len(cfg.Lines) != 1 || cfg.Lines[0].Number != "2000" || cfg.Lines[0].DisplayName != "Hall" {
		t.Fatalf("after delete: %+v", cfg.Lines)
	}
	if page := html.UnescapeString(c.get("/sip?line=0").Body.String()); !strings.Contains(page, "Line 1 (1000) deleted") {
		t.Fatal("no message after the delete")
	}
	// The last line too: the page then offers a blank line.
	wantRedirect(t, c.postPage("/sip", "/sip/delete", url.Values{"line": {"0"}, "number": {"2000"}}), "/sip?line=0", "delete the last")
	if n := len(e.b.Config().Lines); n != 0 {
		t.Fatalf("%d lines left", n)
	}
	page = c.get("/sip").Body.String()
	if !strings.Contains(page, "Add line</a>") || strings.Contains(page, "Delete line") || !strings.Contains(page, `name="number" value=""`) {
		t.Fatal("with no line the page is not a blank line form")
	}
}

// "Add line" gives a blank form; saving it adds a line after the others.
func TestSIPAddLine(t *testing.T) {
	e, c := ready(t)
	e.b.Apply(t.Context(), twoLineConfig(e.b.Config()))
	page := c.get("/sip?line=2").Body.String()
	f := pageForm(page)
	if f.Get("number") != "" || f.Get("display_name") != "" || strings.Contains(page, "Delete line") {
		t.Fatalf("the new line's form is not blank: %v", f)
	}
	f.Set("line", "2")
	f.Set("number", "3000")
	f.Set("service_domain", "z.example")
	wantRedirect(t, c.postPage("/sip?line=2", "/sip", f), "/sip?line=2", "add")
	cfg := e.b.Config()
	if len(cfg.Lines) != 3 || cfg.Lines[2].Number != "3000" || cfg.Lines[0].Password != "pw" {
		t.Fatalf("lines %+v", cfg.Lines)
	}
}

// tomlString writes v as a TOML basic string (escapes for control
// characters, as a hand-edited file would have them).
func tomlString(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v {
		switch {
		case r == '"' || r == '\\':
			b.WriteString(`\` + string(r))
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// configField finds the Go type of a config key without indexes
// ("line.codecs") by the toml tags.
func configField(key string) reflect.Type {
	t := reflect.TypeFor[config.Config]()
	for _, name := range strings.Split(key, ".") {
		if t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		i := slices.IndexFunc(reflect.VisibleFields(t), func(f reflect.StructField) bool {
			tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			return tag == name
		})
		if i < 0 {
			return nil
		}
		t = t.Field(i).Type
	}
	return t
}

// badFile is a configuration file setting key (as in config.TextRules:
// "line.display_name", "phone.feature_codes.dnd_on") to v, the key's
// words in an upload's message, and its key in the API's fields.
func badFile(key, v string) (file, words, apiKey string) {
	val := tomlString(v)
	if configField(key).Kind() == reflect.Slice {
		val = "[" + val + "]"
	}
	i := strings.IndexByte(key, '.')
	table, rest := key[:i], key[i+1:]
	if configField(table).Kind() == reflect.Slice { // [[line]], [[route]]...
		return "[[" + table + "]]\n" + rest + " = " + val + "\n",
			strings.ToUpper(table[:1]) + table[1:] + " 1: " + rest + ": ", table + "[0]." + rest
	}
	i = strings.LastIndexByte(key, '.')
	return "[" + key[:i] + "]\n" + key[i+1:] + " = " + val + "\n", "[" + key[:i] + "] " + key[i+1:] + ": ", key
}

// Every text key in an uploaded file and in PUT /api/config refuses a
// CRLF, a NUL and a 10 kB value, naming the key; nothing is applied.
func TestUploadAndAPIRefuseBadTextInEveryKey(t *testing.T) {
	e, c := ready(t)
	tok := c.csrf("/maintenance")
	before := e.b.Config()
	keys := slices.Sorted(maps.Keys(config.TextRules))
	for _, key := range keys {
		for _, bad := range badValues {
			file, words, apiKey := badFile(key, bad.v)
			w := upload(c, "ata.toml", []byte(file), tok)
			got := html.UnescapeString(fieldErrors(w.Body.String())["config"])
			if w.Code != http.StatusUnprocessableEntity || !strings.HasPrefix(got, words) {
				t.Errorf("upload %s=%s: %d %q, want 422 starting %q", key, bad.name, w.Code, got, words)
			}
			var m map[string]any
			if err := toml.Unmarshal([]byte(file), &m); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			body, _ := json.Marshal(m)
			w = c.do("PUT", "/api/config", bytes.NewReader(body), "X-CSRF-Token", tok, "Content-Type", "application/json")
			var res struct{ Fields map[string]string }
			json.Unmarshal(w.Body.Bytes(), &res)
			if w.Code != http.StatusUnprocessableEntity || res.Fields[apiKey] == "" {
				t.Errorf("PUT %s=%s: %d %s, want 422 naming %s", key, bad.name, w.Code, w.Body.String(), apiKey)
			}
		}
	}
	if e.b.Applies != 0 || e.b.Config() != before {
		t.Fatal("a refused file or PUT changed the config")
	}
}
