package echo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/openata/ata/board/echopath"
)

// erle is the echo return loss enhancement over [from, to): the echo that
// reached the mouthpiece against what the canceller let through (run
// without near-end speech).
func (l *line) erle(from, to time.Duration) float64 {
	return levelRatio(span(l.echoOnly, from, to), span(l.out, from, to))
}

// convergence returns when the ERLE first reaches target over a 250 ms
// window of far-end speech (the window's end), or -1 if it never does.
func (l *line) convergence(target float64) time.Duration {
	const win = 250 * time.Millisecond
	for t := time.Duration(0); t+win <= time.Duration(len(l.out))*sampleDur; t += 50 * time.Millisecond {
		if power(span(l.ear, t, t+win)) < speechRMS*speechRMS/100 {
			continue // a pause: nothing to cancel
		}
		if l.erle(t, t+win) >= target {
			return t + win
		}
	}
	return -1
}

// combinedLoss is ERL + ERLE + NLP as the far end hears it: the level it
// sent against the level of its echo it gets back, from from on.
func (l *line) combinedLoss(from time.Duration) float64 {
	return levelRatio(span(l.ear, from, 0), span(l.out, from, 0))
}

// Thresholds of the G.168-style checks.
const (
	convTarget   = 20.0                    // dB of ERLE reached within
	convCSS      = time.Second             // of the composite source signal (G.168's test signal)
	convSpeech   = 1500 * time.Millisecond // of speech, whose new sounds keep exciting new bands
	steadyERLE   = 25.0                    // dB, from 2 s on, NLP off
	combinedMin  = 45.0                    // dB, from 1 s on, NLP on
	combinedFrom = time.Second
)

// echoChecks runs one echo path and signal with the NLP off (to see the
// filter) and on (to hear what the far end hears), and returns what failed.
func echoChecks(t *testing.T, sc scenario, convWithin time.Duration) []string {
	sc.noNLP = true
	filt := run(t, sc)
	sc.noNLP = false
	full := run(t, sc)
	var fails []string
	if c := filt.convergence(convTarget); c < 0 || c > convWithin {
		fails = append(fails, fmt.Sprintf("ERLE %.0f dB reached at %v, want within %v", convTarget, c, convWithin))
	}
	if e := filt.erle(2*time.Second, 0); e < steadyERLE {
		fails = append(fails, fmt.Sprintf("steady-state ERLE %.1f dB, want ≥ %.0f", e, steadyERLE))
	}
	if cl := full.combinedLoss(combinedFrom); cl < combinedMin {
		fails = append(fails, fmt.Sprintf("combined echo loss %.1f dB, want ≥ %.0f", cl, combinedMin))
	}
	return fails
}

// TestG168Models drives every G.168 echo path model at ERL 6 and 12 dB and
// bulk delays 0, 20 and 40 ms with speech and with a composite source
// signal, and checks convergence time, steady-state ERLE and the combined
// echo loss. The canceller-off rows expect every check to fail: they show
// the echo is there to be cancelled and that the checks can fail.
func TestG168Models(t *testing.T) {
	t.Parallel()
	far, _ := fixtures(t)
	signals := map[string][]int16{"speech": far[:6*Rate], "css": css(6*time.Second, 1)}
	for _, sig := range []string{"speech", "css"} {
		for model := 1; model <= echopath.Models; model++ {
			for _, erl := range []float64{6, 12} {
				for _, delay := range []time.Duration{0, 20 * time.Millisecond, 40 * time.Millisecond} {
					for _, off := range []bool{false, true} {
						name := fmt.Sprintf("%s/model=%d/erl=%v/delay=%v/off=%v", sig, model, erl, delay, off)
						sc := scenario{model: model, erl: erl, delay: delay, far: signals[sig], off: off}
						t.Run(name, func(t *testing.T) {
							t.Parallel()
							within := convSpeech
							if sig == "css" {
								within = convCSS
							}
							fails := echoChecks(t, sc, within)
							switch {
							case !off && len(fails) > 0:
								t.Errorf("canceller on: %v", fails)
							case off && len(fails) != 3:
								t.Errorf("canceller off: only %v failed; every check should", fails)
							}
						})
					}
				}
			}
		}
	}
}

// nearActive returns the 20 ms frames in which the near end talks.
func nearActive(near []int16) []int {
	var frames []int
	for i := 0; i+frame <= len(near); i += frame {
		if power(near[i:i+frame]) > speechRMS*speechRMS/30 {
			frames = append(frames, i)
		}
	}
	return frames
}

// TestDoubleTalk has the person at the phone talk over the far end once
// the canceller has converged: their speech must come through at its own
// level (within 3 dB), and the filter must not have diverged afterwards.
// Bypassed, the post-double-talk ERLE check fails.
func TestDoubleTalk(t *testing.T) {
	t.Parallel()
	far, near := fixtures(t)
	const nearAt = 4 * time.Second
	after := nearAt + time.Duration(len(near))*sampleDur + 300*time.Millisecond
	for model := 1; model <= echopath.Models; model++ {
		for _, off := range []bool{false, true} {
			t.Run(fmt.Sprintf("model=%d/off=%v", model, off), func(t *testing.T) {
				t.Parallel()
				sc := scenario{model: model, erl: 6, delay: 20 * time.Millisecond, far: far, near: near, nearAt: nearAt, off: off}
				full := run(t, sc)
				var outP, nearP float64
				for _, i := range nearActive(full.near) {
					outP += power(full.out[i : i+frame])
					nearP += power(full.near[i : i+frame])
				}
				level := db(outP / nearP)
				if math.Abs(level) > 3 {
					t.Errorf("near-end speech came out at %+.1f dB of its level during double talk, want within ±3 dB", level)
				}
				// The echo after the double talk, with the NLP off to see
				// the filter itself: the near end is gone by then, so
				// out − (near end) is the residual echo.
				sc.noNLP = true
				filt := run(t, sc)
				erle := filt.erle(after, 0)
				st := filt.c.Stats()
				if off {
					if erle >= steadyERLE {
						t.Errorf("canceller off: ERLE after double talk %.1f dB, want the check to fail", erle)
					}
					return
				}
				if erle < steadyERLE {
					t.Errorf("ERLE after double talk %.1f dB, want ≥ %.0f (diverged?)", erle, steadyERLE)
				}
				if st.DoubleTalk == 0 {
					t.Errorf("stats: no double talk counted")
				}
				if st.DivergenceResets != 0 {
					t.Errorf("stats: %d divergence resets, want none", st.DivergenceResets)
				}
			})
		}
	}
}

// TestPathChange switches the echo path mid-call, as a transfer to another
// line would: the echo comes back until the filter has learnt the new
// path, then the ERLE returns. When the old path was the louder, the old
// filter makes the echo louder and the divergence detector clears it; when
// the new one is, the fine double-talk detector first takes the new echo
// for near-end speech, and the background filter's lasting lead must show
// it the path changed.
func TestPathChange(t *testing.T) {
	t.Parallel()
	far, _ := fixtures(t)
	const at = 5 * time.Second
	for _, c := range []struct {
		name       string
		model, to  int
		erl, toERL float64
	}{
		{"louder-old-path", 1, 4, 6, 6},
		{"louder-new-path", 1, 4, 12, 6},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := run(t, scenario{model: c.model, erl: c.erl, delay: 20 * time.Millisecond, far: far,
				changeAt: at, changeTo: c.to, changeERL: c.toERL, noNLP: true})
			if e := l.erle(at-time.Second, at); e < steadyERLE {
				t.Fatalf("ERLE before the change %.1f dB, want ≥ %.0f", e, steadyERLE)
			}
			if e := l.erle(at, at+200*time.Millisecond); e > 10 {
				t.Errorf("ERLE just after the change %.1f dB: the path did not change", e)
			}
			if e := l.erle(at+1500*time.Millisecond, at+5*time.Second); e < steadyERLE {
				t.Errorf("ERLE 1.5 s after the change %.1f dB, want ≥ %.0f (reconverged)", e, steadyERLE)
			}
		})
	}
}

// TestLateEcho puts the echo 60 ms late before a 50 ms tail: only a window
// moved to the bulk delay covers the whole echo path.
func TestLateEcho(t *testing.T) {
	t.Parallel()
	far, _ := fixtures(t)
	for _, fixed := range []bool{false, true} {
		t.Run(fmt.Sprintf("fixed=%v", fixed), func(t *testing.T) {
			t.Parallel()
			for _, model := range []int{1, 4, 8} {
				l := run(t, scenario{model: model, erl: 6, delay: 60 * time.Millisecond, far: far[:8*Rate], tail: 50 * time.Millisecond, noNLP: true, noSearch: fixed})
				e := l.erle(3*time.Second, 0)
				d := l.c.Stats().Window
				if fixed {
					if e >= steadyERLE {
						t.Errorf("model %d, window fixed at 0: ERLE %.1f dB; the echo should run off the window's end", model, e)
					}
					continue
				}
				if e < steadyERLE {
					t.Errorf("model %d: ERLE %.1f dB, want ≥ %.0f", model, e, steadyERLE)
				}
				if d < 45*time.Millisecond || d > 60*time.Millisecond {
					t.Errorf("model %d: window at %v, want 45..60 ms", model, d)
				}
				checkDelay(t, l.c.Stats(), model, 60*time.Millisecond)
			}
		})
	}
}

// checkDelay: the delay reported is the echo's, its main arrival
// (echopath.Peak after the bulk delay), within a millisecond.
func checkDelay(t *testing.T, st Stats, model int, bulk time.Duration) {
	t.Helper()
	want := bulk + time.Duration(echopath.Peak(model))*sampleDur
	if d := st.Delay - want; d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("model %d, bulk delay %v: Delay %v, want %v (the main arrival) ± 1 ms", model, bulk, st.Delay, want)
	}
}

// TestDelayReported: the echo's delay is reported for every model and
// bulk delay, also when the tail from the earpiece signal on holds the
// echo and the window stays at 0 (the figure once read 0 there: it was
// the window's start, not the delay found).
func TestDelayReported(t *testing.T) {
	t.Parallel()
	far, _ := fixtures(t)
	for model := 1; model <= echopath.Models; model++ {
		for _, bulk := range []time.Duration{0, 20 * time.Millisecond, 40 * time.Millisecond} {
			t.Run(fmt.Sprintf("model=%d/delay=%v", model, bulk), func(t *testing.T) {
				t.Parallel()
				l := run(t, scenario{model: model, erl: 6, delay: bulk, far: far[:5*Rate]})
				st := l.c.Stats()
				checkDelay(t, st, model, bulk)
				if bulk <= 20*time.Millisecond && st.Window != 0 {
					t.Errorf("window moved to %v: the 64 ms tail from 0 holds the echo", st.Window)
				}
				l.c.Reset()
				if st := l.c.Stats(); st.Delay != 0 {
					t.Errorf("after Reset: Delay %v", st.Delay)
				}
			})
		}
	}
}

// TestToneDisablerHooks: with the NLP off (fax CED) the residual echo
// passes, cancelled but audible; bypassed (modem ANSam) the mouthpiece
// signal passes sample for sample, and cancelling resumes afterwards.
func TestToneDisablerHooks(t *testing.T) {
	t.Parallel()
	far, _ := fixtures(t)
	t.Run("nlp-off", func(t *testing.T) {
		t.Parallel()
		sc := scenario{model: 2, erl: 6, delay: 20 * time.Millisecond, far: far[:6*Rate]}
		on := run(t, sc)
		sc.noNLP = true
		off := run(t, sc)
		if cl := on.combinedLoss(combinedFrom); cl < combinedMin {
			t.Errorf("NLP on: combined loss %.1f dB, want ≥ %.0f", cl, combinedMin)
		}
		if cl := off.combinedLoss(combinedFrom); cl >= combinedMin {
			t.Errorf("NLP off: combined loss %.1f dB; the residual should pass", cl)
		}
		if e := off.erle(2*time.Second, 0); e < steadyERLE {
			t.Errorf("NLP off: ERLE %.1f dB, want ≥ %.0f: the filter keeps cancelling", e, steadyERLE)
		}
	})
	t.Run("bypass", func(t *testing.T) {
		t.Parallel()
		hy, err := echopath.New(3, 6, 20*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		c, err := New(Options{})
		if err != nil {
			t.Fatal(err)
		}
		n := 8 * Rate
		mic := make([]int16, n)
		echo := make([]int16, n)
		rng := rand.New(rand.NewPCG(5, 6))
		for i := 0; i < n; i += frame {
			hy.Echo(far[i:i+frame], echo[i:i+frame])
			for j := i; j < i+frame; j++ {
				mic[j] = sat16(float32(echo[j]) + float32(rng.NormFloat64()*20) + 300) // and a DC offset the high-pass would remove
			}
			c.Bypass(i >= 2*Rate && i < 4*Rate)
			in := append([]int16(nil), mic[i:i+frame]...)
			c.Process(far[i:i+frame], in, in) // mic and out aliased
			if i >= 2*Rate && i < 4*Rate {
				for j := range in {
					if in[j] != mic[i+j] {
						t.Fatalf("bypassed at sample %d: out %d, mic %d", i+j, in[j], mic[i+j])
					}
				}
			}
			copy(echo[i:i+frame], in) // from here on echo holds the output
		}
		if e := levelRatio(mic[5*Rate:], echo[5*Rate:]); e < 20 {
			t.Errorf("after the bypass: %.1f dB of loss, want ≥ 20: cancelling resumed", e)
		}
	})
}

// TestComfortNoise: while the far end talks alone the NLP removes the
// residual, and the background the mouthpiece carries is replaced by
// noise of the same level, not by silence.
func TestComfortNoise(t *testing.T) {
	t.Parallel()
	far, _ := fixtures(t)
	const noise = 40 // rms, about −58 dBov
	l := run(t, scenario{model: 5, erl: 12, delay: 20 * time.Millisecond, far: far[:8*Rate], noiseRMS: noise})
	// Far-end speech frames from 2 s on, where the NLP acts.
	var outP float64
	var n int
	for i := 2 * Rate; i+frame <= len(l.ear); i += frame {
		if power(l.ear[i:i+frame]) > speechRMS*speechRMS/10 {
			outP += power(l.out[i : i+frame])
			n++
		}
	}
	level := db(outP / float64(n) / (noise * noise))
	if math.Abs(level) > 3 {
		t.Errorf("output during far-end speech at %+.1f dB of the background noise, want within ±3 dB", level)
	}
}

// TestHumAndDC: a DC offset and 50 Hz hum on the mouthpiece (a real SLIC
// card) neither stop convergence nor reach the far end.
func TestHumAndDC(t *testing.T) {
	t.Parallel()
	far, _ := fixtures(t)
	l := run(t, scenario{model: 1, erl: 6, delay: 20 * time.Millisecond, far: far[:6*Rate], hum: true, noNLP: true})
	if e := l.erle(2*time.Second, 0); e < steadyERLE {
		t.Errorf("ERLE with hum %.1f dB (echo against echo + hum left), want ≥ %.0f", e, steadyERLE)
	}
}

// TestStats: ERL is what the hybrid returns, ERLE what the filter removes,
// and Reset starts a new call.
func TestStats(t *testing.T) {
	t.Parallel()
	far, _ := fixtures(t)
	l := run(t, scenario{model: 1, erl: 12, delay: 20 * time.Millisecond, far: far[:6*Rate], noNLP: true})
	st := l.c.Stats()
	if want := levelRatio(l.ear, l.echoOnly); math.Abs(st.ERL-want) > 1.5 {
		t.Errorf("stats ERL %.1f dB, the hybrid's on this speech %.1f dB", st.ERL, want)
	}
	if st.ERLE < steadyERLE || !st.Converged {
		t.Errorf("stats ERLE %.1f dB, converged %v: want ≥ %.0f and converged", st.ERLE, st.Converged, steadyERLE)
	}
	// The figure is a ratio of powers smoothed over about a second (a
	// weight of 1 % per 10 ms block): weigh the true echo and residual the
	// same way.
	var echoP, resP float64
	for i := 0; i+80 <= len(l.out); i += 80 {
		if power(l.ear[max(0, i-560):i+80]) < 3000 {
			continue // no far end in the window: the canceller skips these too
		}
		echoP = 0.99*echoP + 0.01*power(l.echoOnly[i:i+80])
		resP = 0.99*resP + 0.01*power(l.out[i:i+80])
	}
	if want := db(echoP / resP); math.Abs(st.ERLE-want) > 3 {
		t.Errorf("stats ERLE %.1f dB, the filter's (smoothed alike) %.1f dB", st.ERLE, want)
	}
	l.c.Reset()
	if st := l.c.Stats(); st != (Stats{}) {
		t.Errorf("after Reset: %+v, want zero", st)
	}
}

// TestDivergenceReset: a filter that makes the echo louder (here: its
// coefficients scrambled) is detected, cleared and learns again.
func TestDivergenceReset(t *testing.T) {
	t.Parallel()
	far, _ := fixtures(t)
	hy, err := echopath.New(2, 6, 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.DisableNLP(true)
	rng := rand.New(rand.NewPCG(9, 9))
	n := 10 * Rate
	echo := make([]int16, n)
	out := make([]int16, n)
	const at = 4 * Rate
	for i := 0; i < n; i += frame {
		if i == at {
			for k := range c.wf {
				v := complex(float32(rng.NormFloat64()), float32(rng.NormFloat64())) * 2
				c.wf[k] += v
				c.wb[k] += v
			}
		}
		hy.Echo(far[i:i+frame], echo[i:i+frame])
		c.Process(far[i:i+frame], echo[i:i+frame], out[i:i+frame])
	}
	if st := c.Stats(); st.DivergenceResets == 0 {
		t.Errorf("no divergence reset after the filter was scrambled")
	}
	if e := levelRatio(echo[at:at+Rate/2], out[at:at+Rate/2]); e > 0 {
		t.Errorf("scrambled filter: ERLE %.1f dB; it should have made the echo louder", e)
	}
	if e := levelRatio(echo[at+3*Rate:], out[at+3*Rate:]); e < steadyERLE {
		t.Errorf("3 s after the reset: ERLE %.1f dB, want ≥ %.0f", e, steadyERLE)
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	for _, tail := range []time.Duration{5 * time.Millisecond, 129 * time.Millisecond, -time.Millisecond} {
		if _, err := New(Options{Tail: tail}); err == nil {
			t.Errorf("tail %v accepted", tail)
		}
	}
	for _, tail := range []time.Duration{0, 10 * time.Millisecond, 128 * time.Millisecond} {
		if _, err := New(Options{Tail: tail}); err != nil {
			t.Errorf("tail %v: %v", tail, err)
		}
	}
}

// TestProcessAllocatesNothing: the 20 ms audio path must not allocate.
func TestProcessAllocatesNothing(t *testing.T) {
	far, _ := fixtures(t)
	hy, err := echopath.New(1, 6, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tail := range []time.Duration{64 * time.Millisecond, 128 * time.Millisecond} {
		c, err := New(Options{Tail: tail})
		if err != nil {
			t.Fatal(err)
		}
		mic := make([]int16, frame)
		out := make([]int16, frame)
		i := 0
		allocs := testing.AllocsPerRun(500, func() {
			ear := far[i : i+frame]
			clear(mic)
			hy.Echo(ear, mic)
			c.Process(ear, mic, out)
			_ = c.Stats()
			i = (i + frame) % (len(far) - frame)
		})
		if allocs != 0 {
			t.Errorf("tail %v: %v allocations per frame", tail, allocs)
		}
	}
}

// TestStatsFromAnotherGoroutine reads the statistics while frames are
// processed, as the status page does (run with -race to see it matter).
func TestStatsFromAnotherGoroutine(t *testing.T) {
	t.Parallel()
	far, _ := fixtures(t)
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		out := make([]int16, frame)
		for i := 0; i+frame <= Rate; i += frame {
			c.Process(far[i:i+frame], far[i:i+frame], out)
		}
	}()
	for {
		select {
		case <-done:
			// A mouthpiece that repeats the earpiece: 0 dB ERL, and a
			// path a filter learns in well under a second.
			if st := c.Stats(); math.Abs(st.ERL) > 1 || st.ERLE < 10 {
				t.Errorf("after a second of 0 dB echo: %+v, want ERL 0 dB and ERLE ≥ 10 dB", st)
			}
			return
		default:
			_ = c.Stats()
		}
	}
}
