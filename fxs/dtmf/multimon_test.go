package dtmf

import (
	"fmt"
	"github.com/openata/ata/fxs/dtmf/multimontest"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openata/ata/board/pcm"
)

// soxCase is one test signal made by sox: the same file is fed to our
// detector and to multimon-ng, an independent decoder.
type soxCase struct {
	name string
	keys string // one burst per key
	// Per tone: level in dBm0 and relative frequency error.
	lowDB, highDB   float64
	lowErr, highErr float64
	onMS            float64 // burst length
	gapMS           float64 // if > 0, the burst is cut by an interruption this long in its middle
	snrDB           float64 // if > 0, white noise this far below the pair's power
	detect          bool    // Q.24 says this must be detected (else rejected)
	// multimonDiffers says why multimon-ng is not held to agree with us
	// (and with Q.24) on this case; empty means it must agree.
	multimonDiffers string
}

// multimon-ng's DTMF decoder (demod_dtmf.c) correlates 10 ms blocks at the
// eight nominal frequencies, sums the last four blocks (40 ms, a
// rectangular window with nulls 25 Hz off centre), needs each group's
// other bins 10 dB below its peak and the pair to hold 40 % of the energy,
// and prints a digit whenever its 10 ms verdict changes. So it has no
// minimum duration and no bridging of breaks, its 40 ms window loses a
// ±1.5 % tone, and a tone 8 dB weaker than the other group's drowns in that
// tone's sidelobes. Those Q.24 cases are logged, not compared.
const (
	mmNarrow   = "its 40 ms window loses a ±1.5 % tone (and flickers at ±1 %)"
	mmTwist    = "its 40 ms window's sidelobes hide a tone 8 dB under the other"
	mmNoBridge = "it reports a digit again after any break"
	mmNoMinDur = "it has no minimum duration"
)

// Mitel's receiver tests use the diagonal keys 1 5 9 D: every row and
// every column once.
const diagonal = "159D"

var soxCases = []soxCase{
	{name: "all keys", keys: pcm.DTMFKeys, lowDB: -10, highDB: -8, onMS: 50, detect: true},
	{name: "freq +1.5/+1.5%", keys: diagonal, lowDB: -10, highDB: -10, lowErr: .015, highErr: .015, onMS: 50, detect: true, multimonDiffers: mmNarrow},
	{name: "freq -1.5/-1.5%", keys: diagonal, lowDB: -10, highDB: -10, lowErr: -.015, highErr: -.015, onMS: 50, detect: true, multimonDiffers: mmNarrow},
	{name: "freq +1.5/-1.5%", keys: diagonal, lowDB: -10, highDB: -10, lowErr: .015, highErr: -.015, onMS: 50, detect: true, multimonDiffers: mmNarrow},
	{name: "freq -1.5/+1.5%", keys: diagonal, lowDB: -10, highDB: -10, lowErr: -.015, highErr: .015, onMS: 50, detect: true, multimonDiffers: mmNarrow},
	{name: "freq +0.5/-0.5%", keys: diagonal, lowDB: -10, highDB: -10, lowErr: .005, highErr: -.005, onMS: 50, detect: true},
	{name: "freq -0.5/+0.5%", keys: diagonal, lowDB: -10, highDB: -10, lowErr: -.005, highErr: .005, onMS: 50, detect: true},
	{name: "reverse twist 4 dB", keys: diagonal, lowDB: -10, highDB: -6, onMS: 50, detect: true},
	{name: "normal twist 8 dB", keys: diagonal, lowDB: -6, highDB: -14, onMS: 50, detect: true, multimonDiffers: mmTwist},
	{name: "normal twist 3 dB", keys: diagonal, lowDB: -6, highDB: -9, onMS: 50, detect: true},
	{name: "40 ms", keys: pcm.DTMFKeys, lowDB: -10, highDB: -8, onMS: 40, detect: true},
	{name: "10 ms interruption", keys: diagonal, lowDB: -10, highDB: -8, onMS: 110, gapMS: 10, detect: true, multimonDiffers: mmNoBridge},
	{name: "-3 dBm0 per tone", keys: diagonal, lowDB: -3, highDB: -3, onMS: 50, detect: true},
	{name: "-28 dBm0 per tone", keys: diagonal, lowDB: -28, highDB: -28, onMS: 50, detect: true},
	{name: "15 dB SNR", keys: pcm.DTMFKeys, lowDB: -10, highDB: -10, onMS: 50, snrDB: 15, detect: true},

	{name: "freq low +3.5%", keys: diagonal, lowDB: -10, highDB: -10, lowErr: .035, onMS: 50},
	{name: "freq low -3.5%", keys: diagonal, lowDB: -10, highDB: -10, lowErr: -.035, onMS: 50},
	{name: "freq high +3.5%", keys: diagonal, lowDB: -10, highDB: -10, highErr: .035, onMS: 50},
	{name: "freq high -3.5%", keys: diagonal, lowDB: -10, highDB: -10, highErr: -.035, onMS: 50},
	{name: "reverse twist 6 dB", keys: diagonal, lowDB: -12, highDB: -6, onMS: 50},
	{name: "normal twist 10 dB", keys: diagonal, lowDB: -6, highDB: -16, onMS: 50},
	{name: "23 ms", keys: pcm.DTMFKeys, lowDB: -10, highDB: -8, onMS: 23, multimonDiffers: mmNoMinDur},
}

// make writes the case as an 8 kHz WAV in dir and returns its path.
func (c soxCase) make(t *testing.T, dir string) string {
	t.Helper()
	slug := strings.NewReplacer(" ", "_", "/", "_", "%", "", "+", "p").Replace(c.name)
	silence := filepath.Join(dir, "silence.wav")
	if _, err := os.Stat(silence); err != nil {
		run(t, "sox", "-n", "-r", "8000", "-b", "16", "-c", "1", "-e", "signed", silence, "trim", "0", "0.06")
	}
	// Peak amplitude of a synth sine is full scale; remix scales each tone.
	vol := func(dB float64) string { return fmt.Sprintf("%.6f", pcm.Amplitude(dB)/32767) }
	parts := []string{silence}
	for i := range len(c.keys) {
		lf, hf, _ := pcm.DTMFFrequencies(c.keys[i])
		tone := func(name string, sec float64) string {
			p := filepath.Join(dir, fmt.Sprintf("%s_%d_%s.wav", slug, i, name))
			run(t, "sox", "-n", "-r", "8000", "-b", "16", "-c", "1", "-e", "signed", p,
				"synth", fmt.Sprintf("%.4f", sec),
				"sine", fmt.Sprintf("%.3f", lf*(1+c.lowErr)), "sine", fmt.Sprintf("%.3f", hf*(1+c.highErr)),
				"remix", fmt.Sprintf("1v%s,2v%s", vol(c.lowDB), vol(c.highDB)))
			return p
		}
		if c.gapMS > 0 {
			half := (c.onMS - c.gapMS) / 2000
			gap := filepath.Join(dir, fmt.Sprintf("%s_%d_gap.wav", slug, i))
			run(t, "sox", "-n", "-r", "8000", "-b", "16", "-c", "1", "-e", "signed", gap, "trim", "0", fmt.Sprintf("%.4f", c.gapMS/1000))
			parts = append(parts, tone("a", half), gap, tone("b", half), silence)
		} else {
			parts = append(parts, tone("a", c.onMS/1000), silence)
		}
	}
	out := filepath.Join(dir, slug+".wav")
	run(t, "sox", append(parts, out)...)
	if c.snrDB == 0 {
		return out
	}
	// White noise from sox's repeatable generator, scaled so that the
	// pair's power is snrDB above the noise's.
	x := readWAV(t, out)
	noise := filepath.Join(dir, slug+"_noise.wav")
	run(t, "sox", "-R", "-n", "-r", "8000", "-b", "16", "-c", "1", "-e", "signed", noise,
		"synth", fmt.Sprintf("%.4f", float64(len(x))/sampleRate), "whitenoise", "vol", "0.1")
	pairPower := math.Pow(pcm.Amplitude(c.lowDB), 2)/2 + math.Pow(pcm.Amplitude(c.highDB), 2)/2
	noisePower := meanPower(readWAV(t, noise))
	scale := math.Sqrt(pairPower / noisePower / math.Pow(10, c.snrDB/10))
	noisy := filepath.Join(dir, slug+"_noisy.wav")
	run(t, "sox", "-m", "-v", "1", out, "-v", fmt.Sprintf("%.6f", scale), noise, noisy)
	got := 10 * math.Log10(pairPower/meanPower(diff(readWAV(t, noisy), x)))
	if math.Abs(got-c.snrDB) > 0.3 {
		t.Fatalf("%s: made %.2f dB SNR, want %v", c.name, got, c.snrDB)
	}
	return noisy
}

func meanPower(x []int16) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return s / float64(len(x))
}

func diff(a, b []int16) []int16 {
	d := make([]int16, min(len(a), len(b)))
	for i := range d {
		d[i] = a[i] - b[i]
	}
	return d
}

func TestAgainstMultimon(t *testing.T) {
	needTool(t, "sox")
	needTool(t, "multimon-ng")
	dir := t.TempDir()
	for _, c := range soxCases {
		wav := c.make(t, dir)
		ours := digits(t, detect(readWAV(t, wav), 160))
		theirs := multimontest.DecodeWAV(t, wav)
		want := ""
		if c.detect {
			want = c.keys
		}
		t.Logf("%-20s spec %-18q ours %-18q multimon-ng %q", c.name, want, ours, theirs)
		if ours != want {
			t.Errorf("%s: we decoded %q, Q.24 wants %q", c.name, ours, want)
		}
		if c.multimonDiffers != "" {
			t.Logf("%-20s (multimon-ng not compared: %s)", "", c.multimonDiffers)
			continue
		}
		// Where Q.24 says detect, both must find the digits; where it says
		// reject, multimon-ng happens to reject too, so it must keep doing so.
		if theirs != ours {
			t.Errorf("%s: multimon-ng decoded %q, we decoded %q", c.name, theirs, ours)
		}
	}
}
