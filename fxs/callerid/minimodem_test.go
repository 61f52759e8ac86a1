package callerid

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/board/pcm"
)

// minimodem runs the independent decoder over x (padded with 100 ms of
// silence each side, as on a line) and returns what it printed on stdout.
func minimodem(t *testing.T, x []int16, args ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("minimodem")
	if err != nil {
		t.Fatalf("install minimodem: apt-get install minimodem (%v)", err)
	}
	pad := make([]int16, 800)
	audio := append(append(append([]int16{}, pad...), x...), pad...)
	wav := filepath.Join(t.TempDir(), "cid.wav")
	if err := os.WriteFile(wav, pcm.EncodeWAV(audio, 8000), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--rx", "-q", "-f", wav}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("minimodem %v: %v\n%s", args, err, stderr.Bytes())
	}
	return out
}

// modemArgs are minimodem's flags for each modem: 8-N-1 at 1200 baud.
func modemArgs(m Modem) []string {
	if m == V23Modem {
		return []string{"-8", "-M", "1300", "-S", "2100", "1200"}
	}
	return []string{"-8", "1200"}
}

// extractMessage finds the framed message of type typ in a decoded byte
// stream: after at least 10 seizure 'U's (when seizure is true), the first
// typ byte, then its length byte, body and checksum.
func extractMessage(t *testing.T, decoded []byte, typ byte, seizure bool) []byte {
	t.Helper()
	rest := decoded
	if seizure {
		i := bytes.Index(rest, bytes.Repeat([]byte{'U'}, 10))
		if i < 0 {
			t.Fatalf("no channel seizure in % x", decoded)
		}
		rest = rest[i:]
	}
	i := bytes.IndexByte(rest, typ)
	if i < 0 || i+2 > len(rest) {
		t.Fatalf("no message of type 0x%02x in % x", typ, decoded)
	}
	end := i + 2 + int(rest[i+1]) + 1
	if end > len(rest) {
		t.Fatalf("message truncated in % x", decoded)
	}
	return rest[i:end]
}

var minimodemCases = []struct {
	name string
	info Info
}{
	{"number and name", Info{Time: time.Date(2024, 11, 5, 18, 42, 0, 0, time.UTC), Number: "6095551212", Name: "JOHN DOE"}},
	{"private", Info{Time: time.Date(2024, 1, 2, 3, 4, 0, 0, time.UTC), NumberAbsent: 'P', NameAbsent: 'P'}},
	{"unavailable", Info{Time: time.Date(2024, 12, 31, 23, 59, 0, 0, time.UTC), NumberAbsent: 'O', NameAbsent: 'O'}},
}

// TestMinimodemDecodes demodulates every FSK standard's output with
// minimodem and parses the recovered bytes.
func TestMinimodemDecodes(t *testing.T) {
	for _, std := range []Standard{Bell202, ETSIFSK, ETSIFSKDTAS} {
		for _, tc := range minimodemCases {
			t.Run(string(std)+"/"+tc.name, func(t *testing.T) {
				x := mustRender(t, std, tc.info, DefaultFSKLevel)
				modem, _ := std.modem()
				msg := extractMessage(t, minimodem(t, x, modemArgs(modem)...), TypeMDMF, true)
				got, err := ParseMDMF(msg)
				if err != nil {
					t.Fatalf("decoded % x: %v", msg, err)
				}
				if !equalInfo(got, tc.info) {
					t.Fatalf("minimodem recovered %+v, want %+v", got, tc.info)
				}
			})
		}
	}
}

// TestMinimodemCallerIDMode uses minimodem's own caller ID parser (its
// "callerid" mode), so the parameter layout and absence codes are read by
// code we did not write. (That mode ignores the checksum; the raw-byte test
// above checks it through ParseMDMF.)
func TestMinimodemCallerIDMode(t *testing.T) {
	for _, std := range []Standard{Bell202, ETSIFSK} {
		for _, tc := range minimodemCases {
			t.Run(string(std)+"/"+tc.name, func(t *testing.T) {
				args := []string{"callerid"}
				if std == ETSIFSK {
					args = []string{"-M", "1300", "-S", "2100", "callerid"}
				}
				out := string(minimodem(t, mustRender(t, std, tc.info, DefaultFSKLevel), args...))
				wantTime := tc.info.Time.Format("01/02 15:04")
				if !strings.Contains(out, "Time:  "+wantTime) {
					t.Errorf("no time %s in:\n%s", wantTime, out)
				}
				wantPhone, wantName := "[N/A]", "[N/A]"
				if tc.info.NumberAbsent == Private {
					wantPhone, wantName = "[blocked]", "[blocked]"
				}
				if tc.info.Number != "" {
					wantPhone, wantName = "609-555-1212", tc.info.Name
				}
				for _, line := range []string{"Phone: " + wantPhone, "Name:  " + wantName} {
					if !strings.Contains(out, line) {
						t.Errorf("no %q in:\n%s", line, out)
					}
				}
			})
		}
	}
}

func TestMinimodemSDMFAndCallWaiting(t *testing.T) {
	info := minimodemCases[0].info
	x := mustRender(t, Bell202SDMF, Bell202SDMF.Clamp(info), DefaultFSKLevel)
	got, err := ParseSDMF(extractMessage(t, minimodem(t, x, "-8", "1200"), TypeSDMF, true))
	if err != nil || got.Number != info.Number || !sameMinute(got.Time, info.Time) {
		t.Errorf("SDMF via minimodem: %+v, %v", got, err)
	}
	for _, std := range []Standard{Bell202, ETSIFSK} {
		x, err := RenderCallWaiting(std, info, DefaultFSKLevel)
		if err != nil {
			t.Fatal(err)
		}
		modem, _ := std.modem()
		got, err := ParseMDMF(extractMessage(t, minimodem(t, x, modemArgs(modem)...), TypeMDMF, false))
		if err != nil || !equalInfo(got, info) {
			t.Errorf("%s call waiting via minimodem: %+v, %v", std, got, err)
		}
	}
}

// TestMinimodemNoisyLowLevel: −30 dBm0 (16.5 dB below nominal) with white
// noise 15 dB below the signal still decodes, for both modems (by hand,
// minimodem still managed at 10 dB SNR).
func TestMinimodemNoisyLowLevel(t *testing.T) {
	const level, snr = -30.0, 15.0
	info := minimodemCases[0].info
	for _, std := range []Standard{Bell202, ETSIFSK} {
		x := mustRender(t, std, info, level)
		rng := rand.New(rand.NewPCG(1, 2))
		sigma := pcm.Amplitude(level) / math.Sqrt2 / math.Pow(10, snr/20)
		noisy := make([]int16, len(x))
		for i, v := range x {
			noisy[i] = pcm.Clip16(float64(v) + sigma*rng.NormFloat64())
		}
		if got := 20 * math.Log10(rms(x)/rmsDiff(noisy, x)); math.Abs(got-snr) > 0.5 {
			t.Fatalf("built SNR %.1f dB, want %.0f", got, snr)
		}
		modem, _ := std.modem()
		got, err := ParseMDMF(extractMessage(t, minimodem(t, noisy, modemArgs(modem)...), TypeMDMF, true))
		if err != nil || !equalInfo(got, info) {
			t.Errorf("%s at %.0f dBm0, %.0f dB SNR: %+v, %v", std, level, snr, got, err)
		}
	}
}

func rmsDiff(a, b []int16) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return math.Sqrt(s / float64(len(a)))
}
