package fxs

import (
	"fmt"
	"testing"
	"time"

	"github.com/openata/ata/board/sim"
	"github.com/openata/ata/media/codec"
)

// TestNearEndKeptInDoubleTalk: the far end sends 1300 Hz at -10 dBm0
// through G.711 while the person at the phone says 700 Hz at -10 dBm0,
// with the sim's default line (no echo path) and with a hybrid. The near
// end must reach the far end at its level all along: the canceller once
// learnt the 700 Hz from the codec's quantisation noise in the earpiece
// signal and cut it to -100 dBm0 after 1.4 s (the end-to-end call tests
// heard it at -20). With the hybrid, the far end's echo, learnt during the
// first second, must stay cancelled through the double talk.
func TestNearEndKeptInDoubleTalk(t *testing.T) {
	for _, line := range []sim.Opts{{}, echoLine} {
		t.Run(fmt.Sprintf("erl=%v", line.EchoERL), func(t *testing.T) {
			near := append(lineNoise(8000, -75), sine(700, -10, 8000*6)...)
			near = append(near, lineNoise(8000*2, -75)...)
			lineCallSaying(t, line, nil, near, func(t *testing.T, p *Port, _ *sim.Phone, far *farPlayer) {
				x := sine(1300, -10, 8000*8)
				b := make([]byte, len(x))
				codec.PCMU.Encode(b, x)
				codec.PCMU.Decode(x, b)
				far.say(x)
				sleep(7 * time.Second)
				heard := far.since(0)
				// The near end's tone from 0.1 s after it starts (it
				// started with the handset's lifting, 0.1 s before far
				// began to hear) to its last 0.1 s, 200 ms at a time.
				for i := 8000 + 800; i+1600 <= 8000*7-1600; i += 1600 {
					if l := power(heard[i:i+1600], 700); l < -11 || l > -9 {
						t.Errorf("%.1f s: near end's 700 Hz at %.1f dBm0, want -10 ± 1", float64(i)/8000, l)
					}
				}
				if line.EchoERL > 0 {
					// 1300 Hz comes back 6 dB down without a canceller.
					if l := power(heard[8000*3:8000*7-1600], 1300); l > -16-25 {
						t.Errorf("far end's echo during the double talk at %.1f dBm0, want ≤ %d", l, -16-25)
					}
				}
			})
		})
	}
}
