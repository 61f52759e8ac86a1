package webui_test

import (
	"os"
	"strings"
	"testing"
	"time"
)

// The SIP Account page saves a TLS line with its CA file, certificate
// check off and SRTP, and shows them back; Automatic leaves transport
// unset, and a UDP save leaves tls_verify alone.
func TestSIPAccountTransportFields(t *testing.T) {
	e, c := ready(t)
	ca := t.TempDir() + "/ca.pem"
	if err := os.WriteFile(ca, []byte(testCAPEM), 0o644); err != nil {
		t.Fatal(err)
	}
	f := sipForm()
	f.Set("transport", "tls")
	f.Set("srtp", "mandatory")
	f.Set("tls_ca_file", ca)
	f.Del("tls_verify") // unchecked
	wantRedirect(t, c.postPage("/sip", "/sip", f), "/sip?line=0", "save")
	l, sip := e.b.Config().Lines[0], e.b.Config().SIP
	if l.Transport != "tls" || l.TLSVerifyOn() || l.SRTP != "mandatory" || sip.TLSCAFile != ca {
		t.Fatalf("saved transport %q verify %v srtp %q ca %q", l.Transport, l.TLSVerifyOn(), l.SRTP, sip.TLSCAFile)
	}
	page := c.get("/sip?line=0").Body.String()
	for _, want := range []string{`<option value="tls" selected>`, `<option value="mandatory" selected>`, `value="` + ca + `"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page does not show %s", want)
		}
	}
	if strings.Contains(page, `id="f-tls_verify" name="tls_verify" checked`) {
		t.Error("the page shows the certificate check on")
	}

	f.Set("transport", "auto")
	f.Set("tls_verify", "on")
	wantRedirect(t, c.postPage("/sip", "/sip", f), "/sip?line=0", "save")
	if l := e.b.Config().Lines[0]; l.Transport != "" || !l.TLSVerifyOn() {
		t.Fatalf("Automatic saved transport %q, verify %v", l.Transport, l.TLSVerifyOn())
	}
}

// testCAPEM is a self-signed certificate (any will do: the form checks
// that the file holds one).
const testCAPEM = `-----BEGIN CERTIFICATE-----
MIIBhTCCASugAwIBAgIQIRi6zePL6mKjOipn+dNuaTAKBggqhkjOPQQDAjASMRAw
DgYDVQQKEwdBY21lIENvMB4XDTE3MTAyMDE5NDMwNloXDTE4MTAyMDE5NDMwNlow
EjEQMA4GA1UEChMHQWNtZSBDbzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABD0d
7VNhbWvZLWPuj/RtHFjvtJBEwOkhbN/BnnE8rnZR8+sbwnc/KhCk3FhnpHZnQz7B
5aETbbIgmuvewdjvSBSjYzBhMA4GA1UdDwEB/wQEAwICpDATBgNVHSUEDDAKBggr
BgEFBQcDATAPBgNVHRMBAf8EBTADAQH/MCkGA1UdEQQiMCCCDmxvY2FsaG9zdDo1
NDUzgg4xMjcuMC4wLjE6NTQ1MzAKBggqhkjOPQQDAgNIADBFAiEA2zpJEPQyz6/l
Wf86aX6PepsntZv2GYlA5UpabfT2EZICICpJ5h/iI+i341gBmLiAFQOyTDT+/wQc
6MF9+Yw1Yy0t
-----END CERTIFICATE-----
`

// A TLS line without the certificate check is shown on the Status page
// with its TLS version and a warning in bold (class "detail warn").
func TestStatusWarnsUnverifiedTLS(t *testing.T) {
	_, c := ready(t)
	f := sipForm()
	f.Set("transport", "tls")
	f.Del("tls_verify")
	wantRedirect(t, c.postPage("/sip", "/sip", f), "/sip?line=0", "save")
	deadline := time.Now().Add(5 * time.Second)
	for {
		page := c.get("/").Body.String()
		if strings.Contains(page, `<span class="detail warn">TLS 1.3, certificate CN=example.net — NOT VERIFIED`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no TLS warning on the Status page:\n%s", page)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
