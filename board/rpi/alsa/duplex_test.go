package alsa

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/openata/ata/board/pcm"
)

// fitSine fits a tone at freq and returns its amplitude and the ratio of
// its power to what is left, in dB.
func fitSine(x []int16, freq float64, rate int) (amp, snr float64) {
	var cc, ss, cs, xc, xs float64
	w := 2 * math.Pi * freq / float64(rate)
	for i, v := range x {
		c, s := math.Cos(w*float64(i)), math.Sin(w*float64(i))
		cc, ss, cs = cc+c*c, ss+s*s, cs+c*s
		xc, xs = xc+float64(v)*c, xs+float64(v)*s
	}
	det := cc*ss - cs*cs
	a, b := (xc*ss-xs*cs)/det, (xs*cc-xc*cs)/det
	var res float64
	for i, v := range x {
		e := float64(v) - a*math.Cos(w*float64(i)) - b*math.Sin(w*float64(i))
		res += e * e
	}
	amp = math.Hypot(a, b)
	return amp, 10 * math.Log10(amp*amp/2/(res/float64(len(x))))
}

// card is a capture and a playback fakeDev with the same capabilities.
func card(t *testing.T, setup func(*fakeDev)) (rec, play *fakeDev, d *Duplex) {
	t.Helper()
	return cardFrames(t, setup, 80)
}

// cardFrames is card with board frames of frameSamples samples.
func cardFrames(t *testing.T, setup func(*fakeDev), frameSamples int) (rec, play *fakeDev, d *Duplex) {
	t.Helper()
	rec, play = newFakeDev(), newFakeDev()
	setup(rec)
	setup(play)
	c, err := rec.open(Capture, Config{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := play.open(Playback, Config{})
	if err != nil {
		t.Fatal(err)
	}
	d, err = NewDuplex(c, p, frameSamples)
	if err != nil {
		t.Fatal(err)
	}
	return rec, play, d
}

func stereoTone(freq float64, rate int) func([]int16) {
	s := pcm.NewSine(freq, pcm.Amplitude(-3), rate)
	return func(b []int16) {
		for i := 0; i < len(b); i += 2 {
			v := pcm.Clip16(s.Next())
			b[i], b[i+1] = v, v
		}
	}
}

func TestDuplexResamplesAt48kStereo(t *testing.T) {
	rec, play, d := card(t, func(f *fakeDev) { f.rates, f.chMin = []uint32{44100, 48000}, 2 })
	rec.source = stereoTone(1000, 48000)

	var heard []int16
	frame := make([]int16, 80)
	for range 100 {
		if err := d.Read(frame); err != nil {
			t.Fatal(err)
		}
		heard = append(heard, frame...)
	}
	amp, snr := fitSine(heard[100:], 1000, 8000)
	t.Logf("capture 48 kHz stereo → 8 kHz: 1 kHz at %.1f dBm0, SNR %.1f dB", pcm.Level(amp), snr)
	if snr < 50 || math.Abs(pcm.Level(amp)+3) > 0.1 {
		t.Errorf("captured tone: level %.2f dBm0 (want -3), SNR %.1f dB (want ≥ 50)", pcm.Level(amp), snr)
	}

	s := pcm.NewSine(1000, pcm.Amplitude(-3), 8000)
	for range 100 {
		for i := range frame {
			frame[i] = pcm.Clip16(s.Next())
		}
		if err := d.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	if want := 2 * (480 + 100*480); len(play.played) != want {
		t.Fatalf("played %d samples, want %d (a period of silence, then 100 frames)", len(play.played), want)
	}
	left := make([]int16, len(play.played)/2)
	for i := range left {
		left[i] = play.played[2*i]
		if play.played[2*i+1] != left[i] {
			t.Fatalf("channels differ at frame %d", i)
		}
	}
	if slices.ContainsFunc(left[:480], func(v int16) bool { return v != 0 }) {
		t.Error("the priming period is not silent")
	}
	amp, snr = fitSine(left[480+600:], 1000, 48000)
	t.Logf("playback 8 kHz → 48 kHz stereo: 1 kHz at %.1f dBm0, SNR %.1f dB", pcm.Level(amp), snr)
	if snr < 50 || math.Abs(pcm.Level(amp)+3) > 0.1 {
		t.Errorf("played tone: level %.2f dBm0 (want -3), SNR %.1f dB (want ≥ 50)", pcm.Level(amp), snr)
	}
}

func TestDuplexNativeRateIsBitExact(t *testing.T) {
	rec, play, d := card(t, func(*fakeDev) {})
	var n int16
	rec.source = func(b []int16) {
		for i := range b {
			b[i], n = n, n+7
		}
	}
	frame := make([]int16, 80)
	for k := range 3 {
		if err := d.Read(frame); err != nil {
			t.Fatal(err)
		}
		for i, v := range frame {
			if want := int16(7 * (80*k + i)); v != want {
				t.Fatalf("frame %d sample %d = %d, want %d", k, i, v, want)
			}
		}
		if err := d.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	if len(play.played) != 80+240 || !slices.Equal(play.played[80:160], seqStep(80, 0, 7)) {
		t.Errorf("played %d samples, want 80 of silence then the frames unchanged", len(play.played))
	}
}

func seqStep(n int, from, step int16) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = from + int16(i)*step
	}
	return s
}

func TestDuplexAbsorbsDrift(t *testing.T) {
	// step is the driver's pointer granularity in frames (snd-aloop moves
	// by jiffies: 4 ms, 192 frames at 48 kHz). The thread's wake-up phase
	// against those steps holds for a while, then moves (load, timer
	// slack): the reading shifts by up to a step with no drift at all.
	for _, c := range []struct {
		ppm  float64
		step int
	}{{+1000, 0}, {-1000, 0}, {0, 0}, {0, 192}, {+1000, 192}, {-1000, 192}} {
		ppm := c.ppm
		rec, play, d := card(t, func(f *fakeDev) { f.rates, f.chMin = []uint32{48000}, 1 })
		play.record = false
		rec.source = stereoTone(400, 96000) // fills mono buffers: any tone will do
		rng := rand.New(rand.NewPCG(1, uint64(c.step)))
		phase := 0
		// The playback crystal runs ppm faster than capture's: the queue is
		// what was written minus what it consumed in capture's time.
		play.delayFn = func() int {
			consumed := int(math.Round(float64(rec.frames) * (1 + ppm/1e6)))
			if c.step > 0 {
				if rec.frames%(150*480) == 0 { // every 1.5 s, a new phase
					phase = rng.IntN(c.step)
				}
				consumed -= (consumed + phase) % c.step // the last pointer move
			}
			return play.frames - consumed
		}
		frame := make([]int16, 80)
		var minQ, maxQ = math.MaxInt, math.MinInt
		for k := range 2000 { // 20 s
			if err := d.Read(frame); err != nil {
				t.Fatal(err)
			}
			if err := d.Write(frame); err != nil {
				t.Fatal(err)
			}
			if k >= 100 {
				q := play.frames - int(math.Round(float64(rec.frames)*(1+ppm/1e6)))
				minQ, maxQ = min(minQ, q), max(maxQ, q)
			}
		}
		st := d.Stats()
		t.Logf("%+.0f ppm, pointer step %d: dropped %d, repeated %d, queue %d–%d frames", ppm, c.step, st.Dropped, st.Repeated, minQ, maxQ)
		// 20 s at 48 kHz and 1000 ppm is 960 samples, less the band of
		// half a period (240) and the smoothing's lag.
		switch {
		case ppm > 0 && (st.Repeated < 600 || st.Repeated > 960 || st.Dropped > 5):
			t.Errorf("%+.0f ppm: repeated %d, dropped %d; want 600–960 repeats", ppm, st.Repeated, st.Dropped)
		case ppm < 0 && (st.Dropped < 600 || st.Dropped > 960 || st.Repeated > 5):
			t.Errorf("%+.0f ppm: dropped %d, repeated %d; want 600–960 drops", ppm, st.Dropped, st.Repeated)
		case ppm == 0 && st.Dropped+st.Repeated != 0:
			t.Errorf("no drift (pointer step %d), yet dropped %d and repeated %d", c.step, st.Dropped, st.Repeated)
		}
		// Unchecked, the queue would move 960 frames; the absorber keeps it
		// near where it settled (about one period, 480 frames), within the
		// band plus the smoothing's lag and the pointer's step.
		if minQ < 480-300-c.step || maxQ > 480+300+c.step {
			t.Errorf("%+.0f ppm: queue wandered %d–%d frames, want 480 ± %d", ppm, minQ, maxQ, 300+c.step)
		}
	}
}

// With 20 ms frames on 10 ms periods the playback lead is a whole frame
// (the frame loop may wake that late), before the first frame and again
// after an underrun: the gap is still one frame.
func TestDuplexLeadIsOneFrame(t *testing.T) {
	_, play, d := cardFrames(t, func(*fakeDev) {}, 160)
	frame := seqStep(160, 1, 1)
	play.errs = []error{nil, nil, nil}
	for range 2 {
		if err := d.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	play.errs = []error{errPipe()}
	if err := d.Write(frame); err != nil {
		t.Fatal(err)
	}
	want := slices.Concat(make([]int16, 160), frame, frame, make([]int16, 160), frame)
	if !slices.Equal(play.played, want) || d.Stats().PlaybackXRuns != 1 {
		t.Errorf("played %d samples (xruns %d), want %d: a 160-sample lead, and 160 of silence after the underrun",
			len(play.played), d.Stats().PlaybackXRuns, len(want))
	}
}

func TestSetUnderrunFillBounds(t *testing.T) {
	d := newFakeDev()
	p, err := d.open(Playback, Config{}) // 80-frame periods, 480-frame buffer
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{79, 401} {
		if err := p.SetUnderrunFill(n); err == nil || !strings.Contains(err.Error(), "80..400") {
			t.Errorf("SetUnderrunFill(%d): %v, want an error naming 80..400", n, err)
		}
	}
	if err := p.SetUnderrunFill(400); err != nil {
		t.Error(err)
	}
	c, _ := newFakeDev().open(Capture, Config{})
	if err := c.SetUnderrunFill(80); err == nil {
		t.Error("SetUnderrunFill on capture accepted")
	}
}

func TestAdjustPicksFlattestPoint(t *testing.T) {
	x := []int16{0, 100, 200, 300, 310, 300, 200, 100, 0, 0}
	if n := adjust(x, 9, -1); n != 8 || !slices.Equal(x[:8], []int16{0, 100, 200, 300, 300, 200, 100, 0}) {
		t.Errorf("drop: %v (%d)", x[:n], n)
	}
	x = []int16{0, 100, 200, 300, 310, 300, 200, 100, 0, 0}
	if n := adjust(x, 9, +1); n != 10 || !slices.Equal(x, []int16{0, 100, 200, 300, 310, 310, 300, 200, 100, 0}) {
		t.Errorf("repeat: %v (%d)", x[:n], n)
	}
}

func TestDuplexPlaybackUnderrunGapIsOneFrame(t *testing.T) {
	_, play, d := card(t, func(*fakeDev) {})
	frame := seqStep(80, 1, 1)
	play.errs = []error{nil, nil, nil} // prime, frame 1, frame 2
	for range 2 {
		if err := d.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	play.errs = []error{errPipe()}
	if err := d.Write(frame); err != nil {
		t.Fatal(err)
	}
	// silence, frame, frame, [xrun] silence (one period = one frame), frame
	want := slices.Concat(make([]int16, 80), frame, frame, make([]int16, 80), frame)
	if !slices.Equal(play.played, want) || d.Stats().PlaybackXRuns != 1 {
		t.Errorf("played %d samples (xruns %d), want %d: the gap must be one frame", len(play.played), d.Stats().PlaybackXRuns, len(want))
	}
}

func TestDuplexAllocatesNothing(t *testing.T) {
	rec, play, d := card(t, func(f *fakeDev) { f.rates, f.chMin = []uint32{48000}, 2 })
	play.record = false
	rec.source = stereoTone(1000, 48000)
	frame := make([]int16, 80)
	allocs := testing.AllocsPerRun(200, func() {
		if err := d.Read(frame); err != nil {
			t.Fatal(err)
		}
		if err := d.Write(frame); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per frame, want 0", allocs)
	}
	if err := d.Write(make([]int16, 79)); err == nil {
		t.Error("a short frame was accepted")
	}
}

func BenchmarkDuplexFrame48k(b *testing.B) {
	rec, play := newFakeDev(), newFakeDev()
	for _, f := range []*fakeDev{rec, play} {
		f.rates, f.chMin, f.record = []uint32{48000}, 2, false
	}
	rec.source = stereoTone(1000, 48000)
	c, _ := rec.open(Capture, Config{})
	p, _ := play.open(Playback, Config{})
	d, err := NewDuplex(c, p, 80)
	if err != nil {
		b.Fatal(err)
	}
	frame := make([]int16, 80)
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Read(frame); err != nil {
			b.Fatal(err)
		}
		if err := d.Write(frame); err != nil {
			b.Fatal(err)
		}
	}
}
