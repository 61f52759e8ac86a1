package sipconfig

import (
	"testing"
	"time"

	"github.com/openata/ata/config"
	"github.com/openata/ata/media/rtpsession"
)

func TestAccountFromConfig(t *testing.T) {
	off := false
	l := config.Line{Active: &off, Number: "1001", DisplayName: "Hall", ServiceDomain: "voip.test:5070", AuthUser: "a",
		Password: "pw", Registrar: "reg.test", OutboundProxy: "proxy.test", RegisterExpires: config.Duration(time.Minute),
		Codecs: []string{"PCMA"}, DTMFMode: "info", Ptime: 10}
	a := AccountFromConfig(l)
	if !a.Inactive || a.Number != "1001" || a.DisplayName != "Hall" || a.ServiceDomain != "voip.test:5070" ||
		a.AuthUser != "a" || a.Password != "pw" || a.Registrar != "reg.test" || a.OutboundProxy != "proxy.test" ||
		a.RegisterExpires != time.Minute || len(a.Codecs) != 1 || a.Codecs[0] != "PCMA" || a.DTMFMode != "info" || a.Ptime != 10 {
		t.Fatalf("account %+v from %+v", a, l)
	}
	if a := AccountFromConfig(config.Line{Number: "1"}); a.Inactive {
		t.Fatal("a line without active= is inactive")
	}
	s := StackConfig(config.SIP{Listen: "0.0.0.0:5060", KeepAlive: config.Duration(30 * time.Second),
		KeepAliveMethod: "options", KeepAliveMisses: 3, RTPTimeout: config.Duration(45 * time.Second), AcceptProxyOnly: true, UserAgent: "ua"})
	if s.Listen != "0.0.0.0:5060" || s.KeepAlive != 30*time.Second || s.KeepAliveMethod != "options" || !s.AcceptProxyOnly || s.UserAgent != "ua" ||
		s.KeepAliveMisses != 3 || s.RTPTimeout != 45*time.Second {
		t.Fatalf("stack config %+v", s)
	}
}

// `[[line]] vad` reaches the account (off by default).
func TestVADFromConfig(t *testing.T) {
	c, err := config.Parse("t.toml", []byte("[[line]]\nnumber = \"1\"\nservice_domain = \"voip.test\"\nvad = true\n\n"+
		"[[line]]\nnumber = \"2\"\nservice_domain = \"voip.test\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a := AccountFromConfig(c.Lines[0]); !a.VAD {
		t.Error("vad = true not mapped")
	}
	if a := AccountFromConfig(c.Lines[1]); a.VAD {
		t.Error("a line without vad has VAD on")
	}
}

// The transport comes from `transport`, else a ;transport= on the proxy or
// registrar (stripped from the address), else DNS decides ("auto");
// tls_verify = false and [sip] tls_ca_file reach the stack.
func TestTransportFromConfig(t *testing.T) {
	off := false
	for _, tc := range []struct {
		line      config.Line
		transport string
		registrar string
		proxy     string
		noVerify  bool
	}{
		{config.Line{Number: "1", ServiceDomain: "voip.test"}, "auto", "", "", false},
		{config.Line{Number: "1", ServiceDomain: "voip.test", Transport: "udp"}, "udp", "", "", false},
		{config.Line{Number: "1", ServiceDomain: "voip.test", Transport: "tls", TLSVerify: &off}, "tls", "", "", true},
		{config.Line{Number: "1", ServiceDomain: "voip.test", Registrar: "reg.test:5061;transport=tls"}, "tls", "reg.test:5061", "", false},
		{config.Line{Number: "1", ServiceDomain: "voip.test", OutboundProxy: "p.test;transport=tcp"}, "tcp", "", "p.test", false},
		{config.Line{Number: "1", ServiceDomain: "voip.test", OutboundProxy: "p.test;transport=udp"}, "udp", "", "p.test", false},
	} {
		a := AccountFromConfig(tc.line)
		if a.Transport != tc.transport || a.Registrar != tc.registrar || a.OutboundProxy != tc.proxy || a.TLSNoVerify != tc.noVerify {
			t.Errorf("%+v: account transport %q registrar %q proxy %q no-verify %v; want %q %q %q %v", tc.line,
				a.Transport, a.Registrar, a.OutboundProxy, a.TLSNoVerify, tc.transport, tc.registrar, tc.proxy, tc.noVerify)
		}
	}
	if s := StackConfig(config.SIP{TLSCAFile: "/etc/ata/ca.pem"}); s.TLSCAFile != "/etc/ata/ca.pem" {
		t.Errorf("tls_ca_file not mapped: %+v", s)
	}
}

// `[sip] rtp_latching` reaches the stack (auto by default).
func TestRTPLatchingFromConfig(t *testing.T) {
	for in, want := range map[string]rtpsession.Latching{"": rtpsession.LatchAuto, "always": rtpsession.LatchAlways, "never": rtpsession.LatchNever} {
		toml := "[sip]\n"
		if in != "" {
			toml += "rtp_latching = \"" + in + "\"\n"
		}
		c, err := config.Parse("t.toml", []byte(toml))
		if err != nil {
			t.Fatal(err)
		}
		if got := StackConfig(c.SIP).RTPLatching; got != want {
			t.Errorf("rtp_latching %q: stack has %v, want %v", in, got, want)
		}
	}
}
