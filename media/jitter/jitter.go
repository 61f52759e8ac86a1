// Package jitter is the adaptive playout buffer between the network and the
// audio clock. Packets go in as they arrive (Put, from the receive
// goroutine); the audio clock pulls one frame per period (Get). The buffer
// reorders packets by timestamp, drops duplicates and late packets, follows
// timestamp wrap and SSRC changes, and tells the caller when a frame is
// missing so it can conceal it.
//
// Its target delay is the 97th percentile over the last 2 s of each
// packet's delay relative to the fastest one (the NetEQ approach), plus half
// a frame, kept within [Min, Max]. The actual delay moves toward the target
// one frame at a time and only where nobody hears it: during silence, at a
// talk-spurt start (RTP marker bit) or in place of a frame that is missing
// anyway. Above Max it shrinks even in speech.
//
// SetFixed switches to a fixed delay for fax and modem pass-through: no
// target from the statistics, no resizing in silence or for losses; see
// SetFixed.
//
// A Buffer is not safe for concurrent use; its owner serializes Put and Get.
package jitter

import (
	"slices"
	"time"
)

// Decoder turns a payload into samples, one per byte (G.711).
type Decoder interface {
	Decode(dst []int16, src []byte) int
}

// Config sets the buffer's limits. Zero fields take the defaults.
type Config struct {
	Initial time.Duration // delay before the target is known: 40 ms
	Min     time.Duration // lowest target: 20 ms
	Max     time.Duration // highest target and delay: 200 ms
	Window  time.Duration // span of delay history for the target: 2 s
	// SilenceRMS is the RMS (16-bit units) under which a frame counts as
	// silence, where resizing is inaudible: default 50, about -50 dBm0.
	SilenceRMS float64
	ClockRate  int // RTP clock rate: 8000
}

func (c *Config) defaults() {
	if c.Initial <= 0 {
		c.Initial = 40 * time.Millisecond
	}
	if c.Min <= 0 {
		c.Min = 20 * time.Millisecond
	}
	if c.Max <= 0 {
		c.Max = 200 * time.Millisecond
	}
	c.Max = max(c.Max, c.Min)
	c.Initial = min(max(c.Initial, c.Min), c.Max)
	if c.Window <= 0 {
		c.Window = 2 * time.Second
	}
	if c.SilenceRMS <= 0 {
		c.SilenceRMS = 50
	}
	if c.ClockRate <= 0 {
		c.ClockRate = 8000
	}
}

// Status says what Get put in its output frame.
type Status uint8

const (
	// Buffering: no stream yet (or being restarted); out holds silence.
	Buffering Status = iota
	// Audio: out holds decoded audio.
	Audio
	// Lost: the frame is missing or late; out holds silence and the caller
	// should conceal it.
	Lost
)

func (s Status) String() string {
	switch s {
	case Buffering:
		return "buffering"
	case Audio:
		return "audio"
	case Lost:
		return "lost"
	}
	return "invalid"
}

// Stats counts what happened to the packets and frames.
type Stats struct {
	Received   uint64 // packets accepted into the buffer
	Late       uint64 // packets that came after their playout time
	Duplicates uint64 // packets already in the buffer
	Overflow   uint64 // packets dropped because the buffer was full
	Invalid    uint64 // empty or oversized payloads, unconfirmed timestamp jumps
	Resets     uint64 // restarts for an SSRC change or a timestamp jump
	Played     uint64 // frames returned as Audio
	Lost       uint64 // frames returned as Lost
	Grown      uint64 // frames of delay added
	Shrunk     uint64 // frames of delay removed
	Delay      time.Duration
	Target     time.Duration
}

// MaxPayload is the largest payload the buffer stores: 60 ms of G.711.
const MaxPayload = 480

// capacity is the number of packets held: well over Max at 10 ms ptime.
const capacity = 64

// historySize bounds the delay history: 2 s at 10 ms ptime fits.
const historySize = 256

type slot struct {
	ts     int64 // extended timestamp of the first sample
	n      int
	marker bool
	data   [MaxPayload]byte
}

type arrival struct {
	at      time.Duration
	transit int64 // arrival time minus timestamp, in samples
}

// Buffer is an adaptive jitter buffer for one receive stream.
type Buffer struct {
	cfg Config
	dec Decoder

	slots [capacity]slot
	free  []uint8 // indices of unused slots
	order []uint8 // indices of used slots, by timestamp

	haveStream bool
	ssrc       uint32
	lastTS     uint32 // highest timestamp seen, wire form ...
	lastExt    int64  // ... and extended
	jumpTS     uint32 // first packet of a suspected timestamp jump
	jumpSeen   bool

	playing bool
	playTS  int64 // extended timestamp of the next sample to play
	leadTS  int64 // until playTS reaches this, the start-up lead-in plays

	hist    [historySize]arrival
	histN   int // entries in use, newest at histPos-1
	histPos int
	top     [topK]int64 // estimate's k largest transits

	target time.Duration
	stats  Stats

	// Fixed delay (pass-through): the depth, 0 when adaptive, and the
	// transit the depth counts from, frozen once playout runs fixed.
	fixed    time.Duration
	anchored bool
	anchor   int64

	frameTS int64 // extended timestamp of the frame Get last filled
	frameOK bool  // ... if it was part of the stream (not buffering)
}

// New returns a buffer decoding with dec.
func New(cfg Config, dec Decoder) *Buffer {
	cfg.defaults()
	b := &Buffer{cfg: cfg, dec: dec}
	b.free = make([]uint8, 0, capacity)
	b.order = make([]uint8, 0, capacity)
	b.flush()
	b.target = cfg.Initial
	return b
}

// SetDecoder switches the codec (after a renegotiation) and restarts.
func (b *Buffer) SetDecoder(dec Decoder) {
	b.dec = dec
	b.restart()
}

// SetFixed switches the buffer to a fixed playout delay of depth, as fax
// and modem pass-through wants: each frame plays depth after the earliest
// arrival its timestamp allows (the fastest packet of the last window,
// as in the adaptive mode, but frozen when the fixed mode begins), within
// one frame. Nothing resizes the delay after that: not silence, not
// talk spurts, not losses, not jitter statistics, not Max. A missing
// frame, or the missing part of one, plays as zeros and is reported Lost.
//
// Entering the mode moves the playout point once, in whole frames: a
// frame repeated per frame of delay to add, frames skipped to remove
// delay. Whole frames of 10 or 20 ms keep the phase of the fax and modem
// tones that trigger the switch (1100 Hz CNG and 2100 Hz CED or ANSam are
// whole numbers of periods in 10 ms). After that the frozen reference
// moves only if the far end's packets stay a whole frame earlier or later
// for a whole window (its clock drifts against ours, or the route
// changed): then one frame slips, as on any fixed buffer.
//
// depth 0 returns to the adaptive mode, which resizes from there. Call it
// from the goroutine that calls Get.
func (b *Buffer) SetFixed(depth time.Duration) {
	b.fixed = max(depth, 0)
	b.anchored = false
	if b.fixed > 0 {
		b.target = b.fixed
	}
}

// Fixed is the fixed delay set by SetFixed; 0 when the buffer adapts.
func (b *Buffer) Fixed() time.Duration { return b.fixed }

// Position is the RTP timestamp of the first sample of the frame that Get
// last returned, and false if that frame was not part of a stream
// (Buffering). The session uses it to tell the frames before a comfort
// noise packet's timestamp from those after it.
func (b *Buffer) Position() (ts uint32, ok bool) {
	if !b.frameOK {
		return 0, false
	}
	return b.lastTS + uint32(b.frameTS-b.lastExt), true
}

// Stats returns the counters and the current delay and target.
func (b *Buffer) Stats() Stats {
	s := b.stats
	s.Target = b.target
	return s
}

func (b *Buffer) flush() {
	b.free = b.free[:0]
	for i := capacity - 1; i >= 0; i-- {
		b.free = append(b.free, uint8(i))
	}
	b.order = b.order[:0]
}

// restart forgets the stream: the next packet starts a new one.
func (b *Buffer) restart() {
	b.flush()
	b.haveStream, b.playing, b.jumpSeen = false, false, false
	b.histN, b.histPos = 0, 0
	b.target = b.cfg.Initial
	if b.fixed > 0 {
		b.target = b.fixed
	}
	b.anchored = false
	b.stats.Delay = 0
}

func (b *Buffer) samples(d time.Duration) int64 {
	return int64(d / (time.Second / time.Duration(b.cfg.ClockRate)))
}

func (b *Buffer) duration(samples int64) time.Duration {
	return time.Duration(samples) * (time.Second / time.Duration(b.cfg.ClockRate))
}

// Put stores one packet that arrived at time at. The payload is copied.
func (b *Buffer) Put(at time.Duration, ssrc, ts uint32, marker bool, payload []byte) {
	if len(payload) == 0 || len(payload) > MaxPayload {
		b.stats.Invalid++
		return
	}
	if b.haveStream && ssrc != b.ssrc {
		b.stats.Resets++
		b.restart()
	}
	if !b.haveStream {
		b.haveStream, b.ssrc = true, ssrc
		b.lastTS, b.lastExt = ts, int64(ts)
	}
	ext := b.lastExt + int64(int32(ts-b.lastTS))
	if b.playing && b.isJump(ext) {
		// One stray packet must not restart the stream: only a second
		// packet near the first one confirms a new timestamp base.
		if !b.jumpSeen || int32(ts-b.jumpTS) > int32(b.cfg.ClockRate) || int32(b.jumpTS-ts) > int32(b.cfg.ClockRate) {
			b.jumpSeen, b.jumpTS = true, ts
			b.stats.Invalid++
			return
		}
		// Confirmed: start a new timeline at this packet.
		b.stats.Resets++
		b.restart()
		b.haveStream, b.ssrc = true, ssrc
		b.lastTS, b.lastExt, ext = ts, int64(ts), int64(ts)
	}
	b.jumpSeen = false
	if ext > b.lastExt {
		b.lastTS, b.lastExt = ts, ext
	}
	b.record(at, ext)

	if b.playing && ext < b.playTS {
		b.stats.Late++
		return
	}
	pos, found := b.search(ext)
	if found {
		b.stats.Duplicates++
		return
	}
	if len(b.free) == 0 {
		b.stats.Overflow++
		return
	}
	i := b.free[len(b.free)-1]
	b.free = b.free[:len(b.free)-1]
	s := &b.slots[i]
	s.ts, s.n, s.marker = ext, copy(s.data[:], payload), marker
	b.order = slices.Insert(b.order, pos, i)
	b.stats.Received++
}

// isJump reports whether ext is too far from the playout point to be the
// same timeline: more than a second behind, or a second beyond Max ahead.
func (b *Buffer) isJump(ext int64) bool {
	second := int64(b.cfg.ClockRate)
	return ext < b.playTS-second || ext > b.playTS+b.samples(b.cfg.Max)+second
}

// search finds where a packet with timestamp ext goes in order.
func (b *Buffer) search(ext int64) (int, bool) {
	for k, i := range b.order {
		switch ts := b.slots[i].ts; {
		case ts == ext:
			return k, true
		case ts > ext:
			return k, false
		}
	}
	return len(b.order), false
}

// record adds a packet's transit time to the delay history.
func (b *Buffer) record(at time.Duration, ext int64) {
	b.hist[b.histPos] = arrival{at: at, transit: b.samples(at) - ext}
	b.histPos = (b.histPos + 1) % historySize
	b.histN = min(b.histN+1, historySize)
}

// estimate drops history older than the window and returns the smallest
// transit (the reference: a packet with no queuing) and the target delay.
func (b *Buffer) estimate(now time.Duration, frame int64) (ref int64, ok bool) {
	for b.histN > 0 {
		oldest := (b.histPos - b.histN + historySize) % historySize
		if now-b.hist[oldest].at <= b.cfg.Window {
			break
		}
		b.histN--
	}
	if b.histN == 0 {
		return 0, false
	}
	// The history is one or two runs of the ring, oldest first: one pass
	// over them finds the reference (the least transit), the oldest
	// arrival and the p97's candidates (the k largest transits), with
	// no copy and no index arithmetic per entry (this runs every frame
	// of every call).
	start := (b.histPos - b.histN + historySize) % historySize
	first, second := b.hist[start:min(start+b.histN, historySize)], b.hist[:max(start+b.histN-historySize, 0)]
	k := p97k(b.histN)
	top := b.top[:0]
	ref, oldestAt := first[0].transit, now
	for _, run := range [2][]arrival{first, second} {
		for _, a := range run {
			ref = min(ref, a.transit)
			oldestAt = min(oldestAt, a.at)
			top = keepTop(top, k, a.transit)
		}
	}
	// Until half a window of history exists, keep the initial target.
	if b.fixed == 0 && now-oldestAt >= b.cfg.Window/2 {
		t := b.duration(top[0] - ref + frame/2)
		b.target = min(max(t, b.cfg.Min), b.cfg.Max)
	}
	return ref, true
}

// topK bounds the entries keepTop holds for the p97: above the p97 of up to
// historySize values there are at most historySize·3/100 + 1.
const topK = historySize*3/100 + 1

// p97k is how many of n values a sort would put at or above the
// nearest-rank 97th percentile (index ⌈0.97·n⌉−1): the p97 is the
// smallest of the k largest. At most topK for n up to historySize.
func p97k(n int) int { return n - ((n*97+99)/100 - 1) }

// keepTop adds v to t, the k largest values so far in ascending order
// (t[0] the smallest of them), without allocating when cap(t) ≥ k.
func keepTop(t []int64, k int, v int64) []int64 {
	if len(t) < k {
		t = append(t, v)
		for j := len(t) - 1; j > 0 && t[j] < t[j-1]; j-- {
			t[j], t[j-1] = t[j-1], t[j]
		}
		return t
	}
	if v <= t[0] {
		return t
	}
	t[0] = v
	for j := 0; j+1 < len(t) && t[j] > t[j+1]; j++ {
		t[j], t[j+1] = t[j+1], t[j]
	}
	return t
}

// Get fills out with the next frame of audio at time now and says what it
// holds. Call it once per audio period with the period's frame size.
func (b *Buffer) Get(now time.Duration, out []int16) Status {
	frame := int64(len(out))
	ref, ok := b.estimate(now, frame)
	b.frameOK = false
	if b.playing && !ok {
		// Nothing arrived for a whole window (hold, far end gone): start
		// afresh when packets come back.
		b.restart()
	}
	if !b.playing {
		if len(b.order) == 0 || !ok {
			clear(out)
			return Buffering
		}
		b.start(frame)
	}
	if b.playTS < b.leadTS {
		b.playTS += frame
		clear(out)
		return Buffering
	}
	b.frameOK = true
	if b.fixed > 0 {
		return b.getFixed(now, ref, out)
	}
	delay := b.duration(b.samples(now) - ref - b.playTS)
	b.stats.Delay = delay
	b.discardBefore(b.playTS)

	// Over the cap, drop a frame even in speech.
	if delay > b.cfg.Max {
		b.playTS += frame
		delay -= b.duration(frame)
		b.stats.Shrunk++
		b.discardBefore(b.playTS)
	}
	grow := delay < b.target
	shrink := delay-b.duration(frame) >= b.target

	missing, marker := b.fill(out)
	if missing == len(out) {
		switch {
		case grow:
			// Wait: maybe the frame is only late; try it again next time.
			b.stats.Grown++
		case shrink:
			// Skip a frame nobody would hear anyway.
			b.playTS += 2 * frame
			b.stats.Shrunk++
		default:
			b.playTS += frame
		}
		b.stats.Delay = delay
		b.stats.Lost++
		return Lost
	}
	if missing > 0 {
		b.playTS += frame
		b.stats.Lost++
		clear(out)
		return Lost
	}
	switch {
	case marker && grow:
		// Talk spurt start: add delay as silence ahead of it.
		clear(out)
		b.stats.Grown++
		b.stats.Played++
		return Audio
	case grow && b.silent(out):
		// Repeat this silent frame.
		b.stats.Grown++
	case shrink && !marker && b.silent(out):
		b.playTS += frame
		b.stats.Shrunk++
		b.discardBefore(b.playTS)
		if m, _ := b.fill(out); m > 0 {
			b.playTS += frame
			b.stats.Lost++
			clear(out)
			return Lost
		}
		b.playTS += frame
	default:
		b.playTS += frame
	}
	b.stats.Played++
	return Audio
}

// getFixed is Get with a fixed delay (SetFixed): playout is ref (frozen)
// plus the depth, kept within one frame by whole-frame steps.
func (b *Buffer) getFixed(now time.Duration, ref int64, out []int16) Status {
	frame := int64(len(out))
	if !b.anchored {
		b.anchor, b.anchored = ref, true
	}
	// ref is the fastest transit of the last window: it moves a whole frame
	// only when every packet of a window came that much earlier or later.
	if d := ref - b.anchor; d >= frame || d <= -frame {
		b.anchor += d / frame * frame
	}
	// lag is how much longer than depth the next frame has waited.
	lag := b.samples(now) - b.anchor - b.samples(b.fixed) - b.playTS
	if lag >= frame {
		skip := lag / frame
		b.playTS += skip * frame
		lag -= skip * frame
		b.stats.Shrunk += uint64(skip)
	}
	b.discardBefore(b.playTS)
	b.stats.Delay = b.fixed + b.duration(lag)
	missing, _ := b.fill(out)
	if lag < 0 {
		// Too early: this frame plays again next time (a tone stays in
		// phase; see SetFixed).
		b.stats.Grown++
	} else {
		b.playTS += frame
	}
	if missing > 0 {
		// Unlike the adaptive mode, the samples that did arrive stay: no
		// concealment will replace the frame, and a demodulator loses
		// less from a gap than from a whole frame.
		b.stats.Lost++
		return Lost
	}
	b.stats.Played++
	return Audio
}

// start begins playout: the oldest packet plays after a lead-in that
// makes up the initial delay (the fixed one in pass-through).
func (b *Buffer) start(frame int64) {
	oldest := b.slots[b.order[0]].ts
	newest := b.slots[b.order[len(b.order)-1]].ts
	initial := b.cfg.Initial
	if b.fixed > 0 {
		initial = b.fixed
	}
	lead := max(0, (b.samples(initial)-(newest-oldest)+frame/2)/frame)
	b.playing = true
	b.leadTS = oldest
	b.playTS = oldest - lead*frame
}

// discardBefore frees packets that end before ts.
func (b *Buffer) discardBefore(ts int64) {
	for len(b.order) > 0 {
		s := &b.slots[b.order[0]]
		if s.ts+int64(s.n) > ts {
			return
		}
		b.free = append(b.free, b.order[0])
		b.order = b.order[:copy(b.order, b.order[1:])]
	}
}

// fill decodes the samples [playTS, playTS+len(out)) that the buffer holds
// into out, zeroing the rest, and returns how many were missing and
// whether the frame starts a talk spurt.
func (b *Buffer) fill(out []int16) (missing int, marker bool) {
	clear(out)
	start, end := b.playTS, b.playTS+int64(len(out))
	b.frameTS = start
	covered := 0
	for _, i := range b.order {
		s := &b.slots[i]
		if s.ts >= end {
			break
		}
		from, to := max(s.ts, start), min(s.ts+int64(s.n), end)
		if from >= to {
			continue
		}
		covered += b.dec.Decode(out[from-start:to-start], s.data[from-s.ts:to-s.ts])
		marker = marker || (s.marker && s.ts == start)
	}
	return len(out) - covered, marker
}

func (b *Buffer) silent(frame []int16) bool {
	var sum float64
	for _, v := range frame {
		sum += float64(v) * float64(v)
	}
	limit := b.cfg.SilenceRMS
	return sum < limit*limit*float64(len(frame))
}
