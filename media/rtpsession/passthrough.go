package rtpsession

import (
	"time"

	"github.com/openata/ata/media"
	"github.com/openata/ata/media/cn"
	"github.com/openata/ata/media/codec"
)

// DefaultPassThroughDepth is the fixed jitter buffer depth of
// pass-through when SetPassThrough is given none: 60 ms, as `[phone]
// fax_jitter` defaults to.
const DefaultPassThroughDepth = 60 * time.Millisecond

// Bounds of the pass-through depth: a frame at least, and well within
// what the jitter buffer holds (64 packets: 640 ms at ptime 10).
const (
	MinPassThroughDepth = 20 * time.Millisecond
	MaxPassThroughDepth = 500 * time.Millisecond
)

// CNRefresh is how often a CN packet is repeated during a long suppressed
// silence, so a receiver that lost the first one (or joined late, or
// times out a silent stream) hears the background again.
const CNRefresh = 5 * time.Second

var _ media.PassThrough = (*Session)(nil)

// SetPassThrough switches the session to fax and modem pass-through, or
// back. On: the jitter buffer plays at a fixed depth (DefaultPassThroughDepth
// if depth ≤ 0; within MinPassThroughDepth..MaxPassThroughDepth; see
// jitter.Buffer.SetFixed), nothing is concealed (a missing sample plays
// as zero: a modem's demodulator copes with a gap, while invented audio
// looks like signal), received comfort noise is not played, and the
// send side sends every frame (no silence suppression). Off restores the
// adaptive buffer, concealment, comfort noise and VAD.
//
// It is safe from any goroutine while the frame path runs: it only
// stores the request; the next frame applies it.
func (s *Session) SetPassThrough(on bool, depth time.Duration) {
	if !on {
		s.passReq.Store(0)
		return
	}
	if depth <= 0 {
		depth = DefaultPassThroughDepth
	}
	depth = min(max(depth, MinPassThroughDepth), MaxPassThroughDepth)
	s.passUsed.Store(true)
	s.passReq.Store(int64(depth))
}

// PassThrough reports the pass-through depth in force (0: off) and
// whether pass-through was used at any time in the call.
func (s *Session) PassThrough() (depth time.Duration, used bool) {
	return time.Duration(s.passReq.Load()), s.passUsed.Load()
}

// applyPassThrough brings the frame path in line with the last
// SetPassThrough. s.mu is held.
func (s *Session) applyPassThrough() {
	d := time.Duration(s.passReq.Load())
	if d == s.passOn {
		return
	}
	s.passOn = d
	s.jb.SetFixed(d)
	s.conceal.Reset()
	s.vad.Reset()
	if s.silent {
		// Speech packets resume: the first starts a talk spurt.
		s.silent, s.first = false, true
	}
}

// suppress decides, with VAD on, whether the voice packet of mic is left
// out: in a silence (cn.Detector) it sends a CN packet at the start and
// every CNRefresh, and nothing else. A packet after a silence carries the
// marker bit (RFC 3551 §4.1: the start of a talk spurt). s.mu is held.
func (s *Session) suppress(mic []int16) bool {
	if !s.cfg.VAD || s.cnPT == 0 || s.passOn > 0 {
		return false
	}
	if s.vad.Frame(mic) {
		if s.silent {
			s.silent, s.first = false, true
		}
		return false
	}
	if !s.silent || s.ts-s.cnSentTS >= uint32(CNRefresh/(time.Second/codec.ClockRate)) {
		p := cn.Payload{Level: s.vad.Level()}
		n, _ := p.MarshalTo(s.payload[:])
		s.out.PayloadType, s.out.Marker, s.out.Timestamp = s.cnPT, false, s.ts
		s.write(s.payload[:n])
		s.cnSentTS = s.ts
		s.cnSent++
	} else {
		s.muted++
	}
	s.silent = true
	return true
}

// comfortNoise takes a received CN packet (RFC 3389): from its timestamp
// on, frames without speech play noise at its level. A payload that does
// not parse is counted as malformed. s.mu is held.
func (s *Session) comfortNoise(ts uint32, payload []byte) {
	if err := s.cnIn.Unmarshal(payload); err != nil {
		s.malformed++
		return
	}
	s.cnRecv++
	s.noise.SetLevel(s.cnIn.Level)
	if !s.cnActive {
		s.cnActive, s.cnTS = true, ts
	}
}

// speechPlayed ends the comfort noise once a speech frame from after the
// CN packet plays (the speech buffered before it plays first). s.mu is
// held.
func (s *Session) speechPlayed() {
	if !s.cnActive {
		return
	}
	if ts, ok := s.jb.Position(); !ok || int32(ts-s.cnTS) >= 0 {
		s.cnActive = false
	}
}

// inComfortNoise reports whether a frame the jitter buffer found missing
// is part of the far end's signalled silence (at or after the CN
// packet's timestamp) rather than a loss to conceal. s.mu is held.
func (s *Session) inComfortNoise() bool {
	if !s.cnActive {
		return false
	}
	ts, ok := s.jb.Position()
	return !ok || int32(ts-s.cnTS) >= 0
}
