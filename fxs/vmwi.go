package fxs

import (
	"time"

	"github.com/openata/ata/fxs/callerid"
)

// DefaultVMWIRefresh is how often BuildOptions has the port resend the
// lamp's state while the phone is on hook: a phone that missed a message
// (it was unplugged, the burst was cut by a ring) catches up.
const DefaultVMWIRefresh = 15 * time.Minute

// VMWI timing.
const (
	// vmwiQuiet is the on-hook time without ringing the port waits for
	// before sending the lamp's state (after a hang-up, a ring, start-up).
	vmwiQuiet = time.Second
	// vmwiTail is the time the line stays reversed after the ETSI burst
	// before the polarity comes back.
	vmwiTail = 100 * time.Millisecond
)

// VMWIIndicator is an optional interface of a board port told the lamp
// state right after the port sent it. The sim board implements it (its
// virtual phone decodes no FSK); real boards need not.
type VMWIIndicator interface {
	IndicateVMWI(on bool)
}

// vmwiRequest is one lamp state, rendered by the caller's goroutine so
// that the frame goroutine allocates nothing.
type vmwiRequest struct {
	on      bool
	samples []int16 // nil: the caller-ID standard has no VMWI
	reverse bool    // reverse the line before (ETSI)
}

type vmwiPhase int

const (
	vmwiIdle    vmwiPhase = iota
	vmwiAlert             // line reversed, waiting to play
	vmwiPlaying           // the burst is in the earpiece
	vmwiEnding            // burst over, line still reversed
)

// vmwiState is the lamp's sending, owned by the frame goroutine.
type vmwiState struct {
	req        *vmwiRequest
	pending    bool          // the state has not reached the phone yet
	due        time.Duration // next refresh
	quietSince time.Duration // on hook and not ringing since
	phase      vmwiPhase
	pos        int
	at         time.Duration // vmwiAlert: when to play; vmwiEnding: when to restore polarity
	reversed   bool
}

// SetMessageWaiting sets the phone's message-waiting lamp (Visual Message
// Waiting Indication): while the phone is on hook and not ringing, the
// port sends the state as an on-hook data message without ringing — for
// bell202 Bell 202 FSK with MDMF 0x82 (parameter 0x0B, 0xFF on, 0x00 off;
// SDMF 0x06 for bell202-sdmf), for the ETSI standards a line reversal,
// DT-AS and V.23 FSK with MDMF 0x82 — and resends it every
// Options.VMWIRefresh while on hook. Off hook the state waits for the
// hang-up; a ring interrupts and postpones it. dtmf and none send nothing.
// Setting the state it already has does nothing. Call control gets no
// event. Safe from any goroutine.
func (p *Port) SetMessageWaiting(on bool) {
	p.mu.Lock()
	if p.want.vmwi != nil && p.want.vmwi.on == on {
		p.mu.Unlock()
		return // unchanged: the refresh repeats it
	}
	req := p.renderVMWI(p.latest, on)
	p.mu.Unlock()
	p.mwi.Store(on)
	p.update(func(w *wanted) { w.vmwi = req; w.vmwiGen++ })
}

// MessageWaiting reports the lamp state last set (call control plays the
// stutter dial tone while it is on).
func (p *Port) MessageWaiting() bool { return p.mwi.Load() }

func (p *Port) renderVMWI(o Options, on bool) *vmwiRequest {
	req := &vmwiRequest{on: on, reverse: o.CallerID.VMWIAlertReversal()}
	samples, err := callerid.RenderVMWI(o.CallerID, on, cidLevel(o.CallerID, o.CIDLevel))
	if err != nil {
		p.log.Info("fxs: message waiting not shown on the phone", "caller_id", o.CallerID, "err", err)
		return req
	}
	req.samples = samples
	return req
}

// applyVMWI takes a new lamp state (gen changed) or the same state
// rendered for new settings.
func (p *Port) applyVMWI(req *vmwiRequest, newState bool) {
	v := &p.vmwi
	if newState {
		p.vmwiAbort()
		v.pending = true
	} else if v.phase != vmwiIdle {
		return // the old rendering plays out; the refresh uses the new one
	}
	v.req = req
}

// vmwiAbort stops a burst under way (off hook, ringing); it is sent again
// once the line is quiet.
func (p *Port) vmwiAbort() {
	v := &p.vmwi
	if v.phase == vmwiIdle {
		return
	}
	if v.reversed {
		p.setReversed(p.have.reversed)
		v.reversed = false
	}
	v.phase, v.pending = vmwiIdle, true
}

// vmwiStep advances the lamp's sending to board time at.
func (p *Port) vmwiStep(at time.Duration) {
	v := &p.vmwi
	if p.offHook.Load() || p.ring.active || p.cw.active() {
		v.quietSince = at
		p.vmwiAbort()
		return
	}
	if v.req == nil || v.req.samples == nil {
		return
	}
	switch v.phase {
	case vmwiIdle:
		if at-v.quietSince < vmwiQuiet {
			return
		}
		if !v.pending && (p.opts.VMWIRefresh <= 0 || at < v.due) {
			return
		}
		v.pos = 0
		if v.req.reverse {
			p.setReversed(!p.have.reversed)
			v.reversed = true
			v.phase, v.at = vmwiAlert, at+reversalToSignal
			return
		}
		v.phase = vmwiPlaying
	case vmwiAlert:
		if at >= v.at {
			v.phase = vmwiPlaying
		}
	case vmwiEnding:
		if at >= v.at {
			p.vmwiDone(at)
		}
	}
}

// vmwiFill plays the next frame of the burst into ear.
func (p *Port) vmwiFill(ear []int16) {
	v := &p.vmwi
	n := copy(ear, v.req.samples[v.pos:])
	clear(ear[n:])
	v.pos += n
	if v.pos < len(v.req.samples) {
		return
	}
	if v.reversed {
		v.phase, v.at = vmwiEnding, p.now+vmwiTail
		return
	}
	p.vmwiDone(p.now)
}

func (p *Port) vmwiDone(at time.Duration) {
	v := &p.vmwi
	if v.reversed {
		p.setReversed(p.have.reversed)
		v.reversed = false
	}
	v.phase, v.pending, v.due = vmwiIdle, false, at+p.opts.VMWIRefresh
	if ind, ok := p.hw.(VMWIIndicator); ok {
		ind.IndicateVMWI(v.req.on)
	}
	p.log.Debug("fxs: message-waiting lamp sent", "on", v.req.on)
}
