// Package minimodemtest decodes FSK caller ID from audio with minimodem
// (Debian package minimodem), the independent decoder integration tests
// check the firmware's caller ID against.
package minimodemtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/openata/ata/board/pcm"
	"github.com/openata/ata/fxs/callerid"
)

// MDMF decodes 8 kHz audio with minimodem at 1200 baud, Bell 202 or (v23)
// ETSI V.23 tones, and returns the first valid MDMF message in what it
// printed. It fails t when minimodem is missing or finds none.
func MDMF(t testing.TB, audio []int16, v23 bool) callerid.Info {
	t.Helper()
	if _, err := exec.LookPath("minimodem"); err != nil {
		t.Fatal("install minimodem: apt-get install minimodem")
	}
	wav := filepath.Join(t.TempDir(), "cid.wav")
	if err := os.WriteFile(wav, pcm.EncodeWAV(audio, 8000), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--rx", "-q", "-8", "-f", wav}
	if v23 {
		args = append(args, "-M", "1300", "-S", "2100")
	}
	out, err := exec.Command("minimodem", append(args, "1200")...).Output()
	if err != nil {
		t.Fatalf("minimodem: %v", err)
	}
	for i := range out {
		if out[i] == callerid.TypeMDMF {
			if info, err := callerid.ParseMDMF(out[i:]); err == nil {
				return info
			}
		}
	}
	t.Fatalf("minimodem found no valid MDMF message in %q", out)
	return callerid.Info{}
}
