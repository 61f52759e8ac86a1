package hook

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/board"
)

const ms = time.Millisecond

// line scripts raw loop edges on a timeline.
type line struct {
	t     time.Duration
	edges []board.HookEdge
}

func (l *line) set(off bool)                { l.edges = append(l.edges, board.HookEdge{At: l.t, OffHook: off}) }
func (l *line) hold(d time.Duration)        { l.t += d }
func (l *line) pulse(brk, mk time.Duration) { l.set(false); l.hold(brk); l.set(true); l.hold(mk) }

// dial plays one rotary digit at pps pulses/s with the given break ratio,
// then holds the loop closed for the interdigital pause.
func (l *line) dial(digit byte, pps, ratio float64, pause time.Duration) {
	n := int(digit - '0')
	if n == 0 {
		n = 10
	}
	period := time.Duration(float64(time.Second) / pps)
	brk := time.Duration(float64(period) * ratio)
	for i := 0; i < n; i++ {
		mk := period - brk
		if i == n-1 {
			mk = pause
		}
		l.pulse(brk, mk)
	}
}

// run feeds the edges to d as a port would: edges in order, and Advance at
// the end of every frame, until the timeline's end plus tail.
func run(t *testing.T, d *Detector, edges []board.HookEdge, until, frame time.Duration) []Event {
	t.Helper()
	var got []Event
	i := 0
	for now := frame; now <= until; now += frame {
		for i < len(edges) && edges[i].At <= now {
			got = append(got, d.Edge(edges[i])...)
			i++
		}
		got = append(got, d.Advance(now)...)
	}
	return got
}

func describe(evs []Event) string {
	var b strings.Builder
	for _, e := range evs {
		if e.Kind == PulseDigit {
			fmt.Fprintf(&b, "%c@%v ", e.Digit, e.At)
		} else {
			fmt.Fprintf(&b, "%v@%v ", e.Kind, e.At)
		}
	}
	return strings.TrimSpace(b.String())
}

func digits(evs []Event) string {
	var b strings.Builder
	for _, e := range evs {
		if e.Kind == PulseDigit {
			b.WriteByte(e.Digit)
		}
	}
	return b.String()
}

func TestLiftAndHangUp(t *testing.T) {
	var l line
	l.set(false) // the board's initial report at time 0
	l.hold(100 * ms)
	l.set(true)
	l.hold(2 * time.Second)
	l.set(false)
	d := New(DefaultOpts())
	got := run(t, d, l.edges, l.t+2*time.Second, 10*ms)
	if want := "off-hook@100ms on-hook@2.1s"; describe(got) != want {
		t.Fatalf("events = %q, want %q", describe(got), want)
	}
	if d.OffHook() {
		t.Fatal("OffHook() = true after hang-up")
	}
}

// A hang-up is reported by the first frame after the flash window closes,
// dated at the start of the break.
func TestHangUpReportedFromAdvance(t *testing.T) {
	d := New(DefaultOpts())
	d.Edge(board.HookEdge{At: 0, OffHook: true})
	if ev := d.Advance(20 * ms); len(ev) != 1 || ev[0].Kind != OffHook {
		t.Fatalf("lift: %q", describe(ev))
	}
	d.Edge(board.HookEdge{At: 1000 * ms, OffHook: false})
	for now := 1010 * ms; now <= 1900*ms; now += 10 * ms {
		if ev := d.Advance(now); len(ev) != 0 {
			t.Fatalf("Advance(%v) = %q: hang-up before the flash window closed", now, describe(ev))
		}
		if !d.OffHook() {
			t.Fatalf("OffHook() = false at %v, inside the flash window", now)
		}
	}
	ev := d.Advance(1910 * ms)
	if len(ev) != 1 || ev[0].Kind != OnHook || ev[0].At != 1000*ms {
		t.Fatalf("Advance(1.91s) = %q, want on-hook@1s", describe(ev))
	}
}

func TestDebounceGlitches(t *testing.T) {
	for _, g := range []time.Duration{2 * ms, 4 * ms, 6 * ms, 8 * ms, 9 * ms} {
		t.Run(g.String(), func(t *testing.T) {
			var l line
			l.set(false)
			l.hold(50 * ms)
			// On-hook glitches (ringer, lightning, a bumped cradle).
			for i := 0; i < 5; i++ {
				l.set(true)
				l.hold(g)
				l.set(false)
				l.hold(97 * ms)
			}
			l.set(true) // real lift
			l.hold(500 * ms)
			// Off-hook glitches: short breaks.
			for i := 0; i < 5; i++ {
				l.set(false)
				l.hold(g)
				l.set(true)
				l.hold(300 * ms)
			}
			lift := 50*ms + 5*(g+97*ms)
			got := run(t, New(DefaultOpts()), l.edges, l.t+time.Second, 10*ms)
			if want := fmt.Sprintf("off-hook@%v", lift); describe(got) != want {
				t.Fatalf("events = %q, want %q", describe(got), want)
			}
		})
	}
}

// A change that lasts exactly Debounce is real; one just short of it is not.
func TestDebounceBoundary(t *testing.T) {
	d := New(DefaultOpts())
	d.Edge(board.HookEdge{At: 0, OffHook: true})
	if ev := d.Edge(board.HookEdge{At: 9*ms + 999*time.Microsecond, OffHook: false}); len(ev) != 0 {
		t.Fatalf("a 9.999 ms make: %q", describe(ev))
	}
	if ev := d.Advance(50 * ms); len(ev) != 0 {
		t.Fatalf("a 9.999 ms make: %q", describe(ev))
	}
	if d.OffHook() {
		t.Fatal("a 9.999 ms make counted as off-hook")
	}
	d.Edge(board.HookEdge{At: 100 * ms, OffHook: true})
	ev := d.Edge(board.HookEdge{At: 110 * ms, OffHook: false})
	if len(ev) != 1 || ev[0].Kind != OffHook || ev[0].At != 100*ms {
		t.Fatalf("a 10 ms make: %q, want off-hook@100ms", describe(ev))
	}
}

func TestBouncyLiftOff(t *testing.T) {
	var l line
	l.set(false)
	l.hold(200 * ms)
	// Contact bounce for ~9 ms on lift-off.
	for _, h := range []time.Duration{1, 1, 2, 1, 3} {
		l.set(true)
		l.hold(h * ms / 2)
		l.set(false)
		l.hold(h * ms)
	}
	lift := l.t
	l.set(true)
	l.hold(800 * ms)
	l.dial('5', 10, 0.6, 800*ms)
	got := run(t, New(DefaultOpts()), l.edges, l.t, 10*ms)
	want := fmt.Sprintf("off-hook@%v 5@%v", lift, lift+800*ms)
	if describe(got) != want {
		t.Fatalf("events = %q, want %q", describe(got), want)
	}
}

func TestFlashWindow(t *testing.T) {
	cases := []struct {
		brk  time.Duration
		want string // events after the lift, with the break starting at 1s
	}{
		{99 * ms, ""}, // too long for a pulse, too short for a flash
		{100 * ms, "flash@1s"},
		{500 * ms, "flash@1s"},
		{900 * ms, "flash@1s"},
		{901 * ms, "on-hook@1s off-hook@1.901s"},
		{5 * time.Second, "on-hook@1s off-hook@6s"},
	}
	for _, c := range cases {
		t.Run(c.brk.String(), func(t *testing.T) {
			var l line
			l.set(true)
			l.hold(time.Second)
			l.set(false)
			l.hold(c.brk)
			l.set(true)
			l.hold(time.Second)
			d := New(DefaultOpts())
			got := describe(run(t, d, l.edges, l.t, 10*ms))
			want := strings.TrimSpace("off-hook@0s " + c.want)
			if got != want {
				t.Fatalf("events = %q, want %q", got, want)
			}
			if !d.OffHook() {
				t.Fatal("OffHook() = false with the handset up")
			}
		})
	}
}

func TestFlashWindowConfigurable(t *testing.T) {
	o := DefaultOpts()
	o.FlashMin, o.FlashMax = 300*ms, 600*ms
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	for brk, want := range map[time.Duration]string{
		200 * ms: "off-hook@0s",
		300 * ms: "off-hook@0s flash@1s",
		600 * ms: "off-hook@0s flash@1s",
		700 * ms: "off-hook@0s on-hook@1s off-hook@1.7s",
	} {
		var l line
		l.set(true)
		l.hold(time.Second)
		l.set(false)
		l.hold(brk)
		l.set(true)
		l.hold(time.Second)
		if got := describe(run(t, New(o), l.edges, l.t, 20*ms)); got != want {
			t.Errorf("break %v: events = %q, want %q", brk, got, want)
		}
	}
}

func TestPulseDigits(t *testing.T) {
	const number = "1234567890"
	for _, pps := range []float64{8, 10, 12} {
		for _, ratio := range []float64{0.55, 0.60, 0.70} {
			for _, frame := range []time.Duration{10 * ms, 20 * ms} {
				t.Run(fmt.Sprintf("%vpps/%v%%/%v", pps, ratio*100, frame), func(t *testing.T) {
					var l line
					l.set(true)
					l.hold(time.Second)
					var starts []time.Duration
					for i := range number {
						starts = append(starts, l.t)
						l.dial(number[i], pps, ratio, 700*ms)
					}
					got := run(t, New(DefaultOpts()), l.edges, l.t+time.Second, frame)
					if digits(got) != number {
						t.Fatalf("digits = %q, want %q (events %q)", digits(got), number, describe(got))
					}
					for i, e := range got[1:] {
						if e.At != starts[i] {
							t.Fatalf("digit %d At = %v, want its first break %v", i, e.At, starts[i])
						}
					}
				})
			}
		}
	}
}

// The shortest interdigital pause that still separates digits is
// PulseInterDigit; 40 ms less merges them.
func TestPulseInterDigitPause(t *testing.T) {
	for pause, want := range map[time.Duration]string{200 * ms: "23", 160 * ms: ""} {
		var l line
		l.set(true)
		l.hold(time.Second)
		l.dial('2', 10, 0.6, pause)
		l.dial('3', 10, 0.6, time.Second)
		got := run(t, New(DefaultOpts()), l.edges, l.t, 10*ms)
		// With a 160 ms pause the make is out of range for a pulse train
		// (>75 ms) so the merged train is rejected rather than read as 5.
		if digits(got) != want {
			t.Errorf("pause %v: digits %q, want %q", pause, digits(got), want)
		}
	}
}

func TestPulseOutOfSpec(t *testing.T) {
	cases := []struct {
		name       string
		pps, ratio float64
	}{
		{"20pps", 20, 0.6},
		{"20pps-70%", 20, 0.7},
		{"15pps", 15, 0.6},
		{"6pps", 6, 0.5},
		{"10pps-30%", 10, 0.3},
		{"10pps-85%", 10, 0.85},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var l line
			l.set(true)
			l.hold(time.Second)
			l.dial('7', c.pps, c.ratio, 800*ms)
			l.dial('4', 10, 0.6, 800*ms) // an in-spec digit still works afterwards
			got := run(t, New(DefaultOpts()), l.edges, l.t, 10*ms)
			if want := "off-hook@0s 4@"; !strings.HasPrefix(describe(got), want) || len(got) != 2 {
				t.Fatalf("events = %q, want only off-hook and the 4", describe(got))
			}
		})
	}
}

// A glitch inside a dial-pulse break must not split the pulse.
func TestGlitchInsidePulse(t *testing.T) {
	var l line
	l.set(true)
	l.hold(time.Second)
	for i := 0; i < 3; i++ {
		l.set(false)
		l.hold(30 * ms)
		l.set(true) // 3 ms bounce
		l.hold(3 * ms)
		l.set(false)
		l.hold(27 * ms)
		l.set(true)
		l.hold(40 * ms)
	}
	l.hold(time.Second)
	got := run(t, New(DefaultOpts()), l.edges, l.t, 10*ms)
	if digits(got) != "3" {
		t.Fatalf("events = %q, want digit 3", describe(got))
	}
}

func TestHangUpDuringPulseTrain(t *testing.T) {
	var l line
	l.set(true)
	l.hold(time.Second)
	l.pulse(60*ms, 40*ms)
	l.pulse(60*ms, 40*ms)
	l.set(false)
	l.hold(2 * time.Second)
	got := run(t, New(DefaultOpts()), l.edges, l.t, 10*ms)
	if want := "off-hook@0s on-hook@1.2s"; describe(got) != want {
		t.Fatalf("events = %q, want %q", describe(got), want)
	}
}

// Without Advance, later edges still bring the same events, only later.
func TestEdgesOnly(t *testing.T) {
	var l line
	l.set(true)
	l.hold(time.Second)
	l.dial('8', 10, 0.6, 700*ms)
	l.set(false)
	l.hold(300 * ms) // flash
	l.set(true)
	l.hold(time.Second)
	l.set(false)
	l.hold(2 * time.Second)
	l.set(true)
	withFrames := describe(run(t, New(DefaultOpts()), l.edges, l.t+time.Second, 10*ms))
	d := New(DefaultOpts())
	var got []Event
	for _, e := range l.edges {
		got = append(got, d.Edge(e)...)
	}
	got = append(got, d.Advance(l.t+time.Second)...)
	if describe(got) != withFrames {
		t.Fatalf("edges only: %q\nwith frames: %q", describe(got), withFrames)
	}
	if want := "off-hook@0s 8@1s flash@2.46s on-hook@3.76s off-hook@5.76s"; withFrames != want {
		t.Fatalf("events = %q, want %q", withFrames, want)
	}
}

func TestTimeNeverRunsBackwards(t *testing.T) {
	d := New(DefaultOpts())
	d.Edge(board.HookEdge{At: time.Second, OffHook: true})
	d.Advance(2 * time.Second)
	// A late edge dated in the past is treated as happening now.
	d.Edge(board.HookEdge{At: 500 * ms, OffHook: false})
	if ev := d.Advance(2*time.Second + 800*ms); len(ev) != 0 {
		t.Fatalf("hang-up fired early: %q", describe(ev))
	}
	if ev := d.Advance(3 * time.Second); len(ev) != 1 || ev[0].Kind != OnHook || ev[0].At != 2*time.Second {
		t.Fatalf("got %q, want on-hook@2s", describe(ev))
	}
}

func TestValidate(t *testing.T) {
	if err := DefaultOpts().Validate(); err != nil {
		t.Fatalf("DefaultOpts invalid: %v", err)
	}
	cases := []struct {
		field string
		mod   func(*Opts)
	}{
		{"Debounce", func(o *Opts) { o.Debounce = 0 }},
		{"Debounce", func(o *Opts) { o.Debounce = 30 * ms }},
		{"FlashMax", func(o *Opts) { o.FlashMax = -1 }},
		{"FlashMin", func(o *Opts) { o.FlashMin = time.Second }},
		{"FlashMin", func(o *Opts) { o.FlashMin = 80 * ms }}, // under PulseBreakMax
		{"PulseBreakMin", func(o *Opts) { o.PulseBreakMin = 96 * ms }},
		{"PulseMakeMax", func(o *Opts) { o.PulseMakeMax = 250 * ms }},
		{"PulsePeriodMin", func(o *Opts) { o.PulsePeriodMin = 150 * ms }},
		{"PulseInterDigit", func(o *Opts) { o.PulseInterDigit = 0 }},
	}
	for _, c := range cases {
		o := DefaultOpts()
		c.mod(&o)
		err := o.Validate()
		if err == nil || !strings.Contains(err.Error(), "Opts."+c.field) {
			t.Errorf("%s: err = %v, want one naming Opts.%s", c.field, err, c.field)
		}
	}
}

func TestNoAllocs(t *testing.T) {
	d := New(DefaultOpts())
	var now time.Duration
	off := false
	// Warm up, then a steady state of pulse dialling with frames.
	step := func() {
		off = !off
		now += 50 * ms
		d.Edge(board.HookEdge{At: now, OffHook: off})
		d.Advance(now + 10*ms)
		d.Advance(now + 20*ms)
	}
	for i := 0; i < 100; i++ {
		step()
	}
	if a := testing.AllocsPerRun(1000, step); a != 0 {
		t.Fatalf("Edge/Advance allocate %v times per call", a)
	}
	if a := testing.AllocsPerRun(1000, func() { now += 10 * ms; d.Advance(now) }); a != 0 {
		t.Fatalf("Advance allocates %v times per call", a)
	}
}

func BenchmarkAdvance(b *testing.B) {
	d := New(DefaultOpts())
	d.Edge(board.HookEdge{At: 0, OffHook: true})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		d.Advance(time.Duration(i) * 10 * ms)
	}
}

func BenchmarkPulseDigit(b *testing.B) {
	var l line
	l.set(true)
	l.hold(time.Second)
	l.dial('0', 10, 0.6, 800*ms)
	d := New(DefaultOpts())
	b.ReportAllocs()
	var base time.Duration
	for b.Loop() {
		for _, e := range l.edges[1:] {
			e.At += base
			d.Edge(e)
			d.Advance(e.At + 10*ms)
		}
		base += l.t
	}
}

// FuzzDetector feeds arbitrary edge timings and checks the event stream
// stays well formed: OffHook and OnHook alternate, flashes and digits only
// while off-hook, times never go backwards, digits are '0'..'9'.
func FuzzDetector(f *testing.F) {
	f.Add([]byte{60, 40, 60, 40, 60, 200, 200, 5, 3, 255, 255, 255, 255})
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Fuzz(func(t *testing.T, gaps []byte) {
		d := New(DefaultOpts())
		var now time.Duration
		var evs []Event
		off := false
		for i, g := range gaps {
			now += time.Duration(g) * 4 * ms // up to ~1 s per step
			if i%3 == 2 {
				evs = append(evs, d.Advance(now)...)
				continue
			}
			off = !off
			evs = append(evs, d.Edge(board.HookEdge{At: now, OffHook: off})...)
		}
		evs = append(evs, d.Advance(now+10*time.Second)...)
		up := false
		var last time.Duration
		for _, e := range evs {
			if e.At < last {
				t.Fatalf("time went backwards: %q", describe(evs))
			}
			last = max(last, e.At)
			switch e.Kind {
			case OffHook:
				if up {
					t.Fatalf("two off-hooks: %q", describe(evs))
				}
				up = true
			case OnHook:
				if !up {
					t.Fatalf("on-hook while on-hook: %q", describe(evs))
				}
				up = false
			case Flash, PulseDigit:
				if !up {
					t.Fatalf("%v while on-hook: %q", e.Kind, describe(evs))
				}
				if e.Kind == PulseDigit && (e.Digit < '0' || e.Digit > '9') {
					t.Fatalf("bad digit %q", e.Digit)
				}
			default:
				t.Fatalf("bad kind %v", e.Kind)
			}
		}
		if up != d.OffHook() {
			t.Fatalf("OffHook() = %v after %q", d.OffHook(), describe(evs))
		}
	})
}

// Worn dial contacts chatter for a millisecond or two at every edge; the
// digits must survive it.
func TestBouncyPulses(t *testing.T) {
	var l line
	l.set(true)
	l.hold(time.Second)
	chatter := func(off bool) { // edge, 1 ms back, 1 ms forward
		l.set(off)
		l.hold(ms)
		l.set(!off)
		l.hold(ms)
		l.set(off)
	}
	for _, digit := range []int{9, 10, 2} {
		for i := 0; i < digit; i++ {
			chatter(false)
			l.hold(58 * ms)
			chatter(true)
			if i < digit-1 {
				l.hold(38 * ms)
			} else {
				l.hold(700 * ms)
			}
		}
	}
	got := run(t, New(DefaultOpts()), l.edges, l.t, 10*ms)
	if digits(got) != "902" {
		t.Fatalf("events = %q, want digits 902", describe(got))
	}
}
