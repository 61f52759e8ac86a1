package dtmf

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/openata/ata/board/pcm"
)

func TestEveryKeyAndEdges(t *testing.T) {
	var s signal
	s.silence(ms(30))
	type edge struct{ down, up int }
	var want []edge
	for i := range len(pcm.DTMFKeys) {
		start := len(s.x)
		s.tone(toneSpec{key: pcm.DTMFKeys[i], lowDB: -10, highDB: -8, n: ms(50)})
		want = append(want, edge{start, len(s.x)})
		s.silence(ms(50))
	}
	ev := detect(s.pcm(), 160)
	if got := digits(t, ev); got != pcm.DTMFKeys {
		t.Fatalf("digits %q, want %q", got, pcm.DTMFKeys)
	}
	// Edges are estimates: within 5 ms of the truth.
	for i, w := range want {
		down, up := ev[2*i], ev[2*i+1]
		if d := down.At - int64(w.down); d < -int64(ms(5)) || d > int64(ms(5)) {
			t.Errorf("key %c: Down at %d, tone starts at %d", down.Key, down.At, w.down)
		}
		if d := up.At - int64(w.up); d < -int64(ms(5)) || d > int64(ms(5)) {
			t.Errorf("key %c: Up at %d, tone ends at %d", up.Key, up.At, w.up)
		}
	}
}

func TestChunkLengthsGiveSameEvents(t *testing.T) {
	var s signal
	s.silence(ms(17))
	for _, k := range []byte("1590#D") {
		s.tone(toneSpec{key: k, lowDB: -12, highDB: -10, n: ms(45), lowPh: 1, highPh: 2})
		s.silence(ms(43))
	}
	s.noise(-40, 1)
	x := s.pcm()
	ref := detect(x, 160)
	if got := digits(t, ref); got != "1590#D" {
		t.Fatalf("digits %q", got)
	}
	for _, chunk := range []int{1, 7, 20, 80, 101, 333, len(x)} {
		got := detect(x, chunk)
		if fmt.Sprint(got) != fmt.Sprint(ref) {
			t.Errorf("chunk %d: %v, want %v", chunk, got, ref)
		}
	}
}

// Q.24 (AT&T column): accept ±1.5 % frequency error, reject ±3.5 %.
func TestFrequencyTolerance(t *testing.T) {
	r := rand.New(rand.NewPCG(24, 1))
	for i := range len(pcm.DTMFKeys) {
		key := pcm.DTMFKeys[i]
		for _, e := range [][2]float64{{0.015, 0.015}, {0.015, -0.015}, {-0.015, 0.015}, {-0.015, -0.015}} {
			for trial := range 3 {
				x := burst(r, key, -10, -10, e[0], e[1], ms(50))
				if got := digits(t, detect(x, 160)); got != string(key) {
					t.Errorf("key %c err low %+.1f%% high %+.1f%% trial %d: got %q", key, 100*e[0], 100*e[1], trial, got)
				}
			}
		}
		for _, e := range [][2]float64{{0.035, 0}, {-0.035, 0}, {0, 0.035}, {0, -0.035},
			{0.035, 0.015}, {-0.035, -0.015}, {0.015, 0.035}, {-0.015, -0.035}} {
			for trial := range 3 {
				x := burst(r, key, -10, -10, e[0], e[1], ms(100))
				if got := digits(t, detect(x, 160)); got != "" {
					t.Errorf("key %c err low %+.1f%% high %+.1f%% trial %d: got %q, want nothing", key, 100*e[0], 100*e[1], trial, got)
				}
			}
		}
	}
}

// Q.24 (AT&T column): the high-group tone may be up to 4 dB above the low
// one (reverse twist) and up to 8 dB below it (normal twist). The stronger
// tone sits at −6 dBm0 so that the pair does not clip.
func TestTwist(t *testing.T) {
	r := rand.New(rand.NewPCG(24, 2))
	cases := []struct {
		lowDB, highDB float64
		detect        bool
	}{
		{-10, -6, true},   // reverse twist 4 dB
		{-6, -14, true},   // normal twist 8 dB
		{-12, -6, false},  // reverse 6 dB
		{-6, -16, false},  // normal 10 dB
		{-25, -21, true},  // reverse 4 dB near the bottom of the range
		{-20, -28, true},  // normal 8 dB near the bottom of the range
		{-27, -21, false}, // reverse 6 dB
		{-20, -30, false}, // normal 10 dB
	}
	for i := range len(pcm.DTMFKeys) {
		key := pcm.DTMFKeys[i]
		for _, c := range cases {
			for _, e := range [][2]float64{{0, 0}, {0.015, -0.015}, {-0.015, 0.015}} {
				want := ""
				if c.detect {
					want = string(key)
				}
				x := burst(r, key, c.lowDB, c.highDB, e[0], e[1], ms(60))
				if got := digits(t, detect(x, 160)); got != want {
					t.Errorf("key %c low %v high %v dBm0 err %v: got %q, want %q", key, c.lowDB, c.highDB, e, got, want)
				}
			}
		}
	}
}

// Q.24: a 40 ms tone is a digit, a 23 ms tone is not. Every alignment of
// the tone against the detector's 2.5 ms decision grid is tried.
func TestDuration(t *testing.T) {
	r := rand.New(rand.NewPCG(24, 3))
	for i := range len(pcm.DTMFKeys) {
		key := pcm.DTMFKeys[i]
		for off := range subLen {
			for _, c := range []struct {
				n    int
				want string
			}{{ms(40), string(key)}, {ms(23), ""}} {
				var s signal
				s.silence(ms(40) + off)
				s.tone(toneSpec{key: key, lowDB: -8, highDB: -6, n: c.n, lowPh: 6 * r.Float64(), highPh: 6 * r.Float64()})
				s.silence(ms(60))
				if got := digits(t, detect(s.pcm(), 160)); got != c.want {
					t.Errorf("key %c %d samples offset %d: got %q, want %q", key, c.n, off, got, c.want)
				}
			}
		}
	}
}

// Q.24: a 10 ms interruption does not split a digit; a 40 ms pause does.
func TestInterruption(t *testing.T) {
	r := rand.New(rand.NewPCG(24, 4))
	for i := range len(pcm.DTMFKeys) {
		key := pcm.DTMFKeys[i]
		for off := 0; off < subLen; off += 3 {
			for _, c := range []struct {
				gap        int
				continuous bool // oscillator keeps running through the gap
				want       string
			}{
				{ms(10), false, string(key)},
				{ms(10), true, string(key)},
				{ms(40), false, string(key) + string(key)},
			} {
				var s signal
				s.silence(ms(40) + off)
				lp, hp := 6*r.Float64(), 6*r.Float64()
				s.tone(toneSpec{key: key, lowDB: -8, highDB: -6, n: ms(50), lowPh: lp, highPh: hp})
				if c.continuous {
					// Same oscillators, gated: phase carries on after the gap.
					start := len(s.x)
					s.tone(toneSpec{key: key, lowDB: -8, highDB: -6, n: c.gap + ms(50), lowPh: lp, highPh: hp, t0: ms(50)})
					clear(s.x[start : start+c.gap])
				} else {
					s.silence(c.gap)
					s.tone(toneSpec{key: key, lowDB: -8, highDB: -6, n: ms(50), lowPh: 6 * r.Float64(), highPh: 6 * r.Float64()})
				}
				s.silence(ms(60))
				if got := digits(t, detect(s.pcm(), 160)); got != c.want {
					t.Errorf("key %c gap %d continuous %v offset %d: got %q, want %q", key, c.gap, c.continuous, off, got, c.want)
				}
			}
		}
	}
}

// Q.24 (AT&T column) gives the receiver's range as 0 to −25 dBm0. Read per
// tone, two tones at 0 dBm0 would need a peak of 2·Amplitude(0) ≈ 45400,
// beyond 16-bit PCM; −3 dBm0 per tone (0 dBm0 for the pair, peak ≈ 32150)
// is the loudest pair that does not clip. Read as total power, −25 dBm0
// for the pair is −28 dBm0 per tone. So we require detection for every
// per-tone level from −3 down to −28 dBm0, which covers both readings.
func TestLevels(t *testing.T) {
	r := rand.New(rand.NewPCG(24, 5))
	for i := range len(pcm.DTMFKeys) {
		key := pcm.DTMFKeys[i]
		for level := -3.0; level >= -28; level-- {
			x := burst(r, key, level, level, 0, 0, ms(45))
			if got := digits(t, detect(x, 160)); got != string(key) {
				t.Errorf("key %c at %v dBm0 per tone: got %q", key, level, got)
			}
		}
	}
}

// Q.24: 15 dB signal-to-noise ratio, taken here as the power of the pair
// against white noise over the whole 0–4 kHz band (harder than against
// each tone). 50 ms bursts with 50 ms pauses, every key in turn; the
// noise seed is fixed so a failure reproduces.
func TestNoise15dB(t *testing.T) {
	for _, c := range []struct {
		toneDB float64 // per tone
		burst  int
	}{{-10, ms(50)}, {-22, ms(50)}, {-10, ms(40)}} {
		pairDB := c.toneDB + 3.01
		r := rand.New(rand.NewPCG(24, 6))
		var s signal
		var want string
		s.silence(ms(50))
		for n := range 320 {
			key := pcm.DTMFKeys[n%16]
			want += string(key)
			s.tone(toneSpec{key: key, lowDB: c.toneDB, highDB: c.toneDB, n: c.burst, lowPh: 6 * r.Float64(), highPh: 6 * r.Float64()})
			s.silence(ms(50))
		}
		s.noise(pairDB-15, 15)
		if got := digits(t, detect(s.pcm(), 160)); got != want {
			t.Errorf("%v dBm0 per tone, %d-sample bursts at 15 dB SNR: got %d digits, want %d\n got %q\nwant %q",
				c.toneDB, c.burst, len(got), len(want), got, want)
		}
	}
}

// A digit held for seconds is one digit; two different keys back to back
// with no pause are two.
func TestLongAndBackToBack(t *testing.T) {
	var s signal
	s.silence(ms(30))
	s.tone(toneSpec{key: '5', lowDB: -10, highDB: -8, n: ms(3000)})
	s.tone(toneSpec{key: '9', lowDB: -10, highDB: -8, n: ms(100), lowPh: 1})
	s.silence(ms(30))
	if got := digits(t, detect(s.pcm(), 80)); got != "59" {
		t.Fatalf("got %q, want \"59\"", got)
	}
}

func TestResetStartsOver(t *testing.T) {
	d := NewDetector()
	r := rand.New(rand.NewPCG(24, 7))
	x := burst(r, '7', -10, -10, 0, 0, ms(60))
	d.Process(x[:len(x)/2]) // leave the digit half-seen
	d.Reset()
	var ev []Event
	ev = append(ev, d.Process(x)...)
	ev = append(ev, d.Process(make([]int16, ms(100)))...)
	if got := digits(t, ev); got != "7" {
		t.Fatalf("after Reset got %q, want \"7\"", got)
	}
	if ev[0].At < int64(ms(55)) || ev[0].At > int64(ms(65)+subLen) {
		t.Errorf("Down at %d: indexes did not restart at Reset", ev[0].At)
	}
}

func TestProcessAllocatesNothing(t *testing.T) {
	x := benchSignal()
	d := NewDetector()
	frame := 0
	allocs := testing.AllocsPerRun(len(x)/160, func() {
		off := (frame % (len(x) / 160)) * 160
		d.Process(x[off : off+160])
		frame++
	})
	if allocs != 0 {
		t.Fatalf("Process allocates %v times per 20 ms frame", allocs)
	}
}

// benchSignal is digits and silence with a little noise.
func benchSignal() []int16 {
	var s signal
	for n := range 16 {
		s.tone(toneSpec{key: pcm.DTMFKeys[n], lowDB: -10, highDB: -8, n: ms(60)})
		s.silence(ms(60))
	}
	s.noise(-45, 9)
	return s.pcm()
}

func BenchmarkDetect20ms(b *testing.B) {
	x := benchSignal()
	d := NewDetector()
	frames := len(x) / 160
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		off := (i % frames) * 160
		d.Process(x[off : off+160])
		i++
	}
}
