package fxs

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/board"
	"github.com/openata/ata/board/pcm"
	"github.com/openata/ata/config"
	"github.com/openata/ata/fxs/callerid"
	"github.com/openata/ata/fxs/callerid/minimodemtest"
	"github.com/openata/ata/fxs/dtmf"
	"github.com/openata/ata/fxs/region"
)

// fakeHW is a board port driven by the test, frame by frame.
type fakeHW struct {
	now      time.Duration
	rings    []edge
	reversal []edge
}

type edge struct {
	at time.Duration
	on bool
}

func (f *fakeHW) Run(ctx context.Context, h board.Handler) error { <-ctx.Done(); return nil }
func (f *fakeHW) FrameSamples() int                              { return board.FrameSamples20ms }
func (f *fakeHW) SetRing(on bool) error {
	f.rings = append(f.rings, edge{f.now, on})
	return nil
}
func (f *fakeHW) SetReversed(on bool) error {
	f.reversal = append(f.reversal, edge{f.now, on})
	return nil
}

// rig drives a Port through simulated time and records the earpiece.
type rig struct {
	t   *testing.T
	hw  *fakeHW
	p   *Port
	now time.Duration
	mic []int16 // queued mouthpiece audio
	ear []int16 // everything the earpiece played
}

const frame = 20 * time.Millisecond

func newRig(t *testing.T, regionCode string, edit func(*config.Phone)) *rig {
	t.Helper()
	c := config.Default().Phone
	c.Region = regionCode
	if edit != nil {
		edit(&c)
	}
	opts, err := OptionsFromConfig(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	hw := &fakeHW{}
	p, err := New(hw, opts)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, hw: hw, p: p}
	p.HookEdge(board.HookEdge{At: 0, OffHook: false})
	return r
}

// run advances d of board time, frame by frame.
func (r *rig) run(d time.Duration) {
	mic := make([]int16, board.FrameSamples20ms)
	ear := make([]int16, board.FrameSamples20ms)
	for end := r.now + d; r.now < end; {
		n := copy(mic, r.mic)
		clear(mic[n:])
		r.mic = r.mic[n:]
		r.now += frame
		r.hw.now = r.now
		r.p.Frame(r.now, mic, ear)
		r.ear = append(r.ear, ear...)
	}
}

// hook changes the loop state now (plus an offset inside the next frame).
func (r *rig) hook(offHook bool, offset time.Duration) {
	r.p.HookEdge(board.HookEdge{At: r.now + offset, OffHook: offHook})
}

// events drains what the port reported so far.
func (r *rig) events() []Event {
	var out []Event
	for {
		select {
		case e := <-r.p.Events():
			out = append(out, e)
		default:
			return out
		}
	}
}

func (r *rig) earSince(from time.Duration) []int16 {
	return r.ear[int(from/time.Second*board.SampleRate)+int(from%time.Second)*board.SampleRate/int(time.Second):]
}

// power is the level in dBm0 of frequency f in x (a Goertzel filter).
func power(x []int16, f float64) float64 {
	w := 2 * math.Pi * f / board.SampleRate
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s := float64(v) + c*s1 - s2
		s2, s1 = s1, s
	}
	mag := math.Sqrt(s1*s1+s2*s2-c*s1*s2) * 2 / float64(len(x))
	return pcm.Level(mag)
}

func rmsLevel(x []int16) float64 {
	var e float64
	for _, v := range x {
		e += float64(v) * float64(v)
	}
	return pcm.RMSLevel(math.Sqrt(e / float64(len(x))))
}

func dtmfAudio(t *testing.T, keys string) []int16 {
	var g dtmf.Generator
	var out []int16
	buf := make([]int16, 80*7) // 70 ms
	for i := 0; i < len(keys); i++ {
		if err := g.Start(keys[i], -7, 2); err != nil {
			t.Fatal(err)
		}
		g.Fill(buf)
		g.Stop()
		out = append(out, buf...)
		out = append(out, make([]int16, len(buf))...)
	}
	return out
}

func kinds(evs []Event) string {
	var s []string
	for _, e := range evs {
		k := e.Kind.String()
		if e.Key != 0 {
			k += ":" + string(e.Key)
		}
		if e.Number != "" {
			k += ":" + e.Number
		}
		if e.Reason != "" {
			k += ":" + e.Reason
		}
		s = append(s, k)
	}
	return strings.Join(s, " ")
}

func TestDialToneStopsAtFirstDigitAndNumberIsDialled(t *testing.T) {
	r := newRig(t, "us", func(c *config.Phone) { c.DialPlan = "(911|[2-9]xxxxxx)" })
	r.hook(true, 5*time.Millisecond)
	r.p.PlayTone(region.Dial)
	r.p.Collect()
	r.run(time.Second)
	dial := r.earSince(200 * time.Millisecond)
	for _, f := range []float64{350, 440} {
		if l := power(dial, f); math.Abs(l-(-13)) > 1.5 {
			t.Errorf("dial tone %v Hz at %.1f dBm0, want about -13", f, l)
		}
	}
	if got := kinds(r.events()); got != "off-hook" {
		t.Fatalf("events %q", got)
	}
	start := r.now
	r.mic = dtmfAudio(t, "5551234")
	r.run(1500 * time.Millisecond)
	// After the first digit (70 ms tone, detected within ~40 ms) the earpiece is silent.
	if l := rmsLevel(r.earSince(start + 200*time.Millisecond)); l > -60 {
		t.Errorf("earpiece at %.1f dBm0 after the first digit: dial tone not stopped", l)
	}
	got := kinds(r.events())
	want := "digit-down:5 digit-up:5 digit-down:5 digit-up:5 digit-down:5 digit-up:5 digit-down:1 digit-up:1 digit-down:2 digit-up:2 digit-down:3 digit-up:3 digit-down:4 dialed:5551234 digit-up:4"
	if got != want {
		t.Fatalf("events\n got %s\nwant %s", got, want)
	}
}

func TestInterDigitTimeoutDialsOpenEndedNumber(t *testing.T) {
	r := newRig(t, "de", nil) // default plan (*xx|xx.T), 4 s inter-digit timer
	r.hook(true, 0)
	r.p.Collect()
	r.run(100 * time.Millisecond)
	r.mic = dtmfAudio(t, "0301")
	r.run(2 * time.Second)
	for _, e := range r.events() {
		if e.Kind == Dialed {
			t.Fatalf("dialled before the timeout: %+v", e)
		}
	}
	r.run(3 * time.Second)
	evs := r.events()
	last := evs[len(evs)-1]
	if last.Kind != Dialed || last.Number != "0301" {
		t.Fatalf("events %s", kinds(evs))
	}
	// The last digit ended at about 100 ms + 4·140 ms = 660 ms; dial 4 s later.
	if last.At < 4500*time.Millisecond || last.At > 4800*time.Millisecond {
		t.Errorf("dialled at %v, want about 4.66 s", last.At)
	}
}

func TestPulseDialling(t *testing.T) {
	r := newRig(t, "uk", func(c *config.Phone) { c.DialPlan = "(xxx)" })
	r.hook(true, 0)
	r.p.Collect()
	r.run(500 * time.Millisecond)
	// Dial 3, 0, 9 at 10 pps: 60 ms break, 40 ms make, 700 ms between digits.
	for _, d := range []int{3, 10, 9} {
		for i := 0; i < d; i++ {
			r.hook(false, 0)
			r.run(60 * time.Millisecond)
			r.hook(true, 0)
			r.run(40 * time.Millisecond)
		}
		r.run(700 * time.Millisecond)
	}
	got := kinds(r.events())
	if want := "off-hook digit-down:3 digit-down:0 digit-down:9 dialed:309"; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
}

func TestFlashAndHangUp(t *testing.T) {
	r := newRig(t, "us", nil)
	r.hook(true, 0)
	r.run(time.Second)
	r.hook(false, 0)
	r.run(400 * time.Millisecond)
	r.hook(true, 0)
	r.run(time.Second)
	r.hook(false, 0)
	r.run(2 * time.Second)
	got := kinds(r.events())
	if got != "off-hook flash on-hook" {
		t.Fatalf("events %q", got)
	}
}

func TestFirstDigitTimeout(t *testing.T) {
	r := newRig(t, "us", func(c *config.Phone) { c.FirstDigitTimeout = config.Duration(5 * time.Second) })
	r.hook(true, 0)
	r.p.PlayTone(region.Dial)
	r.p.Collect()
	r.run(6 * time.Second)
	evs := r.events()
	if got := kinds(evs); got != "off-hook dial-failed:timeout" {
		t.Fatalf("events %q", got)
	}
	if at := evs[1].At; at < 5*time.Second || at > 5100*time.Millisecond {
		t.Errorf("timeout at %v, want 5 s", at)
	}
}

// ringSchedule checks the ring edges against a cadence from start, within
// one frame.
func checkRings(t *testing.T, rings []edge, start time.Duration, c region.Cadence, until time.Duration) {
	t.Helper()
	var want []edge
	at, on := start, true
	for i := 0; at < until; i++ {
		want = append(want, edge{at, on})
		at += c[i%len(c)]
		on = !on
	}
	if len(rings) < len(want) {
		t.Fatalf("got %d ring edges %v, want %d %v", len(rings), rings, len(want), want)
	}
	for i, w := range want {
		g := rings[i]
		if g.on != w.on || g.at < w.at || g.at > w.at+frame {
			t.Fatalf("ring edge %d = %v, want %v (within one frame after)", i, g, w)
		}
	}
}

var callTime = time.Date(2026, 11, 23, 17, 45, 0, 0, time.UTC)

func TestRingCadenceEveryRegion(t *testing.T) {
	for _, code := range region.Codes() {
		t.Run(code, func(t *testing.T) {
			r := newRig(t, code, func(c *config.Phone) { c.CallerID = "none" })
			r.run(100 * time.Millisecond)
			start := r.now
			r.p.Ring(&callerid.Info{Time: callTime, Number: "5551234"})
			r.run(20 * time.Second)
			checkRings(t, r.hw.rings, start, r.p.opts.Ring, start+20*time.Second)
		})
	}
}

func TestOffHookStopsRinging(t *testing.T) {
	r := newRig(t, "us", nil)
	r.run(100 * time.Millisecond)
	r.p.Ring(nil)
	r.run(time.Second)
	if !r.p.IsRinging() || len(r.hw.rings) != 1 || !r.hw.rings[0].on {
		t.Fatalf("not ringing: %v", r.hw.rings)
	}
	r.hook(true, 3*time.Millisecond)
	r.run(frame)
	if r.p.IsRinging() || len(r.hw.rings) != 2 || r.hw.rings[1].on {
		t.Fatalf("ring not stopped at off-hook: %v", r.hw.rings)
	}
	if got := kinds(r.events()); got != "off-hook" {
		t.Fatalf("events %q", got)
	}
}

// TestCallerIDBetweenRingsDecodes checks GR-30 timing for Bell 202 (US)
// and ETSI FSK after the first ring (DE), decoding the port's own earpiece
// audio with minimodem.
func TestCallerIDBetweenRingsDecodes(t *testing.T) {
	for _, tc := range []struct {
		region string
		v23    bool
	}{{"us", false}, {"de", true}} {
		t.Run(tc.region, func(t *testing.T) {
			r := newRig(t, tc.region, func(c *config.Phone) {
				if tc.region == "de" {
					c.CallerID = "etsi-fsk"
				}
			})
			r.run(100 * time.Millisecond)
			start := r.now
			r.p.Ring(&callerid.Info{Time: callTime, Number: "5551234", Name: "ADA LOVELACE"})
			r.run(8 * time.Second)
			rings := r.hw.rings
			if len(rings) < 3 {
				t.Fatalf("ring edges %v", rings)
			}
			ring1End, ring2Start := rings[1].at, rings[2].at
			// Find where the FSK is in the earpiece audio: 10 ms blocks above -40 dBm0.
			ear := r.earSince(start)
			first, last := time.Duration(-1), time.Duration(-1)
			for i := 0; i+80 <= len(ear); i += 80 {
				if rmsLevel(ear[i:i+80]) > -40 {
					at := start + time.Duration(i)*time.Second/board.SampleRate
					if first < 0 {
						first = at
					}
					last = at + 10*time.Millisecond
				}
			}
			if first < 0 {
				t.Fatal("no caller-ID audio in the earpiece")
			}
			if first-ring1End < 500*time.Millisecond {
				t.Errorf("FSK starts %v after ring 1 ends, want ≥ 500 ms", first-ring1End)
			}
			if ring2Start-last < 200*time.Millisecond {
				t.Errorf("FSK ends %v before ring 2, want ≥ 200 ms", ring2Start-last)
			}
			info := minimodemtest.MDMF(t, ear, tc.v23)
			if info.Number != "5551234" || info.Name != "ADA LOVELACE" {
				t.Fatalf("minimodem decoded %+v", info)
			}
		})
	}
}

// TestCallerIDBeforeRingUK checks the BT SIN 227 order: line reversal,
// DT-AS, FSK, polarity restored, then the first ring.
func TestCallerIDBeforeRingUK(t *testing.T) {
	r := newRig(t, "uk", func(c *config.Phone) { c.CallerID = "etsi-fsk-dtas" })
	r.run(100 * time.Millisecond)
	start := r.now
	r.p.Ring(&callerid.Info{Time: callTime, Number: "02079460000", NameAbsent: callerid.Private})
	r.run(4 * time.Second)
	if len(r.hw.reversal) != 2 || !r.hw.reversal[0].on || r.hw.reversal[1].on {
		t.Fatalf("polarity edges %v, want reverse then restore", r.hw.reversal)
	}
	if len(r.hw.rings) == 0 || r.hw.rings[0].at < r.hw.reversal[1].at {
		t.Fatalf("first ring %v before polarity restored %v", r.hw.rings, r.hw.reversal)
	}
	ear := r.earSince(start)
	dtasAt := -1
	for i := 0; i+400 <= len(ear); i += 40 {
		if power(ear[i:i+400], callerid.AlertLow) > -30 && power(ear[i:i+400], callerid.AlertHigh) > -30 {
			dtasAt = i
			break
		}
	}
	if dtasAt < 0 {
		t.Fatal("no DT-AS (2130+2750 Hz) before ringing")
	}
	if at := start + time.Duration(dtasAt)*time.Second/board.SampleRate; at-r.hw.reversal[0].at < 100*time.Millisecond {
		t.Errorf("DT-AS %v after the reversal, want ≥ 100 ms", at-r.hw.reversal[0].at)
	}
	info := minimodemtest.MDMF(t, ear, true)
	if info.Number != "02079460000" || info.NameAbsent != callerid.Private {
		t.Fatalf("minimodem decoded %+v", info)
	}
}

func TestDTMFCallerIDBeforeRingNL(t *testing.T) {
	r := newRig(t, "nl", func(c *config.Phone) { c.CallerID = "dtmf" })
	r.run(100 * time.Millisecond)
	start := r.now
	r.p.Ring(&callerid.Info{Time: callTime, Number: "0201234567"})
	r.run(5 * time.Second)
	if len(r.hw.rings) == 0 {
		t.Fatal("never rang")
	}
	firstRing := r.hw.rings[0].at
	ear := r.earSince(start)
	d := dtmf.NewDetector()
	var keys []byte
	var lastKey time.Duration
	for i := 0; i+160 <= len(ear); i += 160 {
		for _, e := range d.Process(ear[i : i+160]) {
			if e.Down {
				keys = append(keys, e.Key)
			} else {
				lastKey = start + time.Duration(e.At)*time.Second/board.SampleRate
			}
		}
	}
	if string(keys) != "A0201234567C" {
		t.Fatalf("DTMF caller ID %q", keys)
	}
	if firstRing-lastKey < 200*time.Millisecond {
		t.Errorf("first ring %v after the last digit, want ≥ 200 ms", firstRing-lastKey)
	}
}

func TestUnknownRegionNamesKnownOnes(t *testing.T) {
	c := config.Default().Phone
	c.Region = "xx"
	_, err := OptionsFromConfig(c, nil)
	if err == nil || !strings.Contains(err.Error(), "phone.region") || !strings.Contains(err.Error(), "us") || !strings.Contains(err.Error(), "de") {
		t.Fatalf("error %v", err)
	}
	c = config.Default().Phone
	c.CallerID = "fax"
	if _, err = OptionsFromConfig(c, nil); err == nil || !strings.Contains(err.Error(), "bell202") {
		t.Fatalf("error %v", err)
	}
	c = config.Default().Phone
	c.DialPlan = "(12[3-"
	if _, err = OptionsFromConfig(c, nil); err == nil || !strings.Contains(err.Error(), "phone.dial_plan") {
		t.Fatalf("error %v", err)
	}
}

func TestFrameAllocatesNothing(t *testing.T) {
	r := newRig(t, "us", nil)
	r.hook(true, 0)
	r.p.PlayTone(region.Dial)
	r.p.Collect()
	r.run(100 * time.Millisecond)
	mic := dtmfAudio(t, "1")[:160]
	ear := make([]int16, 160)
	allocs := testing.AllocsPerRun(200, func() {
		r.now += frame
		r.p.Frame(r.now, mic, ear)
	})
	if allocs != 0 {
		t.Fatalf("Frame allocates %v times per call", allocs)
	}
}

// BenchmarkFrame20ms is one 20 ms frame of the port's steady state off-hook:
// DTMF detection on the mouthpiece, tone generation into the earpiece,
// hook and dial-plan timers.
func BenchmarkFrame20ms(b *testing.B) {
	c := config.Default().Phone
	opts, err := OptionsFromConfig(c, nil)
	if err != nil {
		b.Fatal(err)
	}
	p, err := New(&fakeHW{}, opts)
	if err != nil {
		b.Fatal(err)
	}
	p.HookEdge(board.HookEdge{At: 0, OffHook: true})
	p.PlayTone(region.Dial)
	mic := make([]int16, 160)
	for i := range mic {
		mic[i] = int16(300 * math.Sin(float64(i)*0.3)) // speech-like noise, no digit
	}
	ear := make([]int16, 160)
	now := time.Duration(0)
	b.ReportAllocs()
	for b.Loop() {
		now += frame
		p.Frame(now, mic, ear)
	}
}

// TestRingStartsAtOnce: the ring voltage goes on when Ring is called, not
// at the next frame (an INVITE should ring the bell within milliseconds);
// with before-ring caller ID the signal comes first.
func TestRingStartsAtOnce(t *testing.T) {
	r := newRig(t, "us", nil)
	r.run(100 * time.Millisecond)
	r.p.Ring(&callerid.Info{Time: callTime, Number: "5551234"})
	if len(r.hw.rings) != 1 || !r.hw.rings[0].on {
		t.Fatalf("ring edges right after Ring: %v", r.hw.rings)
	}
	r.run(3 * time.Second)
	if len(r.hw.rings) != 2 || r.hw.rings[1].at < 2*time.Second {
		t.Fatalf("ring edges %v: the first burst must still last 2 s", r.hw.rings)
	}
	// Ring then StopRing before a frame ran: the bell stops at the next frame.
	r2 := newRig(t, "us", nil)
	r2.run(100 * time.Millisecond)
	r2.p.Ring(nil)
	r2.p.StopRing()
	r2.run(frame)
	if len(r2.hw.rings) != 2 || r2.hw.rings[1].on {
		t.Fatalf("ring edges %v, want on then off", r2.hw.rings)
	}
	// UK: line reversal and DT-AS precede the first ring.
	r3 := newRig(t, "uk", nil)
	r3.run(100 * time.Millisecond)
	r3.p.Ring(&callerid.Info{Time: callTime, Number: "020"})
	if len(r3.hw.rings) != 0 {
		t.Fatalf("UK rang before its caller ID: %v", r3.hw.rings)
	}
}

// recAudio records what the port hands a call's audio.
type recAudio struct{ mic []int16 }

func (a *recAudio) Exchange(mic, ear []int16) {
	a.mic = append(a.mic, mic...)
	clear(ear)
}

func TestMuteDTMFKeepsKeysOutOfTheCall(t *testing.T) {
	for _, mute := range []bool{true, false} {
		r := newRig(t, "us", nil)
		r.hook(true, 0)
		a := &recAudio{}
		r.p.Connect(a)
		r.p.MuteDTMF(mute)
		r.run(100 * time.Millisecond)
		r.mic = dtmfAudio(t, "5")
		r.run(300 * time.Millisecond)
		// The tone plays from 100 ms for 70 ms; after ~35 ms of it the key is known.
		key := a.mic[int(0.14*board.SampleRate):int(0.17*board.SampleRate)]
		lvl := power(key, 1336)
		if mute && lvl > -60 {
			t.Errorf("muted: the key's tone reached the call at %.1f dBm0", lvl)
		}
		if !mute && lvl < -15 {
			t.Errorf("not muted: the key's tone is missing from the call (%.1f dBm0)", lvl)
		}
		if got := kinds(r.events()); got != "off-hook digit-down:5 digit-up:5" {
			t.Fatalf("events %q", got)
		}
	}
}
