// Package rfc4733 carries DTMF keys as RTP telephone events (RFC 4733):
// the 4-byte event payload, a frame-paced sender and a receiver that turns
// redundant, lossy event packets into exactly one key-down and one key-up.
package rfc4733

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// PayloadSize is the length of one telephone-event payload.
const PayloadSize = 4

// MaxVolume is the largest power level: -63 dBm0.
const MaxVolume = 63

// KeyFlash is the key reported for event 16 (hook flash), as SIP INFO
// dtmf-relay writes it.
const KeyFlash = '!'

// eventKeys maps event codes 0-16 to keys (RFC 4733 §3.2, table 7).
const eventKeys = "0123456789*#ABCD" + string(KeyFlash)

// MaxEvent is the highest event code this package handles: 16, flash.
const MaxEvent = 16

// Event is one telephone-event payload.
type Event struct {
	Code uint8 // 0-9, 10 '*', 11 '#', 12-15 A-D, 16 flash
	End  bool  // E bit: the event has ended
	// Volume is the power level as a positive number of dB below 0 dBm0
	// (0-63).
	Volume uint8
	// Duration is the event's length so far, in RTP timestamp units
	// (samples at 8 kHz) from the event's RTP timestamp.
	Duration uint16
}

var (
	errShort  = errors.New("rfc4733: payload shorter than 4 bytes")
	errVolume = errors.New("rfc4733: volume above 63")
)

// Unmarshal parses the first 4 bytes of b. Extra bytes (redundant events of
// RFC 4733 §2.5.1.5 are not used here) are ignored.
func (e *Event) Unmarshal(b []byte) error {
	if len(b) < PayloadSize {
		return errShort
	}
	e.Code = b[0]
	e.End = b[1]&0x80 != 0
	e.Volume = b[1] & 0x3F
	e.Duration = binary.BigEndian.Uint16(b[2:4])
	return nil
}

// MarshalTo writes the payload into b and returns its length.
func (e Event) MarshalTo(b []byte) (int, error) {
	if len(b) < PayloadSize {
		return 0, errShort
	}
	if e.Volume > MaxVolume {
		return 0, errVolume
	}
	b[0] = e.Code
	b[1] = e.Volume
	if e.End {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:4], e.Duration)
	return PayloadSize, nil
}

// Key returns the key of a DTMF or flash event.
func (e Event) Key() (byte, bool) {
	return CodeKey(e.Code)
}

// CodeKey returns the key for an event code (0-16).
func CodeKey(code uint8) (byte, bool) {
	if int(code) > MaxEvent {
		return 0, false
	}
	return eventKeys[code], true
}

// KeyCode returns the event code for a key: 0-9 * # A-D (a-d accepted) or
// KeyFlash.
func KeyCode(key byte) (uint8, error) {
	if key >= 'a' && key <= 'd' {
		key -= 'a' - 'A'
	}
	for i := 0; i < len(eventKeys); i++ {
		if eventKeys[i] == key {
			return uint8(i), nil
		}
	}
	return 0, fmt.Errorf("rfc4733: key %q is not a DTMF key", key)
}
