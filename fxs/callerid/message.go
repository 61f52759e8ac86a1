package callerid

import (
	"errors"
	"fmt"
	"time"
)

// Info is what caller ID tells the phone.
type Info struct {
	// Time is the call's local date and time; only month, day, hour and
	// minute are sent. The zero Time omits the date/time parameter (MDMF).
	Time time.Time
	// Number is the calling number (digits; '*' and '#' also for FSK).
	Number string
	// Name is the calling party's name, printable ASCII.
	Name string
	// NumberAbsent and NameAbsent give the reason a field is missing:
	// 0 (none given), Private or Unavailable.
	NumberAbsent, NameAbsent byte
}

// Reasons for absence (GR-30-CORE, EN 300 659-3).
const (
	Private     byte = 'P'
	Unavailable byte = 'O'
)

// Message and parameter type codes (GR-30-CORE; EN 300 659-3, as spandsp's
// adsi.h lists them).
const (
	TypeSDMF byte = 0x04 // single data message: MMDDHHMM + number
	TypeMDMF byte = 0x80 // multiple data message / ETSI "call set-up"

	ParamDateTime     byte = 0x01
	ParamNumber       byte = 0x02
	ParamNumberAbsent byte = 0x04
	ParamName         byte = 0x07
	ParamNameAbsent   byte = 0x08
)

// maxMessage bounds a framed message: type, length, up to 255 bytes of
// body, checksum.
const maxMessage = 2 + 255 + 1

// format limits of MDMF itself, independent of the standard carrying it.
var mdmfLimits = Limits{Number: 20, Name: 50}

// MDMF returns the framed multiple data message for info: type 0x80,
// length, parameters date/time (if Time is set), number or its absence
// reason, name or its absence reason (if either is given), checksum.
// Numbers over 20 digits and names over 50 characters are errors; standards
// may be stricter (Standard.Check).
func MDMF(info Info) ([]byte, error) {
	var buf [maxMessage]byte
	msg, err := appendMDMF(buf[:0], info)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), msg...), nil
}

// SDMF returns the framed single data message for info: type 0x04, length,
// MMDDHHMM, the number or a single 'P'/'O', checksum. SDMF has no name and
// needs a time.
func SDMF(info Info) ([]byte, error) {
	var buf [maxMessage]byte
	msg, err := appendSDMF(buf[:0], info)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), msg...), nil
}

func appendMDMF(dst []byte, info Info) ([]byte, error) {
	if err := checkFormat(info, mdmfLimits, "MDMF"); err != nil {
		return dst, err
	}
	start := len(dst)
	dst = append(dst, TypeMDMF, 0)
	if !info.Time.IsZero() {
		dst = append(dst, ParamDateTime, 8)
		dst = appendDateTime(dst, info.Time)
	}
	switch {
	case info.Number != "":
		dst = append(dst, ParamNumber, byte(len(info.Number)))
		dst = append(dst, info.Number...)
	case info.NumberAbsent != 0:
		dst = append(dst, ParamNumberAbsent, 1, info.NumberAbsent)
	default:
		dst = append(dst, ParamNumberAbsent, 1, Unavailable)
	}
	switch {
	case info.Name != "":
		dst = append(dst, ParamName, byte(len(info.Name)))
		dst = append(dst, info.Name...)
	case info.NameAbsent != 0:
		dst = append(dst, ParamNameAbsent, 1, info.NameAbsent)
	}
	dst[start+1] = byte(len(dst) - start - 2)
	return append(dst, checksum(dst[start:])), nil
}

func appendSDMF(dst []byte, info Info) ([]byte, error) {
	if err := checkFormat(info, sdmfLimits, "SDMF"); err != nil {
		return dst, err
	}
	if info.Time.IsZero() {
		return dst, fmt.Errorf("%w: SDMF needs the date and time", ErrInvalidInfo)
	}
	start := len(dst)
	dst = append(dst, TypeSDMF, 0)
	dst = appendDateTime(dst, info.Time)
	switch {
	case info.Number != "":
		dst = append(dst, info.Number...)
	case info.NumberAbsent != 0:
		dst = append(dst, info.NumberAbsent)
	default:
		dst = append(dst, Unavailable)
	}
	dst[start+1] = byte(len(dst) - start - 2)
	return append(dst, checksum(dst[start:])), nil
}

// checkFormat applies the structural limits of a message format (as
// opposed to a standard's, see Standard.Check).
func checkFormat(info Info, lim Limits, format string) error {
	if err := checkAbsence("number", info.Number, info.NumberAbsent); err != nil {
		return err
	}
	if err := checkAbsence("name", info.Name, info.NameAbsent); err != nil {
		return err
	}
	if len(info.Number) > lim.Number {
		return fmt.Errorf("%w: number of %d digits exceeds %s's %d", ErrInvalidInfo, len(info.Number), format, lim.Number)
	}
	if len(info.Name) > lim.Name {
		return fmt.Errorf("%w: name of %d characters exceeds %s's %d", ErrInvalidInfo, len(info.Name), format, lim.Name)
	}
	return nil
}

func appendDateTime(dst []byte, t time.Time) []byte {
	for _, v := range [4]int{int(t.Month()), t.Day(), t.Hour(), t.Minute()} {
		dst = append(dst, byte('0'+v/10), byte('0'+v%10))
	}
	return dst
}

// checksum is the two's complement of the modulo-256 sum of msg.
func checksum(msg []byte) byte {
	var sum byte
	for _, b := range msg {
		sum += b
	}
	return -sum
}

// ErrMessage is wrapped by every error ParseMDMF and ParseSDMF return.
var ErrMessage = errors.New("callerid: malformed message")

// ParseMDMF decodes a framed MDMF message (as MDMF builds it, or as a
// receiver collects it after the channel seizure and mark). It checks the
// type, the length and the checksum; unknown parameters are skipped. The
// returned Time holds month, day, hour and minute in year 0, UTC.
func ParseMDMF(b []byte) (Info, error) {
	body, err := unframe(b, TypeMDMF)
	if err != nil {
		return Info{}, err
	}
	var info Info
	for len(body) > 0 {
		if len(body) < 2 {
			return Info{}, fmt.Errorf("%w: parameter 0x%02x has no length", ErrMessage, body[0])
		}
		typ, n := body[0], int(body[1])
		if len(body) < 2+n {
			return Info{}, fmt.Errorf("%w: parameter 0x%02x of %d bytes overruns the message", ErrMessage, typ, n)
		}
		val := body[2 : 2+n]
		body = body[2+n:]
		switch typ {
		case ParamDateTime:
			if info.Time, err = parseDateTime(val); err != nil {
				return Info{}, err
			}
		case ParamNumber:
			info.Number = string(val)
		case ParamName:
			info.Name = string(val)
		case ParamNumberAbsent, ParamNameAbsent:
			if n != 1 {
				return Info{}, fmt.Errorf("%w: absence parameter 0x%02x of %d bytes, want 1", ErrMessage, typ, n)
			}
			if typ == ParamNumberAbsent {
				info.NumberAbsent = val[0]
			} else {
				info.NameAbsent = val[0]
			}
		}
	}
	return info, nil
}

// ParseSDMF decodes a framed SDMF message: MMDDHHMM then the number, or a
// single 'P' or 'O'.
func ParseSDMF(b []byte) (Info, error) {
	body, err := unframe(b, TypeSDMF)
	if err != nil {
		return Info{}, err
	}
	if len(body) < 8 {
		return Info{}, fmt.Errorf("%w: SDMF body of %d bytes, want at least the 8-byte date", ErrMessage, len(body))
	}
	var info Info
	if info.Time, err = parseDateTime(body[:8]); err != nil {
		return Info{}, err
	}
	num := body[8:]
	if len(num) == 1 && (num[0] == Private || num[0] == Unavailable) {
		info.NumberAbsent = num[0]
	} else {
		info.Number = string(num)
	}
	return info, nil
}

// unframe checks type, length and checksum and returns the body.
func unframe(b []byte, typ byte) ([]byte, error) {
	if len(b) < 3 {
		return nil, fmt.Errorf("%w: %d bytes, want at least type, length and checksum", ErrMessage, len(b))
	}
	if b[0] != typ {
		return nil, fmt.Errorf("%w: message type 0x%02x, want 0x%02x", ErrMessage, b[0], typ)
	}
	if want := 2 + int(b[1]) + 1; len(b) != want {
		return nil, fmt.Errorf("%w: %d bytes but the length byte says %d", ErrMessage, len(b), want)
	}
	if sum := checksum(b[:len(b)-1]); sum != b[len(b)-1] {
		return nil, fmt.Errorf("%w: checksum 0x%02x, computed 0x%02x", ErrMessage, b[len(b)-1], sum)
	}
	return b[2 : len(b)-1], nil
}

func parseDateTime(v []byte) (time.Time, error) {
	if len(v) != 8 {
		return time.Time{}, fmt.Errorf("%w: date/time of %d bytes, want 8", ErrMessage, len(v))
	}
	var f [4]int
	for i := range f {
		hi, lo := v[2*i], v[2*i+1]
		if hi < '0' || hi > '9' || lo < '0' || lo > '9' {
			return time.Time{}, fmt.Errorf("%w: date/time %q is not MMDDHHMM", ErrMessage, v)
		}
		f[i] = int(hi-'0')*10 + int(lo-'0')
	}
	if f[0] < 1 || f[0] > 12 || f[1] < 1 || f[1] > 31 || f[2] > 23 || f[3] > 59 {
		return time.Time{}, fmt.Errorf("%w: date/time %q out of range", ErrMessage, v)
	}
	t := time.Date(0, time.Month(f[0]), f[1], f[2], f[3], 0, 0, time.UTC)
	if t.Day() != f[1] { // April 31st would roll over into May
		return time.Time{}, fmt.Errorf("%w: date/time %q: no such day", ErrMessage, v)
	}
	return t, nil
}
