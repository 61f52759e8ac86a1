package call

import (
	"context"
	"errors"
	"testing"
)

// TestNamesCoverEveryValue: each cause and event kind has its own name
// (the call log and logs print them).
func TestNamesCoverEveryValue(t *testing.T) {
	seen := map[string]bool{}
	for c := Normal; c <= Failed; c++ {
		n := c.String()
		if n == "" || seen[n] || n[0] == 'C' {
			t.Fatalf("cause %d has name %q (duplicate or missing)", int(c), n)
		}
		seen[n] = true
	}
	if got := Cause(99).String(); got != "Cause(99)" {
		t.Fatalf("unknown cause prints %q", got)
	}
	for k := Progress; k <= Ended; k++ {
		if n := k.String(); n == "" || n[0] == 'E' && n != "early-media" && n != "ended" {
			t.Fatalf("event kind %d has name %q", int(k), n)
		}
	}
}

func TestTransferRequest(t *testing.T) {
	var refused Cause = -1
	placed := false
	req := NewTransferRequest("3000", true, func(context.Context) (Leg, error) { placed = true; return nil, nil },
		func(c Cause) { refused = c })
	if req.Target != "3000" || !req.Attended {
		t.Fatalf("request %+v", req)
	}
	if _, err := req.Place(context.Background()); err != nil || !placed {
		t.Fatalf("Place: %v, placed %v", err, placed)
	}
	req.Refuse(Busy)
	if refused != Busy {
		t.Fatalf("Refuse gave %v", refused)
	}
	var empty TransferRequest
	if _, err := empty.Place(context.Background()); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("Place without a signalling layer: %v", err)
	}
	empty.Refuse(Busy) // must not panic
}

func TestAnonymousParty(t *testing.T) {
	for _, c := range []struct {
		p    Party
		anon bool
	}{{Party{}, true}, {Party{Number: "anonymous"}, true}, {Party{Number: "2000"}, false}} {
		if c.p.Anonymous() != c.anon {
			t.Errorf("%+v: Anonymous %v", c.p, !c.anon)
		}
	}
}
