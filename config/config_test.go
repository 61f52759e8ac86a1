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
		{"unknown board", "[board]\nname = \"pi9\"\n", []string{"board.name", `"pi9"`, "known: sim, rpi-ag1171, rpi-ks0835"}},
		{"virtual gpio not loopback", "[board]\nname = \"rpi-ag1171\"\nvirtual_gpio_listen = \"0.0.0.0:8081\"\n", []string{"board.virtual_gpio_listen", "not a loopback"}},
		{"virtual gpio on sim", "[board]\nvirtual_gpio_listen = \"127.0.0.1:8082\"\n", []string{"board.virtual_gpio_listen", "Raspberry Pi"}},
		{"sim not loopback", "[board]\nsim_listen = \"0.0.0.0:8081\"\n", []string{"board.sim_listen", "not a loopback"}},
		{"flash window", "[phone]\nflash_min = \"1s\"\nflash_max = \"500ms\"\n", []string{"phone.flash_min"}},
		{"line without number", "[sip]\nlisten = \"0.0.0.0:5060\"\n\n[[line]]\nservice_domain = \"voip.example.net\"\n", []string{"ata.toml:4", "line[0].number", "missing"}},
		{"second line without domain", "[[line]]\nnumber = \"1001\"\nservice_domain = \"a.example\"\n[[line]]\nnumber = \"1002\"\n", []string{"ata.toml:4", "line[1].service_domain"}},
		{"line bad port", "[[line]]\nnumber = \"1001\"\nservice_domain = \"a.example\"\nregistrar = \"a.example:70000\"\n", []string{"ata.toml:1", "line[0].registrar", "70000"}},
		{"line wrong type", "[[line]]\nnumber = 1001\n", []string{"ata.toml:2", "line[0].number", "must be text in quotes, not a whole number"}},
		{"line unknown key", "[[line]]\nnumber = \"1001\"\npasword = \"x\"\n", []string{"ata.toml:3", "pasword"}},
		{"line codec", "[[line]]\nnumber = \"1\"\nservice_domain = \"a\"\ncodecs = [\"G729\"]\n", []string{"line[0].codecs", "G729", "PCMU"}},
		{"integer duration", "[sip]\nkeepalive = 30\n", []string{"sip.keepalive", "30ns"}},
		{"integer flash", "[phone]\nflash_min = 12\nflash_max = 900\n", []string{"phone."}},
		{"keepalive method", "[sip]\nkeepalive_method = \"ping\"\n", []string{"sip.keepalive_method", "crlf"}},
		{"rtp latching", "[sip]\nrtp_latching = \"comedia\"\n", []string{"sip.rtp_latching", "auto, always, never"}},
		{"keepalive misses zero", "[sip]\nkeepalive_misses = 0\n", []string{"sip.keepalive_misses", "1 to 10", "got 0"}},
		{"keepalive misses many", "[sip]\nkeepalive_misses = 11\n", []string{"sip.keepalive_misses", "got 11"}},
		{"keepalive misses string", "[sip]\nkeepalive_misses = \"2\"\n", []string{"ata.toml:2", "keepalive_misses"}},
		{"rtp timeout short", "[sip]\nrtp_timeout = \"1s\"\n", []string{"sip.rtp_timeout", "5s to 1h", "1s"}},
		{"rtp timeout negative", "[sip]\nrtp_timeout = \"-5s\"\n", []string{"sip.rtp_timeout"}},
		{"rtp timeout integer", "[sip]\nrtp_timeout = 60\n", []string{"sip.rtp_timeout", "60ns"}},
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

func TestLineDefaultsAndIssueExample(t *testing.T) {
	c, err := Parse("x", []byte(`[sip]
listen = "0.0.0.0:5060"
[[line]]
number = "1001"
service_domain = "voip.example.net"
auth_user = "1001"
password = "secret"
registrar = "voip.example.net:5060"     # host[:port]; default: the service domain
outbound_proxy = ""                       # host[:port]; empty: none
`))
	if err != nil {
		t.Fatal(err)
	}
	l := c.Lines[0]
	if !l.IsActive() || l.RegistrarAddr() != "voip.example.net:5060" || l.AuthName() != "1001" || l.Password != "secret" {
		t.Fatalf("line %+v", l)
	}
	if l.RegisterExpires.D() != time.Hour || l.Ptime != 20 || l.DTMFMode != "rfc4733" || len(l.Codecs) != 2 {
		t.Fatalf("line defaults %+v", l)
	}
	c, err = Parse("x", []byte("[[line]]\nnumber = \"7\"\nservice_domain = \"d.example\"\nactive = false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Lines[0].IsActive() || c.Lines[0].RegistrarAddr() != "d.example" || c.Lines[0].AuthName() != "7" {
		t.Fatalf("line %+v", c.Lines[0])
	}
}

func TestCallFeatureKeys(t *testing.T) {
	c := Default()
	if !c.Phone.CallWaiting || !c.Phone.CallWaitingCallerID || !c.Phone.ThreeWay || !c.Phone.TransferOnHangup {
		t.Fatalf("call features default %+v, want all on", c.Phone)
	}
	c, err := Parse("ata.toml", []byte("[phone]\ncall_waiting = false\ncall_waiting_caller_id = false\nthree_way = false\ntransfer_on_hangup = false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Phone.CallWaiting || c.Phone.CallWaitingCallerID || c.Phone.ThreeWay || c.Phone.TransferOnHangup {
		t.Fatalf("call features %+v, want all off", c.Phone)
	}
	if _, err := Parse("ata.toml", []byte("[phone]\ncall_waiting = \"yes\"\n")); err == nil || !strings.Contains(err.Error(), "call_waiting") {
		t.Fatalf("a string for call_waiting: %v", err)
	}
}

func TestRingTimeoutKey(t *testing.T) {
	if d := Default().Phone.RingTimeout.D(); d != 120*time.Second {
		t.Fatalf("ring_timeout default %v, want 120s", d)
	}
	c, err := Parse("ata.toml", []byte("[phone]\nring_timeout = \"0s\"\n"))
	if err != nil || c.Phone.RingTimeout != 0 {
		t.Fatalf("ring_timeout 0s: %v %v", c, err)
	}
	if _, err := Parse("ata.toml", []byte("[phone]\nring_timeout = \"500ms\"\n")); err == nil || !strings.Contains(err.Error(), "phone.ring_timeout") {
		t.Fatalf("ring_timeout 500ms: %v", err)
	}
}

func TestSIPFailureDetectionKeys(t *testing.T) {
	c := Default()
	if c.SIP.KeepAliveMisses != 2 || c.SIP.RTPTimeout.D() != 60*time.Second {
		t.Fatalf("defaults keepalive_misses %d, rtp_timeout %v; want 2 and 60s", c.SIP.KeepAliveMisses, c.SIP.RTPTimeout)
	}
	c, err := Parse("x", []byte("[sip]\nkeepalive_misses = 3\nrtp_timeout = \"0s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.SIP.KeepAliveMisses != 3 || c.SIP.RTPTimeout != 0 {
		t.Fatalf("parsed keepalive_misses %d, rtp_timeout %v; want 3 and 0s (off)", c.SIP.KeepAliveMisses, c.SIP.RTPTimeout)
	}
}

func TestForwardDNDHotlineKeys(t *testing.T) {
	c := Default().Phone
	if c.DND || c.RejectAnonymous || c.DNDStatus != 486 || c.ForwardMethod != "redirect" || c.ForwardNoAnswerAfter.D() != 20*time.Second || c.Hotline != "" {
		t.Fatalf("defaults %+v", c)
	}
	good := "[phone]\ndnd = true\ndnd_status = 603\nreject_anonymous = true\nforward_always = \"+4930123\"\nforward_busy = \"2000\"\nforward_no_answer = \"3000\"\nforward_no_answer_after = \"10s\"\nforward_method = \"bridge\"\nhotline = \"911\"\nwarmline_after = \"5s\"\n"
	if _, err := Parse("ata.toml", []byte(good)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ toml, key string }{
		{"[phone]\ndnd_status = 200\n", "phone.dnd_status"},
		{"[phone]\nforward_always = \"20\\r\\nX: y\"\n", "phone.forward_always"},
		{"[phone]\nforward_busy = \"" + strings.Repeat("1", 33) + "\"\n", "phone.forward_busy"},
		{"[phone]\nforward_method = \"proxy\"\n", "phone.forward_method"},
		{"[phone]\nforward_no_answer_after = \"0s\"\n", "phone.forward_no_answer_after"},
		{"[phone]\nhotline = \"9 1 1\"\n", "phone.hotline"},
		{"[phone]\nwarmline_after = \"2m\"\n", "phone.warmline_after"},
	} {
		if _, err := Parse("ata.toml", []byte(bad.toml)); err == nil || !strings.Contains(err.Error(), bad.key) {
			t.Errorf("%q: %v, want an error naming %s", bad.toml, err, bad.key)
		}
	}
}

func TestVMWIRefresh(t *testing.T) {
	if d := Default().Phone.VMWIRefresh.D(); d != 15*time.Minute {
		t.Fatalf("vmwi_refresh default %v", d)
	}
	if _, err := Parse("ata.toml", []byte("[phone]\nvmwi_refresh = \"10s\"\n")); err == nil || !strings.Contains(err.Error(), "phone.vmwi_refresh") {
		t.Fatalf("vmwi_refresh 10s: %v", err)
	}
}

func TestFeatureCodes(t *testing.T) {
	if c := Default().Phone.FeatureCodes; c != DefaultFeatureCodes || c.ForwardAlwaysOn != "*72" {
		t.Fatalf("default codes %+v", c)
	}
	c, err := Parse("ata.toml", []byte("[phone.feature_codes]\ndnd_on = \"*55\"\ndnd_off = \"\"\n"))
	if err != nil || c.Phone.FeatureCodes.DNDOn != "*55" || c.Phone.FeatureCodes.DNDOff != "" || c.Phone.FeatureCodes.ForwardAlwaysOn != "*72" {
		t.Fatalf("codes %+v %v", c.Phone.FeatureCodes, err)
	}
	for _, bad := range []struct{ toml, key string }{
		{"[phone.feature_codes]\ndnd_on = \"78\"\n", "phone.feature_codes.dnd_on"},
		{"[phone.feature_codes]\ndnd_on = \"*7x\"\n", "phone.feature_codes.dnd_on"},
		{"[phone.feature_codes]\ndnd_off = \"*78\"\n", "phone.feature_codes.dnd_off"},
	} {
		if _, err := Parse("ata.toml", []byte(bad.toml)); err == nil || !strings.Contains(err.Error(), bad.key) {
			t.Errorf("%q: %v, want an error naming %s", bad.toml, err, bad.key)
		}
	}
}
