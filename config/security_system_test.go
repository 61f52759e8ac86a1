package config

import (
	"strings"
	"testing"
	"time"
)

func TestLineSecurityKeys(t *testing.T) {
	c, err := Parse("ata.toml", []byte("[[line]]\nnumber = \"1\"\nservice_domain = \"a\"\n"+
		"[[line]]\nnumber = \"2\"\nservice_domain = \"a\"\ntransport = \"tls\"\ntls_verify = false\n"+
		"[[line]]\nnumber = \"3\"\nservice_domain = \"a\"\nregistrar = \"a:5061;transport=TLS\"\nsrtp = \"mandatory\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	l := c.Lines
	if l[0].TransportName() != "udp" || l[0].SRTPMode() != "off" || !l[0].TLSVerifyOn() {
		t.Errorf("line 1: %s %s %v, want udp off true", l[0].TransportName(), l[0].SRTPMode(), l[0].TLSVerifyOn())
	}
	if l[1].TransportName() != "tls" || l[1].SRTPMode() != "optional" || l[1].TLSVerifyOn() {
		t.Errorf("line 2: %s %s %v, want tls optional false", l[1].TransportName(), l[1].SRTPMode(), l[1].TLSVerifyOn())
	}
	if l[2].TransportName() != "tls" || l[2].SRTPMode() != "mandatory" {
		t.Errorf("line 3: %s %s, want tls mandatory", l[2].TransportName(), l[2].SRTPMode())
	}
	if hp, tr, err := SplitTransportParam("a:5061;transport=TLS"); hp != "a:5061" || tr != "tls" || err != nil {
		t.Errorf("SplitTransportParam = %q %q %v", hp, tr, err)
	}
}

func TestSystemAndProvisioningKeys(t *testing.T) {
	c, err := Parse("ata.toml", []byte("[system]\nsyslog = \"udp://127.0.0.1:514\"\ntimezone = \"Europe/Berlin\"\nntp_server = \"pool.ntp.org\"\n"+
		"[provisioning]\nurl = \"https://p.example/{mac}.toml\"\n[sip]\nstun_server = \"stun.example:3478\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.System.UpdateHealthTimeout.D() != 5*time.Minute || c.Provisioning.Interval.D() != 24*time.Hour {
		t.Errorf("defaults: update_health_timeout %v, interval %v", c.System.UpdateHealthTimeout, c.Provisioning.Interval)
	}
	bad := []struct{ toml, want string }{
		{"[[line]]\nnumber = \"1\"\nservice_domain = \"a\"\ntransport = \"sctp\"\n", "line[0].transport"},
		{"[[line]]\nnumber = \"1\"\nservice_domain = \"a\"\nsrtp = \"yes\"\n", "line[0].srtp"},
		{"[[line]]\nnumber = \"1\"\nservice_domain = \"a\"\nregistrar = \"a;transport=ws\"\n", "line[0].registrar"},
		{"[system]\nsyslog = \"10.0.0.1:514\"\n", "system.syslog"},
		{"[system]\ntimezone = \"Mars/Olympus\"\n", "system.timezone"},
		{"[system]\nupdate_health_timeout = \"5s\"\n", "system.update_health_timeout"},
		{"[provisioning]\nurl = \"ftp://x/y\"\n", "provisioning.url"},
		{"[provisioning]\ninterval = \"10s\"\n", "provisioning.interval"},
		{"[provisioning]\nfirmware_hour = 24\n", "provisioning.firmware_hour"},
		{"[sip]\nstun_server = \"a b\"\n", "sip.stun_server"},
	}
	for _, b := range bad {
		if _, err := Parse("ata.toml", []byte(b.toml)); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%q: error %v, want one naming %s", b.toml, err, b.want)
		}
	}
}
