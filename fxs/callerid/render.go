package callerid

import (
	"fmt"
	"math"
	"time"

	"github.com/openata/ata/board/pcm"
)

// Default levels, in dBm0 per sinusoidal component.
const (
	// DefaultFSKLevel is GR-30-CORE's nominal FSK transmit level,
	// −13.5 dBm (into 900 Ω); ETSI networks send about the same.
	DefaultFSKLevel = -13.5
	// DefaultDTMFLevel is per frequency: −8 dBm0 is what Asterisk and the
	// bcm63xx-phone driver use for DTMF caller ID.
	DefaultDTMFLevel = -8.0
)

// Timing the port applies around what Render returns. Minimums are the
// standards'; where a range is given the port should aim inside it.
//
// GR-30-CORE (Bell 202), sent in the first silent interval of ringing:
const (
	// BellStartAfterRing: the first FSK bit comes at least 500 ms after
	// the end of the first ring.
	BellStartAfterRing = 500 * time.Millisecond
	// BellEndBeforeRing: the last FSK bit ends at least 200 ms before the
	// second ring starts.
	BellEndBeforeRing = 200 * time.Millisecond
)

// EN 300 659-1 (V.23). The figures come from the EN as quoted by the
// Lantiq TAPI and bcm63xx-phone FXS drivers; the EN itself was not at hand.
const (
	// ETSIStartAfterRing..ETSIStartAfterRingMax: FSK after the first ring
	// (etsi-fsk) starts 500 ms to 2 s after the ring ends.
	ETSIStartAfterRing    = 500 * time.Millisecond
	ETSIStartAfterRingMax = 2 * time.Second
	// ETSIEndBeforeRing: at least 200 ms (up to 500 ms) from the end of
	// the FSK to the next ring, for every ETSI variant.
	ETSIEndBeforeRing = 200 * time.Millisecond

	// ReversalToDTAS: before ringing (etsi-fsk-dtas) the port reverses the
	// line, waits at least 100 ms, then plays Render's output (DT-AS first).
	ReversalToDTAS = 100 * time.Millisecond
	// DTASDuration is the length of the on-hook DT-AS (100 ms nominal;
	// BT SIN 227 accepts 88–110 ms).
	DTASDuration = 100 * time.Millisecond
	// DTASToFSK is the silence Render leaves between DT-AS and FSK; the EN
	// allows 45–500 ms (DTASToFSKMin, DTASToFSKMax).
	DTASToFSK    = 100 * time.Millisecond
	DTASToFSKMin = 45 * time.Millisecond
	DTASToFSKMax = 500 * time.Millisecond

	// RPASDuration..RPASDurationMax is the Ring Pulse Alerting Signal, a
	// short burst of ringing voltage (the port's SetRing) that may wake the
	// phone instead of the DT-AS; the FSK (Render with etsi-fsk) then
	// follows RPASToFSK..RPASToFSKMax after the pulse ends.
	RPASDuration    = 200 * time.Millisecond
	RPASDurationMax = 300 * time.Millisecond
	RPASToFSK       = 500 * time.Millisecond
	RPASToFSKMax    = 800 * time.Millisecond
)

// DTMF caller ID (sent before the first ring, no alerting signal).
const (
	// DTMFToneDuration and DTMFPauseDuration: 70 ms of tone, 70 ms of
	// silence per key, the bcm63xx-phone defaults (Lantiq uses 50/50; both
	// well above the 40 ms a Q.24 receiver needs).
	DTMFToneDuration  = 70 * time.Millisecond
	DTMFPauseDuration = 70 * time.Millisecond
	// DTMFEndBeforeRing is the gap from the last key to the first ring
	// (bcm63xx-phone's 350 ms; not from a standard we could check).
	DTMFEndBeforeRing = 350 * time.Millisecond
)

// Call waiting (off-hook caller ID, GR-30-CORE type 2 / EN 300 659-2).
const (
	// SASDuration is the 440 Hz Subscriber Alerting Signal.
	SASDuration = 300 * time.Millisecond
	// CASDuration is the 2130+2750 Hz CPE Alerting Signal.
	CASDuration = 80 * time.Millisecond
	// CASAckTimeout: the phone acknowledges the CAS with DTMF 'D' (or 'A')
	// within 160 ms of its end, or the port sends no FSK and resumes the
	// call (Lantiq TAPI default).
	CASAckTimeout = 160 * time.Millisecond
	// AckToFSK is the delay from the end of the acknowledgement to the FSK
	// (Lantiq TAPI default 100 ms).
	AckToFSK = 100 * time.Millisecond
)

// Render returns the whole caller ID signal of std for info, at levelDBm0
// per sinusoidal component (DefaultFSKLevel suits the FSK standards,
// DefaultDTMFLevel dtmf):
//
//   - bell202, bell202-sdmf, etsi-fsk: the FSK alone (seizure, marks,
//     message, trailing marks);
//   - etsi-fsk-dtas: DT-AS, DTASToFSK of silence, then the FSK;
//   - dtmf: the keys of DTMFDigits;
//   - none: nil.
//
// Info must pass std.Check (Standard.Clamp makes it so). Render allocates
// the returned slice and nothing else.
func Render(std Standard, info Info, levelDBm0 float64) ([]int16, error) {
	if std == None {
		return nil, nil
	}
	if err := checkLevel(levelDBm0); err != nil {
		return nil, err
	}
	// Errors about info wrap ErrInvalidInfo and name the standard already.
	if err := std.Check(info); err != nil {
		return nil, err
	}
	if std == DTMF {
		var buf [2 + 20]byte
		keys, err := appendDTMFDigits(buf[:0], info)
		if err != nil {
			return nil, err
		}
		out := make([]int16, 0, DTMFSamples(len(keys)))
		return appendDTMF(out, keys, levelDBm0)
	}
	modem, ok := std.modem()
	if !ok {
		return nil, fmt.Errorf("callerid: render: unknown standard %q", std)
	}
	var buf [maxMessage]byte
	msg, err := std.appendMessage(buf[:0], info)
	if err != nil {
		return nil, err
	}
	n := FSKSamples(OnHook.Bits(len(msg)))
	if std == ETSIFSKDTAS {
		n += samplesOf(DTASDuration) + samplesOf(DTASToFSK)
	}
	out := make([]int16, 0, n)
	if std == ETSIFSKDTAS {
		out = AppendDTAS(out, levelDBm0)
		out = appendSilence(out, DTASToFSK)
	}
	return AppendFSK(out, modem, OnHook, msg, levelDBm0), nil
}

// RenderCallWaiting returns the off-hook FSK of std for info (no seizure,
// 80 marks), which the port sends AckToFSK after the phone acknowledged
// the CAS. DTMF and none have no call-waiting caller ID.
func RenderCallWaiting(std Standard, info Info, levelDBm0 float64) ([]int16, error) {
	modem, ok := std.modem()
	if !ok {
		return nil, fmt.Errorf("callerid: %q has no call-waiting caller ID", std)
	}
	if err := checkLevel(levelDBm0); err != nil {
		return nil, err
	}
	if err := std.Check(info); err != nil {
		return nil, err
	}
	var buf [maxMessage]byte
	msg, err := std.appendMessage(buf[:0], info)
	if err != nil {
		return nil, err
	}
	out := make([]int16, 0, FSKSamples(OffHook.Bits(len(msg))))
	return AppendFSK(out, modem, OffHook, msg, levelDBm0), nil
}

// Message returns the framed message std sends for info: SDMF for
// bell202-sdmf, MDMF for the other FSK standards.
func (s Standard) Message(info Info) ([]byte, error) {
	if _, ok := s.modem(); !ok {
		return nil, fmt.Errorf("callerid: %q sends no FSK message", s)
	}
	if err := s.Check(info); err != nil {
		return nil, err
	}
	var buf [maxMessage]byte
	msg, err := s.appendMessage(buf[:0], info)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), msg...), nil
}

func (s Standard) appendMessage(dst []byte, info Info) ([]byte, error) {
	if s == Bell202SDMF {
		return appendSDMF(dst, info)
	}
	return appendMDMF(dst, info)
}

func (s Standard) modem() (Modem, bool) {
	switch s {
	case Bell202, Bell202SDMF:
		return Bell202Modem, true
	case ETSIFSK, ETSIFSKDTAS:
		return V23Modem, true
	}
	return Modem{}, false
}

// checkLevel rejects levels that are not numbers or exceed a full-scale
// sine, where the signal would clip into noise.
func checkLevel(dBm0 float64) error {
	if math.IsNaN(dBm0) || dBm0 > pcm.FullScaleSineDBm0 || math.IsInf(dBm0, 0) {
		return fmt.Errorf("callerid: level %v dBm0: want a finite level up to %.2f", dBm0, pcm.FullScaleSineDBm0)
	}
	return nil
}
