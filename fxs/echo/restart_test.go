package echo

import (
	"math"
	"testing"
	"time"

	"github.com/openata/ata/board/echopath"
)

// TestStartOnRingingLine: the port starts the canceller afresh when a
// call's audio connects, while the line's hybrid still returns the local
// ringback the canceller never heard. That echo, arriving with the
// earpiece silent, is not the background: comfort noise at its level
// would reach the far end through the first seconds of its speech (the
// end-to-end echo test heard it at −27 dBm0, 25 dB over the echo).
func TestStartOnRingingLine(t *testing.T) {
	t.Parallel()
	far, _ := fixtures(t)
	hy, err := echopath.New(1, 6, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// US ringback (440 + 480 Hz, −19 dBm0) until the call connects; then
	// three frames of silence (the jitter buffer filling) and the far end talks.
	const ringback, gap = 2 * Rate, 3 * frame // 60 ms
	a := 32767 * math.Pow(10, (-19-3.17)/20)
	ear := make([]int16, ringback+gap+6*Rate)
	for i := range ringback {
		t := float64(i) / Rate
		ear[i] = int16(a * (math.Sin(2*math.Pi*440*t) + math.Sin(2*math.Pi*480*t)) / 2)
	}
	copy(ear[ringback+gap:], far)
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	mic := make([]int16, frame)
	out := make([]int16, len(ear))
	for i := 0; i+frame <= len(ear); i += frame {
		clear(mic)
		hy.Echo(ear[i:i+frame], mic) // adds the echo to mic
		if i < ringback {
			continue // the canceller is not running yet
		}
		c.Process(ear[i:i+frame], mic, out[i:i+frame])
	}
	speech := ringback + gap
	from, to := speech+Rate, len(ear)/frame*frame
	loss := levelRatio(ear[from:to], out[from:to])
	if loss < combinedMin {
		t.Errorf("combined echo loss %.1f dB over the far end's speech from 1 s on, want ≥ %.0f", loss, combinedMin)
	}
}

// tones appends d of the sum of two sines at dBm0 each (0 Hz: silence).
func tones(x []int16, f1, f2, dBm0 float64, d time.Duration) []int16 {
	a := 32767 * math.Pow(10, (dBm0-3.17)/20)
	for i := range int(d / sampleDur) {
		t := float64(i) / Rate
		v := 0.0
		if f1 > 0 {
			v = a * (math.Sin(2*math.Pi*f1*t) + math.Sin(2*math.Pi*f2*t))
		}
		x = append(x, int16(v))
	}
	return x
}

// TestKeysAreNotTheBackground: the port starts the canceller when the
// handset is lifted; the keys the handset sends (near end, the earpiece
// silent) come first, and a far end that answers at once talks right
// after them. The keys are not the background whose level the comfort
// noise takes: the end-to-end echo test heard comfort noise at −21 dBm0,
// the keys' level, through the far end's first sentence.
func TestKeysAreNotTheBackground(t *testing.T) {
	t.Parallel()
	far, _ := fixtures(t)
	hy, err := echopath.New(1, 6, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var ear, near []int16
	for range 4 { // keys: 70 ms on, 70 ms off (the sim phone's)
		near = tones(near, 697, 1336, -7, 70*time.Millisecond)
		near = tones(near, 0, 0, 0, 70*time.Millisecond)
	}
	ear = tones(ear, 0, 0, 0, time.Duration(len(near))*sampleDur+60*time.Millisecond) // the call set up, the jitter buffer filling
	speech := len(ear)
	ear = append(ear, far[:6*Rate]...)
	near = append(near, make([]int16, len(ear)-len(near))...)
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := len(ear) / frame * frame
	mic := make([]int16, frame)
	out := make([]int16, n)
	for i := 0; i < n; i += frame {
		copy(mic, near[i:i+frame])
		hy.Echo(ear[i:i+frame], mic) // adds the echo to mic
		c.Process(ear[i:i+frame], mic, out[i:i+frame])
	}
	from := speech + Rate
	if loss := levelRatio(ear[from:n], out[from:n]); loss < combinedMin {
		t.Errorf("combined echo loss %.1f dB over the far end's speech from 1 s on, want ≥ %.0f", loss, combinedMin)
	}
}
