package config

import (
	"strings"
	"testing"
)

func TestMakeUsable(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		wantKeys   []string
		check      func(t *testing.T, c *Config)
	}{
		{"bad phone key runs on the fallback's value", "[phone]\nregion = \"xx\"\n", []string{"phone.region"},
			func(t *testing.T, c *Config) {
				if c.Phone.Region != "us" {
					t.Errorf("region = %q, want the fallback's us", c.Phone.Region)
				}
			}},
		{"bad line setting turns the line off and keeps its account", `
[[line]]
number = "2000"
service_domain = "a.example"
codecs = ["G729"]
[[line]]
number = "3000"
service_domain = "b.example"
`, []string{"line[0].codecs"},
			func(t *testing.T, c *Config) {
				if len(c.Lines) != 2 || c.Lines[0].IsActive() || c.Lines[0].Number != "2000" || !c.Lines[1].IsActive() {
					t.Errorf("lines = %+v, want line 1 kept but off, line 2 on", c.Lines)
				}
				if strings.Join(c.Lines[0].Codecs, ",") != "PCMU,PCMA" {
					t.Errorf("codecs = %v, want the defaults", c.Lines[0].Codecs)
				}
			}},
		{"a line without a number is left out", "[[line]]\nservice_domain = \"a.example\"\n", []string{"line[0].number"},
			func(t *testing.T, c *Config) {
				if len(c.Lines) != 0 {
					t.Errorf("lines = %+v, want none", c.Lines)
				}
			}},
		{"a check across two keys falls back to the whole table", "[phone]\nflash_min = \"800ms\"\nflash_max = \"200ms\"\nregion = \"de\"\n", []string{"phone.flash_min"},
			func(t *testing.T, c *Config) {
				if c.Phone.FlashMin >= c.Phone.FlashMax {
					t.Errorf("flash %v..%v still inverted", c.Phone.FlashMin, c.Phone.FlashMax)
				}
			}},
		{"several problems are all reported", "[sip]\nkeepalive_method = \"smoke\"\n[phone]\ndnd_status = 200\n", []string{"sip.keepalive_method", "phone.dnd_status"},
			func(t *testing.T, c *Config) {}},
		{"a ring list naming no extension keeps the line, ringing the port", "[[line]]\nnumber = \"1001\"\nservice_domain = \"a.example\"\nring = [\"100\", \"999\"]\n", []string{"line[0].ring[1]"},
			func(t *testing.T, c *Config) {
				if len(c.Lines) != 1 || strings.Join(c.Lines[0].Ring, ",") != "100" {
					t.Errorf("lines = %+v", c.Lines)
				}
			}},
		{"a route to a missing trunk is left out", "[[route]]\npattern = \"xx.\"\nvia = \"trunk:nope\"\n", []string{"route[0].via"},
			func(t *testing.T, c *Config) {
				if len(c.Routes) != 0 {
					t.Errorf("routes = %+v", c.Routes)
				}
			}},
		{"a good file has no problem", "[phone]\nregion = \"de\"\n", nil,
			func(t *testing.T, c *Config) {
				if c.Phone.Region != "de" {
					t.Errorf("region = %q", c.Phone.Region)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Decode("ata.toml", []byte(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			probs, err := c.MakeUsable(Default(), func(c *Config) error {
				if c.Phone.Region == "xx" { // as the fxs package would refuse it
					return &KeyError{Key: "phone.region", Msg: "unknown region \"xx\""}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("MakeUsable: %v", err)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("still invalid: %v", err)
			}
			var keys []string
			for _, p := range probs {
				keys = append(keys, p.Key)
				if p.Msg == "" || p.Fix == "" {
					t.Errorf("problem %+v lacks a message or what runs instead", p)
				}
			}
			if strings.Join(keys, " ") != strings.Join(tc.wantKeys, " ") {
				t.Errorf("problems %v, want keys %v", probs, tc.wantKeys)
			}
			tc.check(t, c)
		})
	}
}

func TestMakeUsableKeepsFallbackApart(t *testing.T) {
	fb := Default()
	fb.Lines = []Line{{Number: "1", ServiceDomain: "x.example", Codecs: []string{"PCMA"}}}
	c, err := Decode("f", []byte("[[line]]\nnumber = \"1\"\nservice_domain = \"x.example\"\ncodecs = []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.MakeUsable(fb, nil); err != nil {
		t.Fatal(err)
	}
	c.Lines[0].Codecs[0] = "PCMU"
	if fb.Lines[0].Codecs[0] != "PCMA" {
		t.Error("the running config shares a slice with the fallback")
	}
}
