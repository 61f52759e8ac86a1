package baresiptest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/board/pcm"
)

// DecodeDTMF returns the DTMF keys multimon-ng finds in x (8 kHz audio,
// e.g. from Heard or CallHeard), in order. Like fxs/dtmf's comparison
// test it converts to the raw s16le 22050 Hz multimon-ng reads with sox;
// it fails the test when either tool is missing (apt-get install sox
// multimon-ng). multimon-ng wants roughly 40 ms or more of each key.
func DecodeDTMF(t testing.TB, x []int16) string {
	t.Helper()
	for _, tool := range []string{"sox", "multimon-ng"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("install %s: apt-get install sox multimon-ng (%v)", tool, err)
		}
	}
	dir := t.TempDir()
	wav, raw := filepath.Join(dir, "in.wav"), filepath.Join(dir, "in.raw")
	if err := os.WriteFile(wav, pcm.EncodeWAV(x, sampleRate), 0o644); err != nil {
		t.Fatalf("baresiptest: %v", err)
	}
	if out, err := exec.Command("sox", wav, "-t", "raw", "-r", "22050", "-e", "signed", "-b", "16", "-c", "1", raw).CombinedOutput(); err != nil {
		t.Fatalf("baresiptest: sox: %v: %s", err, out)
	}
	out, err := exec.Command("multimon-ng", "-q", "-c", "-a", "DTMF", "-t", "raw", raw).Output()
	if err != nil {
		t.Fatalf("baresiptest: multimon-ng: %v", err)
	}
	var b strings.Builder
	for line := range strings.Lines(string(out)) {
		if d, ok := strings.CutPrefix(strings.TrimSpace(line), "DTMF: "); ok && len(d) == 1 {
			b.WriteString(d)
		}
	}
	return b.String()
}

// DTMFTones is in-band DTMF for keys at dBm0 per frequency: on for each
// key, then off of silence (for Opts.Audio).
func DTMFTones(keys string, dBm0 float64, on, off time.Duration) []int16 {
	var out []int16
	amp := pcm.Amplitude(dBm0)
	for i := 0; i < len(keys); i++ {
		lo, hi, ok := pcm.DTMFFrequencies(keys[i])
		if !ok {
			panic("baresiptest: not a DTMF key: " + keys[i:i+1])
		}
		a, b := pcm.NewSine(lo, amp, sampleRate), pcm.NewSine(hi, amp, sampleRate)
		for range int(on.Seconds() * sampleRate) {
			out = append(out, pcm.Clip16(a.Next()+b.Next()))
		}
		out = append(out, make([]int16, int(off.Seconds()*sampleRate))...)
	}
	return out
}
