package rpi

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzParseModel checks that any device-tree model property becomes one
// short printable trimmed line.
func FuzzParseModel(f *testing.F) {
	for _, s := range []string{"Raspberry Pi 4 Model B Rev 1.4\x00", "", "\x00", "\xff\xfe", " a \n", strings.Repeat("é", 80)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := ParseModel(b)
		if len(s) > maxModelLen || !utf8.ValidString(s) || s != strings.TrimSpace(s) {
			t.Fatalf("ParseModel(%q) = %q", b, s)
		}
		for _, r := range s {
			if !unicode.IsPrint(r) {
				t.Fatalf("ParseModel(%q) kept %q", b, r)
			}
		}
	})
}
