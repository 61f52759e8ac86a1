package sim

import (
	"context"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/board"
	"github.com/openata/ata/board/pcm"
	"github.com/openata/ata/fxs/dtmf"
)

// scriptHandler plays a fixed earpiece script frame by frame and records
// the mouthpiece.
type scriptHandler struct {
	ear []int16 // what the earpiece plays, from the first frame on
	pos int
	mic []int16
}

func (h *scriptHandler) HookEdge(board.HookEdge) {}

func (h *scriptHandler) Frame(at time.Duration, mic, ear []int16) {
	h.mic = append(h.mic, mic...)
	h.pos += copy(ear, h.ear[min(h.pos, len(h.ear)):])
}

func tone(d time.Duration, dBm0 float64, freqs ...float64) []int16 {
	var sines []pcm.Sine
	for _, f := range freqs {
		sines = append(sines, pcm.NewSine(f, pcm.Amplitude(dBm0), board.SampleRate))
	}
	out := make([]int16, durSamples(d))
	for i := range out {
		var v float64
		for k := range sines {
			v += sines[k].Next()
		}
		out[i] = pcm.Clip16(v)
	}
	return out
}

func cat(parts ...[]int16) []int16 {
	var out []int16
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// casRun steps a port by hand (no pacing) through the earpiece script with
// the handset off-hook (or not) and the phone saying a 1 kHz tone, and
// returns the mouthpiece and the phone's state.
func casRun(t *testing.T, opts Opts, offHook bool, ear []int16) ([]int16, State, *Board) {
	t.Helper()
	opts.Clock, opts.Logger = newFakeClock(), quietLogger()
	b, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	p := b.Port()
	p.running, p.started = true, true
	if offHook {
		if err := b.Phone().Hook(context.Background(), HookOff); err != nil {
			t.Fatal(err)
		}
	}
	speech := tone(time.Duration(len(ear)+800)*time.Second/board.SampleRate, -10, 1000)
	if err := b.Phone().Speak(speech); err != nil {
		t.Fatal(err)
	}
	h := &scriptHandler{ear: ear}
	var at time.Duration
	for len(h.mic) < len(ear) {
		at += p.frameDur
		p.step(h, at)
	}
	return h.mic, b.Phone().State(), b
}

var (
	sas = tone(300*time.Millisecond, -13, 440)
	cas = tone(80*time.Millisecond, -13.5, casLow, casHigh)
)

func gap(d time.Duration) []int16 { return make([]int16, durSamples(d)) }

// TestPhoneAcknowledgesCAS: SAS then CAS in the earpiece, as a line sends
// call-waiting caller ID; the phone answers with 'D' for 60 ms starting
// within 20 ms of the CAS's end, decoded by the DTMF receiver, over its
// speech, which resumes after. With 10 ms frames it answers as well.
func TestPhoneAcknowledgesCAS(t *testing.T) {
	for _, frameSamples := range []int{board.FrameSamples20ms, board.FrameSamples10ms} {
		lead := 500 * time.Millisecond
		ear := cat(gap(lead-380*time.Millisecond), sas, cas, gap(time.Second))
		mic, st, b := casRun(t, Opts{FrameSamples: frameSamples}, true, ear)
		if st.CASAcks != 1 {
			t.Fatalf("frame %d: cas_acks %d, want 1", frameSamples, st.CASAcks)
		}
		evs := dtmf.NewDetector().Process(mic)
		if len(evs) != 2 || evs[0].Key != 'D' || !evs[0].Down || evs[1].Down {
			t.Fatalf("frame %d: mouthpiece keys %+v, want D down and up", frameSamples, evs)
		}
		// Where exactly: the tone's own samples, by Goertzel over 5 ms steps.
		start, end := -1, -1
		for i := 0; i+40 <= len(mic); i += 40 {
			on := goertzelAmplitude(mic[i:i+40], 1633) > pcm.Amplitude(-20)
			if on && start < 0 {
				start = i
			}
			if on {
				end = i + 40
			}
		}
		casEnd := durSamples(lead)
		delay, length := samplesDur(start-casEnd), samplesDur(end-start)
		if delay < 0 || delay > 20*time.Millisecond {
			t.Errorf("frame %d: acknowledgement starts %v after the CAS ends, want 0–20 ms", frameSamples, delay)
		}
		if length < 55*time.Millisecond || length > 65*time.Millisecond {
			t.Errorf("frame %d: acknowledgement lasts %v, want 60 ms", frameSamples, length)
		}
		// The phone's speech is replaced while it acknowledges, and back after.
		if a := goertzelAmplitude(mic[start+40:end-40], 1000); a > pcm.Amplitude(-40) {
			t.Errorf("frame %d: speech under the acknowledgement at %.1f dBm0", frameSamples, pcm.Level(a))
		}
		if a := goertzelAmplitude(mic[end+80:end+880], 1000); math.Abs(pcm.Level(a)+10) > 0.5 {
			t.Errorf("frame %d: speech after the acknowledgement at %.1f dBm0, want -10", frameSamples, pcm.Level(a))
		}
		// GET /state reports the count.
		rec := httptest.NewRecorder()
		b.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/state", nil))
		if body := rec.Body.String(); rec.Code != http.StatusOK || !strings.Contains(body, `"cas_acks":1`) {
			t.Errorf("GET /state: %d %s", rec.Code, body)
		}
	}
}

// TestPhoneIgnoresWhatIsNotCAS: the phone stays quiet for sounds that
// share some of the CAS's features but are not one, and for a CAS while
// on-hook (the DT-AS of on-hook caller ID uses the same tones) or with
// NoCASAck set.
func TestPhoneIgnoresWhatIsNotCAS(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]int16, 8000)
	for i := range noise {
		noise[i] = int16(rng.NormFloat64() * pcm.Amplitude(-10) / math.Sqrt2)
	}
	loud := tone(80*time.Millisecond, -7, 1000)
	mixed := make([]int16, len(cas))
	for i := range mixed {
		mixed[i] = cas[i] + loud[i]
	}
	twisted := tone(80*time.Millisecond, -10, casLow)
	for i, v := range tone(80*time.Millisecond, -20, casHigh) {
		twisted[i] += v
	}
	cases := []struct {
		name    string
		opts    Opts
		offHook bool
		ear     []int16
	}{
		{"2130 Hz alone", Opts{}, true, cat(gap(time.Second), tone(80*time.Millisecond, -13.5, casLow), gap(time.Second))},
		{"2750 Hz alone", Opts{}, true, cat(gap(time.Second), tone(80*time.Millisecond, -13.5, casHigh), gap(time.Second))},
		{"CAS under a louder 1 kHz tone", Opts{}, true, cat(gap(time.Second), mixed, gap(time.Second))},
		{"twisted 10 dB", Opts{}, true, cat(gap(time.Second), twisted, gap(time.Second))},
		{"CAS 40 ms", Opts{}, true, cat(gap(time.Second), cas[:320], gap(time.Second))},
		{"dual tone 500 ms", Opts{}, true, cat(gap(time.Second), tone(500*time.Millisecond, -13.5, casLow, casHigh), gap(time.Second))},
		{"white noise", Opts{}, true, noise},
		{"CAS too weak", Opts{}, true, cat(gap(time.Second), tone(80*time.Millisecond, -45, casLow, casHigh), gap(time.Second))},
		{"on-hook", Opts{}, false, cat(gap(time.Second), cas, gap(time.Second))},
		{"NoCASAck", Opts{NoCASAck: true}, true, cat(gap(time.Second), sas, cas, gap(time.Second))},
	}
	for _, c := range cases {
		mic, st, _ := casRun(t, c.opts, c.offHook, c.ear)
		if st.CASAcks != 0 {
			t.Errorf("%s: cas_acks %d, want 0", c.name, st.CASAcks)
		}
		if evs := dtmf.NewDetector().Process(mic); len(evs) != 0 {
			t.Errorf("%s: the phone sent keys %+v", c.name, evs)
		}
	}
}

func TestStepWithCASAllocatesNothing(t *testing.T) {
	p := busyPort(t)
	ear := cat(sas, cas, gap(200*time.Millisecond))
	h := &earHandler{ear: ear}
	var at time.Duration
	allocs := testing.AllocsPerRun(500, func() {
		at += p.frameDur
		p.step(h, at)
	})
	if allocs != 0 {
		t.Errorf("frame step allocates %.1f times per frame; want 0", allocs)
	}
	if p.casAcks == 0 {
		t.Error("the phone never acknowledged: the CAS path was not exercised")
	}
}

// earHandler plays ear in a loop and records nothing.
type earHandler struct {
	ear []int16
	pos int
}

func (h *earHandler) HookEdge(board.HookEdge) {}

func (h *earHandler) Frame(at time.Duration, mic, ear []int16) {
	for i := range ear {
		ear[i] = h.ear[h.pos]
		h.pos = (h.pos + 1) % len(h.ear)
	}
}
