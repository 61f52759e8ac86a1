package sim

import (
	"math"
	"time"

	"github.com/openata/ata/board"
	"github.com/openata/ata/board/pcm"
)

// The virtual phone is a Type II (call-waiting caller ID) phone: off-hook,
// it hears the CPE Alerting Signal (CAS, 2130 + 2750 Hz, 80 ms; GR-30-CORE,
// EN 300 659-2) in the earpiece and, once it ends, acknowledges with DTMF
// 'D' on the mouthpiece, in place of whatever it was saying.
const (
	// CASAckKey and CASAckDuration: the acknowledgement, 'D' for about
	// 60 ms as Type II phones send it, at the phone's DTMF levels.
	CASAckKey      = 'D'
	CASAckDuration = 60 * time.Millisecond

	casLow, casHigh = 2130.0, 2750.0
	// casBlock is the detector's analysis block, 10 ms. A block counts as
	// CAS when both tones are there, within casTwistDB of each other, at
	// least casMinDBm0 each, and together they carry casPurity of the
	// block's power (speech, music and other tones fail that).
	casBlock   = board.SampleRate / 100
	casMinDBm0 = -36.0
	casTwistDB = 6.0
	casPurity  = 0.7
	// A CAS is a run of casMinBlocks to casMaxBlocks CAS blocks (60 to
	// 120 ms: the 80 ms signal covers at least 7 whole blocks, and a
	// steady dual tone is something else); the phone answers when the run
	// ends.
	casMinBlocks = 6
	casMaxBlocks = 12
)

var (
	casCoeffLow  = 2 * math.Cos(2*math.Pi*casLow/board.SampleRate)
	casCoeffHigh = 2 * math.Cos(2*math.Pi*casHigh/board.SampleRate)
	casMinPower  = math.Pow(pcm.Amplitude(casMinDBm0), 2) / 2
	casTwist     = math.Pow(10, casTwistDB/10)
)

// casDetector finds the end of a CAS in earpiece audio with two Goertzel
// filters. It allocates nothing.
type casDetector struct {
	n              int     // samples in the current block
	l1, l2, h1, h2 float64 // Goertzel states
	energy         float64
	run            int // consecutive CAS blocks
}

// process consumes earpiece samples and reports whether a CAS ended in them.
func (d *casDetector) process(x []int16) (ended bool) {
	for _, v := range x {
		s := float64(v)
		d.l1, d.l2 = s+casCoeffLow*d.l1-d.l2, d.l1
		d.h1, d.h2 = s+casCoeffHigh*d.h1-d.h2, d.h1
		d.energy += s * s
		d.n++
		if d.n < casBlock {
			continue
		}
		if d.block() {
			d.run++
		} else {
			if d.run >= casMinBlocks && d.run <= casMaxBlocks {
				ended = true
			}
			d.run = 0
		}
		*d = casDetector{run: d.run}
	}
	return ended
}

// block judges the finished block.
func (d *casDetector) block() bool {
	// Power of a sine at exactly the filter's frequency: (2|X|/N)² / 2.
	pw := func(s1, s2, c float64) float64 {
		m := s1*s1 + s2*s2 - c*s1*s2
		return 2 * m / (casBlock * casBlock)
	}
	lo, hi := pw(d.l1, d.l2, casCoeffLow), pw(d.h1, d.h2, casCoeffHigh)
	total := d.energy / casBlock
	return lo >= casMinPower && hi >= casMinPower &&
		lo <= hi*casTwist && hi <= lo*casTwist &&
		lo+hi >= casPurity*total
}

// dtmfTone appends n samples of key at the phone's DTMF levels.
func dtmfTone(dst []int16, key byte, n int) []int16 {
	lowF, highF, _ := pcm.DTMFFrequencies(key)
	low := pcm.NewSine(lowF, pcm.Amplitude(DTMFLowDBm0), board.SampleRate)
	high := pcm.NewSine(highF, pcm.Amplitude(DTMFHighDBm0), board.SampleRate)
	for range n {
		dst = append(dst, pcm.Clip16(low.Next()+high.Next()))
	}
	return dst
}

// listenCASLocked runs the CAS detector on a frame of earpiece audio and,
// when a CAS ends while the handset is off-hook, starts the acknowledgement
// from the next frame's mouthpiece on.
func (p *Port) listenCASLocked(ear []int16) {
	if p.ackTone == nil {
		return
	}
	if p.cas.process(ear) && p.loopClosed {
		p.ackPos = 0
		p.casAcks++
	}
}

// overlayAckLocked puts the acknowledgement, while it lasts, over the
// mouthpiece samples the handset's jobs made (an open loop cuts it short).
func (p *Port) overlayAckLocked(mic []int16) {
	if p.ackPos >= len(p.ackTone) {
		return
	}
	if !p.loopClosed {
		p.ackPos = len(p.ackTone)
		return
	}
	p.ackPos += copy(mic, p.ackTone[p.ackPos:])
}
