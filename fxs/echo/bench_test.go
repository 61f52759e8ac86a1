package echo

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openata/ata/board/echopath"
)

// BenchmarkProcess is the canceller's cost per 20 ms frame of converged
// far-end speech with its echo (ERL 6 dB, 20 ms bulk delay).
func BenchmarkProcess(b *testing.B) {
	far, _ := fixtures(b)
	for _, tail := range []time.Duration{64 * time.Millisecond, 128 * time.Millisecond} {
		b.Run(fmt.Sprintf("tail=%v", tail), func(b *testing.B) {
			hy, err := echopath.New(4, 6, 20*time.Millisecond)
			if err != nil {
				b.Fatal(err)
			}
			n := len(far) / frame * frame
			mic := make([]int16, n)
			hy.Echo(far[:n], mic)
			c, err := New(Options{Tail: tail})
			if err != nil {
				b.Fatal(err)
			}
			out := make([]int16, frame)
			for i := 0; i < 2*Rate; i += frame { // converge first
				c.Process(far[i:i+frame], mic[i:i+frame], out)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			i := 2 * Rate
			for range b.N {
				c.Process(far[i:i+frame], mic[i:i+frame], out)
				if i += frame; i+frame > n {
					i = 2 * Rate
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/frame")
			// The machine is shared: CPU time is the figure load does not
			// inflate.
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/frame")
		})
	}
}

// BenchmarkVsSpeex runs this canceller and speexdsp's (through the small C
// program in internal/speexref, built here with gcc) on the same
// recordings: far-end speech through each G.168 model at ERL 6 dB and
// 20 ms bulk delay, 64 ms tail. It reports the combined echo loss the far
// end would hear from 1 s on (dB-loss-ours; dB-loss-speex with speex's
// residual echo suppressor, dB-loss-speex-aec without it) and the time
// per 20 ms frame of each. It needs gcc and libspeexdsp-dev
// (scripts/install-test-deps.sh) and fails without them.
func BenchmarkVsSpeex(b *testing.B) {
	far, _ := fixtures(b)
	bin := buildSpeexRef(b)
	dir := b.TempDir()
	n := len(far) / frame * frame
	for model := 1; model <= echopath.Models; model++ {
		b.Run(fmt.Sprintf("model=%d", model), func(b *testing.B) {
			hy, err := echopath.New(model, 6, 20*time.Millisecond)
			if err != nil {
				b.Fatal(err)
			}
			mic := make([]int16, n)
			hy.Echo(far[:n], mic)
			farPath, micPath := filepath.Join(dir, "far.s16"), filepath.Join(dir, "mic.s16")
			writeS16(b, farPath, far[:n])
			writeS16(b, micPath, mic)

			out := make([]int16, n)
			b.ResetTimer()
			cpu0 := cpuTime()
			for range b.N {
				c, err := New(Options{Tail: 64 * time.Millisecond})
				if err != nil {
					b.Fatal(err)
				}
				for i := 0; i < n; i += frame {
					c.Process(far[i:i+frame], mic[i:i+frame], out[i:i+frame])
				}
			}
			b.StopTimer()
			frames := float64(n / frame)
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N)/frames, "cpu-µs/frame-ours")
			l := &line{ear: far[:n], out: out}
			b.ReportMetric(l.combinedLoss(time.Second), "dB-loss-ours")

			for _, pre := range []int{1, 0} {
				outPath := filepath.Join(dir, "out.s16")
				cmd := exec.Command(bin, "80", strconv.Itoa(64*Rate/1000), strconv.Itoa(pre), farPath, micPath, outPath)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				res, err := cmd.Output()
				if err != nil {
					b.Fatalf("speexref: %v: %s", err, stderr.String())
				}
				ns, err := strconv.ParseFloat(strings.TrimSpace(string(res)), 64)
				if err != nil {
					b.Fatalf("speexref printed %q: %v", res, err)
				}
				sl := &line{ear: far[:n], out: readS16(b, outPath)}
				if pre == 1 {
					b.ReportMetric(sl.combinedLoss(time.Second), "dB-loss-speex")
					b.ReportMetric(2*ns/1000, "cpu-µs/frame-speex") // speexref runs 10 ms frames
				} else {
					b.ReportMetric(sl.combinedLoss(time.Second), "dB-loss-speex-aec")
				}
			}
		})
	}
}

// buildSpeexRef compiles internal/speexref with gcc into a temporary
// directory. A missing gcc or libspeexdsp-dev is a failure, not a skip:
// the comparison is part of the benchmark's job.
func buildSpeexRef(b *testing.B) string {
	b.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		b.Fatal("BenchmarkVsSpeex needs gcc (and libspeexdsp-dev): run scripts/install-test-deps.sh")
	}
	bin := filepath.Join(b.TempDir(), "speexref")
	cmd := exec.Command(gcc, "-O2", "-o", bin, filepath.Join("internal", "speexref", "speexref.c"), "-lspeexdsp")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building internal/speexref (needs libspeexdsp-dev: run scripts/install-test-deps.sh): %v\n%s", err, out)
	}
	return bin
}

// cpuTime is the CPU time this process has used (user + system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func writeS16(b *testing.B, path string, s []int16) {
	b.Helper()
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, s); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
}

func readS16(b *testing.B, path string) []int16 {
	b.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	s := make([]int16, len(raw)/2)
	if err := binary.Read(bytes.NewReader(raw), binary.LittleEndian, s); err != nil {
		b.Fatal(err)
	}
	return s
}
