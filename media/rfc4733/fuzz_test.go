package rfc4733

import (
	"encoding/binary"
	"testing"
	"time"
)

// FuzzReceiver feeds arbitrary packet streams (8 bytes each: 4 of
// timestamp, 4 of payload) to a Receiver. Whatever arrives, key downs and
// ups must alternate and payloads must survive a marshal round trip.
func FuzzReceiver(f *testing.F) {
	f.Add([]byte{0, 0, 3, 232, 5, 10, 0, 160, 0, 0, 3, 232, 5, 138, 3, 32})
	f.Add([]byte{0, 0, 0, 0, 17, 10, 0, 160, 0, 0, 0, 1, 16, 255, 255, 255})
	f.Add([]byte{1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		down := false
		r := NewReceiver(func(e KeyEvent) {
			if e.Down == down {
				t.Fatalf("key %q down=%v twice in a row", e.Key, e.Down)
			}
			down = e.Down
		})
		at := time.Duration(0)
		for len(data) >= 8 {
			ts := binary.BigEndian.Uint32(data)
			payload := data[4:8]
			if err := r.Receive(at, ts, payload); err != nil {
				t.Fatalf("4-byte payload rejected: %v", err)
			}
			var ev Event
			ev.Unmarshal(payload)
			var b [4]byte
			if _, err := ev.MarshalTo(b[:]); err != nil {
				t.Fatalf("re-marshal %+v: %v", ev, err)
			}
			if b[0] != payload[0] || b[1] != payload[1]&^0x40 || b[2] != payload[2] || b[3] != payload[3] {
				t.Fatalf("round trip % x → % x", payload, b)
			}
			at += time.Duration(data[7]) * time.Millisecond * 4
			r.Expire(at)
			data = data[8:]
		}
		r.Receive(at, 0, data) // short tail must not panic
	})
}
