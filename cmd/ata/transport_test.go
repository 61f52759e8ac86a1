package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/internal/baresiptest"
	"github.com/openata/ata/internal/kamailiotest"
)

// The firmware runs a UDP line and a TLS line at once (issue 13 item 1):
// both register at Kamailio, the TLS one with a sips: Contact over a
// connection whose certificate it checked against [sip] tls_ca_file (the
// transport named by ;transport=tls on the registrar), the Status API
// shows its TLS version and the provider's certificate, and a call from a
// baresip phone to the TLS line's number rings the phone.
func TestUDPAndTLSLinesAtOnce(t *testing.T) {
	t.Parallel()
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "secret", "1002": "secret", "2000": "pw"}, TLS: true})
	web := freePort(t)
	cfg := lineConfig(kam, fmt.Sprintf(`
[[line]]
number = "1002"
service_domain = "sip.test"
auth_user = "1002"
password = "secret"
registrar = "127.0.0.1:%d;transport=tls"
`, kam.TLSAddr().Port()))
	cfg = strings.Replace(cfg, `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = %q", web), 1) // [web]
	cfg = strings.Replace(cfg, "[sip]\n", fmt.Sprintf("[sip]\ntls_ca_file = %q\n", kam.CA().CAFile()), 1)
	r := &multiRig{t: t, kam: kam, f: startFirmware(t, cfg), web: "http://" + web}
	waitRegistered(t, kam, "1001")
	waitRegistered(t, kam, "1002")
	udp, _ := kam.Contacts("1001")
	tls, _ := kam.Contacts("1002")
	if !strings.HasPrefix(udp[0], "sip:1001@127.0.0.1:") || strings.Contains(udp[0], "transport") ||
		!strings.HasPrefix(tls[0], "sips:1002@127.0.0.1:") {
		t.Fatalf("contacts %v and %v: want a UDP one for 1001 and a sips: one for 1002", udp, tls)
	}

	var st struct {
		Lines []struct {
			Number, State, Transport, Security string
			TLSVersion                         string `json:"tls_version"`
			TLSPeer                            string `json:"tls_peer"`
		}
	}
	r.webAPI("/api/status", &st)
	t.Logf("lines %+v", st.Lines)
	if len(st.Lines) != 2 || st.Lines[0].Transport != "udp" || st.Lines[1].Transport != "tls" ||
		!strings.HasPrefix(st.Lines[1].TLSVersion, "TLS 1.") || !strings.Contains(st.Lines[1].TLSPeer, "CN=sip.test") ||
		strings.Contains(st.Lines[1].Security, "NOT VERIFIED") {
		t.Fatalf("status lines %+v: want line 2 on verified TLS with its version and the server's subject", st.Lines)
	}

	far := baresiptest.Start(t, baresiptest.Opts{User: "2000", Password: "pw", Registrar: kam.Addr().String()})
	far.Dial("sip:1002@" + kam.Addr().String())
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := r.f.phone.State(r.ctx())
		if err == nil && s.Ringing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the call to the TLS line's number did not ring the phone (state %+v, %v)", s, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
