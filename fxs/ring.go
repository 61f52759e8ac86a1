package fxs

import (
	"time"

	"github.com/openata/ata/board"
	"github.com/openata/ata/fxs/callerid"
)

// ringPhase is where a ring sequence is.
type ringPhase int

const (
	ringBeforeCID ringPhase = iota // before-ring caller ID (ETSI DT-AS, DTMF): polarity, then signal
	ringCadence                    // ringing with the cadence, caller ID (if any) in a silent gap
)

// Caller-ID timing around ringing.
const (
	// cidAfterRing is how long after a ring burst the FSK starts: GR-30
	// and EN 300 659-1 ask for at least 500 ms; the extra covers frame
	// quantisation (the ring and the audio both move on 10/20 ms frames).
	cidAfterRing = 550 * time.Millisecond
	// cidBeforeRing is the least quiet time between the end of caller ID
	// and the next ring burst (GR-30: 200 ms).
	cidBeforeRing = 200 * time.Millisecond
	// reversalToSignal is the wait from line reversal to DT-AS or DTMF
	// (EN 300 659-1 / BT SIN 227: at least 100 ms).
	reversalToSignal = 150 * time.Millisecond
	// signalToRing is the wait from the end of before-ring caller ID to the
	// first ring burst (EN 300 659-1: at least 200 ms after FSK; DTMF caller ID drivers use 350 ms).
	signalToRing = 400 * time.Millisecond
)

// ringState is the ring sequence, owned by the frame goroutine.
type ringState struct {
	active       bool
	phase        ringPhase
	cadenceStart time.Duration
	on           bool // ring voltage applied now
	reversed     bool // polarity reversed for caller ID

	cid        []int16
	cidPos     int
	cidAt      time.Duration // when the caller-ID signal starts; <0: none
	cidPlaying bool
	cidEnd     time.Duration // when it finished; <0: not yet
}

func (p *Port) startRinging(info *callerid.Info) {
	early := p.ringEarly.Swap(false)
	if p.offHook.Load() {
		if early {
			p.setRing(false)
		}
		return // a lifted handset is not rung; call waiting is call control's job
	}
	r := &p.ring
	if r.active {
		p.stopRinging()
	}
	*r = ringState{active: true, cidAt: -1, cidEnd: -1, on: early}
	p.ringing.Store(true)
	std := p.opts.CallerID
	if info != nil && std != callerid.None {
		samples, err := callerid.Render(std, std.Clamp(*info), cidLevel(std, p.opts.CIDLevel))
		if err != nil {
			p.log.Warn("fxs: caller ID not sent", "standard", std, "err", err)
		} else {
			r.cid = samples
		}
	}
	cidLen := time.Duration(len(r.cid)) * time.Second / board.SampleRate
	if r.cid != nil && beforeRing(std) {
		r.phase = ringBeforeCID
		if std == callerid.ETSIFSKDTAS { // BT SIN 227: the line reversal announces the DT-AS
			p.setReversed(true)
			r.reversed = true
		}
		r.cidAt = p.now + reversalToSignal
		p.log.Debug("fxs: ring: caller ID before ringing", "standard", std)
		return
	}
	r.phase = ringCadence
	r.cadenceStart = p.now
	if r.cid != nil {
		at, ok := cidSlot(p.opts.Ring, cidLen)
		if !ok {
			p.log.Warn("fxs: caller ID does not fit the ring cadence's silences", "cadence", p.opts.Ring, "cid", cidLen)
			r.cid = nil
		} else {
			r.cidAt = p.now + at
		}
	}
	p.ringStep(p.now)
}

// cidLevel is the caller-ID signal level: the configured one, or the
// standard's nominal level.
func cidLevel(std callerid.Standard, configured float64) float64 {
	switch {
	case configured != 0:
		return configured
	case std == callerid.DTMF:
		return callerid.DefaultDTMFLevel
	}
	return callerid.DefaultFSKLevel
}

// cidSlot finds, in the first period of a cadence, the first silence long
// enough for a caller-ID signal of length n with the required margins, and
// returns when the signal should start.
func cidSlot(c []time.Duration, n time.Duration) (time.Duration, bool) {
	var t time.Duration
	for i, d := range c {
		if i%2 == 1 && d >= cidAfterRing+n+cidBeforeRing {
			return t + cidAfterRing, true
		}
		t += d
	}
	return 0, false
}

func (p *Port) stopRinging() {
	r := &p.ring
	if r.on {
		p.setRing(false)
	}
	if r.reversed {
		p.setReversed(p.have.reversed)
	}
	*r = ringState{}
	p.ringing.Store(false)
}

func (p *Port) setRing(on bool) {
	p.ring.on = on
	if err := p.hw.SetRing(on); err != nil {
		p.log.Warn("fxs: ring", "on", on, "err", err)
	}
}

// ringStep advances the ring sequence to board time at.
func (p *Port) ringStep(at time.Duration) {
	r := &p.ring
	if r.cid != nil && !r.cidPlaying && r.cidEnd < 0 && r.cidAt >= 0 && at >= r.cidAt {
		r.cidPlaying = true
	}
	switch r.phase {
	case ringBeforeCID:
		if r.cidEnd >= 0 && at >= r.cidEnd+signalToRing {
			if r.reversed {
				p.setReversed(p.have.reversed)
				r.reversed = false
			}
			r.phase = ringCadence
			r.cadenceStart = at
		} else {
			return
		}
	}
	if on := p.opts.Ring.On(at - r.cadenceStart); on != r.on {
		p.setRing(on)
	}
}

// fillCID plays the next frame of the caller-ID signal into ear.
func (r *ringState) fillCID(ear []int16) {
	n := copy(ear, r.cid[r.cidPos:])
	clear(ear[n:])
	r.cidPos += n
	if r.cidPos >= len(r.cid) {
		r.cidPlaying = false
	}
}
