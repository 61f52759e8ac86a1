package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// A value of the wrong type is told in the file's words: the key with its
// line index, what the value must be (with the default as an example),
// what the file has, and the file's line.
func TestDecodeErrorsInWords(t *testing.T) {
	line := "[[line]]\nnumber = \"1\"\nservice_domain = \"a.example\"\n"
	cases := []struct {
		name, toml string
		row        int
		key, msg   string
	}{
		{"ptime text", line + "ptime = \"20\"\n", 4, "line[0].ptime", "must be a whole number such as 20, not text in quotes"},
		{"second line", line + "\n" + line + "active = \"yes\"\n", 8, "line[1].active", "must be true or false, not text in quotes"},
		{"region number", "[phone]\nregion = 7\n", 2, "phone.region", `must be text in quotes such as "us", not a whole number`},
		{"bool text", "[sip]\naccept_proxy_only = \"yes\"\n", 2, "sip.accept_proxy_only", "must be true or false such as true, not text in quotes"},
		{"float for int", "[phone]\ndnd_status = 4.5\n", 2, "phone.dnd_status", "must be a whole number such as 486, not a decimal number"},
		{"list text", line + "codecs = \"PCMU\"\n", 4, "line[0].codecs", `must be a list in brackets of text in quotes such as ["PCMU", "PCMA"], not text in quotes`},
		{"list element", line + "codecs = [1]\n", 4, "line[0].codecs", `must be a list in brackets of text in quotes such as ["PCMU", "PCMA"]; it holds a whole number`},
		{"table", "phone = 5\n", 1, "phone", "must be a [phone] table, not a whole number"},
		{"lines", "line = 3\n", 1, "line", "must be [[line]] tables, not a whole number"},
		{"feature code", "[phone.feature_codes]\ndnd_on = 78\n", 2, "phone.feature_codes.dnd_on", `must be text in quotes such as "*78", not a whole number`},
		{"duration", "[phone]\ninter_digit_timeout = \"4 seconds\"\n", 2, "phone.inter_digit_timeout", `"4 seconds" is not a duration: want a number and a unit such as "4s" or "900ms"`},
		// Found by the checks after decoding: the line is looked up.
		{"checked key", "[sip]\n\nuser_agent = \"a\\tb\"\n", 3, "sip.user_agent", "contains a tab"},
		{"checked sub-table", "[phone]\nregion = \"us\"\n[phone.feature_codes]\ndnd_on = \"*7\\r\\n\"\n", 4, "phone.feature_codes.dnd_on", "contains a line break"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("ata.toml", []byte(tc.toml))
			var fe *FileError
			var ke *KeyError
			if !errors.As(err, &fe) || !errors.As(err, &ke) {
				t.Fatalf("%v (%T), want a FileError with a KeyError", err, err)
			}
			if fe.Line != tc.row || ke.Key != tc.key || !strings.HasPrefix(ke.Msg, tc.msg) {
				t.Fatalf("line %d, %s: %s\nwant line %d, %s: %s", fe.Line, ke.Key, ke.Msg, tc.row, tc.key, tc.msg)
			}
			if want := fmt.Sprintf("config: ata.toml:%d: %s: ", tc.row, tc.key); !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("%q, want it to start with %q", err, want)
			}
		})
	}
}

// goWords are the decoder's and the standard library's words.
var goWords = regexp.MustCompile(`struct field|config\.[A-Z]|of type|toml: |\btime: |\bint\b|\[\]string`)

// Whatever key holds a value of the wrong kind, the message names the key
// and never the decoder's Go vocabulary (struct fields, Go types).
func TestDecodeErrorsNeverSpeakGo(t *testing.T) {
	var walk func(t reflect.Type, table string, line bool)
	n := 0
	walk = func(typ reflect.Type, table string, line bool) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[Duration]() {
				walk(ft, join(table, name), false)
				continue
			}
			if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
				walk(ft.Elem(), name, true)
				continue
			}
			// A string where anything else is wanted, a number where text is.
			bad := `"x"`
			if ft.Kind() == reflect.String {
				bad = "7"
			}
			header, key := "["+table+"]", table+"."+name
			if line { // the second table of its kind, so the index must be right
				header, key = "[["+table+"]]\n[["+table+"]]", table+"[1]."+name
			}
			doc := header + "\n" + name + " = " + bad + "\n"
			_, err := Parse("ata.toml", []byte(doc))
			var ke *KeyError
			if !errors.As(err, &ke) || ke.Key != key {
				t.Errorf("%q: %v, want a KeyError for %s", doc, err, key)
				continue
			}
			if s := err.Error(); goWords.MatchString(s) {
				t.Errorf("%q: %q speaks Go", doc, s)
			}
			n++
		}
	}
	walk(reflect.TypeFor[Config](), "", false)
	if n < 40 {
		t.Fatalf("only %d keys tried", n)
	}
}
