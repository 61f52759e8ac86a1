package rfc4733

import (
	"errors"
	"fmt"
)

// Packet is one telephone-event packet the Sender wants sent this frame.
type Packet struct {
	Event     Event
	Marker    bool   // first packet of the event (RFC 4733 §2.5.1.1)
	Timestamp uint32 // the event's start timestamp, the same for all its packets
}

// Sender turns a key press into telephone-event packets, one audio frame at
// a time, so the caller's audio clock paces it. The first packet carries the
// marker bit; updates follow about every 50 ms (UpdateInterval); the end
// packet is sent three times, on three consecutive frames, with the same
// timestamp and final duration (RFC 4733 §2.5.1.4). The zero value is idle.
type Sender struct {
	// UpdateInterval is the spacing of update packets in samples; 0 means
	// 400 (50 ms at 8 kHz). An update goes out on the first frame at which
	// at least UpdateInterval minus half a frame has passed since the last
	// one, so 20 ms frames give 40 ms and 10 ms frames 50 ms.
	UpdateInterval int
	// Volume of the events sent, in dB below 0 dBm0; 0 means 10 (-10 dBm0,
	// a typical DTMF level).
	Volume uint8

	active    bool
	ev        Event
	ts        uint32
	total     int // requested length in samples
	elapsed   int // samples covered including the current frame
	lastSent  int // elapsed at the last update sent
	endsSent  int
	sentFirst bool
}

// endRepeats is how many times the end packet is sent.
const endRepeats = 3

// maxDuration is the longest event one timestamp can describe (the 16-bit
// duration field); longer presses are cut there.
const maxDuration = 0xFFFF

var errBusy = errors.New("rfc4733: an event is already being sent")

// Start begins sending key for durationSamples samples, from the RTP
// timestamp ts (the timestamp of the first frame the event replaces).
func (s *Sender) Start(key byte, durationSamples int, ts uint32) error {
	if s.active {
		return errBusy
	}
	code, err := KeyCode(key)
	if err != nil {
		return err
	}
	if durationSamples <= 0 {
		return fmt.Errorf("rfc4733: duration %d samples: must be positive", durationSamples)
	}
	vol := s.Volume
	if vol == 0 {
		vol = 10
	}
	if vol > MaxVolume {
		vol = MaxVolume
	}
	*s = Sender{UpdateInterval: s.UpdateInterval, Volume: s.Volume,
		active: true, ev: Event{Code: code, Volume: vol}, ts: ts,
		total: min(durationSamples, maxDuration)}
	return nil
}

// Active reports whether an event is in progress (including its end
// retransmissions). While it is, the event replaces the voice stream.
func (s *Sender) Active() bool { return s.active }

// Next advances the event by one frame of frameSamples samples and returns
// the packet to send for this frame, if one is due.
func (s *Sender) Next(frameSamples int) (Packet, bool) {
	if !s.active {
		return Packet{}, false
	}
	if s.ev.End {
		// End packets repeat unchanged on the following frames.
		s.endsSent++
		if s.endsSent >= endRepeats {
			s.active = false
		}
		return Packet{Event: s.ev, Timestamp: s.ts}, true
	}
	s.elapsed += frameSamples
	interval := s.UpdateInterval
	if interval <= 0 {
		interval = 400
	}
	p := Packet{Timestamp: s.ts}
	switch {
	case s.elapsed >= s.total:
		s.ev.End = true
		s.ev.Duration = uint16(min(s.elapsed, maxDuration))
		s.endsSent = 1
	case !s.sentFirst || s.elapsed-s.lastSent >= interval-frameSamples/2:
		s.ev.Duration = uint16(s.elapsed)
	default:
		return Packet{}, false
	}
	p.Marker = !s.sentFirst
	s.sentFirst = true
	s.lastSent = s.elapsed
	p.Event = s.ev
	return p, true
}
