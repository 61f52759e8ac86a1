package callerid

import (
	"math"

	"github.com/openata/ata/board"
	"github.com/openata/ata/board/pcm"
)

// Baud is the bit rate of both caller ID modems.
const Baud = 1200

// Modem is a binary FSK modem: the frequency of a 1 (mark) and a 0 (space).
type Modem struct {
	Mark, Space float64 // Hz
}

// The two caller ID modems.
var (
	// Bell202Modem: mark 1200 Hz, space 2200 Hz (GR-30-CORE).
	Bell202Modem = Modem{Mark: 1200, Space: 2200}
	// V23Modem: mark 1300 Hz, space 2100 Hz (ITU-T V.23 forward channel,
	// EN 300 659-1).
	V23Modem = Modem{Mark: 1300, Space: 2100}
)

// Framing is the bit pattern around a message: an alternating channel
// seizure (starting with 0, so it reads as 'U' = 0x55 characters), a run of
// marks to settle the receiver, the message as 8-N-1 characters (start bit
// 0, data LSB first, stop bit 1), then trailing marks so the receiver sees
// the last stop bit before the carrier drops.
type Framing struct {
	SeizureBits, MarkBits, TrailingMarkBits int
}

// Framings of GR-30-CORE and EN 300 659-1/-2 (both use the same numbers;
// ETSI allows 180 ± 25 marks on hook, 80 ± 25 off hook).
var (
	// OnHook is for caller ID with the handset down: 300 seizure bits, 180
	// marks.
	OnHook = Framing{SeizureBits: 300, MarkBits: 180, TrailingMarkBits: trailingMarks}
	// OffHook is for caller ID on call waiting: no seizure, 80 marks
	// (the phone already acknowledged the CAS).
	OffHook = Framing{SeizureBits: 0, MarkBits: 80, TrailingMarkBits: trailingMarks}
)

// trailingMarks: GR-30 asks for the checksum to be followed by at least
// two stop bits; spandsp sends 5. Ten (8 ms) leaves margin for receivers
// that look for idle line before they close a message.
const trailingMarks = 10

// Bits is the number of bits f sends around a message of msgLen bytes.
func (f Framing) Bits(msgLen int) int {
	return f.SeizureBits + f.MarkBits + 10*msgLen + f.TrailingMarkBits
}

// FSKSamples is the number of samples AppendFSK produces for bits bits:
// bits at exactly 1200 baud, the last one complete.
func FSKSamples(bits int) int {
	return (bits*board.SampleRate + Baud - 1) / Baud
}

// AppendFSK appends msg, framed by f and modulated by m, to dst at a peak
// level of levelDBm0. The phase runs on across bit changes (continuous-
// phase FSK, as GR-30 and V.23 require), so the signal has no steps. It
// allocates only if dst lacks room for FSKSamples(f.Bits(len(msg))).
func AppendFSK(dst []int16, m Modem, f Framing, msg []byte, levelDBm0 float64) []int16 {
	amp := pcm.Amplitude(levelDBm0)
	markStep := m.Mark / board.SampleRate
	spaceStep := m.Space / board.SampleRate
	n := FSKSamples(f.Bits(len(msg)))
	var phase float64 // cycles, in [0,1)
	for i := 0; i < n; i++ {
		dst = append(dst, pcm.Clip16(amp*math.Sin(2*math.Pi*phase)))
		// Sample i belongs to bit floor(i·baud/rate); the frequency of the
		// step after it is that bit's.
		step := spaceStep
		if f.bit(msg, i*Baud/board.SampleRate) == 1 {
			step = markStep
		}
		phase += step
		if phase >= 1 {
			phase--
		}
	}
	return dst
}

// bit returns bit k of the framed message.
func (f Framing) bit(msg []byte, k int) int {
	if k < f.SeizureBits {
		return k & 1
	}
	k -= f.SeizureBits
	if k < f.MarkBits {
		return 1
	}
	k -= f.MarkBits
	if k >= 10*len(msg) {
		return 1
	}
	switch pos := k % 10; pos {
	case 0:
		return 0 // start bit
	case 9:
		return 1 // stop bit
	default:
		return int(msg[k/10]>>(pos-1)) & 1
	}
}
