package callerid

import (
	"errors"
	"math"
	"testing"
)

// Keypad frequencies (ITU-T Q.23), written out here rather than taken
// from pcm so the test checks the synthesis against the standard.
var (
	rowHz  = [4]float64{697, 770, 852, 941}
	colHz  = [4]float64{1209, 1336, 1477, 1633}
	keypad = [4][4]byte{
		{'1', '2', '3', 'A'},
		{'4', '5', '6', 'B'},
		{'7', '8', '9', 'C'},
		{'*', '0', '#', 'D'},
	}
)

type burst struct {
	key           byte
	start, end    int // samples
	lowDB, hiDB   float64
	twistMarginDB float64 // strongest row/column over the runner-up
}

// decodeDTMF splits x into tone bursts by 5 ms block energy and names each
// burst's key by the strongest row and column Goertzel bins.
func decodeDTMF(t *testing.T, x []int16) []burst {
	t.Helper()
	const block = 40 // 5 ms
	var bursts []burst
	start := -1
	flush := func(end int) {
		seg := x[start:end]
		r, rLvl, rNext := strongest(seg, rowHz[:])
		c, cLvl, cNext := strongest(seg, colHz[:])
		bursts = append(bursts, burst{
			key: keypad[r][c], start: start, end: end, lowDB: rLvl, hiDB: cLvl,
			twistMarginDB: min(rLvl-rNext, cLvl-cNext),
		})
		start = -1
	}
	for i := 0; i+block <= len(x); i += block {
		loud := rms(x[i:i+block]) > 100
		switch {
		case loud && start < 0:
			start = i
		case !loud && start >= 0:
			flush(i)
		}
	}
	if start >= 0 {
		flush(len(x) - len(x)%block)
	}
	return bursts
}

func strongest(seg []int16, freqs []float64) (idx int, best, next float64) {
	best, next = math.Inf(-1), math.Inf(-1)
	for i, f := range freqs {
		l := toneLevel(seg, f)
		switch {
		case l > best:
			next, best, idx = best, l, i
		case l > next:
			next = l
		}
	}
	return idx, best, next
}

func TestDTMFCallerID(t *testing.T) {
	tests := []struct {
		info Info
		want string
	}{
		{Info{Number: "0201234567"}, "A0201234567C"},
		{Info{Number: "4589"}, "A4589C"},
		{Info{NumberAbsent: 'P'}, "B10C"},
		{Info{NumberAbsent: 'O'}, "B00C"},
		{Info{}, "B00C"},
	}
	const level = DefaultDTMFLevel
	for _, tt := range tests {
		digits, err := DTMFDigits(tt.info)
		if err != nil || digits != tt.want {
			t.Errorf("DTMFDigits(%+v) = %q, %v; want %q", tt.info, digits, err, tt.want)
		}
		x := mustRender(t, DTMF, tt.info, level)
		if want := len(tt.want)*560 + (len(tt.want)-1)*560; len(x) != want {
			t.Errorf("%q: %d samples, want %d (70 ms on, 70 ms off)", tt.want, len(x), want)
		}
		bursts := decodeDTMF(t, x)
		var got []byte
		for i, b := range bursts {
			got = append(got, b.key)
			if d := b.end - b.start; d < 520 || d > 600 {
				t.Errorf("%q key %d (%c) lasts %d samples, want ~560 (70 ms)", tt.want, i, b.key, d)
			}
			if i > 0 {
				if gap := b.start - bursts[i-1].end; gap < 520 || gap > 600 {
					t.Errorf("%q: gap of %d samples before key %d, want ~560", tt.want, gap, i)
				}
			}
			if math.Abs(b.lowDB-level) > 0.5 || math.Abs(b.hiDB-level) > 0.5 {
				t.Errorf("%q key %c at %.1f/%.1f dBm0, want %.1f each", tt.want, b.key, b.lowDB, b.hiDB, level)
			}
			if b.twistMarginDB < 20 {
				t.Errorf("%q key %c: other keypad tones only %.1f dB down", tt.want, b.key, b.twistMarginDB)
			}
		}
		if string(got) != tt.want {
			t.Errorf("Goertzel decoded %q, want %q", got, tt.want)
		}
	}
}

func TestDTMFRejects(t *testing.T) {
	for _, info := range []Info{
		{Number: "123456789012345678901"},
		{Number: "12#3"},
		{Number: "1", Name: "X"},
		{NumberAbsent: 'Q'},
	} {
		if _, err := Render(DTMF, info, DefaultDTMFLevel); !errors.Is(err, ErrInvalidInfo) {
			t.Errorf("Render(dtmf, %+v) error %v, want ErrInvalidInfo", info, err)
		}
	}
}
