package sip

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	siplib "github.com/emiago/sipgo/sip"

	"github.com/openata/ata/call"
)

// TestTrunkTakesCallsFromItsAddresses: with accept_proxy_only on, an
// INVITE from a trunk's network rings the trunk whatever number it names
// (not the line whose number it is); one from any other address gets no
// answer at all; the trunk's own calls go to its dial address presenting
// the caller's number.
func TestTrunkTakesCallsFromItsAddresses(t *testing.T) {
	carrier := newPeerAt(t, net.IPv4(127, 0, 0, 5))
	stranger := newPeerAt(t, net.IPv4(127, 0, 0, 6))
	st := newTestStack(t, "127.0.0.1:0", true)
	line, err := NewLine(st, Account{Number: "1001", ServiceDomain: "voip.test", Registrar: "127.0.0.1:9", Codecs: []string{"PCMU"}},
		LineOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	trunk, err := NewLine(st, Account{Number: "carrier", ServiceDomain: carrier.addr(), Codecs: []string{"PCMU"},
		TrunkFrom: []netip.Prefix{netip.MustParsePrefix("127.0.0.5/32")}}, LineOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	onLine, onTrunk := make(chan *Call, 2), make(chan *Call, 2)
	line.OnIncoming(func(c *Call) { onLine <- c })
	trunk.OnIncoming(func(c *Call) { onTrunk <- c })
	carrier.ata, stranger.ata = st.LocalAddr(), st.LocalAddr()

	// The carrier calls a DID (and even the line's number): the trunk rings.
	_, d := carrier.invite(trunk)
	c := nextCall(t, onTrunk)
	if c.Remote().Number != "2000" {
		t.Errorf("caller %+v", c.Remote())
	}
	c.Reject(call.Busy)
	if res := carrier.response(siplib.INVITE); res.StatusCode != 486 {
		t.Fatalf("trunk call refused with %d", res.StatusCode)
	}
	carrier.ack(d, 1)
	select {
	case c := <-onLine:
		t.Fatalf("the line rang for a trunk call: %s", c.ID())
	default:
	}

	// A stranger is not answered at all.
	stranger.invite(line)
	select {
	case m := <-stranger.in:
		t.Fatalf("a stranger's INVITE was answered:\n%s", m)
	case <-time.After(time.Second):
	}
	select {
	case c := <-onLine:
		t.Fatalf("a stranger's INVITE rang: %s", c.ID())
	case c := <-onTrunk:
		t.Fatalf("a stranger's INVITE rang the trunk: %s", c.ID())
	default:
	}

	// Out on the trunk, presenting a user's number.
	out, err := trunk.Dial(context.Background(), "5551234", call.DialOptions{Caller: call.Party{Number: "201", Name: "Kitchen"}})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Hangup(call.Normal)
	inv := carrier.request(siplib.INVITE)
	if inv.Recipient.User != "5551234" || inv.From().Address.User != "201" || inv.From().DisplayName != "Kitchen" {
		t.Fatalf("trunk INVITE: R-URI %s, From %s", inv.Recipient.String(), inv.From().Value())
	}
}
