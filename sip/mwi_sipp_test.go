package sip

import (
	"context"
	"testing"
	"time"

	"github.com/openata/ata/internal/sipptest"
)

// sipp as the voicemail server (testdata/sipp/mwi_notify.xml): it checks
// our digest answer to its 401, sends NOTIFY yes then no in the dialog,
// and expects the Expires: 0 SUBSCRIBE when we stop.
func TestSippMessageSummary(t *testing.T) {
	addr := freeLoopbackPort(t)
	done := sipptest.Run(t, addr, "testdata/sipp/mwi_notify.xml", nil)
	time.Sleep(300 * time.Millisecond) // sipp binds
	st := newTestStack(t, "127.0.0.1:0", true)
	states := make(chan MWIState, 20)
	m, err := NewMWI(st, Account{Number: "1001", ServiceDomain: "voip.test", Registrar: addr, Password: "pw"},
		MWIOptions{Timeout: 2 * time.Second, Logger: testLogger(t), OnChange: func(s MWIState) { states <- s }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- m.Run(ctx) }()
	var seen []MWIState
	deadline := time.After(10 * time.Second)
	for len(seen) == 0 || seen[len(seen)-1].Waiting || !hadWaiting(seen) {
		select {
		case s := <-states:
			seen = append(seen, s)
		case err := <-done:
			t.Fatalf("sipp ended early: %v", err)
		case <-deadline:
			t.Fatalf("states %+v: want subscribed, waiting 2/8, then not waiting", seen)
		}
	}
	cancel()
	<-ran
	sipptest.Wait(t, done, 10*time.Second)
}

func hadWaiting(ss []MWIState) bool {
	for _, s := range ss {
		if s.Waiting && s.New == 2 && s.Old == 8 && s.UrgentOld == 2 && s.Subscribed {
			return true
		}
	}
	return false
}
