// Package multimontest decodes DTMF with multimon-ng, an independent
// decoder, for tests across the project (the port's receiver, keys played
// to the handset, what far ends hear).
package multimontest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openata/ata/board/pcm"
)

// Decode returns the keys multimon-ng finds in x (8 kHz mono), in order.
// It fails the test when sox or multimon-ng is missing
// (./scripts/install-test-deps.sh). multimon-ng wants roughly 40 ms or
// more of each key.
func Decode(t testing.TB, x []int16) string {
	t.Helper()
	wav := filepath.Join(t.TempDir(), "dtmf.wav")
	if err := os.WriteFile(wav, pcm.EncodeWAV(x, 8000), 0o644); err != nil {
		t.Fatal(err)
	}
	return DecodeWAV(t, wav)
}

// DecodeWAV is Decode for a WAV file: converted with sox to the raw s16le
// at 22050 Hz multimon-ng reads.
func DecodeWAV(t testing.TB, wav string) string {
	t.Helper()
	for _, tool := range []string{"sox", "multimon-ng"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (./scripts/install-test-deps.sh): %v", tool, err)
		}
	}
	raw := strings.TrimSuffix(wav, ".wav") + ".raw"
	if out, err := exec.Command("sox", wav, "-t", "raw", "-r", "22050", "-e", "signed", "-b", "16", "-c", "1", raw).CombinedOutput(); err != nil {
		t.Fatalf("sox: %v: %s", err, out)
	}
	out, err := exec.Command("multimon-ng", "-q", "-c", "-a", "DTMF", "-t", "raw", raw).Output()
	if err != nil {
		t.Fatalf("multimon-ng: %v", err)
	}
	var b strings.Builder
	for line := range strings.Lines(string(out)) {
		if d, ok := strings.CutPrefix(strings.TrimSpace(line), "DTMF: "); ok && len(d) == 1 {
			b.WriteString(d)
		}
	}
	return b.String()
}
