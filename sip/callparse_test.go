package sip

import (
	"strings"
	"testing"
	"time"

	siplib "github.com/emiago/sipgo/sip"
)

func TestParseDTMFInfo(t *testing.T) {
	for _, tc := range []struct {
		ctype, body string
		key         byte
		d           time.Duration
		ok          bool
	}{
		{"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", '5', 160 * time.Millisecond, true},
		{"application/dtmf-relay", "signal = *\nduration= 90", '*', 90 * time.Millisecond, true},
		{"application/dtmf-relay", "Signal=11\r\n", '#', defaultInfoDuration, true},
		{"application/dtmf-relay", "Signal=d\r\nDuration=0\r\n", 'D', defaultInfoDuration, true},
		{"application/dtmf-relay", "Signal=1\r\nDuration=99999999\r\n", '1', maxInfoDuration, true},
		{"application/dtmf", " 7\r\n", '7', defaultInfoDuration, true},
		{"application/dtmf-relay", "Duration=100", 0, 0, false},
		{"application/dtmf-relay", "Signal=X", 0, 0, false},
		{"application/dtmf", "12", 0, 0, false},
		{"text/plain", "Signal=1", 0, 0, false},
	} {
		key, d, err := parseDTMFInfo(tc.ctype, []byte(tc.body))
		if (err == nil) != tc.ok || key != tc.key || d != tc.d {
			t.Errorf("parseDTMFInfo(%q, %q) = %q, %v, %v; want %q, %v, ok %v", tc.ctype, tc.body, key, d, err, tc.key, tc.d, tc.ok)
		}
	}
}

func TestParseReplaces(t *testing.T) {
	r, err := parseReplaces("abc@host ; to-tag=t1;from-tag=f1;early-only")
	if err != nil || r != (dialogRef{"abc@host", "t1", "f1", true}) {
		t.Fatalf("%+v %v", r, err)
	}
	for _, bad := range []string{"", "abc;to-tag=t1", "abc;from-tag=f", "abc;to-tag=;from-tag=f", ";to-tag=a;from-tag=b"} {
		if _, err := parseReplaces(bad); err == nil {
			t.Errorf("parseReplaces(%q) accepted", bad)
		}
	}
}

func TestParseReferTo(t *testing.T) {
	r, err := parseReferTo(`"Bob" <sip:3000@voip.test:5070;transport=udp?Replaces=a%40b%3Bto-tag%3Dx%3Bfrom-tag%3Dy&Foo=1>;x=1`)
	if err != nil || r.URI.User != "3000" || r.URI.Host != "voip.test" || r.URI.Port != 5070 || r.Replaces != "a@b;to-tag=x;from-tag=y" {
		t.Fatalf("%+v %v", r, err)
	}
	if r, err := parseReferTo("sip:3000@voip.test;method=INVITE"); err != nil || r.URI.User != "3000" || r.Replaces != "" {
		t.Fatalf("bare URI: %+v %v", r, err)
	}
	for _, bad := range []string{"", "<sip:3000@voip.test", "<tel:3000>", "<sip:>", "<sip:a@b?Replaces=nonsense>", "<sip:a@b?Replaces=%zz>"} {
		if _, err := parseReferTo(bad); err == nil {
			t.Errorf("parseReferTo(%q) accepted", bad)
		}
	}
}

func TestParseSipfrag(t *testing.T) {
	if c, r, err := parseSipfrag([]byte("SIP/2.0 486 Busy Here\r\nVia: x\r\n")); err != nil || c != 486 || r != "Busy Here" {
		t.Fatalf("%d %q %v", c, r, err)
	}
	for _, bad := range []string{"", "SIP/2.0", "SIP/2.0 99 x", "SIP/2.0 2000 OK", "INVITE sip:a@b SIP/2.0", "SIP/2.0 7000"} {
		if _, _, err := parseSipfrag([]byte(bad)); err == nil {
			t.Errorf("parseSipfrag(%q) accepted", bad)
		}
	}
}

func TestReplacesRoundTripsThroughReferTo(t *testing.T) {
	ref := dialogRef{CallID: `a+b%20/c?d"<x>@h`, ToTag: "t.1", FromTag: "f~2"}
	r, err := parseReferTo("<sip:2000@h?Replaces=" + uriHeaderEscape(ref.String()) + ">")
	if err != nil || r.Replaces != ref.String() {
		t.Fatalf("%+v %v", r, err)
	}
}

func FuzzParseDTMFInfo(f *testing.F) {
	f.Add("application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n"))
	f.Add("application/dtmf", []byte("#"))
	f.Add("application/dtmf-relay", []byte("Signal=11\nDuration=-5"))
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		key, d, err := parseDTMFInfo(ctype, body)
		if err != nil {
			return
		}
		if !strings.ContainsRune("0123456789*#ABCD", rune(key)) || d <= 0 || d > maxInfoDuration {
			t.Fatalf("key %q duration %v", key, d)
		}
	})
}

func FuzzParseReplaces(f *testing.F) {
	f.Add("abc@host;to-tag=t1;from-tag=f1")
	f.Add("abc;from-tag=f;to-tag=t;early-only")
	f.Fuzz(func(t *testing.T, v string) {
		r, err := parseReplaces(v)
		if err != nil {
			return
		}
		if r.CallID == "" || r.ToTag == "" || r.FromTag == "" {
			t.Fatalf("%+v from %q", r, v)
		}
	})
}

func FuzzParseReferTo(f *testing.F) {
	f.Add("<sip:3000@voip.test?Replaces=a%40b%3Bto-tag%3Dx%3Bfrom-tag%3Dy>")
	f.Add("sip:3000@voip.test")
	f.Add(`"x" <sips:a@[::1]:5061;transport=tls>`)
	f.Fuzz(func(t *testing.T, v string) {
		r, err := parseReferTo(v)
		if err != nil {
			return
		}
		if r.URI.Host == "" || r.URI.Headers != nil {
			t.Fatalf("%+v from %q", r, v)
		}
		if r.Replaces != "" {
			if _, err := parseReplaces(r.Replaces); err != nil {
				t.Fatal(err)
			}
		}
		var u siplib.Uri
		_ = siplib.ParseUri(r.URI.String(), &u)
	})
}

func FuzzParseSipfrag(f *testing.F) {
	f.Add([]byte("SIP/2.0 200 OK\r\n"))
	f.Add([]byte("SIP/2.0 100 Trying"))
	f.Fuzz(func(t *testing.T, body []byte) {
		code, _, err := parseSipfrag(body)
		if err == nil && (code < 100 || code > 699) {
			t.Fatalf("code %d", code)
		}
	})
}
