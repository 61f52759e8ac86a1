package fxs

import (
	"time"

	"github.com/openata/ata/fxs/callerid"
	"github.com/openata/ata/fxs/region"
)

// Call-waiting caller ID timing (GR-30-CORE type 2, EN 300 659-2; the
// alerting tones' own lengths are callerid.SASDuration and CASDuration).
const (
	// cwAckDetect is how long the DTMF receiver may take to declare a key
	// (30–35 ms after it starts): an acknowledgement that starts at the
	// very end of callerid.CASAckTimeout is still recognised.
	cwAckDetect = 40 * time.Millisecond
	// cwAckToFSK is the wait from the end of the acknowledgement to the
	// first FSK bit: GR-30 allows 50–500 ms; 70 ms sits well inside the
	// 50–100 ms that Type II phones are tested with.
	cwAckToFSK = 70 * time.Millisecond
	// cwAckMax bounds an acknowledgement: a key held longer is not one
	// (a Type II phone sends about 60 ms).
	cwAckMax = 500 * time.Millisecond
)

// Reasons a CallWaitingIDNoAck event gives.
const (
	CWNoAck       = "no acknowledgement" // the phone did not answer the CAS in time
	CWAckTooLong  = "acknowledgement too long"
	CWUnsupported = "unsupported"  // the caller-ID standard has no FSK (dtmf, none)
	CWOnHook      = "on-hook"      // the handset was (or went) on-hook
	CWBusy        = "busy"         // another call-waiting caller ID was under way
	CWInvalid     = "invalid info" // the caller-ID information could not be rendered
)

// cwRequest is one CallWaitingID, rendered by the caller's goroutine so
// that the frame goroutine allocates nothing.
type cwRequest struct {
	alert  []int16 // SAS then CAS
	fsk    []int16
	reason string // not empty: nothing to send, report CallWaitingIDNoAck
}

type cwPhase int

const (
	cwIdle    cwPhase = iota
	cwAlert           // SAS, then CAS
	cwWaitAck         // CAS over: listening for 'D' or 'A'
	cwAcked           // acknowledged: waiting for the key's end, then cwAckToFSK
	cwFSK             // sending the caller ID
)

// cwState is the call-waiting caller-ID sequence, owned by the frame goroutine.
type cwState struct {
	phase  cwPhase
	req    *cwRequest
	pos    int           // samples of alert or fsk played
	casEnd time.Duration // when the CAS ended
	ackKey byte
	ackAt  time.Duration // when the acknowledgement started
	fskAt  time.Duration // when the FSK starts; <0: the key is still down
}

func (c *cwState) active() bool { return c.phase != cwIdle }

// CallWaitingIDSupported reports whether the port's caller-ID standard can
// show a waiting caller (an FSK one: Bell 202 or ETSI V.23).
func (p *Port) CallWaitingIDSupported() bool {
	p.mu.Lock()
	std := p.latest.CallerID
	p.mu.Unlock()
	return cwSupported(std)
}

func cwSupported(std callerid.Standard) bool {
	switch std {
	case callerid.Bell202, callerid.Bell202SDMF, callerid.ETSIFSK, callerid.ETSIFSKDTAS:
		return true
	}
	return false
}

// CallWaitingID shows a waiting caller (nil: number unavailable) on the
// phone during a call, as a Type II (off-hook caller ID) line does
// (GR-30-CORE, EN 300 659-2): the earpiece gets the 440 Hz SAS, then the
// 2130+2750 Hz CAS, in place of the call's audio, and the call hears
// silence from the mouthpiece. A phone that can show the caller answers
// the CAS with DTMF 'D' (or 'A') within 160 ms; that key is not reported
// as a digit. The port then sends the caller ID as FSK 70 ms after the
// key ends (Bell 202 for bell202, V.23 for the ETSI standards, in the
// off-hook framing), reports CallWaitingIDSent and gives the call its
// audio back. Without the answer the SAS was all (CallWaitingIDNoAck,
// Reason CWNoAck). Call control uses this instead of the region's
// call-waiting tone when CallWaitingIDSupported.
//
// Every call ends with one event: CallWaitingIDSent, or CallWaitingIDNoAck
// with a Reason (CWNoAck, CWAckTooLong, CWUnsupported, CWOnHook, CWBusy,
// CWInvalid). Safe to call from any goroutine; the sequence starts at the
// next frame.
func (p *Port) CallWaitingID(info *callerid.Info) {
	p.mu.Lock()
	o := p.latest
	p.mu.Unlock()
	req := &cwRequest{}
	std := o.CallerID
	switch {
	case !cwSupported(std):
		req.reason = CWUnsupported
	default:
		var in callerid.Info
		if info != nil {
			in = *info
		}
		level := cidLevel(std, o.CIDLevel)
		fsk, err := callerid.RenderCallWaiting(std, std.Clamp(in), level)
		if err != nil {
			p.log.Warn("fxs: call-waiting caller ID not sent", "standard", std, "err", err)
			req.reason = CWInvalid
			break
		}
		req.fsk = fsk
		sas := sasLevel(o)
		req.alert = callerid.AppendSAS(make([]int16, 0, samplesOf(callerid.SASDuration+callerid.CASDuration)), sas)
		req.alert = callerid.AppendCAS(req.alert, level)
	}
	p.update(func(w *wanted) { w.cw = req; w.cwGen++ })
}

// sasLevel is the level of the SAS: that of the region's call-waiting tone
// (or the configured tone level).
func sasLevel(o Options) float64 {
	if o.ToneLevel != 0 {
		return o.ToneLevel
	}
	if t := o.Region.Tone(region.CallWaiting); t != nil {
		return t.Level
	}
	return -13
}

// startCW begins a requested sequence (frame goroutine).
func (p *Port) startCW(req *cwRequest) {
	switch {
	case req.reason != "":
		p.emit(Event{Kind: CallWaitingIDNoAck, At: p.now, Reason: req.reason})
	case p.cw.active():
		p.emit(Event{Kind: CallWaitingIDNoAck, At: p.now, Reason: CWBusy})
	case !p.offHook.Load():
		p.emit(Event{Kind: CallWaitingIDNoAck, At: p.now, Reason: CWOnHook})
	default:
		p.cw = cwState{phase: cwAlert, req: req, fskAt: -1}
	}
}

// cwAck reports whether a key going down at is the phone's answer to the
// CAS, and if so takes it.
func (p *Port) cwAck(key byte, at time.Duration) bool {
	c := &p.cw
	if c.phase != cwWaitAck || (key != 'D' && key != 'A') || at > c.casEnd+callerid.CASAckTimeout {
		return false
	}
	c.phase, c.ackKey, c.ackAt, c.fskAt = cwAcked, key, at, -1
	return true
}

// cwAckEnd times the FSK from the end of the acknowledgement.
func (p *Port) cwAckEnd(at time.Duration) {
	if c := &p.cw; c.phase == cwAcked && c.fskAt < 0 {
		c.fskAt = at + cwAckToFSK
	}
}

// cwFinish ends the sequence: the call's audio comes back at the next frame.
func (p *Port) cwFinish(at time.Duration, kind EventKind, key byte, reason string) {
	p.cw = cwState{}
	p.emit(Event{Kind: kind, At: at, Key: key, Reason: reason})
}

// cwFill writes the sequence's earpiece frame and moves it on.
func (p *Port) cwFill(ear []int16) {
	c := &p.cw
	start := p.now - p.frameDur
	switch c.phase {
	case cwAlert:
		n := copy(ear, c.req.alert[c.pos:])
		clear(ear[n:])
		c.pos += n
		if c.pos == len(c.req.alert) {
			c.phase, c.casEnd = cwWaitAck, start+samplesDur(n)
		}
	case cwWaitAck:
		clear(ear)
		// By now the receiver has declared any key that started within
		// the timeout.
		if p.now >= c.casEnd+callerid.CASAckTimeout+cwAckDetect {
			p.cwFinish(p.now, CallWaitingIDNoAck, 0, CWNoAck)
		}
	case cwAcked:
		clear(ear)
		switch {
		case c.fskAt < 0 && p.now-c.ackAt > cwAckMax:
			p.cwFinish(p.now, CallWaitingIDNoAck, 0, CWAckTooLong)
		case c.fskAt >= 0 && c.fskAt < p.now:
			off := max(0, samplesOf(c.fskAt-start))
			c.phase, c.pos = cwFSK, 0
			p.cwFSK(ear[off:], start+samplesDur(off))
		}
	case cwFSK:
		p.cwFSK(ear, start)
	}
}

// cwFSK plays the next FSK samples into ear, which starts at board time from.
func (p *Port) cwFSK(ear []int16, from time.Duration) {
	c := &p.cw
	n := copy(ear, c.req.fsk[c.pos:])
	clear(ear[n:])
	c.pos += n
	if c.pos == len(c.req.fsk) {
		p.cwFinish(from+samplesDur(n), CallWaitingIDSent, c.ackKey, "")
	}
}
