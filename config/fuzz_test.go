package config

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// wireSafe reports the first text value of v that a SIP message could not
// carry as written: a control character, invalid UTF-8, or more than its
// key's limit. It walks the struct on its own (not with checkTexts), so a
// mistake there does not hide here.
func wireSafe(v reflect.Value, key string) string {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			return wireSafe(v.Elem(), key)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("toml"), ",")
			if name == "" {
				continue
			}
			if bad := wireSafe(v.Field(i), join(key, name)); bad != "" {
				return bad
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			if bad := wireSafe(v.Index(i), key); bad != "" {
				return bad
			}
		}
	case reflect.String:
		s := v.String()
		if !utf8.ValidString(s) {
			return key + ": invalid UTF-8"
		}
		for _, r := range s {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				return key + ": control character"
			}
		}
		if rule, ok := TextRules[key]; !ok || utf8.RuneCountInString(s) > rule.Max {
			return key + ": over its limit or without one"
		}
	}
	return ""
}

// FuzzParse feeds arbitrary files to the loader: it never panics; a file
// it accepts holds nothing a SIP message could not carry and reads back
// the same after a save; an error stays short enough to show on a page.
func FuzzParse(f *testing.F) {
	line := "[[line]]\nnumber = \"1001\"\nservice_domain = \"voip.example.net\"\n"
	for _, seed := range []string{
		"",
		string(DefaultTOML),
		line,
		line + "display_name = \"Bob\\r\\nX-Injected: yes\"\n",
		line + "display_name = \"\"\"Bob\nX-Injected: yes\"\"\"\n",
		line + "auth_user = \"a\\u0000b\"\n",
		line + "number = \"1\\u0085\"\n",
		line + "ptime = \"20\"\n",
		line + "codecs = [\"PCMU\\r\\n\"]\n",
		line + line,
		"[sip]\nuser_agent = \"" + strings.Repeat("A", 10240) + "\"\n",
		"[phone]\ndial_plan = \"" + strings.Repeat("x", 5000) + "\"\n",
		"[phone]\n" + strings.Repeat("k", 5000) + " = 1\n",
		"[phone.feature_codes]\ndnd_on = \"*7\\t\"\n",
		"[board]\naudio_capture = \"hw:0,0\\u007f\"\n",
		"line = 3\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.toml", data)
		if err != nil {
			if n := len(err.Error()); n > 4096 {
				t.Fatalf("error of %d bytes: %.200s…", n, err)
			}
			return
		}
		if bad := wireSafe(reflect.ValueOf(c).Elem(), ""); bad != "" {
			t.Fatalf("accepted %q with %s", data, bad)
		}
		out, err := Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse("saved.toml", out)
		if err != nil {
			t.Fatalf("an accepted file does not read back after a save: %v\n%s", err, out)
		}
		if again, _ := Marshal(back); string(again) != string(out) {
			t.Fatalf("read back differently:\n%s\n%s", out, again)
		}
	})
}
