package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// textKeys walks t's string and []string fields by their toml tags and
// returns their keys without indexes ("line.display_name").
func textKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		key := join(prefix, name)
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.String:
			out = append(out, key)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.String:
			out = append(out, key)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, textKeys(ft.Elem(), key)...)
		case ft.Kind() == reflect.Struct:
			out = append(out, textKeys(ft, key)...)
		}
	}
	return out
}

// Every text key of the configuration has a rule in TextRules, saying its
// length limit and whether it reaches the wire: a key added without one
// fails here (and would otherwise run on a default limit).
func TestEveryTextKeyHasARule(t *testing.T) {
	keys := textKeys(reflect.TypeFor[Config](), "")
	if len(keys) < 30 {
		t.Fatalf("found only %d text keys: the walk is broken: %v", len(keys), keys)
	}
	for _, k := range keys {
		if _, ok := TextRules[k]; !ok {
			t.Errorf("text key %s has no entry in TextRules (its length limit, and whether it reaches the wire)", k)
		}
	}
	for k := range TextRules {
		if !slices.Contains(keys, k) {
			t.Errorf("TextRules has %s, which is no key of the configuration", k)
		}
	}
	// The fields the issue names as reaching SIP are marked so.
	for _, k := range []string{"line.number", "line.display_name", "line.auth_user", "line.service_domain",
		"line.registrar", "line.outbound_proxy", "line.voicemail_number", "sip.user_agent", "phone.dial_plan",
		"phone.forward_always", "phone.hotline", "phone.feature_codes.forward_always_on"} {
		if !TextRules[k].Wire {
			t.Errorf("%s reaches the wire but is not marked Wire", k)
		}
	}
}

// twoLines is a valid config with two lines, so line keys are tested on
// line[1] (the index must be right).
func twoLines() *Config {
	c := Default()
	c.Lines = []Line{
		{Number: "1001", ServiceDomain: "voip.example.net"},
		{Number: "1002", DisplayName: "Hall", ServiceDomain: "voip.example.net", AuthUser: "u1002",
			Password: "pw", Registrar: "reg.example.net:5060", OutboundProxy: "sbc.example.net", VoicemailNumber: "*86"},
	}
	c.Users = []User{{Name: "201", Password: "kitchen-secret"}, {Name: "202", Password: "hall-secret", DisplayName: "Hall"}}
	c.Trunks = []Trunk{{Name: "a", Addresses: []string{"192.0.2.1"}, Dial: "192.0.2.1"},
		{Name: "b", Addresses: []string{"198.51.100.0/28"}, Dial: "carrier.example.net:5060", Ring: []string{"201"}}}
	c.Routes = []Route{{Pattern: "<9:>xx.", Via: "trunk:a"}, {Pattern: "1xxx", Via: "line:1"}}
	return c
}

// setText sets the text key (rule form, "line.x" meaning line[1]) to v;
// for a list key it sets the first element.
func setText(t *testing.T, c *Config, key, v string) string {
	t.Helper()
	val := reflect.ValueOf(c).Elem()
	full := ""
	for _, name := range strings.Split(key, ".") {
		i := slices.IndexFunc(reflect.VisibleFields(val.Type()), func(f reflect.StructField) bool {
			tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			return tag == name
		})
		if i < 0 {
			t.Fatalf("no field %s in %s", name, key)
		}
		val = val.Field(i)
		full = join(full, name)
		if val.Kind() == reflect.Slice && val.Type().Elem().Kind() == reflect.Struct {
			val = val.Index(1)
			full += "[1]"
		}
	}
	switch val.Kind() {
	case reflect.String:
		val.SetString(v)
	case reflect.Slice:
		val.Set(reflect.ValueOf([]string{v}))
	default:
		t.Fatalf("%s is a %v", key, val.Kind())
	}
	return full
}

// badTexts are values no text key may hold: header injection, NUL, other
// control characters, and a 10 kB value.
var badTexts = []struct{ name, v, msg string }{
	{"CRLF", "Bob\r\nX-Injected: yes", "contains a line break"},
	{"LF", "a\nb", "contains a line break"},
	{"CR", "a\rb", "contains a line break"},
	{"NUL", "a\x00b", "contains the control character U+0000"},
	{"tab", "a\tb", "contains a tab"},
	{"ESC", "a\x1bb", "contains the control character U+001B"},
	{"DEL", "a\x7fb", "contains the control character U+007F"},
	{"C1 NEL", "a\u0085b", "contains the control character U+0085"},
	{"invalid UTF-8", "a\xffb", "not valid UTF-8"},
	{"10 kB", strings.Repeat("a", 10240), "10240 characters, at most"},
}

// Every text key refuses control characters and huge values, in memory
// (Validate: the web forms) and in a file (Parse: uploads, -config), with
// an error naming the key.
func TestTextKeysRefuseControlCharactersAndHugeValues(t *testing.T) {
	for _, key := range textKeys(reflect.TypeFor[Config](), "") {
		for _, bad := range badTexts {
			t.Run(key+"/"+bad.name, func(t *testing.T) {
				c := twoLines()
				full := setText(t, c, key, bad.v)
				err := c.Validate()
				var ke *KeyError
				if !errors.As(err, &ke) || ke.Key != full || !strings.Contains(ke.Msg, bad.msg) {
					t.Fatalf("Validate: %v, want a KeyError for %s saying %q", err, full, bad.msg)
				}
				if bad.name == "invalid UTF-8" {
					return // TOML files are UTF-8: Marshal cannot write it
				}
				data, err := Marshal(c)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := Parse("ata.toml", data); err == nil || !strings.Contains(err.Error(), full+": "+bad.msg) {
					t.Fatalf("Parse: %v, want an error naming %s", err, full)
				}
			})
		}
	}
}

// A value of exactly the limit is not refused for its length; one more
// character is.
func TestTextLimitBoundary(t *testing.T) {
	for _, key := range textKeys(reflect.TypeFor[Config](), "") {
		max := TextRules[key].Max
		c := twoLines()
		full := setText(t, c, key, strings.Repeat("é", max)) // characters, not bytes
		if err := c.Validate(); err != nil && strings.Contains(err.Error(), "characters, at most") &&
			!strings.Contains(err.Error(), "host name") {
			t.Errorf("%s: %d characters refused for length: %v", full, max, err)
		}
		setText(t, c, key, strings.Repeat("é", max+1))
		want := fmt.Sprintf("%s: %d characters, at most %d", full, max+1, max)
		if err := c.Validate(); err == nil || err.Error() != want {
			t.Errorf("%s with %d characters: %v, want %q", full, max+1, err, want)
		}
	}
}

func TestDuplicateLineNumbers(t *testing.T) {
	c := twoLines()
	c.Lines[1].Number = "1001"
	err := c.Validate()
	if err == nil || err.Error() != "line[1].number: 1001 is already line[0]'s number" {
		t.Fatalf("%v", err)
	}
	data := "[[line]]\nnumber = \"2000\"\nservice_domain = \"a.example\"\n\n[[line]]\nnumber = \"2000\"\nservice_domain = \"b.example\"\n"
	if _, err := Parse("ata.toml", []byte(data)); err == nil || !strings.Contains(err.Error(), "ata.toml:5: line[1].number: 2000 is already line[0]'s number") {
		t.Fatalf("file: %v", err)
	}
}

func TestDisplayNameQuotes(t *testing.T) {
	for _, name := range []string{`Bob "the" Builder`, `back\slash`} {
		c := twoLines()
		c.Lines[1].DisplayName = name
		var ke *KeyError
		if err := c.Validate(); !errors.As(err, &ke) || ke.Key != "line[1].display_name" {
			t.Errorf("%q: %v", name, err)
		}
	}
	c := twoLines()
	c.Lines[1].DisplayName = "Zoë O'Brien-Müller (Hall)"
	if err := c.Validate(); err != nil {
		t.Fatalf("an ordinary name: %v", err)
	}
}

func TestHostPartLimit(t *testing.T) {
	c := twoLines()
	c.Lines[1].Registrar = strings.Repeat("a", 254) + ":5060" // 259 characters in all: within the key's limit
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "line[1].registrar: the host name has 254 characters, at most 253") {
		t.Fatalf("%v", err)
	}
	c.Lines[1].Registrar = strings.Repeat("a", 253) + ":5060"
	if err := c.Validate(); err != nil {
		t.Fatalf("253 characters: %v", err)
	}
}
