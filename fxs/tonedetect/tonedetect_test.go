package tonedetect

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/openata/ata/board/pcm"
	"github.com/openata/ata/fxs/dtmf"
)

const frame = 160 // 20 ms

// sig describes a generated test signal.
type sig struct {
	hz       float64
	dBm0     float64
	onMs     int     // tone on for this long...
	offMs    int     // ... then off for this long (0: no cadence)
	totalMs  int     // length of the signal
	revMs    int     // phase reversal every revMs of tone (0: none)
	am       bool    // 15 Hz, 20 % amplitude modulation (ANSam)
	noiseSNR float64 // white noise this many dB below the tone; 0: none
	seed     uint64
}

func (g sig) render() []int16 {
	n := g.totalMs * 8
	amp := pcm.Amplitude(g.dBm0)
	r := rand.New(rand.NewPCG(g.seed, 1))
	// White noise's RMS for the SNR: a sine's RMS is amp/√2.
	noise := 0.0
	if g.noiseSNR != 0 {
		noise = amp / math.Sqrt2 * math.Pow(10, -g.noiseSNR/20)
	}
	phase0 := r.Float64() * 2 * math.Pi
	out := make([]int16, n)
	for i := range out {
		t := float64(i) / 8000
		v := 0.0
		inTone := i
		on := true
		if g.offMs > 0 {
			period := (g.onMs + g.offMs) * 8
			inTone = i % period
			on = inTone < g.onMs*8
		} else if g.onMs > 0 {
			on = i < g.onMs*8
		}
		if on {
			ph := 2*math.Pi*g.hz*t + phase0
			if g.revMs > 0 && (inTone/(g.revMs*8))%2 == 1 {
				ph += math.Pi
			}
			a := amp
			if g.am {
				a *= 1 + 0.2*math.Sin(2*math.Pi*15*t)
			}
			v = a * math.Sin(ph)
		}
		v += noise * r.NormFloat64()
		out[i] = pcm.Clip16(v)
	}
	return out
}

// hit is one report with its time (end of the frame it came in).
type hit struct {
	Result
	atMs int
}

func run(d *Detector, x []int16, frameLen int) []hit {
	var hits []hit
	for i := 0; i+frameLen <= len(x); i += frameLen {
		if r := d.Process(x[i : i+frameLen]); r.Kind != None {
			hits = append(hits, hit{r, (i + frameLen) / 8})
		}
	}
	return hits
}

var levels = []float64{-40, -30, -20, -10, 0}

func TestCED(t *testing.T) {
	for _, lvl := range levels {
		for _, off := range []float64{-15, 0, 15} {
			for _, am := range []bool{false, true} {
				name := fmt.Sprintf("%gdBm0/%+gHz/am=%v", lvl, off, am)
				t.Run(name, func(t *testing.T) {
					x := sig{hz: 2100 + off, dBm0: lvl, totalMs: 3300, am: am, noiseSNR: 15, seed: uint64(-lvl) + 1}.render()
					hits := run(New(), x, frame)
					if len(hits) != 1 || hits[0].Kind != CED {
						t.Fatalf("reports %v, want one CED", hits)
					}
					if hits[0].atMs > 600 {
						t.Errorf("CED at %d ms, want within 600 ms", hits[0].atMs)
					}
					if hits[0].AM != am {
						t.Errorf("AM %v, want %v", hits[0].AM, am)
					}
				})
			}
		}
	}
}

func TestAnswerToneWithReversals(t *testing.T) {
	for _, lvl := range levels {
		for _, off := range []float64{-15, 0, 15} {
			for _, am := range []bool{false, true} {
				for _, revMs := range []int{425, 450, 475} {
					name := fmt.Sprintf("%gdBm0/%+gHz/am=%v/rev%dms", lvl, off, am, revMs)
					t.Run(name, func(t *testing.T) {
						x := sig{hz: 2100 + off, dBm0: lvl, totalMs: 3300, revMs: revMs, am: am, noiseSNR: 15, seed: uint64(revMs)}.render()
						hits := run(New(), x, frame)
						var pr *hit
						for i := range hits {
							if hits[i].Kind == ANSPR {
								pr = &hits[i]
							} else if hits[i].Kind != CED {
								t.Errorf("unexpected %v", hits[i])
							}
						}
						if pr == nil {
							t.Fatalf("reports %v, want ANSPR", hits)
						}
						// The second reversal is at 2·revMs.
						if pr.atMs > 2*revMs+60 {
							t.Errorf("ANSPR at %d ms, want by %d ms", pr.atMs, 2*revMs+60)
						}
						if pr.AM != am {
							t.Errorf("AM %v, want %v", pr.AM, am)
						}
					})
				}
			}
		}
	}
}

// A reversal spacing outside 450 ± 25 ms is not V.25's.
func TestReversalsOutOfSpec(t *testing.T) {
	for _, revMs := range []int{250, 700} {
		x := sig{hz: 2100, dBm0: -12, totalMs: 3300, revMs: revMs, noiseSNR: 20}.render()
		for _, h := range run(New(), x, frame) {
			if h.Kind == ANSPR {
				t.Errorf("reversals every %d ms: ANSPR at %d ms", revMs, h.atMs)
			}
		}
	}
}

func TestCNG(t *testing.T) {
	for _, lvl := range levels {
		for _, off := range []float64{-38, 0, 38} {
			t.Run(fmt.Sprintf("%gdBm0/%+gHz", lvl, off), func(t *testing.T) {
				x := sig{hz: 1100 + off, dBm0: lvl, onMs: 500, offMs: 3000, totalMs: 7400, noiseSNR: 15, seed: 3}.render()
				hits := run(New(), x, frame)
				if len(hits) != 2 || hits[0].Kind != CNG || hits[1].Kind != CNG {
					t.Fatalf("reports %v, want CNG twice", hits)
				}
				// Reported as each burst ends (0.5 s, 4.0 s).
				for i, want := range []int{500, 4000} {
					if d := hits[i].atMs - want; d < 0 || d > 60 {
						t.Errorf("CNG %d at %d ms, want %d..%d", i, hits[i].atMs, want, want+60)
					}
				}
			})
		}
	}
}

// A steady 1100 Hz tone is not CNG, nor is a 2100 Hz blip CED, nor are
// tones at other frequencies either.
func TestNotTheTones(t *testing.T) {
	cases := []struct {
		name string
		s    sig
	}{
		{"1100 Hz steady", sig{hz: 1100, dBm0: -10, totalMs: 3000}},
		{"1100 Hz 200 ms bursts", sig{hz: 1100, dBm0: -10, onMs: 200, offMs: 300, totalMs: 3000}},
		{"2100 Hz 300 ms", sig{hz: 2100, dBm0: -10, onMs: 300, totalMs: 1000}},
		{"2200 Hz", sig{hz: 2200, dBm0: -10, totalMs: 3000}},
		{"2000 Hz", sig{hz: 2000, dBm0: -10, totalMs: 3000}},
		{"1000 Hz 500 ms", sig{hz: 1000, dBm0: -10, onMs: 500, offMs: 3000, totalMs: 4000}},
		{"1200 Hz 500 ms", sig{hz: 1200, dBm0: -10, onMs: 500, offMs: 3000, totalMs: 4000}},
		{"2100 Hz at -50 dBm0", sig{hz: 2100, dBm0: -50, totalMs: 3000}},
		{"noise", sig{hz: 2100, dBm0: -20, onMs: 1, totalMs: 3000, noiseSNR: -10}},
	}
	for _, c := range cases {
		if hits := run(New(), c.s.render(), frame); len(hits) != 0 {
			t.Errorf("%s: reports %v, want none", c.name, hits)
		}
	}
}

func readSpeech(t testing.TB) []int16 {
	t.Helper()
	f, err := os.Open("testdata/speech.wav")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	x, err := pcm.DecodeWAV(f)
	if err != nil {
		t.Fatalf("testdata/speech.wav: %v", err)
	}
	return x
}

// Speech (espeak-ng, testdata/make.sh) at any level, alone or over noise,
// is no fax or modem.
func TestSpeechDoesNotTrigger(t *testing.T) {
	speech := readSpeech(t)
	if len(speech) < 8000*8 {
		t.Fatalf("speech fixture: %d samples", len(speech))
	}
	r := rand.New(rand.NewPCG(9, 9))
	for _, gainDB := range []float64{6, 0, -10, -20, -30} {
		g := math.Pow(10, gainDB/20)
		x := make([]int16, len(speech))
		for i, v := range speech {
			x[i] = pcm.Clip16(float64(v)*g + 30*r.NormFloat64())
		}
		for _, fl := range []int{frame, 80} {
			if hits := run(New(), x, fl); len(hits) != 0 {
				t.Errorf("speech at %+g dB, %d-sample frames: %v", gainDB, fl, hits)
			}
		}
	}
}

// DTMF keys, short like dialling and held like a key pressed for seconds,
// are no fax or modem.
func TestDTMFDoesNotTrigger(t *testing.T) {
	var x []int16
	var g dtmf.Generator
	buf := make([]int16, 8)
	for _, hold := range []int{70, 2000} {
		for _, k := range []byte("0123456789*#ABCD") {
			if err := g.Start(k, -9, 2); err != nil {
				t.Fatal(err)
			}
			for range hold {
				g.Fill(buf)
				x = append(x, buf...)
			}
			x = append(x, make([]int16, 70*8)...)
		}
	}
	if hits := run(New(), x, frame); len(hits) != 0 {
		t.Errorf("DTMF: %v", hits)
	}
}

// Frames of 10 ms hear the same as frames of 20 ms.
func TestFrameSize(t *testing.T) {
	x := sig{hz: 2100, dBm0: -12, totalMs: 2000, revMs: 450, am: true, noiseSNR: 20}.render()
	hits := run(New(), x, 80)
	if len(hits) == 0 || hits[len(hits)-1].Kind != ANSPR || !hits[len(hits)-1].AM {
		t.Errorf("10 ms frames: %v, want ANSPR with AM", hits)
	}
}

// Reset forgets a tone under way: a tone cut in two by a reset is two
// short tones.
func TestReset(t *testing.T) {
	x := sig{hz: 2100, dBm0: -12, totalMs: 800}.render()
	d := New()
	run(d, x[:400*8], frame)
	d.Reset()
	if hits := run(d, x[400*8:], frame); len(hits) != 0 {
		t.Errorf("after Reset: %v, want none (400 ms of tone)", hits)
	}
	if hits := run(New(), x, frame); len(hits) != 1 || hits[0].Kind != CED {
		t.Errorf("without Reset: %v, want CED", hits)
	}
}

func TestNoAllocs(t *testing.T) {
	x := sig{hz: 2100, dBm0: -12, totalMs: 2000, revMs: 450, am: true, noiseSNR: 20}.render()
	d := New()
	i := 0
	allocs := testing.AllocsPerRun(200, func() {
		d.Process(x[i : i+frame])
		i = (i + frame) % (len(x) - frame)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per frame", allocs)
	}
}

func BenchmarkProcess20ms(b *testing.B) {
	x := sig{hz: 2100, dBm0: -12, totalMs: 4000, revMs: 450, am: true, noiseSNR: 20}.render()
	d := New()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d.Process(x[i : i+frame])
		i = (i + frame) % (len(x) - frame)
	}
}
