package sip

import (
	"testing"
	"time"

	siplib "github.com/emiago/sipgo/sip"
)

func TestParseSessionExpires(t *testing.T) {
	for _, tc := range []struct {
		hdr, compact string
		want         time.Duration
		refresher    string
		ok           bool
	}{
		{"1800;refresher=uac", "", 1800 * time.Second, "uac", true},
		{"90; refresher = UAS", "", 90 * time.Second, "uas", true},
		{"", "600", 600 * time.Second, "", true},
		{"abc", "", 0, "", false},
		{"-5", "", 0, "", false},
		{"", "", 0, "", false},
	} {
		req := siplib.NewRequest(siplib.INVITE, siplib.Uri{Scheme: "sip", Host: "x"})
		if tc.hdr != "" {
			req.AppendHeader(siplib.NewHeader("Session-Expires", tc.hdr))
		}
		if tc.compact != "" {
			req.AppendHeader(siplib.NewHeader("x", tc.compact))
		}
		d, r, ok := parseSessionExpires(req)
		if d != tc.want || r != tc.refresher || ok != tc.ok {
			t.Errorf("%q/%q: got %v %q %v", tc.hdr, tc.compact, d, r, ok)
		}
	}
}

func FuzzParseSessionExpires(f *testing.F) {
	for _, s := range []string{"1800;refresher=uac", "90", ";", "1e9;refresher", "0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		req := siplib.NewRequest(siplib.INVITE, siplib.Uri{Scheme: "sip", Host: "x"})
		req.AppendHeader(siplib.NewHeader("Session-Expires", v))
		d, _, ok := parseSessionExpires(req)
		if ok && (d <= 0 || d > 24*time.Hour) {
			t.Fatalf("%q gave %v", v, d)
		}
	})
}
