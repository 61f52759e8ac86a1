package callerid

import (
	"fmt"
	"time"

	"github.com/openata/ata/board"
	"github.com/openata/ata/board/pcm"
)

// Alerting tone frequencies.
const (
	// AlertLow and AlertHigh make both the on-hook DT-AS (EN 300 659-1)
	// and the off-hook CAS (GR-30-CORE, EN 300 659-2): 2130 Hz +
	// 2750 Hz.
	AlertLow  = 2130.0
	AlertHigh = 2750.0
	// SASFrequency is the Subscriber Alerting Signal heard in the earpiece
	// when a call waits: 440 Hz, the North American call waiting tone.
	SASFrequency = 440.0
)

// samplesOf converts a duration to a whole number of samples.
func samplesOf(d time.Duration) int {
	return int(d * board.SampleRate / time.Second)
}

// appendTone appends d of a sine at f1 plus (if f2 > 0) one at f2, each
// at levelDBm0. Both start at phase zero, so the tone starts at 0.
func appendTone(dst []int16, d time.Duration, levelDBm0, f1, f2 float64) []int16 {
	amp := pcm.Amplitude(levelDBm0)
	a := pcm.NewSine(f1, amp, board.SampleRate)
	var b pcm.Sine // zero value is silent
	if f2 > 0 {
		b = pcm.NewSine(f2, amp, board.SampleRate)
	}
	for n := samplesOf(d); n > 0; n-- {
		dst = append(dst, pcm.Clip16(a.Next()+b.Next()))
	}
	return dst
}

func appendSilence(dst []int16, d time.Duration) []int16 {
	for n := samplesOf(d); n > 0; n-- {
		dst = append(dst, 0)
	}
	return dst
}

// AppendDTAS appends the on-hook Dual-Tone Alerting Signal (2130 + 2750
// Hz for DTASDuration), each tone at levelDBm0.
func AppendDTAS(dst []int16, levelDBm0 float64) []int16 {
	return appendTone(dst, DTASDuration, levelDBm0, AlertLow, AlertHigh)
}

// AppendCAS appends the off-hook CPE Alerting Signal of call waiting (2130
// + 2750 Hz for CASDuration), each tone at levelDBm0. The phone answers it
// with a DTMF acknowledgement ('D' for Bell/GR-30, 'A' or 'D' in ETSI
// networks) before the port sends RenderCallWaiting's FSK.
func AppendCAS(dst []int16, levelDBm0 float64) []int16 {
	return appendTone(dst, CASDuration, levelDBm0, AlertLow, AlertHigh)
}

// AppendSAS appends the Subscriber Alerting Signal (440 Hz for SASDuration)
// that tells the user a call waits; it precedes the CAS.
func AppendSAS(dst []int16, levelDBm0 float64) []int16 {
	return appendTone(dst, SASDuration, levelDBm0, SASFrequency, 0)
}

// DTMF caller ID framing (EN 300 659-1 annex, the variant used in the
// Netherlands, Denmark, Sweden, Finland, Belgium, India...): the number
// between 'A' and 'C'; a withheld number is "B<code>C".
const (
	DTMFStart       = 'A'
	DTMFInformation = 'B'
	DTMFEnd         = 'C'
	// DTMFCodeUnavailable and DTMFCodePrivate are the information codes for
	// a number that is unavailable or withheld. Asterisk (callerid.c) and
	// spandsp (adsi.h) read "00" and "10"; Lantiq's TAPI driver sends "01"
	// for private, so receivers differ: we follow the two open decoders.
	DTMFCodeUnavailable = "00"
	DTMFCodePrivate     = "10"
)

// DTMFDigits returns the DTMF key sequence that carries info: "A" + number
// + "C", or "B00C" (unavailable) / "B10C" (private) without a number.
// The number must be digits only, at most 20.
func DTMFDigits(info Info) (string, error) {
	var buf [2 + 20]byte
	d, err := appendDTMFDigits(buf[:0], info)
	return string(d), err
}

func appendDTMFDigits(dst []byte, info Info) ([]byte, error) {
	if err := DTMF.Check(info); err != nil {
		return dst, err
	}
	switch {
	case info.Number != "":
		dst = append(dst, DTMFStart)
		dst = append(dst, info.Number...)
	case info.NumberAbsent == Private:
		dst = append(dst, DTMFInformation)
		dst = append(dst, DTMFCodePrivate...)
	default:
		dst = append(dst, DTMFInformation)
		dst = append(dst, DTMFCodeUnavailable...)
	}
	return append(dst, DTMFEnd), nil
}

// DTMFSamples is the length of the audio for a key sequence of n keys.
func DTMFSamples(n int) int {
	if n == 0 {
		return 0
	}
	return n*samplesOf(DTMFToneDuration) + (n-1)*samplesOf(DTMFPauseDuration)
}

// appendDTMF appends keys as DTMF tones of DTMFToneDuration separated by
// DTMFPauseDuration of silence, each frequency at levelDBm0.
func appendDTMF(dst []int16, keys []byte, levelDBm0 float64) ([]int16, error) {
	for i, k := range keys {
		lo, hi, ok := pcm.DTMFFrequencies(k)
		if !ok {
			return dst, fmt.Errorf("callerid: %q is not a DTMF key", k)
		}
		if i > 0 {
			dst = appendSilence(dst, DTMFPauseDuration)
		}
		dst = appendTone(dst, DTMFToneDuration, levelDBm0, lo, hi)
	}
	return dst, nil
}
