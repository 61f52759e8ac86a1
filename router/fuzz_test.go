package router

import (
	"testing"

	"github.com/openata/ata/call/calltest"
)

// FuzzResolve: any digit map a config may hold and any number a phone may
// send: New refuses or Resolve answers, never a panic, and a number sent
// out is never empty.
func FuzzResolve(f *testing.F) {
	for _, s := range [][2]string{{"<9:>xx.", "95551234"}, {"(1xxx|<00:+>x.)", "0049301234"}, {"[2-9]xxxxxx", "5551234"},
		{"<:1>xxx", "234"}, {"x.T", ""}, {"(*xx|#x)", "*72"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, number string) {
		r, err := New(Options{PortExtension: "100", Users: []User{{Name: "201"}},
			Links:  []Link{{Name: "line:1", Dialer: calltest.NewDialer(), Ring: []string{"100"}}},
			Routes: []Route{{Pattern: pattern, Via: "line:1"}}})
		if err != nil {
			return
		}
		kind, target, send, err := r.Resolve(number)
		if err == nil && kind == "link" && (target != "line:1" || send == "" && number != "") {
			t.Fatalf("Resolve(%q) by %q = %s %s %q", number, pattern, kind, target, send)
		}
	})
}
