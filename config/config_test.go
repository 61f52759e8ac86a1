package config

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if c.Board.Name != "sim" || c.Board.SimListen != "127.0.0.1:8081" || c.Phone.Region != "us" {
		t.Fatalf("default config = %+v", c)
	}
	if c.Phone.InterDigitTimeout.D() != 4*time.Second {
		t.Fatalf("inter-digit default = %v, want 4s", c.Phone.InterDigitTimeout)
	}
}

func TestParseErrorsNameFileLineAndKey(t *testing.T) {
	cases := []struct {
		name, toml string
		want       []string
	}{
		{"unknown key", "[board]\nname = \"sim\"\n\n[phone]\nregoin = \"de\"\n", []string{"ata.toml:5", `"phone.regoin"`, "unknown key"}},
		{"unknown table", "[bored]\nname = \"sim\"\n", []string{"ata.toml:", "bored"}},
		{"wrong type", "[phone]\nregion = 7\n", []string{"ata.toml:2", "phone.region"}},
		{"bad duration", "[phone]\ninter_digit_timeout = \"4 seconds\"\n", []string{"ata.toml:2", "inter_digit_timeout", "duration"}},
		{"unknown board", "[board]\nname = \"pi9\"\n", []string{"board.name", `"pi9"`, "known: sim"}},
		{"sim not loopback", "[board]\nsim_listen = \"0.0.0.0:8081\"\n", []string{"board.sim_listen", "not a loopback"}},
		{"flash window", "[phone]\nflash_min = \"1s\"\nflash_max = \"500ms\"\n", []string{"phone.flash_min"}},
		{"syntax", "[phone\nregion = \"us\"\n", []string{"ata.toml:1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("ata.toml", []byte(tc.toml))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestParseOverridesKeepDefaults(t *testing.T) {
	c, err := Parse("x", []byte("[phone]\nregion = \"de\"\nflash_max = \"750ms\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Phone.Region != "de" || c.Phone.FlashMax.D() != 750*time.Millisecond {
		t.Fatalf("overrides not applied: %+v", c.Phone)
	}
	if c.Phone.FlashMin.D() != 100*time.Millisecond || c.Board.Name != "sim" {
		t.Fatalf("defaults lost: %+v", c)
	}
}
