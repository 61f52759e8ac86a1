package sip

import (
	"testing"
	"time"

	siplib "github.com/emiago/sipgo/sip"

	"github.com/openata/ata/call"
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

// Our session refresh answered 422 (RFC 4028 §7.4) goes again with the
// Min-SE asked as its interval and Min-SE; the call goes on, refreshed at
// half the new interval. On a fake clock.
func TestSessionRefresh422RetriedWithMinSE(t *testing.T) {
	p := newPeer(t)
	clk := newFakeClock()
	l := lineWith(t, p, 0, LineOptions{Clock: clk, SessionExpires: 90 * time.Second})
	calls := make(chan *Call, 1)
	l.OnIncoming(func(c *Call) { calls <- c })
	_, d := p.invite(l)
	c := nextCall(t, calls)
	t.Cleanup(func() { c.Hangup(call.Normal) })
	c.Answer()
	ok := p.response(siplib.INVITE)
	d.toTag, _ = ok.To().Params.Get("tag")
	d.target = ok.Contact().Address
	p.ack(d, 1)
	for range 45 { // half the interval: the refresh
		clk.waitTimers(t, 1)
		clk.advance(time.Second)
	}
	re := p.request(siplib.INVITE)
	p.reply(re, 422, "", nil, siplib.NewHeader("Min-SE", "300"))
	p.request(siplib.ACK)
	again := p.request(siplib.INVITE)
	if hdr(again, "Session-Expires") != "300;refresher=uac" || hdr(again, "Min-SE") != "300" || again.CSeq().SeqNo <= re.CSeq().SeqNo {
		t.Fatalf("refresh after 422:\n%s", again)
	}
	p.reply(again, 200, "", p.sdp("", ""), siplib.NewHeader("Session-Expires", "300;refresher=uac"))
	p.request(siplib.ACK)
	noEvent(t, c, call.Ended, 200*time.Millisecond)
	for range 100 { // not before half the new interval (150 s)
		clk.waitTimers(t, 1)
		clk.advance(time.Second)
	}
	p.none(siplib.INVITE, 100*time.Millisecond)
}
