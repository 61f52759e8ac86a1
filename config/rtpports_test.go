package config

import (
	"errors"
	"strings"
	"testing"
)

func TestRTPPortsValidated(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  string // in the error; "" means accepted
	}{
		{"10000-20000", ""},
		{"16384-16387", ""}, // the smallest: 4 ports
		{" 40000 - 40999 ", ""},
		{"1024-65535", ""},
		{"10001-20000", "odd"},
		{"20000-10000", "at least 4"},
		{"10000-10002", "at least 4"},
		{"10000-10000", "at least 4"},
		{"1000-2000", "within 1024-65535"},
		{"60000-70000", "within 1024-65535"},
		{"10000", "first-last"},
		{"ten-twenty", "two port numbers"},
		{"", "first-last"},
	} {
		t.Run(tc.value, func(t *testing.T) {
			_, err := Parse("ata.toml", []byte("[sip]\nrtp_ports = \""+tc.value+"\"\n"))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ke *KeyError
			if err == nil || !errors.As(err, &ke) || ke.Key != "sip.rtp_ports" || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a sip.rtp_ports KeyError saying %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "ata.toml:2") {
				t.Errorf("error %q does not name the line", err)
			}
		})
	}
}

func TestRTPPortsDefault(t *testing.T) {
	for name, c := range map[string]*Config{"embedded default.toml": Default(), "builtin": Builtin()} {
		lo, hi, err := c.SIP.RTPPortRange()
		if err != nil || lo != 10000 || hi != 20000 {
			t.Errorf("%s: rtp_ports %d-%d (%v), want 10000-20000", name, lo, hi, err)
		}
	}
}

// FuzzRTPPortRange: whatever a config file holds for rtp_ports, parsing
// never panics, and a range it accepts is one calls can use.
func FuzzRTPPortRange(f *testing.F) {
	for _, s := range []string{"10000-20000", "16384-16387", "1-2", "-", "65534-65535", " 2000 -9000", "10000-+20000", "0x10-0x20", "9999999999999999999-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		first, last, err := SIP{RTPPorts: s}.RTPPortRange()
		if err != nil {
			return
		}
		if first%2 != 0 || first < 1024 || last > 65535 || last-first+1 < 4 {
			t.Fatalf("%q accepted as %d-%d", s, first, last)
		}
	})
}
