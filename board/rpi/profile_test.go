package rpi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestProfiles(t *testing.T) {
	p, err := Profile("rpi-ag1171")
	if err != nil {
		t.Fatal(err)
	}
	if p.SHK != 17 || p.RM != 27 || p.FR != 22 || !p.SHKActiveHigh || !p.CanReverse || p.Name != "rpi-ag1171" {
		t.Fatalf("rpi-ag1171 = %+v", p)
	}
	k, err := Profile("rpi-ks0835")
	if err != nil {
		t.Fatal(err)
	}
	if k.CanReverse || k.Name != "rpi-ks0835" {
		t.Fatalf("rpi-ks0835 = %+v", k)
	}
	for _, name := range ProfileNames() {
		p, _ := Profile(name)
		if err := p.Validate(); err != nil {
			t.Errorf("profile %s: %v", name, err)
		}
	}
}

func TestProfileUnknown(t *testing.T) {
	_, err := Profile("rpi-si3210")
	if err == nil {
		t.Fatal("unknown profile accepted")
	}
	for _, want := range []string{`"rpi-si3210"`, "rpi-ag1171", "rpi-ks0835"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestPinsValidate(t *testing.T) {
	base, _ := Profile("rpi-ag1171")
	for _, tc := range []struct {
		name string
		edit func(*Pins)
		want string // "" = valid
	}{
		{"default", func(*Pins) {}, ""},
		{"enable", func(p *Pins) { p.Enable = 23 }, ""},
		{"shared", func(p *Pins) { p.FR = p.RM }, "both on GPIO27"},
		{"enable shared", func(p *Pins) { p.Enable = p.SHK }, "both on GPIO17"},
		{"eeprom pin", func(p *Pins) { p.SHK = 1 }, "SHK on GPIO1"},
		{"missing", func(p *Pins) { p.RM = 0 }, "RM on GPIO0"},
		{"too high", func(p *Pins) { p.FR = 28 }, "FR on GPIO28"},
	} {
		p := base
		tc.edit(&p)
		err := p.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestNewWithPinsRejects(t *testing.T) {
	r := newRig(t, Pins{}, 0, true)
	if r.b.Name() != DefaultProfile || r.p.RingHz() != DefaultRingHz {
		t.Fatalf("defaults: name %q, %g Hz", r.b.Name(), r.p.RingHz())
	}
	ps := PinSet{SHK: r.shk, RM: r.rm, FR: r.fr}
	for _, o := range []Opts{
		{RingHz: 5}, {RingHz: 100}, {FrameSamples: 100},
		{Pins: Pins{Name: "x", SHK: 17, RM: 27, FR: 22, Enable: 23}}, // no Enable pin given
	} {
		o.Logger, o.Clock = quietLogger(), newFakeClock()
		if _, err := NewWithPins(o, ps); err == nil {
			t.Errorf("NewWithPins(%+v) accepted", o)
		}
	}
}

func TestModel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model")
	if err := os.WriteFile(path, []byte("Raspberry Pi 4 Model B Rev 1.4\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadModel(path)
	if err != nil || got != "Raspberry Pi 4 Model B Rev 1.4" {
		t.Fatalf("ReadModel = %q, %v", got, err)
	}
	r := newRig(t, Pins{}, 20, true) // no model file: unknown, not an error
	if r.b.Model() != "" {
		t.Fatalf("Model without a file = %q", r.b.Model())
	}
	b, err := NewWithPins(Opts{ModelPath: path, Clock: newFakeClock(), Logger: quietLogger()},
		PinSet{SHK: r.shk, RM: r.rm, FR: r.fr})
	if err != nil {
		t.Fatal(err)
	}
	if b.Model() != "Raspberry Pi 4 Model B Rev 1.4" {
		t.Fatalf("Model() = %q", b.Model())
	}
	if _, err := ReadModel(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("ReadModel of a missing file succeeded")
	}
}

func TestParseModel(t *testing.T) {
	for in, want := range map[string]string{
		"Raspberry Pi 5 Model B Rev 1.0\x00":  "Raspberry Pi 5 Model B Rev 1.0",
		"  Pi Zero 2 W \n\x00junk":            "Pi Zero 2 W",
		"a\x01b\xffc":                         "abc",
		"":                                    "",
		strings.Repeat("é", 100):              strings.Repeat("é", 64),
		"Raspberry Pi Compute Module 4 Rev 1": "Raspberry Pi Compute Module 4 Rev 1",
	} {
		if got := ParseModel([]byte(in)); got != want {
			t.Errorf("ParseModel(%q) = %q, want %q", in, got, want)
		}
	}
}
