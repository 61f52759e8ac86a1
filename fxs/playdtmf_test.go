package fxs

import (
	"github.com/openata/ata/fxs/dtmf/multimontest"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/board"
	"github.com/openata/ata/board/pcm"
	"github.com/openata/ata/fxs/dtmf"
)

// farAudio is a call's far end: it says a tone into the earpiece and
// records what the port sends it from the mouthpiece.
type farAudio struct {
	say pcm.Sine
	mic []int16
	tap *tap // if set, mic is aligned with the tap's recordings (board time 0)
}

const farHz = 600 // the far end's voice, a tone no DTMF or caller-ID filter looks at

func newFarAudio() *farAudio {
	return &farAudio{say: pcm.NewSine(farHz, pcm.Amplitude(-10), board.SampleRate)}
}

func (a *farAudio) Exchange(mic, ear []int16) {
	if a.mic == nil && a.tap != nil {
		a.mic = make([]int16, len(a.tap.mic)-len(mic))
	}
	a.mic = append(a.mic, mic...)
	for i := range ear {
		ear[i] = pcm.Clip16(a.say.Next())
	}
}

// TestPlayDTMFToHandset: keys received from the far end, queued at once,
// play in the earpiece one after another in place of the call's audio:
// multimon-ng and our receiver decode them in order, each lasting what was
// asked (clamped to 40 ms..2 s) within ±10 ms, separated by at least
// 40 ms, at -10 dBm0 per tone; the call's audio is gone while they play
// and back right after.
func TestPlayDTMFToHandset(t *testing.T) {
	r := newRig(t, "us", nil)
	r.hook(true, 0)
	far := newFarAudio()
	r.p.Connect(far)
	r.run(200 * time.Millisecond)
	keys := []struct {
		key       byte
		ask, want time.Duration
	}{
		{'1', 100 * time.Millisecond, 100 * time.Millisecond},
		{'5', 40 * time.Millisecond, 40 * time.Millisecond},
		{'5', 65 * time.Millisecond, 65 * time.Millisecond},
		{'9', 250 * time.Millisecond, 250 * time.Millisecond},
		{'D', 10 * time.Millisecond, 40 * time.Millisecond}, // clamped up
		{'#', 3 * time.Second, 2 * time.Second},             // clamped down
		{'0', 80 * time.Millisecond, 80 * time.Millisecond},
		{'*', 120 * time.Millisecond, 120 * time.Millisecond},
		{'a', 70 * time.Millisecond, 70 * time.Millisecond},
	}
	start := r.now
	var total time.Duration
	var want string
	for _, k := range keys {
		r.p.PlayDTMF(k.key, k.ask)
		total += k.want + PlayDTMFGap
		want += strings.ToUpper(string(k.key))
	}
	r.run(total + 500*time.Millisecond)
	ear := r.earSince(start)

	evs := dtmf.NewDetector().Process(ear)
	var got string
	for i, e := range evs {
		if e.Down {
			got += string(e.Key)
			continue
		}
		n := len(got) - 1
		if n < 0 || n >= len(keys) || i == 0 {
			continue
		}
		held := samplesDur(int(e.At - evs[i-1].At))
		if d := held - keys[n].want; d < -10*time.Millisecond || d > 10*time.Millisecond {
			t.Errorf("key %d (%c) lasted %v, want %v ±10 ms", n, keys[n].key, held, keys[n].want)
		}
		if i+1 < len(evs) {
			if g := samplesDur(int(evs[i+1].At - e.At)); g < 40*time.Millisecond {
				t.Errorf("gap after key %d only %v, want ≥ 40 ms", n, g)
			}
		}
	}
	if got != want {
		t.Errorf("our receiver decoded %q, want %q (events %+v)", got, want, evs)
	}
	if mm := multimontest.Decode(t, ear); mm != want {
		t.Errorf("multimon-ng decoded %q, want %q", mm, want)
	}

	// Levels of the first key ('1': 697 + 1209 Hz), away from its edges.
	first := ear[80:720]
	for _, f := range []float64{697, 1209} {
		if l := power(first, f); math.Abs(l-PlayDTMFLevel) > 0.5 {
			t.Errorf("'1' at %v Hz: %.2f dBm0, want %v", f, l, PlayDTMFLevel)
		}
	}
	// The call's audio: absent while keys play, back after the last gap.
	keysEnd := samplesOf(total)
	if l := power(ear[:keysEnd], farHz); l > -50 {
		t.Errorf("the far end's audio under the keys at %.1f dBm0", l)
	}
	if l := power(ear[keysEnd:keysEnd+samplesOf(300*time.Millisecond)], farHz); math.Abs(l+10) > 0.5 {
		t.Errorf("the far end's audio after the keys at %.1f dBm0, want -10", l)
	}
	if l := power(r.earSince(start - 100*time.Millisecond)[:800], farHz); math.Abs(l+10) > 0.5 {
		t.Errorf("the far end's audio before the keys at %.1f dBm0, want -10", l)
	}
}

// TestPlayDTMFLateKeyKeepsGap: a key that arrives while the previous one's
// gap runs waits for the gap's end, and hanging up drops queued keys.
func TestPlayDTMFLateKeyKeepsGap(t *testing.T) {
	r := newRig(t, "us", nil)
	r.hook(true, 0)
	r.p.Connect(newFarAudio())
	r.run(100 * time.Millisecond)
	start := r.now
	r.p.PlayDTMF('3', 100*time.Millisecond)
	r.run(120 * time.Millisecond) // the key is over, its gap runs
	r.p.PlayDTMF('6', 100*time.Millisecond)
	r.run(400 * time.Millisecond)
	evs := dtmf.NewDetector().Process(r.earSince(start))
	if len(evs) != 4 || evs[0].Key != '3' || evs[2].Key != '6' {
		t.Fatalf("decoded %+v, want 3 then 6", evs)
	}
	if g := samplesDur(int(evs[2].At - evs[1].At)); g < PlayDTMFGap-5*time.Millisecond {
		t.Errorf("gap %v between a key and one that came late, want ≥ %v", g, PlayDTMFGap)
	}
	for range 5 {
		r.p.PlayDTMF('7', time.Second)
	}
	r.run(100 * time.Millisecond)
	r.p.Connect(nil)
	r.hook(false, 0)
	at := r.now
	r.run(2 * time.Second)
	if l := rmsLevel(r.earSince(at + time.Second)); l > -60 { // on-hook is known after the 900 ms flash window
		t.Errorf("earpiece at %.1f dBm0 after hanging up: queued keys still playing", l)
	}
}
