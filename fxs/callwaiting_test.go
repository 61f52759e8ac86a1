package fxs

import (
	"context"
	"io"
	"log/slog"
	"math"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/openata/ata/board"
	"github.com/openata/ata/board/pcm"
	"github.com/openata/ata/board/sim"
	"github.com/openata/ata/config"
	"github.com/openata/ata/fxs/callerid"
	"github.com/openata/ata/fxs/callerid/minimodemtest"
	"github.com/openata/ata/fxs/dtmf"
	"github.com/openata/ata/fxs/region"
)

// bubbleClock paces the sim board on the synctest bubble's fake time.
type bubbleClock struct{ origin time.Time }

func (c bubbleClock) Now() time.Duration { return time.Since(c.origin) }

func (c bubbleClock) SleepUntil(ctx context.Context, t time.Duration) error {
	if d := t - c.Now(); d > 0 {
		tm := time.NewTimer(d)
		defer tm.Stop()
		select {
		case <-ctx.Done():
		case <-tm.C:
		}
	}
	return ctx.Err()
}

// tap sits between the sim board and the port and keeps the mouthpiece
// the port hears and the earpiece it plays, from board time 0.
type tap struct {
	h        board.Handler
	mic, ear []int16
}

func (tp *tap) HookEdge(e board.HookEdge) { tp.h.HookEdge(e) }

func (tp *tap) Frame(at time.Duration, mic, ear []int16) {
	tp.mic = append(tp.mic, mic...)
	tp.h.Frame(at, mic, ear)
	tp.ear = append(tp.ear, ear...)
}

// simCall runs a port of region on the sim board in a synctest bubble:
// the virtual phone is off-hook, talking (1 kHz at -10 dBm0), in a call
// with far, when fn starts.
func simCall(t *testing.T, regionCode string, simOpts sim.Opts, fn func(t *testing.T, p *Port, tp *tap, far *farAudio)) {
	synctest.Test(t, func(t *testing.T) {
		c := config.Default().Phone
		c.Region = regionCode
		opts, err := OptionsFromConfig(c, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		simOpts.Clock = bubbleClock{origin: time.Now()}
		simOpts.Logger = opts.Logger
		b, err := sim.New(simOpts)
		if err != nil {
			t.Fatal(err)
		}
		p, err := New(b.Port(), opts)
		if err != nil {
			t.Fatal(err)
		}
		tp := &tap{h: p}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- b.Port().Run(ctx, tp) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}()
		sleep(100 * time.Millisecond)
		if err := b.Phone().Hook(ctx, sim.HookOff); err != nil {
			t.Fatal(err)
		}
		say := pcm.NewSine(1000, pcm.Amplitude(-10), board.SampleRate)
		speech := make([]int16, 8000*10)
		for i := range speech {
			speech[i] = pcm.Clip16(say.Next())
		}
		if err := b.Phone().Speak(speech); err != nil {
			t.Fatal(err)
		}
		far := newFarAudio()
		far.tap = tp
		p.Connect(far)
		sleep(500 * time.Millisecond)
		fn(t, p, tp, far)
	})
}

// sleep lets d of bubble time pass, and the board finish the frames due by then.
func sleep(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func drain(p *Port) []Event {
	var out []Event
	for {
		select {
		case e := <-p.Events():
			out = append(out, e)
		default:
			return out
		}
	}
}

// blocks finds, in 5 ms steps, the first block at or after from (samples)
// where f is above -30 dBm0 (on) or below -50 dBm0 (!on).
func findBlock(x []int16, from int, f float64, on bool) int {
	for i := from; i+40 <= len(x); i += 40 {
		l := power(x[i:i+40], f)
		if on && l > -30 || !on && l < -50 {
			return i
		}
	}
	return -1
}

var waiting = callerid.Info{
	Time:   time.Date(2025, 3, 14, 15, 9, 0, 0, time.UTC),
	Number: "5551234",
	Name:   "ADA LOVELACE",
}

// TestCallWaitingIDOnSimPhone: in a call on the sim board, CallWaitingID
// plays SAS then CAS in place of the call's audio; the virtual phone
// answers 'D'; 50–100 ms after the answer the caller ID follows as FSK,
// which minimodem decodes to the number and name (Bell 202 for us, V.23
// for the ETSI regions); then the call's audio is back. The far end hears
// exact silence from the SAS to the end of the FSK (neither the phone's
// speech nor its 'D'), and call control gets CallWaitingIDSent, no digit.
func TestCallWaitingIDOnSimPhone(t *testing.T) {
	for _, tc := range []struct {
		region string
		v23    bool
	}{{"us", false}, {"de", true}, {"uk", true}} {
		t.Run(tc.region, func(t *testing.T) {
			simCall(t, tc.region, sim.Opts{}, func(t *testing.T, p *Port, tp *tap, far *farAudio) {
				if !p.CallWaitingIDSupported() {
					t.Fatal("CallWaitingIDSupported false")
				}
				from := len(tp.ear)
				p.CallWaitingID(&waiting)
				sleep(1500 * time.Millisecond)
				evs := drain(p)
				if got := kinds(evs); got != "off-hook call-waiting-id-sent:D" {
					t.Fatalf("events %q, want off-hook then call-waiting-id-sent with the key D", got)
				}
				ear, mic := tp.ear, tp.mic
				sasAt := from // the next frame
				if l := power(ear[from-160:from], farHz); math.Abs(l+10) > 0.5 {
					t.Errorf("the far end's audio before the sequence at %.1f dBm0", l)
				}
				casAt := sasAt + samplesOf(callerid.SASDuration)
				casEnd := casAt + samplesOf(callerid.CASDuration)
				sentAt := samplesOf(evs[1].At)
				for _, f := range []float64{callerid.AlertLow, callerid.AlertHigh} {
					if l := power(ear[casAt:casEnd], f); l < -20 {
						t.Errorf("CAS %v Hz at %.1f dBm0", f, l)
					}
				}
				want := p.Region().Tone(region.CallWaiting).Level // the SAS is the region's call-waiting tone's level
				if l := power(ear[sasAt:sasAt+2400], callerid.SASFrequency); math.Abs(l-want) > 0.5 {
					t.Errorf("SAS at %.1f dBm0, want %v", l, want)
				}
				if l := power(ear[sasAt:sentAt], farHz); l > -50 {
					t.Errorf("the far end's audio under the sequence at %.1f dBm0", l)
				}
				// The phone's answer, as the port heard it.
				var down, up int64 = -1, -1
				for _, e := range dtmf.NewDetector().Process(mic[casAt:]) {
					if e.Key == 'D' && e.Down && down < 0 {
						down = int64(casAt) + e.At
					}
					if e.Key == 'D' && !e.Down && up < 0 {
						up = int64(casAt) + e.At
					}
				}
				if down < 0 || up < 0 {
					t.Fatal("no 'D' from the phone")
				}
				if d := samplesDur(int(down) - casEnd); d < 0 || d > callerid.CASAckTimeout {
					t.Errorf("the phone answered %v after the CAS", d)
				}
				fskAt := casEnd
				for fskAt < sentAt && ear[fskAt] == 0 {
					fskAt++
				}
				t.Logf("answer %v after the CAS, %v long; FSK %v after it, %v long",
					samplesDur(int(down)-casEnd), samplesDur(int(up-down)), samplesDur(fskAt-int(up)), samplesDur(sentAt-fskAt))
				if d := samplesDur(fskAt - int(up)); d < 50*time.Millisecond || d > 100*time.Millisecond {
					t.Errorf("FSK %v after the answer ended, want 50–100 ms", d)
				}
				info := minimodemtest.MDMF(t, ear[fskAt-400:sentAt+400], tc.v23)
				if info.Number != waiting.Number || info.Name != waiting.Name {
					t.Errorf("minimodem decoded %+v", info)
				}
				// Call audio back within a frame of the end.
				if l := power(ear[sentAt+160:sentAt+160+1600], farHz); math.Abs(l+10) > 0.5 {
					t.Errorf("the far end's audio after the sequence at %.1f dBm0", l)
				}
				// The far end: silence from the SAS's frame to the FSK's end.
				for i := sasAt; i < sentAt; i++ {
					if far.mic[i] != 0 {
						t.Fatalf("the far end heard %d at %v (sequence %v..%v)", far.mic[i], samplesDur(i), samplesDur(sasAt), samplesDur(sentAt))
					}
				}
				if l := power(far.mic[sasAt-1600:sasAt], 1000); math.Abs(l+10) > 0.5 {
					t.Errorf("the phone's speech before the sequence reached the far end at %.1f dBm0", l)
				}
				if l := power(far.mic[sentAt+160:sentAt+1760], 1000); math.Abs(l+10) > 0.5 {
					t.Errorf("the phone's speech after the sequence reached the far end at %.1f dBm0", l)
				}
			})
		})
	}
}

// TestCallWaitingIDWithoutAck: a phone that does not answer the CAS (the
// sim phone with NoCASAck) gets no FSK; the call's audio is back about
// 200 ms after the CAS (160 ms to answer, 40 ms to recognise a key) and
// the far end heard silence until then; CallWaitingIDNoAck is reported.
func TestCallWaitingIDWithoutAck(t *testing.T) {
	simCall(t, "us", sim.Opts{NoCASAck: true}, func(t *testing.T, p *Port, tp *tap, far *farAudio) {
		from := len(tp.ear)
		p.CallWaitingID(&waiting)
		sleep(1500 * time.Millisecond)
		evs := drain(p)
		if got := kinds(evs); got != "off-hook call-waiting-id-no-ack:"+CWNoAck {
			t.Fatalf("events %q", got)
		}
		ear := tp.ear
		sasAt := from
		if l := power(ear[sasAt:sasAt+2400], callerid.SASFrequency); math.Abs(l+13) > 1 {
			t.Errorf("SAS at %.1f dBm0, want about -13", l)
		}
		casEnd := sasAt + samplesOf(callerid.SASDuration+callerid.CASDuration)
		back := findBlock(ear, casEnd, farHz, true)
		if d := samplesDur(back - casEnd); d < 190*time.Millisecond || d > 220*time.Millisecond {
			t.Errorf("call audio back %v after the CAS, want about 200 ms", d)
		}
		for _, f := range []float64{1200, 2200, 1300, 2100} {
			if l := power(ear[casEnd:], f); l > -50 {
				t.Errorf("FSK tone %v Hz at %.1f dBm0 without an answer", f, l)
			}
		}
		for i := sasAt; i < back-160; i++ {
			if far.mic[i] != 0 {
				t.Fatalf("the far end heard %d at %v", far.mic[i], samplesDur(i))
			}
		}
	})
}

// cwRig is a port on the fake board in a call, ready for CallWaitingID at
// r.now; casEnd is when its CAS will end.
func cwRig(t *testing.T, regionCode string) (r *rig, far *farAudio, casEnd time.Duration) {
	r = newRig(t, regionCode, nil)
	r.hook(true, 0)
	far = newFarAudio()
	r.p.Connect(far)
	r.run(200 * time.Millisecond)
	drain(r.p)
	return r, far, r.now + callerid.SASDuration + callerid.CASDuration
}

func keyTone(t *testing.T, key byte, d time.Duration) []int16 {
	var g dtmf.Generator
	if err := g.Start(key, -8, 2); err != nil {
		t.Fatal(err)
	}
	out := make([]int16, samplesOf(d))
	g.Fill(out)
	return out
}

// TestCallWaitingIDAckWindow: the answer counts when it is 'D' or 'A' and
// starts within 160 ms of the CAS's end; it is not a digit for call
// control. A late 'D', or another key, is no answer: no FSK, and the key
// is reported as the digit it is.
func TestCallWaitingIDAckWindow(t *testing.T) {
	for _, tc := range []struct {
		key    byte
		after  time.Duration // from the CAS's end to the key
		events string
	}{
		{'D', 0, "call-waiting-id-sent:D"},
		{'D', 140 * time.Millisecond, "call-waiting-id-sent:D"},
		{'A', 20 * time.Millisecond, "call-waiting-id-sent:A"},
		{'D', 168 * time.Millisecond, "digit-down:D call-waiting-id-no-ack:" + CWNoAck + " digit-up:D"},
		{'D', 190 * time.Millisecond, "call-waiting-id-no-ack:" + CWNoAck + " digit-down:D digit-up:D"},
		{'5', 20 * time.Millisecond, "digit-down:5 digit-up:5 call-waiting-id-no-ack:" + CWNoAck},
	} {
		r, _, casEnd := cwRig(t, "us")
		r.p.CallWaitingID(&waiting)
		r.mic = append(make([]int16, samplesOf(casEnd-r.now+tc.after)), keyTone(t, tc.key, 60*time.Millisecond)...)
		r.run(1500 * time.Millisecond)
		if got := kinds(r.events()); got != tc.events {
			t.Errorf("%c %v after the CAS: events %q, want %q", tc.key, tc.after, got, tc.events)
		}
	}
}

// TestCallWaitingIDRefusals: a standard without FSK, an on-hook phone or
// a sequence already under way each get CallWaitingIDNoAck with a reason,
// and CallWaitingIDSupported tells the FSK standards from the others.
func TestCallWaitingIDRefusals(t *testing.T) {
	for code, want := range map[string]bool{"us": true, "ca": true, "de": true, "uk": true, "nl": false, "jp": false} {
		if got := newRig(t, code, nil).p.CallWaitingIDSupported(); got != want {
			t.Errorf("%s: CallWaitingIDSupported %v", code, got)
		}
	}
	r, _, _ := cwRig(t, "nl")
	r.p.CallWaitingID(&waiting)
	r.run(frame)
	if got := kinds(r.events()); got != "call-waiting-id-no-ack:"+CWUnsupported {
		t.Errorf("nl: events %q", got)
	}
	r = newRig(t, "us", nil)
	r.p.CallWaitingID(&waiting)
	r.run(frame)
	if got := kinds(r.events()); got != "call-waiting-id-no-ack:"+CWOnHook {
		t.Errorf("on-hook: events %q", got)
	}
	r, _, casEnd := cwRig(t, "us")
	r.p.CallWaitingID(&waiting)
	r.run(frame)
	r.p.CallWaitingID(nil)
	r.mic = append(make([]int16, samplesOf(casEnd-r.now+frame)), keyTone(t, 'D', 60*time.Millisecond)...)
	r.run(1500 * time.Millisecond)
	if got := kinds(r.events()); got != "call-waiting-id-no-ack:"+CWBusy+" call-waiting-id-sent:D" {
		t.Errorf("busy: events %q", got)
	}
	// SetOptions switches CallWaitingIDSupported at once.
	o := r.p.latest
	o.CallerID = callerid.DTMF
	if err := r.p.SetOptions(o); err != nil {
		t.Fatal(err)
	}
	if r.p.CallWaitingIDSupported() {
		t.Error("CallWaitingIDSupported after switching to dtmf caller ID")
	}
}

type nopAudio struct{}

func (nopAudio) Exchange(mic, ear []int16) { clear(ear) }

// TestFrameAllocatesNothingInCallWaitingIDAndPlayDTMF: frames through a
// whole call-waiting caller-ID sequence and received DTMF allocate nothing,
// not even once per sequence (which testing.AllocsPerRun would round away).
func TestFrameAllocatesNothingInCallWaitingIDAndPlayDTMF(t *testing.T) {
	r, _, casEnd := cwRig(t, "us")
	r.p.Connect(nopAudio{}) // the recording far end would allocate
	r.p.MuteDTMF(true)
	r.p.CallWaitingID(&waiting)
	for _, k := range "1234567890" {
		r.p.PlayDTMF(byte(k), 100*time.Millisecond)
	}
	mic := append(make([]int16, samplesOf(casEnd-r.now+20*time.Millisecond)), keyTone(t, 'D', 60*time.Millisecond)...)
	mic = append(mic, make([]int16, 8000*3)...)
	ear := make([]int16, board.FrameSamples20ms)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for pos := 0; pos+len(ear) <= len(mic); pos += len(ear) {
		r.now += frame
		r.p.Frame(r.now, mic[pos:pos+len(ear)], ear)
	}
	runtime.ReadMemStats(&after)
	if n := after.Mallocs - before.Mallocs; n != 0 {
		t.Errorf("%d allocations in %d frames", n, len(mic)/len(ear))
	}
	evs := kinds(r.events())
	if evs != "call-waiting-id-sent:D" {
		t.Errorf("events %q: the sequence did not run through", evs)
	}
	if n := r.p.rxCount.Load(); n != 0 {
		t.Errorf("%d received keys still queued: the DTMF path was not run through", n)
	}
}
