package phone

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/openata/ata/call"
	"github.com/openata/ata/fxs"
	"github.com/openata/ata/fxs/tonedetect"
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

// passEndpoint is a call's media that can be switched to pass-through.
type passEndpoint struct {
	on    bool
	depth time.Duration
}

func (e *passEndpoint) ReadFrame(f []int16) { clear(f) }
func (e *passEndpoint) WriteFrame([]int16)  {}
func (e *passEndpoint) SetPassThrough(on bool, depth time.Duration) {
	e.on, e.depth = on, depth
}

// A fax or modem tone heard by the port switches the connected call to
// pass-through with the configured jitter depth, and the call log marks
// the call, with the echo canceller's figures and its state.
func TestDataToneSwitchesCallToPassThrough(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, func(o *Opts) { o.FaxJitter = 80 * time.Millisecond })
		f := reach(r, Talking, One)
		ep := &passEndpoint{}
		f.cur.Endpoint = ep
		r.port.mu.Lock()
		r.port.echo = fxs.EchoStats{On: true, ERL: 6.1, ERLE: 31.5, Bypassed: true, DataTone: tonedetect.ANSPR}
		r.port.mu.Unlock()
		r.port_(fxs.DataTone, func(e *fxs.Event) { e.Tone = tonedetect.ANSPR; e.FromNetwork = true })
		if !ep.on || ep.depth != 80*time.Millisecond {
			t.Fatalf("pass-through on=%v depth=%v, want on at 80ms", ep.on, ep.depth)
		}
		time.Sleep(10 * time.Second)
		r.onHook()
		entries, _, err := r.log.Read(0, 10)
		if err != nil || len(entries) != 1 {
			t.Fatalf("call log %+v %v", entries, err)
		}
		e := entries[0]
		if !e.PassThrough || e.EchoERL != 6.1 || e.EchoERLE != 31.5 || !e.EchoOff || e.DataTone != tonedetect.ANSPR.String() {
			t.Fatalf("call log entry %+v, want pass-through with the echo figures", e)
		}
	})
}
