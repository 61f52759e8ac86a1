package dtmf

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/openata/ata/board/pcm"
)

// needTool fails the test when an external program is missing.
func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("install %s: apt-get install %s", name, name)
	}
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %q: %v: %s", name, args, err, stderr.String())
	}
	return out
}

func readWAV(t *testing.T, path string) []int16 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	x, err := pcm.DecodeWAV(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return x
}

const talkText = `The quick brown fox jumps over the lazy dog while seven
singing sailors hum along. Would you please call me back at your earliest
convenience? Numbers like one, two, three, four, five, six, seven, eight,
nine and zero are spoken often on the telephone. She sells sea shells by the
sea shore; the shells she sells are surely sea shells. Ooh, aah, eee, mmm,
hello, hello, is anybody there? Whistle a happy tune, la la la la la.
Meanwhile the weather forecast promises sunshine, wind and a little rain
in the evening, with temperatures around twenty degrees.`

// speech makes about three minutes of synthetic speech with espeak-ng in a
// few voices and pitches, at 8 kHz, peaks normalised to −1 dBFS.
func speech(t *testing.T) []int16 {
	needTool(t, "espeak-ng")
	needTool(t, "sox")
	dir := t.TempDir()
	voices := [][]string{
		{"-v", "en-us", "-p", "40"},
		{"-v", "en+f3", "-p", "70"},
		{"-v", "en-gb+f4", "-p", "90", "-s", "140"},
		{"-v", "de", "-p", "50"},
		{"-v", "fr+m3", "-p", "30"},
		{"-v", "en+f2", "-p", "99", "-s", "120"},
	}
	// The voices synthesise in parallel: espeak-ng is slow in wall time.
	cmds := make([]*exec.Cmd, len(voices))
	for i, v := range voices {
		raw := filepath.Join(dir, fmt.Sprintf("raw%d.wav", i))
		cmds[i] = exec.Command("espeak-ng", append(v, "-w", raw, talkText)...)
		if err := cmds[i].Start(); err != nil {
			t.Fatalf("espeak-ng: %v", err)
		}
	}
	var all []int16
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("espeak-ng %q: %v", cmd.Args, err)
		}
		raw := filepath.Join(dir, fmt.Sprintf("raw%d.wav", i))
		out := filepath.Join(dir, fmt.Sprintf("speech%d.wav", i))
		run(t, "sox", raw, "-r", "8000", "-c", "1", "-b", "16", "-e", "signed", out, "gain", "-n", "-1")
		x := readWAV(t, out)
		if len(x) < 8000*10 {
			t.Fatalf("voice %d: only %d samples of speech", i, len(x))
		}
		all = append(all, x...)
	}
	return all
}

// music makes chords of harmonic-rich notes from a pentatonic scale that
// passes near the keypad frequencies (F5 = 698 Hz is 0.2 % from 697).
func music(minutes float64, seed uint64) []int16 {
	r := rand.New(rand.NewPCG(seed, 7))
	n := int(minutes * 60 * sampleRate)
	x := make([]float64, n)
	for pos := 0; pos < n; {
		dur := ms(150 + 500*r.Float64())
		notes := 1 + r.IntN(3)
		for range notes {
			semitone := []int{0, 2, 5, 7, 9}[r.IntN(5)] + 12*r.IntN(3) - 12
			f := 698.46 * math.Pow(2, float64(semitone)/12)
			amp := pcm.Amplitude(-12 - 6*r.Float64())
			ph := 2 * math.Pi * r.Float64()
			for k := pos; k < min(pos+dur, n); k++ {
				ts := float64(k-pos) / sampleRate
				env := math.Min(1, ts/0.01) * math.Exp(-2*ts)
				var v float64
				for h := 1; h <= 5; h++ {
					if f*float64(h) < 3800 {
						v += math.Sin(2*math.Pi*f*float64(h)*ts+ph*float64(h)) / float64(h)
					}
				}
				x[k] += amp * env * v / 2
			}
		}
		pos += dur
	}
	out := make([]int16, n)
	for i, v := range x {
		out[i] = pcm.Clip16(v)
	}
	return out
}

// falseDigits counts digits detected in audio that holds none.
func falseDigits(t *testing.T, x []int16) (string, float64) {
	got := digits(t, detect(x, 160))
	return got, float64(len(x)) / sampleRate / 60
}

func TestTalkOff(t *testing.T) {
	sp := speech(t)
	got, minutes := falseDigits(t, sp)
	perMin := float64(len(got)) / minutes
	t.Logf("speech: %d false digits %q in %.1f min (%.2f per minute)", len(got), got, minutes, perMin)
	if minutes < 2.5 {
		t.Errorf("only %.1f minutes of speech", minutes)
	}
	if perMin > 0.5 {
		t.Errorf("speech: %.2f false digits per minute, want at most 0.5", perMin)
	}

	mu := music(2, 1)
	got, minutes = falseDigits(t, mu)
	t.Logf("music: %d false digits %q in %.1f min", len(got), got, minutes)
	if float64(len(got))/minutes > 0.5 {
		t.Errorf("music: %d false digits in %.1f min", len(got), minutes)
	}

	var s signal
	s.silence(ms(30000)).noise(-15, 3)
	got, minutes = falseDigits(t, s.pcm())
	if got != "" {
		t.Errorf("white noise at −15 dBm0: false digits %q in %.1f min", got, minutes)
	}
}
