package sip

import (
	"context"
	"testing"

	siplib "github.com/emiago/sipgo/sip"

	"github.com/openata/ata/call"
)

func TestCauseOfStatus(t *testing.T) {
	for _, tc := range []struct {
		code int
		want call.Cause
	}{
		{486, call.Busy}, {600, call.Busy}, {603, call.Declined}, {404, call.NotFound}, {604, call.NotFound},
		{480, call.Unavailable}, {487, call.Cancelled}, {408, call.NoResponse}, {484, call.Incomplete},
		{500, call.Congestion}, {503, call.Congestion}, {504, call.Congestion}, {488, call.MediaFailed},
		{606, call.MediaFailed}, {433, call.Anonymous}, {403, call.Rejected}, {401, call.Rejected},
		{407, call.Rejected}, {415, call.Rejected}, {301, call.Redirected}, {302, call.Redirected},
		{380, call.Redirected}, {699, call.Declined}, {0, call.Failed}, {200, call.Failed},
	} {
		if got := causeOf(tc.code); got != tc.want {
			t.Errorf("causeOf(%d) = %v, want %v", tc.code, got, tc.want)
		}
	}
}

func TestStatusOfCause(t *testing.T) {
	for _, tc := range []struct {
		cause call.Cause
		want  int
	}{
		{call.Busy, 486}, {call.Declined, 603}, {call.NotFound, 404}, {call.Unavailable, 480},
		{call.Normal, 480}, {call.Cancelled, 487}, {call.NoResponse, 408}, {call.Incomplete, 484},
		{call.Congestion, 503}, {call.Shutdown, 503}, {call.Rejected, 403}, {call.MediaFailed, 488},
		{call.Anonymous, 433}, {call.Redirected, 302}, {call.Failed, 500}, {call.Transferred, 500},
	} {
		if got := statusOf(tc.cause); got != tc.want {
			t.Errorf("statusOf(%v) = %d, want %d", tc.cause, got, tc.want)
		}
	}
}

// An outgoing call's final error response becomes Ended with its cause
// and "code reason" detail.
func TestOutgoingFailureCauses(t *testing.T) {
	p := newPeer(t)
	l := testLine(t, p)
	for _, tc := range []struct {
		code   int
		reason string
		want   call.Cause
	}{
		{486, "Busy Here", call.Busy}, {603, "Decline", call.Declined}, {404, "Not Found", call.NotFound},
		{480, "Temporarily Unavailable", call.Unavailable}, {484, "Address Incomplete", call.Incomplete},
		{503, "Service Unavailable", call.Congestion}, {488, "Not Acceptable Here", call.MediaFailed},
		{433, "Anonymity Disallowed", call.Anonymous}, {403, "Forbidden", call.Rejected},
		{302, "Moved Temporarily", call.Redirected}, {408, "Request Timeout", call.NoResponse},
	} {
		c, err := l.DialCall(context.Background(), "2000")
		if err != nil {
			t.Fatal(err)
		}
		inv := p.request(siplib.INVITE)
		res := siplib.NewResponseFromRequest(inv, tc.code, tc.reason, nil)
		res.To().Params.Add("tag", "x")
		p.send(res)
		ev := waitEvent(t, c, call.Ended)
		if want := statusDetail(tc.code, tc.reason); ev.Cause != tc.want || ev.Detail != want || !ev.Remote {
			t.Errorf("%d: Ended %+v, want cause %v detail %q remote", tc.code, ev, tc.want, want)
		}
		if _, open := <-c.Events(); open {
			t.Errorf("%d: events not closed after Ended", tc.code)
		}
	}
}

// Reject answers the INVITE with the status of the cause.
func TestRejectSendsStatusOfCause(t *testing.T) {
	p := newPeer(t)
	l := testLine(t, p)
	calls := make(chan *Call, 1)
	l.OnIncoming(func(c *Call) { calls <- c })
	for _, tc := range []struct {
		cause call.Cause
		code  int
	}{{call.Busy, 486}, {call.Declined, 603}, {call.Unavailable, 480}, {call.Anonymous, 433}, {call.NotFound, 404}} {
		p.invite(l)
		c := nextCall(t, calls)
		c.Reject(tc.cause)
		res := p.response(siplib.INVITE)
		if res.StatusCode != tc.code {
			t.Errorf("Reject(%v) answered %d, want %d", tc.cause, res.StatusCode, tc.code)
		}
		ev := waitEvent(t, c, call.Ended)
		if ev.Cause != tc.cause || ev.Remote {
			t.Errorf("Reject(%v): Ended %+v", tc.cause, ev)
		}
	}
}
