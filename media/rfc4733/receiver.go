package rfc4733

import "time"

// KeyEvent is a key going down or up at the far end.
type KeyEvent struct {
	Key  byte
	Down bool
	// Duration is the event's length as the sender reported it; set on key
	// up only (an up forced by a timeout carries the last duration seen).
	Duration time.Duration
}

// DefaultTimeout is how long a key stays down without any packet before
// the receiver declares it up (all end packets lost).
const DefaultTimeout = 400 * time.Millisecond

// Receiver reports each remote key press exactly once as down and once as
// up, whatever the redundancy (repeated updates and end packets) and loss
// (missing start or end packets) of the event stream.
type Receiver struct {
	report  func(KeyEvent)
	Timeout time.Duration // 0 means DefaultTimeout

	down     bool
	ts       uint32 // timestamp of the event in progress
	key      byte
	duration uint16
	lastAt   time.Duration
	ended    bool   // an event has ended ...
	endedTS  uint32 // ... and this was its timestamp
}

// NewReceiver returns a receiver that calls report for every key change.
// report runs on the caller's goroutine and must not block.
func NewReceiver(report func(KeyEvent)) *Receiver {
	return &Receiver{report: report}
}

// Receive handles one telephone-event packet with RTP timestamp ts that
// arrived at time at. Unknown event codes are ignored.
func (r *Receiver) Receive(at time.Duration, ts uint32, payload []byte) error {
	var ev Event
	if err := ev.Unmarshal(payload); err != nil {
		return err
	}
	key, ok := ev.Key()
	if !ok {
		return nil
	}
	// A packet of an event already finished (a repeated end packet, or a
	// late update overtaken by its end) says nothing new.
	if r.ended && int32(ts-r.endedTS) <= 0 {
		return nil
	}
	if r.down && ts != r.ts {
		// A new event while the old one is down: its end packets were lost.
		r.up()
	}
	if !r.down {
		r.down, r.ts, r.key = true, ts, key
		r.report(KeyEvent{Key: key, Down: true})
	}
	r.lastAt = at
	r.duration = ev.Duration
	if ev.End {
		r.up()
	}
	return nil
}

// Expire releases a key whose packets stopped without an end packet. Call it
// periodically (once per audio frame is fine) with the current time.
func (r *Receiver) Expire(at time.Duration) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if r.down && at-r.lastAt > timeout {
		r.up()
	}
}

// Down reports whether a remote key is currently held.
func (r *Receiver) Down() bool { return r.down }

func (r *Receiver) up() {
	r.down = false
	r.ended, r.endedTS = true, r.ts
	r.report(KeyEvent{Key: r.key, Duration: time.Duration(r.duration) * time.Second / 8000})
}

// Reset forgets all state without reporting, for a new RTP stream (SSRC
// change) whose timestamps start afresh.
func (r *Receiver) Reset() {
	*r = Receiver{report: r.report, Timeout: r.Timeout}
}
