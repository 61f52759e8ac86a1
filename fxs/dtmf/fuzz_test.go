package dtmf

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/openata/ata/board/pcm"
)

// FuzzDetector feeds arbitrary audio (little-endian int16) in chunks of
// arbitrary size: whatever arrives from the line, events must stay well
// formed and must not depend on how the stream is cut.
func FuzzDetector(f *testing.F) {
	var s signal
	s.tone(toneSpec{key: '5', lowDB: -6, highDB: -6, n: ms(60)}).silence(ms(60))
	seed := make([]byte, 0, 2*len(s.x))
	for _, v := range s.pcm() {
		seed = binary.LittleEndian.AppendUint16(seed, uint16(v))
	}
	f.Add(uint8(160), seed)
	f.Add(uint8(1), seed[:401])
	f.Add(uint8(0), []byte{0x00, 0x80, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, chunk uint8, data []byte) {
		x := make([]int16, len(data)/2)
		for i := range x {
			x[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
		}
		whole := NewDetector().Process(x)
		ref := fmt.Sprint(whole)
		checkEvents(t, whole, int64(len(x)))

		d := NewDetector()
		var cut []Event
		n := max(int(chunk), 1)
		for rest := x; len(rest) > 0; {
			k := min(n, len(rest))
			cut = append(cut, d.Process(rest[:k])...)
			rest = rest[k:]
		}
		if got := fmt.Sprint(cut); got != ref {
			t.Fatalf("chunks of %d: %s, whole: %s", n, got, ref)
		}
	})
}

// checkEvents checks the invariants of an event stream of n samples.
func checkEvents(t *testing.T, ev []Event, n int64) {
	t.Helper()
	var down byte
	var last int64
	for _, e := range ev {
		if !strings.ContainsRune(pcm.DTMFKeys, rune(e.Key)) {
			t.Fatalf("bad key in %+v", e)
		}
		if e.At < last || e.At > n || e.At < 0 {
			t.Fatalf("event %+v out of order (last %d, n %d)", e, last, n)
		}
		last = e.At
		if e.Down == (down != 0) || (!e.Down && e.Key != down) {
			t.Fatalf("unpaired event %+v (down %q)", e, down)
		}
		if e.Down {
			down = e.Key
		} else {
			down = 0
		}
	}
}
