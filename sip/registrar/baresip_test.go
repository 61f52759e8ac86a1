package registrar

import (
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/internal/baresiptest"
)

// TestBaresipRegisters has a real phone (baresip 1.0, libre's digest)
// register to the registrar, and another with a wrong password fail.
func TestBaresipRegisters(t *testing.T) {
	t.Parallel()
	r, _ := start(t, Options{Users: []User{{Name: "201", Password: "kitchen-201"}}})
	good := baresiptest.Start(t, baresiptest.Opts{User: "201", Password: "kitchen-201",
		Registrar: r.LocalAddr().String(), RegisterExpires: 120 * time.Second})
	b := r.Lookup("201")
	if len(b) != 1 {
		t.Fatalf("baresip registered, but Lookup has %+v", b)
	}
	if b[0].Source != good.Addr() || b[0].Transport != "UDP" || !strings.Contains(b[0].UserAgent, "baresip") {
		t.Errorf("binding %+v, want source %v over UDP from baresip", b[0], good.Addr())
	}
	if d := b[0].Expires.Sub(b[0].Registered); d != 120*time.Second {
		t.Errorf("granted %v, want the 120 s asked", d)
	}

	// libre 1.x answers every fresh challenge to a wrong password again
	// (a new nonce looks like a new realm to it), so it loops until the
	// block stops the answers: FailLimit REGISTERs, then silence.
	bad := baresiptest.Start(t, baresiptest.Opts{User: "201", Password: "wrong",
		Registrar: r.LocalAddr().String(), NoRegisterWait: true})
	deadline := time.Now().Add(5 * time.Second)
	for r.Stats().BlockedSources == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("wrong password: source not blocked within 5 s: %+v", r.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // anything more it sends is dropped
	if s := r.Stats(); s.AuthFailures != DefaultFailLimit || s.DroppedBlocked == 0 {
		t.Errorf("stats %+v, want %d failures then drops", s, DefaultFailLimit)
	}
	for _, ev := range bad.Events() {
		if ev.Kind == baresiptest.Registered {
			t.Fatalf("wrong password registered: %+v", ev)
		}
	}
	if b := r.Lookup("201"); len(b) != 1 || b[0].Source != good.Addr() {
		t.Errorf("after the wrong password: bindings %+v, want only the good phone's", b)
	}
}
