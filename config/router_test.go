package config

import (
	"strings"
	"testing"
)

// The issue's example parses as written.
func TestRouterKeysIssueExample(t *testing.T) {
	c, err := Parse("ata.toml", []byte(`
[router]
enabled = true
listen = "0.0.0.0:5062"
allow_networks = ["127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fd00::/8", "fe80::/10"]
port_extension = "100"

[[user]]
name = "201"
password = "kitchen-phone-secret"
display_name = "Kitchen"
external = true

[[trunk]]
name = "carrier"
addresses = ["203.0.113.5", "198.51.100.0/28"]
dial = "carrier.example.net:5060"
ring = ["100", "201"]

[[route]]
pattern = "<9:>xx."
via = "trunk:carrier"

[[line]]
number = "1001"
service_domain = "voip.example.net"
ring = ["100", "201"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Router.Enabled || len(c.Users) != 1 || !c.Users[0].External || len(c.Trunks) != 1 || c.Routes[0].Via != "trunk:carrier" ||
		strings.Join(c.Lines[0].Ring, ",") != "100,201" {
		t.Fatalf("parsed %+v %+v %+v %+v", c.Router, c.Users, c.Trunks, c.Routes)
	}
	if d := Default(); d.Router.Enabled || d.Router.Listen != "0.0.0.0:5062" || d.Router.PortExtension != "100" || len(d.Router.AllowNetworks) != 6 {
		t.Fatalf("defaults %+v", d.Router)
	}
	if l, _ := Parse("f", []byte("[[line]]\nnumber = \"1\"\nservice_domain = \"a\"\n")); strings.Join(l.Lines[0].Ring, ",") != "100" {
		t.Fatalf("a line's ring list defaults to the port: %v", l.Lines[0].Ring)
	}
}

// Bad router settings are refused with the key named.
func TestRouterKeysChecked(t *testing.T) {
	for _, tc := range []struct{ name, toml, key, msg string }{
		{"unknown extension in a line's ring", "[[line]]\nnumber = \"1\"\nservice_domain = \"a\"\nring = [\"100\", \"999\"]\n", "line[0].ring[1]", `"999" is no extension`},
		{"unknown extension in a trunk's ring", "[[trunk]]\nname = \"c\"\naddresses = [\"192.0.2.1\"]\ndial = \"192.0.2.1\"\nring = [\"201\"]\n", "trunk[0].ring[0]", "no extension"},
		{"route to a missing line", "[[route]]\npattern = \"xx.\"\nvia = \"line:2\"\n", "route[0].via", "no such line"},
		{"route to a missing trunk", "[[route]]\npattern = \"xx.\"\nvia = \"trunk:x\"\n", "route[0].via", "no trunk named"},
		{"route via nonsense", "[[route]]\npattern = \"xx.\"\nvia = \"carrier\"\n", "route[0].via", `want "line:N" or "trunk:NAME"`},
		{"two users with one name", "[[user]]\nname = \"201\"\npassword = \"a\"\n[[user]]\nname = \"201\"\npassword = \"b\"\n", "user[1].name", "already user[0].name"},
		{"user on the port's extension", "[[user]]\nname = \"100\"\npassword = \"a\"\n", "user[0].name", "already router.port_extension"},
		{"user without a password", "[[user]]\nname = \"201\"\n", "user[0].password", "missing"},
		{"network that does not parse", "[router]\nallow_networks = [\"10.0.0.0/33\"]\n", "router.allow_networks[0]", "not a network"},
		{"trunk address that does not parse", "[[trunk]]\nname = \"c\"\naddresses = [\"carrier\"]\ndial = \"192.0.2.1\"\n", "trunk[0].addresses[0]", "not an address"},
		{"trunk without dial", "[[trunk]]\nname = \"c\"\naddresses = [\"192.0.2.1\"]\n", "trunk[0].dial", "missing"},
		{"two trunks with one name", "[[trunk]]\nname = \"c\"\naddresses = [\"192.0.2.1\"]\ndial = \"x\"\n[[trunk]]\nname = \"c\"\naddresses = [\"192.0.2.2\"]\ndial = \"y\"\n", "trunk[1].name", "already"},
		{"bad HA1", "[[user]]\nname = \"201\"\nha1_md5 = \"xyz\"\n", "user[0].ha1_md5", "32 hex digits"},
		{"bad listen", "[router]\nlisten = \"5062\"\n", "router.listen", "host:port"},
		{"empty port extension", "[router]\nport_extension = \"\"\n", "router.port_extension", "empty"},
		{"a user forwarding to itself", "[[user]]\nname = \"201\"\npassword = \"a\"\nforward_busy = \"201\"\n", "user[0].forward_busy", "the user itself"},
		{"a forward target that is no number", "[[user]]\nname = \"201\"\npassword = \"a\"\nforward_always = \"x@y\"\n", "user[0].forward_always", "want digits"},
		{"no-answer time out of range", "[[user]]\nname = \"201\"\npassword = \"a\"\nforward_no_answer_after = \"10m\"\n", "user[0].forward_no_answer_after", "1s to 5m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("ata.toml", []byte(tc.toml))
			if err == nil || !strings.Contains(err.Error(), tc.key+": ") || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err %v, want %s: …%s…", err, tc.key, tc.msg)
			}
		})
	}
}
