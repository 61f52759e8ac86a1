package sim

import (
	"fmt"
	"time"

	"github.com/openata/ata/board/echopath"
)

// setHybrid gives the line an echo path (Opts.EchoERL and friends); an
// ERL of 0 leaves it without one.
func (p *Port) setHybrid(erl float64, model int, delay time.Duration) error {
	if erl == 0 {
		return nil
	}
	if erl < 0 {
		return fmt.Errorf("sim: echo return loss %g dB: want 0 (no echo path) or more", erl)
	}
	if model == 0 {
		model = 1
	}
	h, err := echopath.New(model, erl, delay)
	if err != nil {
		return fmt.Errorf("sim: echo path: %w", err)
	}
	p.hybrid = h
	p.lastEar = make([]int16, p.frameSamples)
	return nil
}

// addEcho adds to the mouthpiece frame the echo of the earpiece. The
// earpiece frame the handler wrote last time is the one that played while
// this mouthpiece frame was captured (a board plays a frame during the
// period after it is written), so the echo is of lastEar and what came
// before it. An open loop carries nothing, echo included; the hybrid
// still hears the earpiece so its history stays whole.
func (p *Port) addEcho(loopOpen bool) {
	if p.hybrid == nil {
		return
	}
	p.hybrid.Echo(p.lastEar, p.mic)
	if loopOpen {
		clear(p.mic)
	}
}
