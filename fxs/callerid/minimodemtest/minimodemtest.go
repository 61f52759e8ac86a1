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
	out := decode(t, audio, v23)
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

// decode runs minimodem over audio and returns the bytes it printed.
func decode(t testing.TB, audio []int16, v23 bool) []byte {
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
	return out
}

// VMWI decodes 8 kHz audio like MDMF and returns the lamp state of the
// first valid VMWI message (MDMF 0x82 or SDMF 0x06) in what minimodem
// printed. It fails t when minimodem is missing or finds none.
func VMWI(t testing.TB, audio []int16, v23 bool) bool {
	t.Helper()
	out := decode(t, audio, v23)
	for i := 0; i+1 < len(out); i++ {
		if out[i] != callerid.TypeMDMFMWI && out[i] != callerid.TypeSDMFMWI {
			continue
		}
		if n := 3 + int(out[i+1]); i+n <= len(out) {
			if on, err := callerid.ParseVMWI(out[i : i+n]); err == nil {
				return on
			}
		}
	}
	t.Fatalf("minimodem found no valid VMWI message in %q", out)
	return false
}
