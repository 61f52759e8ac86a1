package fxs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/openata/ata/board"
	"github.com/openata/ata/board/echopath"
	"github.com/openata/ata/board/pcm"
	"github.com/openata/ata/board/sim"
	"github.com/openata/ata/config"
	"github.com/openata/ata/fxs/tonedetect"
)

// farPlayer is a call's far end: it plays its queue into the earpiece and
// keeps what the port sends it (the mouthpiece, toward the network).
type farPlayer struct {
	mu    sync.Mutex
	play  []int16
	heard []int16
}

func (f *farPlayer) Exchange(mic, ear []int16) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.heard = append(f.heard, mic...)
	n := copy(ear, f.play)
	clear(ear[n:])
	f.play = f.play[n:]
}

func (f *farPlayer) say(x []int16) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.play = append(f.play, x...)
}

// since is what the far end heard from sample n on.
func (f *farPlayer) since(n int) []int16 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int16(nil), f.heard[n:]...)
}

func (f *farPlayer) heardLen() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.heard)
}

// speechFixture is the espeak-ng speech of fxs/tonedetect/testdata
// (made by make.sh there), scaled by gainDB.
func speechFixture(t *testing.T, gainDB float64) []int16 {
	t.Helper()
	f, err := os.Open("tonedetect/testdata/speech.wav")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	x, err := pcm.DecodeWAV(f)
	if err != nil {
		t.Fatal(err)
	}
	g := math.Pow(10, gainDB/20)
	for i, v := range x {
		x[i] = pcm.Clip16(float64(v) * g)
	}
	return x
}

// lineNoise is white noise at dBm0 (RMS), the line's background.
func lineNoise(n int, dBm0 float64) []int16 {
	r := rand.New(rand.NewPCG(5, 6))
	rms := pcm.Amplitude(dBm0) / math.Sqrt2
	x := make([]int16, n)
	for i := range x {
		x[i] = pcm.Clip16(rms * r.NormFloat64())
	}
	return x
}

// answerTone is 2100 Hz at -12 dBm0 for d, with phase reversals every
// 450 ms and ANSam's 15 Hz modulation when reversals is set.
func answerTone(d time.Duration, reversals bool) []int16 {
	n := int(d * board.SampleRate / time.Second)
	amp := pcm.Amplitude(-12)
	x := make([]int16, n)
	for i := range x {
		t := float64(i) / board.SampleRate
		ph := 2 * math.Pi * 2100 * t
		a := amp
		if reversals {
			if (i/(450*8))%2 == 1 {
				ph += math.Pi
			}
			a *= 1 + 0.2*math.Sin(2*math.Pi*15*t)
		}
		x[i] = pcm.Clip16(a * math.Sin(ph))
	}
	return x
}

func sine(hz, dBm0 float64, n int) []int16 {
	s := pcm.NewSine(hz, pcm.Amplitude(dBm0), board.SampleRate)
	x := make([]int16, n)
	for i := range x {
		x[i] = pcm.Clip16(s.Next())
	}
	return x
}

func meanSquare(x []int16) float64 {
	var e float64
	for _, v := range x {
		e += float64(v) * float64(v)
	}
	return e / float64(len(x))
}

// lineCall runs, in a synctest bubble, a port on the sim board whose line
// has a hybrid (simOpts' Echo*), with the [phone] settings edit makes. The
// virtual phone is off hook, its mouthpiece carries only line noise at
// -75 dBm0, and the port is connected to far when fn starts.
func lineCall(t *testing.T, simOpts sim.Opts, edit func(*config.Phone), fn func(t *testing.T, p *Port, ph *sim.Phone, far *farPlayer)) {
	lineCallSaying(t, simOpts, edit, lineNoise(8000*60, -75), fn)
}

// lineCallSaying is lineCall with the mouthpiece saying near from the
// moment the handset is lifted.
func lineCallSaying(t *testing.T, simOpts sim.Opts, edit func(*config.Phone), near []int16, fn func(t *testing.T, p *Port, ph *sim.Phone, far *farPlayer)) {
	synctest.Test(t, func(t *testing.T) {
		c := config.Default().Phone
		if edit != nil {
			edit(&c)
		}
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
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- p.Run(ctx) }()
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
		if err := b.Phone().Speak(near); err != nil {
			t.Fatal(err)
		}
		far := &farPlayer{}
		p.Connect(far)
		sleep(100 * time.Millisecond)
		fn(t, p, b.Phone(), far)
	})
}

var echoLine = sim.Opts{EchoERL: 6, EchoModel: 1, EchoDelay: 20 * time.Millisecond}

// echoHeard plays the speech fixture from the far end and returns the
// level (dBm0, mean over the speech from 3 s on, after the canceller had
// time to converge) of what came back to it, and the speech's own level
// over the same span.
func echoHeard(t *testing.T, p *Port, far *farPlayer) (echoDB, speechDB float64) {
	speech := speechFixture(t, -3)
	from := far.heardLen()
	far.say(speech)
	sleep(time.Duration(len(speech)) * time.Second / board.SampleRate)
	heard := far.since(from)
	const skip = 3 * board.SampleRate
	n := min(len(heard), len(speech))
	return pcm.RMSLevel(math.Sqrt(meanSquare(heard[skip:n]))), pcm.RMSLevel(math.Sqrt(meanSquare(speech[skip:n])))
}

// With the sim's hybrid at ERL 6 dB behind 20 ms of bulk delay, the far
// end hears its own speech about 6 dB down without the canceller (the
// echo path is there) and at least 40 dB further down with it.
func TestEchoCancelledOnTheSimLine(t *testing.T) {
	var off, on, speech float64
	lineCall(t, echoLine, func(c *config.Phone) { c.EchoCanceller = false }, func(t *testing.T, p *Port, _ *sim.Phone, far *farPlayer) {
		off, speech = echoHeard(t, p, far)
		if s := p.EchoStats(); s.On {
			t.Errorf("echo_canceller = false: EchoStats %+v", s)
		}
	})
	lineCall(t, echoLine, nil, func(t *testing.T, p *Port, _ *sim.Phone, far *farPlayer) {
		on, _ = echoHeard(t, p, far)
		s := p.EchoStats()
		if !s.On || !s.Converged || s.ERL < 3 || s.ERL > 9 || s.ERLE < 20 || s.NLPOff || s.Bypassed || s.DataTone != tonedetect.None {
			t.Errorf("EchoStats %+v: want on, converged, ERL about 6 dB, ERLE over 20 dB, no data tone", s)
		}
		// The echo comes back the sim's bulk delay plus model 1's main
		// arrival (6 samples) after the earpiece: once reported as 0.
		if want := echoLine.EchoDelay + time.Duration(echopath.Peak(echoLine.EchoModel))*time.Second/board.SampleRate; s.Delay < want-time.Millisecond || s.Delay > want+time.Millisecond {
			t.Errorf("EchoStats delay %v, want %v ± 1 ms", s.Delay, want)
		}
	})
	t.Logf("far end speech %.1f dBm0; echo it hears: canceller off %.1f dBm0, on %.1f dBm0 (%.1f dB less)", speech, off, on, off-on)
	if erl := speech - off; erl < 4 || erl > 9 {
		t.Errorf("canceller off: echo %.1f dB below the speech, want the hybrid's 6 dB", erl)
	}
	if off-on < 40 {
		t.Errorf("canceller on: echo only %.1f dB below the canceller-off run, want at least 40", off-on)
	}
}

// A fax answer tone (CED) from the far end turns the NLP off and tells
// call control; the canceller stays in.
func TestCEDTurnsNLPOff(t *testing.T) {
	lineCall(t, echoLine, nil, func(t *testing.T, p *Port, _ *sim.Phone, far *farPlayer) {
		// A converged canceller, whose NLP takes out what is left of an
		// echo while the far end talks alone.
		echoHeard(t, p, far)
		drain(p)
		from := far.heardLen()
		far.say(answerTone(3*time.Second, false))
		sleep(400 * time.Millisecond)
		if s := p.EchoStats(); s.NLPOff || s.DataTone != tonedetect.None {
			t.Fatalf("400 ms into the tone: %+v, too early for CED", s)
		}
		sleep(time.Second)
		s := p.EchoStats()
		if !s.On || !s.NLPOff || s.Bypassed || s.DataTone != tonedetect.CED {
			t.Fatalf("EchoStats %+v: want NLP off, canceller in, CED", s)
		}
		evs := drain(p)
		if len(evs) != 1 || evs[0].Kind != DataTone || evs[0].Tone != tonedetect.CED || !evs[0].FromNetwork {
			t.Fatalf("events %+v: want one data-tone CED from the network", evs)
		}
		// The tone's residual, which the NLP would have replaced with
		// comfort noise (the 2100 Hz bin near -100 dBm0), now reaches the
		// far end while the filter converges on the tone.
		heard := far.since(from)
		loudest := math.Inf(-1)
		for i := int(0.5 * board.SampleRate); i < int(1.4*board.SampleRate); i += 1600 {
			loudest = max(loudest, power(heard[i:i+1600], 2100))
		}
		if loudest < -85 {
			t.Errorf("after CED the tone's residual peaks at %.1f dBm0: the NLP still removes it", loudest)
		}
	})
}

// A phase-reversed answer tone (V.8 ANSam/) from the far end takes the
// canceller out: the far end hears the raw echo again.
func TestANSamWithReversalsBypassesCanceller(t *testing.T) {
	lineCall(t, echoLine, nil, func(t *testing.T, p *Port, _ *sim.Phone, far *farPlayer) {
		// A converged canceller first: the bypass must be what lets the echo through.
		echoHeard(t, p, far)
		drain(p)
		from := far.heardLen()
		far.say(answerTone(3*time.Second, true))
		sleep(3 * time.Second)
		s := p.EchoStats()
		if !s.Bypassed || !s.NLPOff || s.DataTone != tonedetect.ANSPR {
			t.Fatalf("EchoStats %+v: want bypassed, ANSPR", s)
		}
		var pr *Event
		for _, e := range drain(p) {
			if e.Kind == DataTone && e.Tone == tonedetect.ANSPR {
				pr = &e
			}
		}
		if pr == nil || !pr.AM || !pr.FromNetwork {
			t.Fatalf("no data-tone ANSPR event with AM from the network: %+v", pr)
		}
		// Before the second reversal the canceller takes the tone's echo
		// out; from 1.2 s on it comes back as the hybrid returns it: -12
		// dBm0 less model 1's 5.6 dB at 2100 Hz.
		heard := far.since(from)
		if lvl := rmsLevel(heard[int(0.5*board.SampleRate):int(0.8*board.SampleRate)]); lvl > -60 {
			t.Errorf("before the reversals the far end hears its tone at %.1f dBm0: the canceller was not cancelling", lvl)
		}
		if lvl := rmsLevel(heard[int(1.2*board.SampleRate):int(2.8*board.SampleRate)]); lvl < -20 || lvl > -15 {
			t.Errorf("after ANSPR the far end hears its tone at %.1f dBm0, want the raw echo at about -17.6", lvl)
		}
	})
}

// After a data call the next call has the canceller back, NLP on: by
// hanging up and lifting again, or by a new Connect.
func TestCancellerBackOnNextCall(t *testing.T) {
	for _, how := range []string{"hook", "connect"} {
		t.Run(how, func(t *testing.T) {
			lineCall(t, echoLine, nil, func(t *testing.T, p *Port, ph *sim.Phone, far *farPlayer) {
				far.say(answerTone(2*time.Second, true))
				sleep(2 * time.Second)
				if s := p.EchoStats(); !s.Bypassed {
					t.Fatalf("EchoStats %+v after ANSam/: want bypassed", s)
				}
				switch how {
				case "hook":
					if err := ph.Hook(t.Context(), sim.HookOn); err != nil {
						t.Fatal(err)
					}
					sleep(time.Second)
					if s := p.EchoStats(); !s.Bypassed {
						t.Errorf("on hook, the last call's figures went: %+v", s)
					}
					if err := ph.Hook(t.Context(), sim.HookOff); err != nil {
						t.Fatal(err)
					}
					if err := ph.Speak(lineNoise(8000*30, -75)); err != nil {
						t.Fatal(err)
					}
				case "connect":
					far = &farPlayer{}
					p.Connect(far)
				}
				sleep(200 * time.Millisecond)
				if s := p.EchoStats(); !s.On || s.Bypassed || s.NLPOff || s.DataTone != tonedetect.None || s.Converged {
					t.Fatalf("next call starts with %+v: want the canceller in, NLP on, figures afresh", s)
				}
				echo, speech := echoHeard(t, p, far)
				if speech-echo < 46 {
					t.Errorf("next call: echo %.1f dB below the speech, want the canceller's 40 dB over the hybrid's 6", speech-echo)
				}
			})
		})
	}
}

// fax_mode = "off": no DataTone event, but the tone disabler still acts.
func TestFaxModeOff(t *testing.T) {
	lineCall(t, echoLine, func(c *config.Phone) { c.FaxMode = "off" }, func(t *testing.T, p *Port, _ *sim.Phone, far *farPlayer) {
		drain(p)
		far.say(answerTone(2*time.Second, true))
		sleep(2 * time.Second)
		if s := p.EchoStats(); !s.Bypassed || s.DataTone != tonedetect.ANSPR {
			t.Errorf("EchoStats %+v: want bypassed", s)
		}
		for _, e := range drain(p) {
			if e.Kind == DataTone {
				t.Errorf("fax_mode off: %+v", e)
			}
		}
	})
}

// A fax machine on the phone's side answering (CED into the mouthpiece)
// is heard too, with no echo path on the line.
func TestCEDFromThePhone(t *testing.T) {
	near := append(lineNoise(4000, -75), answerTone(2*time.Second, false)...)
	lineCallSaying(t, sim.Opts{}, nil, near, func(t *testing.T, p *Port, _ *sim.Phone, far *farPlayer) {
		sleep(2 * time.Second)
		s := p.EchoStats()
		if !s.NLPOff || s.DataTone != tonedetect.CED {
			t.Errorf("EchoStats %+v: want NLP off, CED", s)
		}
		evs := drain(p)
		if len(evs) != 2 || evs[1].Kind != DataTone || evs[1].Tone != tonedetect.CED || evs[1].FromNetwork {
			t.Errorf("events %+v: want off-hook, then data-tone CED from the phone", evs)
		}
	})
}

// The gains scale the call's audio by tone level: tx on the mouthpiece
// toward the network, rx on the network toward the earpiece.
func TestGainsByToneLevel(t *testing.T) {
	for _, g := range []struct{ tx, rx float64 }{{0, 0}, {6, -6}, {-12, 12}, {3.5, -2.5}} {
		// No canceller: it would take the mouthpiece tone for an echo of
		// the earpiece one.
		r := newRig(t, "us", func(c *config.Phone) { c.TxGainDB, c.RxGainDB, c.EchoCanceller = g.tx, g.rx, false })
		r.hook(true, 0)
		far := &farPlayer{}
		r.p.Connect(far)
		r.run(100 * time.Millisecond)
		far.say(sine(1000, -20, 8000))
		r.mic = sine(600, -20, 8000)
		from := len(r.ear)
		hfrom := far.heardLen()
		r.run(time.Second)
		ear := power(r.ear[from+800:from+7200], 1000)
		tx := power(far.since(hfrom)[800:7200], 600)
		if math.Abs(ear-(-20+g.rx)) > 0.1 {
			t.Errorf("rx_gain_db %g: earpiece at %.2f dBm0, want %.2f", g.rx, ear, -20+g.rx)
		}
		if math.Abs(tx-(-20+g.tx)) > 0.1 {
			t.Errorf("tx_gain_db %g: network gets %.2f dBm0, want %.2f", g.tx, tx, -20+g.tx)
		}
	}
}

// A loud signal with gain saturates at full scale rather than wrapping
// round to the other sign.
func TestGainSaturates(t *testing.T) {
	r := newRig(t, "us", func(c *config.Phone) { c.RxGainDB = 12 })
	r.hook(true, 0)
	far := &farPlayer{}
	r.p.Connect(far)
	r.run(100 * time.Millisecond)
	tone := sine(500, 0, 1600)
	far.say(tone)
	from := len(r.ear)
	r.run(200 * time.Millisecond)
	clipped := 0
	for i, v := range r.ear[from : from+len(tone)] {
		in := tone[i]
		if in > 0 && v < 0 || in < 0 && v > 0 {
			t.Fatalf("sample %d: %d became %d: the gain wrapped", i, in, v)
		}
		if v == 32767 || v == -32768 {
			clipped++
		}
	}
	if clipped < len(tone)/4 {
		t.Errorf("+12 dB on a 0 dBm0 tone: only %d of %d samples at full scale", clipped, len(tone))
	}
}

func TestLineSettingsChecked(t *testing.T) {
	for _, c := range []struct {
		key  string
		edit func(*Settings)
	}{
		{"phone.echo_tail", func(s *Settings) { s.EchoTail = 10 * time.Millisecond }},
		{"phone.echo_tail", func(s *Settings) { s.EchoTail = 200 * time.Millisecond }},
		{"phone.fax_mode", func(s *Settings) { s.FaxMode = "t38" }},
		{"phone.tx_gain_db", func(s *Settings) { s.TxGainDB = 12.5 }},
		{"phone.rx_gain_db", func(s *Settings) { s.RxGainDB = -13 }},
		{"phone.rx_gain_db", func(s *Settings) { s.RxGainDB = math.NaN() }},
	} {
		s := Settings{Region: "us", FlashMin: 100 * time.Millisecond, FlashMax: 900 * time.Millisecond, DialPlan: "(xx.)",
			InterDigitTimeout: 4 * time.Second, FirstDigitTimeout: 15 * time.Second, EchoCanceller: true}
		c.edit(&s)
		_, err := BuildOptions(s, nil)
		var se *SettingError
		if !errors.As(err, &se) || se.Key != c.key {
			t.Errorf("%s: error %v, want a SettingError for it", c.key, err)
		}
	}
}

// SetOptions while a call runs: new gains at once; the canceller turned
// off leaves the echo in, turned on again it cancels.
func TestLineSettingsAtRuntime(t *testing.T) {
	lineCall(t, echoLine, nil, func(t *testing.T, p *Port, _ *sim.Phone, far *farPlayer) {
		c := config.Default().Phone
		c.EchoCanceller = false
		opts, err := OptionsFromConfig(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.SetOptions(opts); err != nil {
			t.Fatal(err)
		}
		sleep(100 * time.Millisecond)
		if s := p.EchoStats(); s.On {
			t.Fatalf("echo_canceller turned off: %+v", s)
		}
		echo, speech := echoHeard(t, p, far)
		if speech-echo > 9 {
			t.Errorf("canceller off at runtime: echo %.1f dB down, want about 6", speech-echo)
		}
		c.EchoCanceller = true
		if opts, err = OptionsFromConfig(c, nil); err != nil {
			t.Fatal(err)
		}
		if err := p.SetOptions(opts); err != nil {
			t.Fatal(err)
		}
		echo, speech = echoHeard(t, p, far)
		if speech-echo < 46 {
			t.Errorf("canceller back on at runtime: echo %.1f dB down", speech-echo)
		}
	})
}

// EchoStats is read from another goroutine while frames run (go test
// -race checks the lock-free publication).
func TestEchoStatsFromAnotherGoroutine(t *testing.T) {
	lineCall(t, echoLine, nil, func(t *testing.T, p *Port, _ *sim.Phone, far *farPlayer) {
		stop := make(chan struct{})
		done := make(chan int)
		go func() {
			n := 0
			for {
				select {
				case <-stop:
					done <- n
					return
				default:
				}
				_ = p.EchoStats()
				n++
				time.Sleep(time.Millisecond)
			}
		}()
		far.say(speechFixture(t, -3)[:8000*2])
		sleep(2 * time.Second)
		close(stop)
		if n := <-done; n == 0 {
			t.Error("no reads")
		}
	})
}

func TestFrameWithLinePathAllocatesNothing(t *testing.T) {
	r := newRig(t, "us", func(c *config.Phone) { c.TxGainDB, c.RxGainDB = 3, -3 })
	r.hook(true, 0)
	far := &farPlayer{play: answerTone(10*time.Second, true)}
	r.p.Connect(far)
	r.run(100 * time.Millisecond)
	mic := lineNoise(160, -40)
	ear := make([]int16, 160)
	far.heard = make([]int16, 0, 160*400)
	allocs := testing.AllocsPerRun(200, func() {
		r.now += frame
		r.p.Frame(r.now, mic, ear)
	})
	if allocs != 0 {
		t.Fatalf("Frame with canceller, gains and tone detection allocates %v times", allocs)
	}
	if r.p.EchoStats().DataTone != tonedetect.ANSPR {
		t.Errorf("the tone detectors did not run: %+v", r.p.EchoStats())
	}
}

// BenchmarkFrame20msLinePath is one frame of a call: canceller (64 ms
// tail), both tone detectors, gains, on speech with its echo.
func BenchmarkFrame20msLinePath(b *testing.B) {
	c := config.Default().Phone
	c.TxGainDB = 2
	opts, err := OptionsFromConfig(c, nil)
	if err != nil {
		b.Fatal(err)
	}
	p, err := New(&fakeHW{}, opts)
	if err != nil {
		b.Fatal(err)
	}
	p.HookEdge(board.HookEdge{At: 0, OffHook: true})
	far := &farPlayer{heard: make([]int16, 0, 8000)}
	p.Connect(far)
	mic := lineNoise(160, -30)
	ear := make([]int16, 160)
	speech := lineNoise(8000, -20)
	now := time.Duration(0)
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		if len(far.play) < 160 {
			far.play = speech
			far.heard = far.heard[:0]
		}
		now += frame
		p.Frame(now, mic, ear)
	}
	// The machine is shared: CPU time is the figure load does not
	// inflate.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/frame")
}

// cpuTime is the CPU time this process has used (user + system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
