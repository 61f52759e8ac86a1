// Package tone describes call-progress tones in the Asterisk indications.conf
// syntax and renders them into 8 kHz PCM without allocating per frame.
//
// A tone is a comma-separated list of parts, each [!]f1[+f2...][*fm][/ms]:
//
//	350+440                      continuous dual tone
//	480+620/500,0/500            0.5 s on, 0.5 s off, repeating
//	!350+440/100,!0/100,350+440  '!' parts play once, then the rest repeats
//	400*16/1000,0/2000           400 Hz amplitude-modulated (90 %) by 16 Hz
//
// "0" is silence, a part without /ms lasts forever (it must be the last
// part). Up to four frequencies may be summed (the receiver off-hook tone
// needs four). An optional "@level" suffix gives the level of each
// frequency component in dBm0, e.g. "480+620/500,0/500@-24"; without it a
// tone is at DefaultLevel.
package tone

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Limits on what Parse accepts; they bound memory for untrusted specs.
const (
	MaxFreqs   = 4    // frequency components summed in one part
	MaxParts   = 64   // parts in one tone
	MaxSpecLen = 2048 // bytes in one spec
	maxMillis  = 3600 * 1000
	nyquistHz  = 4000 // the PCM rate is 8 kHz
)

// Level limits in dBm0: a sine above +3.17 dBm0 clips in G.711, and below
// -60 dBm0 nobody hears a tone.
const (
	MinLevel = -60.0
	MaxLevel = 3.0
)

// DefaultLevel is the level, per frequency component, of a tone whose spec
// gives none (dBm0). National specs mostly sit between -10 and -20 dBm0;
// -13 is the North American dial tone level.
const DefaultLevel = -13.0

// ModDepth is the amplitude-modulation depth of an f1*fm part. Asterisk
// fixes it at 90 %, and so do we so that specs mean the same in both.
const ModDepth = 0.9

// Part is one segment of a tone.
type Part struct {
	// Freqs holds the component frequencies in Hz; the first NFreqs are used.
	Freqs  [MaxFreqs]float64
	NFreqs int // 0 for silence
	// ModHz is the modulating frequency of an f1*fm part, 0 for none.
	ModHz float64
	// Duration is how long the part plays; 0 means forever.
	Duration time.Duration
	// Once marks a '!' part: played on the first pass only.
	Once bool
}

// Silent reports whether the part is a pause.
func (p *Part) Silent() bool { return p.NFreqs == 0 }

// Frequencies returns the part's component frequencies (Hz).
func (p *Part) Frequencies() []float64 { return p.Freqs[:p.NFreqs] }

// Tone is a parsed tone spec.
type Tone struct {
	Parts []Part
	// Level is the nominal level of each frequency component in dBm0.
	Level float64
}

// RepeatFrom returns the index of the part the tone loops back to after its
// last part (the first part not marked '!'), or -1 if the tone plays once
// and ends.
func (t *Tone) RepeatFrom() int {
	for i := range t.Parts {
		if !t.Parts[i].Once {
			return i
		}
	}
	return -1
}

// MustParse is Parse for built-in tables: it panics on a bad spec.
func MustParse(spec string) Tone {
	t, err := Parse(spec)
	if err != nil {
		panic(err)
	}
	return t
}

// Parse parses a tone spec (see the package comment). Errors name the bad
// part by position (1-based) and text.
func Parse(spec string) (Tone, error) {
	if len(spec) > MaxSpecLen {
		return Tone{}, fmt.Errorf("tone: spec of %d bytes, longer than %d", len(spec), MaxSpecLen)
	}
	s := strings.TrimSpace(spec)
	t := Tone{Level: DefaultLevel}
	if body, lvl, ok := strings.Cut(s, "@"); ok {
		v, ok := parseDecimal(strings.TrimSpace(lvl), true)
		if !ok || v < MinLevel || v > MaxLevel {
			return Tone{}, fmt.Errorf("tone: bad level %q (want dBm0 from %g to %g)", lvl, MinLevel, MaxLevel)
		}
		t.Level = v
		s = strings.TrimSpace(body)
	}
	if s == "" {
		return Tone{}, errors.New("tone: empty spec")
	}
	if n := strings.Count(s, ",") + 1; n > MaxParts {
		return Tone{}, fmt.Errorf("tone: %d parts, more than %d", n, MaxParts)
	}
	raw := strings.Split(s, ",")
	t.Parts = make([]Part, 0, len(raw))
	for i, r := range raw {
		p, err := parsePart(strings.TrimSpace(r))
		if err != nil {
			return Tone{}, fmt.Errorf("tone: part %d %q: %w", i+1, r, err)
		}
		if p.Duration == 0 && i != len(raw)-1 {
			return Tone{}, fmt.Errorf("tone: part %d %q: lasts forever (no /ms) but is not the last part", i+1, r)
		}
		t.Parts = append(t.Parts, p)
	}
	return t, nil
}

func parsePart(s string) (Part, error) {
	var p Part
	if s == "" {
		return p, errors.New("empty part")
	}
	if s[0] == '!' {
		p.Once = true
		s = s[1:]
	}
	freqs, dur, hasDur := strings.Cut(s, "/")
	if hasDur {
		ms, ok := parseMillis(strings.TrimSpace(dur))
		if !ok {
			return p, fmt.Errorf("bad duration %q (want whole milliseconds, 1 to %d)", dur, maxMillis)
		}
		p.Duration = time.Duration(ms) * time.Millisecond
	}
	carriers, mod, hasMod := strings.Cut(freqs, "*")
	if strings.TrimSpace(carriers) == "0" && !hasMod {
		return p, nil // silence
	}
	for _, f := range strings.Split(carriers, "+") {
		f = strings.TrimSpace(f)
		v, ok := parseDecimal(f, false)
		if !ok || v <= 0 || v >= nyquistHz {
			if f == "0" {
				return p, errors.New(`bad frequency "0": silence must stand alone`)
			}
			return p, fmt.Errorf("bad frequency %q (want Hz, above 0 and below %d)", f, nyquistHz)
		}
		if p.NFreqs == MaxFreqs {
			return p, fmt.Errorf("more than %d frequencies", MaxFreqs)
		}
		p.Freqs[p.NFreqs] = v
		p.NFreqs++
	}
	if hasMod {
		mod = strings.TrimSpace(mod)
		v, ok := parseDecimal(mod, false)
		if !ok || v <= 0 {
			return p, fmt.Errorf("bad modulation frequency %q", mod)
		}
		for _, f := range p.Frequencies() {
			if f-v <= 0 || f+v >= nyquistHz {
				return p, fmt.Errorf("modulation %g Hz does not fit carrier %g Hz", v, f)
			}
		}
		p.ModHz = v
	}
	return p, nil
}

// parseMillis accepts a plain decimal integer from 1 to maxMillis.
func parseMillis(s string) (int, bool) {
	if s == "" || len(s) > 7 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n >= 1 && n <= maxMillis
}

// parseDecimal accepts [sign]digits[.digits] only: no exponents, hex, inf
// or underscores, so that every accepted value prints back the same way.
func parseDecimal(s string, signed bool) (float64, bool) {
	if len(s) == 0 || len(s) > 16 {
		return 0, false
	}
	i := 0
	if signed && (s[0] == '-' || s[0] == '+') {
		i++
	}
	digits, dot := 0, false
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot && digits > 0 && i+1 < len(s):
			dot = true
		default:
			return 0, false
		}
	}
	if digits == 0 {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// String returns the spec; Parse(t.String()) gives t back for any parsed t.
// The level is written only when it differs from DefaultLevel.
func (t Tone) String() string {
	var b strings.Builder
	for i := range t.Parts {
		if i > 0 {
			b.WriteByte(',')
		}
		p := &t.Parts[i]
		if p.Once {
			b.WriteByte('!')
		}
		if p.Silent() {
			b.WriteByte('0')
		}
		for k, f := range p.Frequencies() {
			if k > 0 {
				b.WriteByte('+')
			}
			b.WriteString(formatFloat(f))
		}
		if p.ModHz > 0 && !p.Silent() {
			b.WriteByte('*')
			b.WriteString(formatFloat(p.ModHz))
		}
		if p.Duration > 0 {
			b.WriteByte('/')
			b.WriteString(strconv.FormatInt(int64((p.Duration+time.Millisecond/2)/time.Millisecond), 10))
		}
	}
	if t.Level != DefaultLevel {
		b.WriteByte('@')
		b.WriteString(formatFloat(t.Level))
	}
	return b.String()
}
