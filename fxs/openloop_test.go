package fxs

import (
	"math"
	"testing"
	"time"

	"github.com/openata/ata/board/pcm"
	"github.com/openata/ata/board/sim"
)

// TestOpenLoopLeavesCancellerAlone: while the loop is open (a hook flash,
// or the first part of hanging up, before the port can tell which) the
// mouthpiece carries nothing, though the far end may still be talking. The
// canceller must not learn from that: it would unlearn the echo path and
// reset itself as diverged, and the call log, written after the hang-up,
// would keep the open loop's figures (ERLE 0) instead of the call's.
func TestOpenLoopLeavesCancellerAlone(t *testing.T) {
	lineCallSaying(t, echoLine, nil, lineNoise(800, -75), func(t *testing.T, p *Port, ph *sim.Phone, far *farPlayer) {
		echoHeard(t, p, far)
		speech := speechFixture(t, -3)
		far.say(speech)
		sleep(time.Second)
		if err := ph.Hook(t.Context(), sim.HookFlash); err != nil {
			t.Fatal(err)
		}
		st := p.EchoStats()
		from := far.heardLen()
		sleep(1200 * time.Millisecond)
		heard := far.since(from)
		// The loop's closing costs a tail's length of echo the canceller's
		// reference did not hear (the earpiece played on while it was
		// out): judge the second after that.
		echoDB := pcm.RMSLevel(math.Sqrt(meanSquare(heard[1600:])))
		speechDB := pcm.RMSLevel(math.Sqrt(meanSquare(speech)))
		t.Logf("after the flash: EchoStats %+v; echo %.1f dBm0 in the second from 200 ms on, speech %.1f dBm0", st, echoDB, speechDB)
		if st.ERLE < 20 {
			t.Errorf("EchoStats after the flash %+v: want the call's ERLE (over 20 dB) kept", st)
		}
		if speechDB-echoDB < 40 {
			t.Errorf("echo %.1f dB below the far end's speech in the second from 200 ms after a flash, want at least 40", speechDB-echoDB)
		}
	})
}
