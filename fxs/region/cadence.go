package region

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Cadence limits for ParseCadence.
const (
	MaxCadenceParts = 16
	MaxCadenceStep  = 60 * time.Second
)

// Cadence is a ring cadence: durations alternating on, off, on, off...,
// repeating from the start after the last off. A valid cadence has an even
// number (2 to MaxCadenceParts) of positive durations.
type Cadence []time.Duration

// ParseCadence parses seconds separated by commas, e.g. "0.4,0.2,0.4,2.0",
// to the millisecond.
func ParseCadence(s string) (Cadence, error) {
	if len(s) > 256 {
		return nil, fmt.Errorf("region: cadence of %d bytes is too long", len(s))
	}
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("region: empty cadence")
	}
	fields := strings.Split(s, ",")
	if len(fields) > MaxCadenceParts {
		return nil, fmt.Errorf("region: cadence %q has %d durations, more than %d", s, len(fields), MaxCadenceParts)
	}
	c := make(Cadence, len(fields))
	for i, f := range fields {
		f = strings.TrimSpace(f)
		sec, ok := parseSeconds(f)
		if !ok {
			return nil, fmt.Errorf("region: cadence %q: duration %d %q is not seconds (e.g. 0.4)", s, i+1, f)
		}
		c[i] = time.Duration(math.Round(sec*1000)) * time.Millisecond
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("region: cadence %q: %w", s, err)
	}
	return c, nil
}

// parseSeconds accepts digits[.digits] only (no signs, exponents, inf).
func parseSeconds(s string) (float64, bool) {
	if s == "" || len(s) > 12 {
		return 0, false
	}
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot && digits > 0 && i+1 < len(s):
			dot = true
		default:
			return 0, false
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

// Validate reports why c is not a usable cadence.
func (c Cadence) Validate() error {
	if len(c) < 2 || len(c)%2 != 0 || len(c) > MaxCadenceParts {
		return fmt.Errorf("want an even number (2 to %d) of on/off durations, have %d", MaxCadenceParts, len(c))
	}
	for i, d := range c {
		if d < time.Millisecond || d > MaxCadenceStep {
			return fmt.Errorf("duration %d is %v, want 1ms to %v", i+1, d, MaxCadenceStep)
		}
	}
	return nil
}

// String formats c as ParseCadence reads it.
func (c Cadence) String() string {
	parts := make([]string, len(c))
	for i, d := range c {
		parts[i] = strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
	}
	return strings.Join(parts, ",")
}

// Period returns the length of one repetition, 0 for an invalid cadence.
func (c Cadence) Period() time.Duration {
	if c.Validate() != nil {
		return 0
	}
	var p time.Duration
	for _, d := range c {
		p += d
	}
	return p
}

// locate returns the index of the step holding t (t >= 0) and the time,
// since the cadence started, at which that step ends.
func (c Cadence) locate(t time.Duration) (step int, end time.Duration) {
	period := c.Period()
	base := t - t%period
	end = base
	for i, d := range c {
		end += d
		if t < end {
			return i, end
		}
	}
	panic("unreachable: t%period < period")
}

// On reports whether the ringer is on at t since the cadence started.
// Before 0, and for an invalid cadence, it is off.
func (c Cadence) On(t time.Duration) bool {
	if t < 0 || c.Period() == 0 {
		return false
	}
	step, _ := c.locate(t)
	return step%2 == 0
}

// NextChange returns the first time after t at which On changes: 0 for
// t < 0 (ringing starts at 0), and math.MaxInt64 for an invalid cadence.
func (c Cadence) NextChange(t time.Duration) time.Duration {
	if c.Period() == 0 {
		return math.MaxInt64
	}
	if t < 0 {
		return 0
	}
	_, end := c.locate(t)
	return end
}

// FirstSilence returns when the first off period starts and how long it
// lasts: on-hook caller ID sent after the first ring must fit in it.
func (c Cadence) FirstSilence() (start, length time.Duration) {
	if c.Period() == 0 {
		return 0, 0
	}
	return c[0], c[1]
}
