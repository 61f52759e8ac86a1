package region

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

const ms = time.Millisecond

func TestParseCadence(t *testing.T) {
	for spec, want := range map[string]Cadence{
		"0.4,0.2,0.4,2.0": {400 * ms, 200 * ms, 400 * ms, 2000 * ms},
		" 2 , 4 ":         {2 * time.Second, 4 * time.Second},
		"1.5,3.5":         {1500 * ms, 3500 * ms},
		"0.001,60":        {ms, 60 * time.Second},
		"0.0004,1":        nil, // rounds to 0 ms
	} {
		got, err := ParseCadence(spec)
		if want == nil {
			if err == nil {
				t.Errorf("ParseCadence(%q) = %v, want error", spec, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ParseCadence(%q) = %v, %v; want %v", spec, got, err, want)
			continue
		}
		back, err := ParseCadence(got.String())
		if err != nil || !slices.Equal(back, got) {
			t.Errorf("round trip %q -> %q: %v, %v", spec, got.String(), back, err)
		}
	}
}

func TestParseCadenceErrors(t *testing.T) {
	for spec, wantErr := range map[string]string{
		"":                             "region: empty cadence",
		"2":                            `region: cadence "2": want an even number (2 to 16) of on/off durations, have 1`,
		"0.4,0.2,0.4":                  "have 3",
		"0,4":                          `region: cadence "0,4": duration 1 is 0s, want 1ms to 1m0s`,
		"2,61":                         "duration 2 is 1m1s",
		"2,-4":                         `region: cadence "2,-4": duration 2 "-4" is not seconds (e.g. 0.4)`,
		"2,4s":                         `duration 2 "4s" is not seconds`,
		"1e1,2":                        `duration 1 "1e1" is not seconds`,
		"2,,4,1":                       `duration 2 "" is not seconds`,
		".5,1":                         `duration 1 ".5" is not seconds`,
		"inf,1":                        `duration 1 "inf" is not seconds`,
		strings.Repeat("1,", 17) + "1": "more than 16",
		strings.Repeat("1", 300):       "too long",
	} {
		_, err := ParseCadence(spec)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("ParseCadence(%q) error %v, want %q", spec, err, wantErr)
		}
	}
}

func TestCadenceKnownValues(t *testing.T) {
	us, uk := regions["us"].Ring, regions["uk"].Ring
	s := time.Second
	for _, c := range []struct {
		name string
		c    Cadence
		at   time.Duration
		on   bool
		next time.Duration
	}{
		{"us", us, -5 * ms, false, 0},
		{"us", us, 0, true, 2 * s},
		{"us", us, 2*s - 1, true, 2 * s},
		{"us", us, 2 * s, false, 6 * s},
		{"us", us, 6*s - 1, false, 6 * s},
		{"us", us, 6 * s, true, 8 * s},
		{"us", us, 63 * s, false, 66 * s},
		{"uk", uk, 300 * ms, true, 400 * ms},
		{"uk", uk, 500 * ms, false, 600 * ms},
		{"uk", uk, 700 * ms, true, 1000 * ms},
		{"uk", uk, 1100 * ms, false, 3000 * ms},
		{"uk", uk, 3100 * ms, true, 3400 * ms},
	} {
		if on := c.c.On(c.at); on != c.on {
			t.Errorf("%s On(%v) = %v, want %v", c.name, c.at, on, c.on)
		}
		if next := c.c.NextChange(c.at); next != c.next {
			t.Errorf("%s NextChange(%v) = %v, want %v", c.name, c.at, next, c.next)
		}
	}
	for code, want := range map[string][2]time.Duration{
		"us": {2 * s, 4 * s}, "uk": {400 * ms, 200 * ms}, "de": {s, 4 * s}, "fr": {1500 * ms, 3500 * ms},
	} {
		start, length := regions[code].Ring.FirstSilence()
		if start != want[0] || length != want[1] {
			t.Errorf("%s FirstSilence = %v, %v; want %v, %v", code, start, length, want[0], want[1])
		}
	}
}

// TestCadenceEveryRegion checks On and NextChange against boundaries summed
// independently, over three periods of every region's ring cadence.
func TestCadenceEveryRegion(t *testing.T) {
	for _, code := range Codes() {
		c := regions[code].Ring
		var sum time.Duration
		for _, d := range c {
			sum += d
		}
		if c.Period() != sum {
			t.Errorf("%s: Period %v, want %v", code, c.Period(), sum)
		}
		var bounds []time.Duration // times at which the ringer flips
		var at time.Duration
		for range 3 {
			for _, d := range c {
				at += d
				bounds = append(bounds, at)
			}
		}
		for tt := -10 * ms; tt < at; tt += ms {
			i, _ := slices.BinarySearch(bounds, tt+1) // first bound > tt
			wantOn := tt >= 0 && i%2 == 0
			wantNext := bounds[i]
			if tt < 0 {
				wantNext = 0
			}
			if got := c.On(tt); got != wantOn {
				t.Fatalf("%s On(%v) = %v, want %v", code, tt, got, wantOn)
			}
			if got := c.NextChange(tt); got != wantNext {
				t.Fatalf("%s NextChange(%v) = %v, want %v", code, tt, got, wantNext)
			}
			if n := c.NextChange(tt); c.On(n) == c.On(tt) || c.On(n-1) != c.On(tt) {
				t.Fatalf("%s: On does not flip exactly at NextChange(%v) = %v", code, tt, n)
			}
		}
	}
}

func TestCadenceInvalidNeverRings(t *testing.T) {
	for _, c := range []Cadence{nil, {time.Second}, {time.Second, 0}, {-time.Second, time.Second}} {
		if c.On(500*ms) || c.Period() != 0 || c.NextChange(0) != math.MaxInt64 || c.Validate() == nil {
			t.Errorf("invalid cadence %v rings or validates", c)
		}
		if s, l := c.FirstSilence(); s != 0 || l != 0 {
			t.Errorf("invalid cadence %v has a first silence", c)
		}
	}
}

func FuzzParseCadence(f *testing.F) {
	for _, s := range []string{"0.4,0.2,0.4,2.0", "2,4", "1,4", "1.5,3.5", "0.001,60", "", "1", "1,2,3", "0,1", ".5,1", "1,2,1,2,1,2,1,2,1,2,1,2,1,2,1,2"} {
		f.Add(s, int64(1234567890))
	}
	f.Fuzz(func(t *testing.T, s string, at int64) {
		c, err := ParseCadence(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "region: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("ParseCadence(%q) returned an invalid cadence: %v", s, err)
		}
		back, err := ParseCadence(c.String())
		if err != nil || !slices.Equal(back, c) {
			t.Fatalf("round trip %q -> %q: %v, %v", s, c.String(), back, err)
		}
		tt := time.Duration(at)
		n := c.NextChange(tt)
		if n <= tt && tt >= 0 || n-tt > c.Period() && tt >= 0 {
			t.Fatalf("NextChange(%v) = %v for period %v", tt, n, c.Period())
		}
		if tt >= 0 && c.On(n) == c.On(tt) {
			t.Fatalf("On does not change at NextChange(%v) = %v", tt, n)
		}
	})
}
