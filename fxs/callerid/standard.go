// Package callerid renders the audio an FXS port sends to an analog phone to
// show who is calling (8 kHz, 16-bit linear PCM):
//
//   - Bell 202 FSK with an MDMF or SDMF message (Telcordia GR-30-CORE; US,
//     Canada, often Australia), sent in the silence after the first ring;
//   - ETSI V.23 FSK with an MDMF "call set-up" message (EN 300 659-1/-3),
//     after the first ring or, before ringing, after a line reversal and a
//     Dual-Tone Alerting Signal (UK BT SIN 227 style);
//   - DTMF caller ID (EN 300 659-1 annex, used in NL, DK, SE, FI, IN...),
//     sent before the first ring;
//   - the call-waiting alerting tones (SAS, CAS) and the off-hook FSK that
//     follows them.
//
// Rendering happens once per incoming call, so it returns a freshly
// allocated slice; the port plays it frame by frame and applies the timing
// constants exported here around it (ringing, line reversal are the port's).
package callerid

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Standard selects how caller ID is signalled on the line.
type Standard string

// The supported standards. Values are what the configuration file holds.
const (
	// Bell202 is Bell 202 FSK carrying an MDMF message, between the first
	// and second ring (GR-30-CORE).
	Bell202 Standard = "bell202"
	// Bell202SDMF is Bell 202 FSK carrying the older single data message
	// (date, time and number only), for phones that predate MDMF.
	Bell202SDMF Standard = "bell202-sdmf"
	// ETSIFSK is V.23 FSK carrying an MDMF call set-up message, sent after
	// the first ring (EN 300 659-1, data transmission associated with
	// ringing).
	ETSIFSK Standard = "etsi-fsk"
	// ETSIFSKDTAS is V.23 FSK sent before ringing: the port reverses the
	// line, then plays what Render returns (DT-AS, pause, FSK), then rings.
	ETSIFSKDTAS Standard = "etsi-fsk-dtas"
	// DTMF is DTMF caller ID ("A<number>C", or "B<code>C" when the number
	// is withheld), sent before the first ring.
	DTMF Standard = "dtmf"
	// None sends no caller ID.
	None Standard = "none"
)

// Standards lists every known Standard, in the order errors name them.
var Standards = []Standard{Bell202, Bell202SDMF, ETSIFSK, ETSIFSKDTAS, DTMF, None}

// ParseStandard parses a configuration value. Case and surrounding blanks
// are ignored; an unknown value is an error that names the known ones.
func ParseStandard(s string) (Standard, error) {
	v := Standard(strings.ToLower(strings.TrimSpace(s)))
	for _, std := range Standards {
		if v == std {
			return std, nil
		}
	}
	names := make([]string, len(Standards))
	for i, std := range Standards {
		names[i] = string(std)
	}
	return "", fmt.Errorf("callerid: unknown standard %q (known: %s)", s, strings.Join(names, ", "))
}

// Limits are the longest number and name a standard carries.
type Limits struct {
	Number int // digits
	Name   int // characters; 0 means the standard carries no name
}

// Field limits. The 20-digit number is GR-30-CORE's and EN 300 659-3's
// calling line identity maximum; GR-30 caps the calling name at 15
// characters, EN 300 659-3 at 50; SDMF and DTMF carry no name.
var (
	bellLimits = Limits{Number: 20, Name: 15}
	sdmfLimits = Limits{Number: 20}
	etsiLimits = Limits{Number: 20, Name: 50}
	dtmfLimits = Limits{Number: 20}
)

// Limits returns the field limits of s.
func (s Standard) Limits() Limits {
	switch s {
	case Bell202:
		return bellLimits
	case Bell202SDMF:
		return sdmfLimits
	case ETSIFSK, ETSIFSKDTAS:
		return etsiLimits
	case DTMF:
		return dtmfLimits
	}
	return Limits{}
}

// ErrInvalidInfo is wrapped by every error about an Info that a standard
// cannot carry as given (too long, bad characters, bad absence code).
var ErrInvalidInfo = errors.New("callerid: cannot send caller ID")

// Check reports whether s can carry info unchanged. Errors wrap
// ErrInvalidInfo and say which limit was exceeded; Clamp fixes them.
func (s Standard) Check(info Info) error {
	lim := s.Limits()
	if err := checkAbsence("number", info.Number, info.NumberAbsent); err != nil {
		return err
	}
	if err := checkAbsence("name", info.Name, info.NameAbsent); err != nil {
		return err
	}
	if n := len(info.Number); n > lim.Number {
		return fmt.Errorf("%w: number of %d digits exceeds %s's %d", ErrInvalidInfo, n, s, lim.Number)
	}
	for i := 0; i < len(info.Number); i++ {
		if !numberChar(s, info.Number[i]) {
			return fmt.Errorf("%w: number %q: %q is not allowed by %s", ErrInvalidInfo, info.Number, info.Number[i], s)
		}
	}
	if s == Bell202SDMF && info.Time.IsZero() {
		return fmt.Errorf("%w: %s needs the date and time", ErrInvalidInfo, s)
	}
	if info.Name != "" && lim.Name == 0 {
		return fmt.Errorf("%w: %s carries no name", ErrInvalidInfo, s)
	}
	if n := len(info.Name); n > lim.Name {
		return fmt.Errorf("%w: name of %d characters exceeds %s's %d", ErrInvalidInfo, n, s, lim.Name)
	}
	for i := 0; i < len(info.Name); i++ {
		if !nameChar(info.Name[i]) {
			return fmt.Errorf("%w: name %q: byte 0x%02x is not printable ASCII", ErrInvalidInfo, info.Name, info.Name[i])
		}
	}
	return nil
}

// Clamp returns info made fit for s: characters the number cannot carry
// (spaces, dashes, '+', letters) are dropped, the name's non-ASCII runes
// become '?', both are cut to the standard's limits, a name is dropped
// where the standard has none, and an empty number without a reason gets
// 'O' (unavailable). An invalid absence code becomes 'O' too. Displaying a
// shortened name beats displaying nothing, so the port clamps before Render.
// Clamp cannot invent a time: bell202-sdmf still needs Info.Time.
func (s Standard) Clamp(info Info) Info {
	lim := s.Limits()
	num := make([]byte, 0, lim.Number)
	for i := 0; i < len(info.Number) && len(num) < lim.Number; i++ {
		if numberChar(s, info.Number[i]) {
			num = append(num, info.Number[i])
		}
	}
	info.Number = string(num)
	name := make([]byte, 0, lim.Name)
	for _, r := range info.Name {
		if len(name) >= lim.Name {
			break
		}
		if r >= utf8.RuneSelf || !nameChar(byte(r)) {
			r = '?'
		}
		name = append(name, byte(r))
	}
	info.Name = string(name)
	info.NumberAbsent = clampAbsence(info.Number, info.NumberAbsent)
	if info.Number == "" && info.NumberAbsent == 0 {
		info.NumberAbsent = Unavailable
	}
	info.NameAbsent = clampAbsence(info.Name, info.NameAbsent)
	if lim.Name == 0 {
		info.NameAbsent = 0
	}
	return info
}

func clampAbsence(value string, code byte) byte {
	if value != "" {
		return 0
	}
	if code != 0 && code != Private && code != Unavailable {
		return Unavailable
	}
	return code
}

func checkAbsence(field, value string, code byte) error {
	switch {
	case code != 0 && code != Private && code != Unavailable:
		return fmt.Errorf("%w: %s absence code %q: want 'P' (private) or 'O' (unavailable)", ErrInvalidInfo, field, code)
	case code != 0 && value != "":
		return fmt.Errorf("%w: %s %q given together with absence code %q", ErrInvalidInfo, field, value, code)
	}
	return nil
}

// numberChar: FSK numbers are digits, '*' and '#'; DTMF numbers are digits
// only, since A-D, '*' and '#' are the format's own delimiters.
func numberChar(s Standard, c byte) bool {
	if c >= '0' && c <= '9' {
		return true
	}
	return s != DTMF && (c == '*' || c == '#')
}

func nameChar(c byte) bool { return c >= 0x20 && c <= 0x7e }
