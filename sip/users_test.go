package sip

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"

	siplib "github.com/emiago/sipgo/sip"

	"github.com/openata/ata/call"
)

// TestUsersLine: the users' line of router mode admits INVITEs through
// Admit (an unauthenticated one is answered by Admit and never becomes a
// call), reports who placed a call and what they dialled, and dials a
// user at its registered contact through the flow it registered from.
func TestUsersLine(t *testing.T) {
	phone201 := newPeer(t)
	phone202 := newPeerAt(t, net.IPv4(127, 0, 0, 9))
	st := newTestStack(t, "127.0.0.1:0", false)
	users, err := NewLine(st, Account{Number: "router", ServiceDomain: "127.0.0.1", Codecs: []string{"PCMU", "PCMA"}}, LineOptions{
		Logger: testLogger(t),
		Admit: func(req *siplib.Request, tx siplib.ServerTransaction) (string, bool) {
			if req.GetHeader("Authorization") == nil {
				respond(tx, req, 401, "Unauthorized")
				return "", false
			}
			return "201", true
		},
		Locate: func(user string) []UserContact {
			if user != "202" {
				return nil
			}
			return []UserContact{{Contact: phone202.uri("202"), Dest: netip.MustParseAddrPort(phone202.addr()), Transport: TransportUDP}}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	calls := make(chan *Call, 2)
	users.OnIncoming(func(c *Call) { calls <- c })
	phone201.ata = st.LocalAddr()

	_, d := phone201.invite(users)
	if res := phone201.response(siplib.INVITE); res.StatusCode != 401 {
		t.Fatalf("INVITE without credentials: %d", res.StatusCode)
	}
	phone201.ack(d, 1)
	select {
	case c := <-calls:
		t.Fatalf("an unauthenticated INVITE became a call: %s", c.ID())
	default:
	}

	_, d = phone201.invite(users, siplib.NewHeader("Authorization", `Digest username="201"`))
	c := nextCall(t, calls)
	if c.AuthUser() != "201" || c.Dialled() != "1001" {
		t.Fatalf("call from %q to %q, want 201 to 1001", c.AuthUser(), c.Dialled())
	}
	c.Reject(call.Busy)
	phone201.response(siplib.INVITE)
	phone201.ack(d, 1)

	out, err := users.Dial(context.Background(), "202", call.DialOptions{Caller: call.Party{Number: "5551234", Name: "Outside"}})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Hangup(call.Normal)
	if out.Remote().Number != "202" { // not the contact's user part: a transfer names the user by it
		t.Errorf("the call to 202 reports its party as %q", out.Remote().Number)
	}
	inv := phone202.request(siplib.INVITE)
	if inv.Recipient.User != "202" || inv.Recipient.Host != "127.0.0.9" || inv.From().Address.User != "5551234" || inv.From().DisplayName != "Outside" {
		t.Fatalf("INVITE to the user: R-URI %s From %s", inv.Recipient.String(), inv.From().Value())
	}
	if _, err := users.Dial(context.Background(), "203", call.DialOptions{}); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("dialling an unregistered user: %v", err)
	}
}
