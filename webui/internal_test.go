package webui

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/config"
)

func TestPasswordHash(t *testing.T) {
	h1, err := hashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := hashPassword("correct horse battery")
	if h1 == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{{"correct horse battery", true}, {"correct horse batterY", false}, {"", false}, {"correct horse battery ", false}} {
		if ok, err := verifyPassword(h1, tc.pw); err != nil || ok != tc.want {
			t.Errorf("verify %q: %v %v, want %v", tc.pw, ok, err, tc.want)
		}
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=19$m=19456,t=2,p=1$!!$x"} {
		if _, err := verifyPassword(bad, "x"); err == nil {
			t.Errorf("malformed hash %q accepted", bad)
		}
	}
}

func TestCheckNewPassword(t *testing.T) {
	for pw, ok := range map[string]bool{
		"admin": false, "elevenchars": false, "PASSWORD1234": false, "qwertyuiop123": false, "zzzzzzzzzzzz": false,
		"abcdefghijklm": false, "987654321098": false, "xyxyxyxyxyxy": false,
		"twelve chars": true, "correct horse battery": true, "Tr0ub4dor&3-extended": true, "ünïcödé wörds ok": true,
	} {
		if got := checkNewPassword(pw) == ""; got != ok {
			t.Errorf("%q: accepted %v, want %v (%s)", pw, got, ok, checkNewPassword(pw))
		}
	}
	if len(commonPasswords) < 100 {
		t.Fatalf("common password list has %d entries", len(commonPasswords))
	}
}

// FuzzSIPForm feeds arbitrary form values to the SIP form parser: it must
// not panic, and whatever it accepts must pass the config package's checks
// (the backend is never handed a config the file format would refuse).
func FuzzSIPForm(f *testing.F) {
	f.Add("1001", "sip.example.net", "5060", "example.net", "5062", "1800", "PCMU", "", "(*xx|xx.T)", "30", "on")
	f.Add("", "", "99999", "", "0", "x", "PCMA", "PCMA", "(12[", "-1", "")
	f.Add("a b", "[::1]", "1", "[2001:db8::1]:5060", "65535", "86400", "G729", "PCMU", "xx", "3600", "on")
	f.Fuzz(func(t *testing.T, number, server, port, domain, local, expires, c1, c2, plan, keepalive, proxy string) {
		form := url.Values{"active": {"on"}, "number": {number}, "server_host": {server}, "server_port": {port},
			"service_domain": {domain}, "local_port": {local}, "expires": {expires}, "codec1": {c1}, "codec2": {c2},
			"dial_plan": {plan}, "keepalive": {keepalive}, "keepalive_method": {"crlf"}, "transport": {"udp"},
			"dtmf_mode": {"rfc4733"}, "ptime": {"20"}, "proxy_active": {proxy}, "proxy_host": {server}, "proxy_port": {port}}
		cur := config.Default()
		cfg, errs := sipFormToConfig(cur, 0, form)
		if len(cur.Lines) != 0 {
			t.Fatal("the form modified the running config")
		}
		if errs.ok() {
			if err := cloneConfig(cfg).Validate(); err == nil {
				data, err := config.Marshal(cfg)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := config.Parse("fuzz", data); err != nil {
					t.Fatalf("accepted form does not read back: %v\n%s", err, data)
				}
			}
		}
	})
}

// FuzzConfigJSON feeds arbitrary bodies to PUT /api/config's decoder.
func FuzzConfigJSON(f *testing.F) {
	f.Add(`{"phone":{"region":"de"},"line":[{"number":"1","service_domain":"x.example"}]}`)
	f.Add(`{"line":[{"number":"1","service_domain":"x.example","password_set":true}]}`)
	f.Add(`{"line":{"a":1}}`)
	f.Add(`{"sip":{"keepalive":1e400}}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, body string) {
		cur := config.Default()
		cur.Lines = []config.Line{{Number: "1", ServiceDomain: "x.example", Password: "keep"}}
		cfg, err := configFromJSON([]byte(body), cur)
		if err == nil && cfg == nil {
			t.Fatal("nil config without error")
		}
	})
}

func TestKeyInMessage(t *testing.T) {
	key, msg, ok := keyInMessage(`config: up.toml:4: line[2].registrar: "x:0": port "0" is not a number from 1 to 65535`)
	if !ok || key != "line[2].registrar" || !strings.Contains(msg, "port") {
		t.Fatalf("%q %q %v", key, msg, ok)
	}
	if n, name, ok := lineKey("line[12].ptime"); !ok || n != 12 || name != "ptime" {
		t.Fatalf("lineKey: %d %q %v", n, name, ok)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0:00", 61 * time.Second: "1:01", 3725 * time.Second: "1:02:05", 26 * time.Hour: "1d 2:00:00"} {
		if got := formatDuration(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}
