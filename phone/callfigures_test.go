package phone

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/openata/ata/call"
)

// The call's media figures are on the snapshot while it runs and in its
// call log entry after it: codec, loss, jitter, round trip and MOS as the
// leg reports them when it ends (the call log is where a user looks after
// a call that sounded bad).
func TestCallFiguresOnSnapshotAndInCallLog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		f := reach(r, Talking, One)
		mid := call.MediaReport{Codec: "PCMA", Loss: 0.02, Jitter: 9 * time.Millisecond, RTT: 30 * time.Millisecond, MOS: 4.0}
		f.cur.SetReport(mid)
		snap := r.ph.Snapshot()
		if len(snap.Calls) != 1 || snap.Calls[0].Media != mid {
			t.Fatalf("snapshot calls %+v, want one with %+v", snap.Calls, mid)
		}
		time.Sleep(90 * time.Second)
		end := call.MediaReport{Codec: "PCMA", Loss: 0.05, Jitter: 12500 * time.Microsecond, RTT: 41 * time.Millisecond, MOS: 3.8}
		f.cur.SetReport(end)
		r.onHook()
		entries, _, err := r.log.Read(0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			t.Fatalf("call log %+v, want one entry", entries)
		}
		e := entries[0]
		if e.Codec != "PCMA" || e.Loss != 0.05 || e.JitterMS != 12.5 || e.RTTMS != 41 || e.MOS != 3.8 || e.Duration != 90 {
			t.Fatalf("call log entry %+v, want PCMA, loss 0.05, jitter 12.5 ms, RTT 41 ms, MOS 3.8, 90 s", e)
		}
	})
}
