// Package region holds per-country analog line data: call-progress tones
// and their levels, ring cadence and frequency, and the caller ID method.
// Values come from ITU-T E.180 Supplement 2 as carried by Asterisk's
// indications.conf, cross-checked with national sources noted in data.go.
package region

import (
	"fmt"
	"slices"
	"strings"

	"github.com/openata/ata/fxs/tone"
)

// Caller ID methods, as Region.CallerID names them.
const (
	// CallerIDBell202 is Bellcore GR-30 FSK (1200/2200 Hz) between the
	// first and second ring.
	CallerIDBell202 = "bell202"
	// CallerIDETSIFSK is ETSI EN 300 659-1 V.23 FSK (1300/2100 Hz) after
	// the first ring.
	CallerIDETSIFSK = "etsi-fsk"
	// CallerIDETSIFSKDTAS is V.23 FSK before ringing, announced by a line
	// reversal and the DT-AS dual tone (BT SIN 227).
	CallerIDETSIFSKDTAS = "etsi-fsk-dtas"
	// CallerIDDTMF is DTMF digits (e.g. A<number>C) before the first ring.
	CallerIDDTMF = "dtmf"
	// CallerIDNone sends no caller ID.
	CallerIDNone = "none"
)

// Region is one country's line data. Each tone carries its own level
// (tone.Tone.Level, dBm0 per frequency component).
type Region struct {
	Code, Name string
	Tones      [NumKinds]tone.Tone
	Ring       Cadence
	RingHz     float64
	CallerID   string
}

// Tone returns the region's tone of kind k, or nil for an unknown kind.
func (r *Region) Tone(k Kind) *tone.Tone {
	if k < 0 || k >= NumKinds {
		return nil
	}
	return &r.Tones[k]
}

// Lookup returns a copy of the region with the given code (e.g. "de", any
// case), which the caller may modify (config overrides).
func Lookup(code string) (*Region, error) {
	r, ok := regions[strings.ToLower(strings.TrimSpace(code))]
	if !ok {
		return nil, fmt.Errorf("region: unknown code %q (known: %s)", code, strings.Join(Codes(), ", "))
	}
	c := *r
	for k := range c.Tones {
		c.Tones[k].Parts = slices.Clone(c.Tones[k].Parts)
	}
	c.Ring = slices.Clone(c.Ring)
	return &c, nil
}

// Codes returns the known region codes, sorted.
func Codes() []string {
	codes := make([]string, 0, len(regions))
	for c := range regions {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	return codes
}
