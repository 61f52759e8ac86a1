package sip

import (
	"context"
	"testing"

	siplib "github.com/emiago/sipgo/sip"

	"github.com/openata/ata/call"
)

// TestAnonymousCallHeaders: a call with our identity withheld says
// anonymous in From, Privacy: id, and who we are only in
// P-Preferred-Identity (RFC 3323, 3325); a normal call does neither.
func TestAnonymousCallHeaders(t *testing.T) {
	p := newPeer(t)
	l := testLine(t, p)
	c, err := l.Dial(context.Background(), "2000", call.DialOptions{Anonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Hangup(call.Normal)
	inv := p.request(siplib.INVITE)
	if f := inv.From(); f.Address.User != "anonymous" || f.Address.Host != "anonymous.invalid" || f.DisplayName != "Anonymous" {
		t.Errorf("From %q, want \"Anonymous\" <sip:anonymous@anonymous.invalid>", f.Value())
	}
	if h := inv.GetHeader("Privacy"); h == nil || h.Value() != "id" {
		t.Errorf("Privacy %v, want id", h)
	}
	if h := inv.GetHeader("P-Preferred-Identity"); h == nil || h.Value() != "<sip:1001@voip.test>" {
		t.Errorf("P-Preferred-Identity %v, want <sip:1001@voip.test>", h)
	}
	c2, err := l.Dial(context.Background(), "2000", call.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Hangup(call.Normal)
	inv = p.request(siplib.INVITE)
	if inv.From().Address.User != "1001" || inv.GetHeader("Privacy") != nil || inv.GetHeader("P-Preferred-Identity") != nil {
		t.Errorf("a normal call: From %q, Privacy %v", inv.From().Value(), inv.GetHeader("Privacy"))
	}
}
