package region

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/openata/ata/board/pcm"
	"github.com/openata/ata/fxs/tone"
)

const rate = 8000

func TestCodes(t *testing.T) {
	codes := Codes()
	if !slices.IsSorted(codes) {
		t.Errorf("Codes() not sorted: %v", codes)
	}
	for _, c := range []string{"us", "uk", "de", "fr", "nl", "it", "es", "au", "jp", "ca", "at", "ch", "se", "dk", "be", "in", "br"} {
		if !slices.Contains(codes, c) {
			t.Errorf("region %q missing", c)
		}
	}
}

func TestLookup(t *testing.T) {
	r, err := Lookup(" DE ")
	if err != nil || r.Code != "de" || r.Name != "Germany" {
		t.Fatalf("Lookup(DE) = %+v, %v", r, err)
	}
	// The result is the caller's: changing it leaves the table alone.
	r.Tones[Dial].Parts[0].Freqs[0] = 1000
	r.Ring[0] = 0
	again, _ := Lookup("de")
	if again.Tone(Dial).Parts[0].Freqs[0] != 425 || again.Ring[0] != ms*1000 {
		t.Error("modifying a looked-up region changed the table")
	}
	_, err = Lookup("xx")
	want := `region: unknown code "xx" (known: ` + strings.Join(Codes(), ", ") + ")"
	if err == nil || err.Error() != want {
		t.Errorf("Lookup(xx) error %v, want %q", err, want)
	}
}

func TestKinds(t *testing.T) {
	for k := Kind(0); k < NumKinds; k++ {
		got, err := ParseKind(strings.ToUpper(k.String()))
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.String(), got, err)
		}
	}
	if regions["us"].Tone(NumKinds) != nil || regions["us"].Tone(-1) != nil {
		t.Error("Tone of an unknown kind is not nil")
	}
	if CallWaiting.String() != "call-waiting" || ReceiverOffHook.String() != "receiver-off-hook" || Kind(99).String() != "Kind(99)" {
		t.Error("Kind.String names")
	}
	if _, err := ParseKind("howler"); err == nil || !strings.Contains(err.Error(), "known: dial, ringback, busy") {
		t.Errorf("ParseKind(howler) error %v", err)
	}
}

func TestRegionLineData(t *testing.T) {
	known := []string{CallerIDBell202, CallerIDETSIFSK, CallerIDETSIFSKDTAS, CallerIDDTMF, CallerIDNone}
	for _, code := range Codes() {
		r := regions[code]
		if !slices.Contains(known, r.CallerID) {
			t.Errorf("%s: caller ID %q unknown", code, r.CallerID)
		}
		if r.RingHz < 15 || r.RingHz > 50 {
			t.Errorf("%s: ring frequency %g Hz", code, r.RingHz)
		}
	}
	for code, want := range map[string]string{
		"us": "bell202", "ca": "bell202", "uk": "etsi-fsk-dtas", "de": "etsi-fsk",
		"nl": "dtmf", "dk": "dtmf", "se": "dtmf", "be": "dtmf", "in": "dtmf", "br": "dtmf",
	} {
		if got := regions[code].CallerID; got != want {
			t.Errorf("%s: caller ID %q, want %q", code, got, want)
		}
	}
	for code, want := range map[string]string{"us": "2,4", "uk": "0.4,0.2,0.4,2", "de": "1,4", "jp": "1,2"} {
		if got := regions[code].Ring.String(); got != want {
			t.Errorf("%s: ring cadence %s, want %s", code, got, want)
		}
	}
	for code, want := range map[string]float64{"us": 20, "uk": 25, "de": 25, "jp": 16} {
		if got := regions[code].RingHz; got != want {
			t.Errorf("%s: ring %g Hz, want %g", code, got, want)
		}
	}
}

// seg is a stretch of the expected timeline: samples [start, end) play part.
type seg struct {
	start, end int
	part       *tone.Part
}

// schedule walks the tone's parts as the indications.conf rules say
// ('!' parts once, then loop from the first other part) for n samples.
func schedule(tn *tone.Tone, n int) []seg {
	var out []seg
	silence := &tone.Part{}
	at, i := 0, 0
	for at < n {
		if i < 0 {
			return append(out, seg{at, n, silence})
		}
		p := &tn.Parts[i]
		end := n
		if p.Duration > 0 {
			end = min(n, at+int(p.Duration.Milliseconds())*rate/1000)
		}
		out = append(out, seg{at, end, p})
		at = end
		if i++; i == len(tn.Parts) {
			i = tn.RepeatFrom()
		}
	}
	return out
}

// onIntervals merges adjacent sounding segments into [start, end) pairs.
func onIntervals(segs []seg) (iv [][2]int) {
	for _, s := range segs {
		switch {
		case s.part.Silent():
		case len(iv) > 0 && iv[len(iv)-1][1] == s.start:
			iv[len(iv)-1][1] = s.end
		default:
			iv = append(iv, [2]int{s.start, s.end})
		}
	}
	return iv
}

// measureOn finds where the audio sounds: samples above 1 % of the peak,
// with gaps shorter than 4 ms (beat nulls, zero crossings) bridged.
func measureOn(x []int16) (iv [][2]int) {
	var peak float64
	for _, v := range x {
		peak = max(peak, math.Abs(float64(v)))
	}
	thr := max(2, 0.01*peak)
	const bridge = 32
	for i, v := range x {
		if math.Abs(float64(v)) < thr {
			continue
		}
		if len(iv) > 0 && i-iv[len(iv)-1][1] <= bridge {
			iv[len(iv)-1][1] = i + 1
		} else {
			iv = append(iv, [2]int{i, i + 1})
		}
	}
	return iv
}

type component struct{ hz, level float64 }

// components lists the sinusoids a part should contain: its frequencies
// at the tone level, plus the AM sidebands of an f*fm part.
func components(p *tone.Part, level float64) (cs []component) {
	side := level + 20*math.Log10(tone.ModDepth/2)
	for _, f := range p.Frequencies() {
		cs = append(cs, component{f, level})
		if p.ModHz > 0 {
			cs = append(cs, component{f - p.ModHz, side}, component{f + p.ModHz, side})
		}
	}
	return cs
}

// fit is a least-squares DFT: it fits a·cos + b·sin at each frequency
// (sample index n0.. as time) to x and returns the coefficients and the
// fraction of x's energy the fit leaves unexplained. Unlike single DFT
// bins it separates components closer than 1/window (413+438 Hz in 47 ms).
func fit(x []int16, n0 int, hz []float64) (a, b []float64, residual float64) {
	m := 2 * len(hz)
	ata := make([][]float64, m)
	for i := range ata {
		ata[i] = make([]float64, m+1) // augmented with Aᵀx
	}
	row := make([]float64, m)
	basis := func(n int) {
		for k, f := range hz {
			ph := 2 * math.Pi * f * float64(n0+n) / rate
			row[2*k], row[2*k+1] = math.Cos(ph), math.Sin(ph)
		}
	}
	var energy float64
	for n, v := range x {
		basis(n)
		for i := range m {
			for j := range m {
				ata[i][j] += row[i] * row[j]
			}
			ata[i][m] += row[i] * float64(v)
		}
		energy += float64(v) * float64(v)
	}
	// Gauss-Jordan with partial pivoting.
	for c := range m {
		p := c
		for r := c + 1; r < m; r++ {
			if math.Abs(ata[r][c]) > math.Abs(ata[p][c]) {
				p = r
			}
		}
		ata[c], ata[p] = ata[p], ata[c]
		for r := range m {
			if r != c {
				f := ata[r][c] / ata[c][c]
				for j := c; j <= m; j++ {
					ata[r][j] -= f * ata[c][j]
				}
			}
		}
	}
	coef := make([]float64, m)
	for i := range m {
		coef[i] = ata[i][m] / ata[i][i]
	}
	var res float64
	for n, v := range x {
		basis(n)
		var y float64
		for i := range m {
			y += coef[i] * row[i]
		}
		res += (float64(v) - y) * (float64(v) - y)
	}
	for k := range hz {
		a, b = append(a, coef[2*k]), append(b, coef[2*k+1])
	}
	return a, b, res / energy
}

// measureFreqs estimates each component's true frequency from how its
// fitted phase drifts across consecutive sub-windows.
func measureFreqs(x []int16, n0 int, hz []float64) []float64 {
	minSep := math.Inf(1)
	for i := range hz {
		for j := i + 1; j < len(hz); j++ {
			minSep = min(minSep, math.Abs(hz[i]-hz[j]))
		}
	}
	L := len(x) / 2
	if want := max(400, int(2*rate/minSep)); want < L {
		L = want
	}
	var centers []float64
	phases := make([][]float64, len(hz))
	for w := 0; w+L <= len(x); w += L {
		a, b, _ := fit(x[w:w+L], n0+w, hz)
		centers = append(centers, float64(w+L/2))
		for k := range hz {
			ph := math.Atan2(b[k], a[k]) // signal ≈ A cos(ωn − ph)
			if m := len(phases[k]); m > 0 {
				for ph-phases[k][m-1] > math.Pi {
					ph -= 2 * math.Pi
				}
				for ph-phases[k][m-1] < -math.Pi {
					ph += 2 * math.Pi
				}
			}
			phases[k] = append(phases[k], ph)
		}
	}
	out := make([]float64, len(hz))
	for k := range hz {
		// Least-squares slope of phase against time; a frequency above
		// nominal makes the fitted phase fall.
		var mx, my float64
		for i := range centers {
			mx += centers[i]
			my += phases[k][i]
		}
		mx /= float64(len(centers))
		my /= float64(len(centers))
		var sxy, sxx float64
		for i := range centers {
			sxy += (centers[i] - mx) * (phases[k][i] - my)
			sxx += (centers[i] - mx) * (centers[i] - mx)
		}
		out[k] = hz[k] - sxy/sxx*rate/(2*math.Pi)
	}
	return out
}

// TestRegionTonesByAudio plays every tone of every region for 10 s through
// tone.Player in 20 ms frames and checks, from the samples alone, the
// on/off cadence (±5 ms), the frequencies (±2 Hz), the level of each
// component (±0.5 dB) and that nothing else is in the signal.
func TestRegionTonesByAudio(t *testing.T) {
	const n = 10 * rate
	const edge = tone.RampSamples + 8 // keep fades out of spectral windows
	for _, code := range Codes() {
		r := regions[code]
		for k := Kind(0); k < NumKinds; k++ {
			name := fmt.Sprintf("%s/%v", code, k)
			tn := r.Tone(k)
			var p tone.Player
			p.Play(tn, tn.Level)
			x := make([]int16, n)
			for i := 0; i < n; i += 160 {
				p.Fill(x[i : i+160])
			}
			segs := schedule(tn, n)

			want, got := onIntervals(segs), measureOn(x)
			if len(want) != len(got) {
				t.Errorf("%s: %d sounding stretches in the audio, want %d (%v vs %v)", name, len(got), len(want), got, want)
				continue
			}
			for i := range want {
				if abs(got[i][0]-want[i][0]) > 40 || abs(got[i][1]-want[i][1]) > 40 {
					t.Errorf("%s: sound %d at %.1f-%.1f ms, want %.1f-%.1f ms", name, i,
						ms8(got[i][0]), ms8(got[i][1]), ms8(want[i][0]), ms8(want[i][1]))
				}
			}

			// Spectrum: the longest occurrence of each distinct part.
			longest := map[string]seg{}
			for _, s := range segs {
				key := fmt.Sprint(s.part.Frequencies(), s.part.ModHz)
				if !s.part.Silent() && s.end-s.start > longest[key].end-longest[key].start {
					longest[key] = s
				}
			}
			for _, s := range longest {
				from, to := s.start+edge, min(s.end-edge, s.start+edge+4000)
				win := x[from:to]
				cs := components(s.part, tn.Level)
				hz := make([]float64, len(cs))
				for i, c := range cs {
					hz[i] = c.hz
				}
				a, b, residual := fit(win, from, hz)
				if residual > 1e-4 {
					t.Errorf("%s %v: %.1f dB of the signal is not at %v Hz", name, s.part.Frequencies(), 10*math.Log10(residual), hz)
				}
				for i, c := range cs {
					if lvl := pcm.Level(math.Hypot(a[i], b[i])); math.Abs(lvl-c.level) > 0.5 {
						t.Errorf("%s: %g Hz at %.2f dBm0, want %.2f", name, c.hz, lvl, c.level)
					}
				}
				for i, f := range measureFreqs(win, from, hz) {
					if math.Abs(f-hz[i]) > 2 {
						t.Errorf("%s: component measured at %.2f Hz, want %g ± 2", name, f, hz[i])
					}
				}
			}
		}
	}
}

func abs(v int) int { return max(v, -v) }

func ms8(samples int) float64 { return float64(samples) / 8 }
