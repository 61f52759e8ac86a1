package sip

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	siplib "github.com/emiago/sipgo/sip"
)

func parseResponse(t testing.TB, lines ...string) *siplib.Response {
	msg, err := siplib.ParseMessage([]byte(strings.Join(lines, "\r\n") + "\r\n\r\n"))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	res, ok := msg.(*siplib.Response)
	if !ok {
		t.Fatalf("not a response")
	}
	return res
}

var ours = siplib.Uri{Scheme: "sip", User: "1001", Host: "192.168.1.20", Port: 5060}

func TestGrantedExpiry(t *testing.T) {
	head := []string{"SIP/2.0 200 OK", "Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK1;rport=5060",
		"From: <sip:1001@voip.test>;tag=a", "To: <sip:1001@voip.test>;tag=b", "Call-ID: c", "CSeq: 2 REGISTER"}
	for _, tc := range []struct {
		name  string
		extra []string
		want  time.Duration
		ok    bool
	}{
		{"contact param wins over header", []string{"Contact: <sip:1001@192.168.1.20:5060>;expires=120", "Expires: 3600"}, 120 * time.Second, true},
		{"other contacts ignored", []string{"Contact: <sip:1001@10.0.0.9:5060>;expires=30, <sip:1001@192.168.1.20>;expires=600"}, 600 * time.Second, true},
		{"separate contact headers", []string{"Contact: <sip:1001@10.0.0.9>;expires=30", "Contact: <sip:1001@192.168.1.20:5060>;expires=90"}, 90 * time.Second, true},
		{"header fallback", []string{"Contact: <sip:1001@10.0.0.9>;expires=30", "Expires: 1800"}, 1800 * time.Second, true},
		{"nothing", nil, 0, false},
		{"huge clamped", []string{"Expires: 99999999999999999999"}, maxExpiry, true},
		{"garbage", []string{"Expires: soon"}, 0, false},
	} {
		res := parseResponse(t, append(append([]string{}, head...), tc.extra...)...)
		got, ok := grantedExpiry(res, ours)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: got %v %v, want %v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestViaReceived(t *testing.T) {
	for _, tc := range []struct {
		via  string
		want string
	}{
		{"SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK1;received=203.0.113.7;rport=40123", "203.0.113.7:40123"},
		{"SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK1;rport=40123", "192.168.1.20:40123"},
		{"SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK1;received=203.0.113.7", "203.0.113.7:5060"},
		{"SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK1;rport", ""},
		{"SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK1;received=not-an-ip;rport=1", ""},
		{"SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK1;received=203.0.113.7;rport=70000", ""},
	} {
		res := parseResponse(t, "SIP/2.0 200 OK", "Via: "+tc.via, "From: <sip:a@b>;tag=1", "To: <sip:a@b>", "Call-ID: c", "CSeq: 1 REGISTER")
		got, ok := viaReceived(res)
		s := ""
		if ok {
			s = got.String()
		}
		if s != tc.want {
			t.Errorf("%s: got %q, want %q", tc.via, s, tc.want)
		}
	}
}

// FuzzResponseParams feeds network bytes through the values the
// registration reads from a REGISTER response (sipgo fuzzes its parser;
// these are ours).
func FuzzResponseParams(f *testing.F) {
	f.Add("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK1;received=203.0.113.7;rport=40123\r\n" +
		"From: <sip:1001@voip.test>;tag=a\r\nTo: <sip:1001@voip.test>;tag=b\r\nCall-ID: c\r\nCSeq: 2 REGISTER\r\n" +
		"Contact: <sip:1001@192.168.1.20:5060>;expires=120, <sip:1001@10.0.0.1>;expires=5\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n")
	f.Add("SIP/2.0 423 Interval Too Brief\r\nVia: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1;rport\r\n" +
		"From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\nMin-Expires: 7200\r\n\r\n")
	f.Add("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;received=;rport=0\r\nContact: *\r\nExpires: -1\r\n\r\n")
	f.Fuzz(func(t *testing.T, data string) {
		msg, err := siplib.ParseMessage([]byte(data))
		if err != nil {
			return
		}
		res, ok := msg.(*siplib.Response)
		if !ok {
			return
		}
		if d, ok := grantedExpiry(res, ours); ok && (d < 0 || d > maxExpiry) {
			t.Fatalf("expiry %v out of range", d)
		}
		if d, ok := minExpires(res); ok && (d < 0 || d > maxExpiry) {
			t.Fatalf("min-expires %v out of range", d)
		}
		if a, ok := viaReceived(res); ok && (!a.IsValid() || a.Port() == 0) {
			t.Fatalf("received address %v invalid", a)
		}
	})
}

// FuzzSplitHostPort checks the registrar/outbound proxy setting parser.
func FuzzSplitHostPort(f *testing.F) {
	for _, s := range []string{"voip.test", "voip.test:5060", "[2001:db8::1]:5070", "[::1]", "::1", "1.2.3.4:0", ":5060", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		host, port, err := splitHostPort(s)
		if err != nil {
			return
		}
		if host == "" {
			t.Fatalf("%q: empty host accepted (port %d)", s, port)
		}
		if ip, err := netip.ParseAddr(host); err == nil && !ip.IsValid() {
			t.Fatalf("%q: invalid IP accepted", s)
		}
	})
}
