package webui

import (
	"strings"
	"testing"
)

// The status line of a TLS line names the version and the provider's
// certificate, and says loudly when the certificate is not checked; TCP
// is named; UDP (the default) says nothing.
func TestLineTransportText(t *testing.T) {
	for _, tc := range []struct {
		l         LineStatusJSON
		want, not string
	}{
		{LineStatusJSON{Transport: "tls", TLSVersion: "TLS 1.3", TLSPeer: "CN=sip.test"}, "TLS 1.3, certificate CN=sip.test", "NOT VERIFIED"},
		{LineStatusJSON{Transport: "tls", TLSVersion: "TLS 1.2", TLSPeer: "CN=sip.test", TLSUnverified: true}, "NOT VERIFIED (tls_verify = false)", ""},
		{LineStatusJSON{Transport: "tcp"}, "TCP", "TLS"},
	} {
		lineText(&tc.l)
		if !strings.Contains(tc.l.Security, tc.want) || (tc.not != "" && strings.Contains(tc.l.Security, tc.not)) {
			t.Errorf("%+v: security %q, want %q without %q", tc.l, tc.l.Security, tc.want, tc.not)
		}
	}
	udp := LineStatusJSON{Transport: "udp"}
	if lineText(&udp); udp.Security != "" {
		t.Errorf("a UDP line says %q", udp.Security)
	}
}
