package dialplan

import (
	"strings"
	"testing"
	"time"
)

const ms = time.Millisecond

// dialKeys presses keys every 300 ms starting at t0 and returns the last
// outcome and the time of the last key. It fails if a decision comes early.
func dialKeys(t *testing.T, c *Collector, keys string, t0 time.Duration) (Outcome, time.Duration) {
	t.Helper()
	now := t0
	var o Outcome
	for i := 0; i < len(keys); i++ {
		if i > 0 {
			now += 300 * ms
			if a := c.Advance(now - 10*ms); a.Kind != Continue {
				t.Fatalf("Advance before key %d of %q = %+v", i, keys, a)
			}
		}
		o = c.Digit(keys[i], now)
		if o.Kind != Continue && i != len(keys)-1 {
			t.Fatalf("key %d of %q decided early: %+v", i, keys, o)
		}
	}
	return o, now
}

func newCollector(t *testing.T, spec string) *Collector {
	c := NewCollector(mustParse(t, spec), DefaultOpts())
	c.Start(time.Second)
	return c
}

// waitFor advances in 20 ms frames from `from` and returns the first
// decision and when it came, or fails after limit.
func waitFor(t *testing.T, c *Collector, from, limit time.Duration) (Outcome, time.Duration) {
	t.Helper()
	for now := from; now <= from+limit; now += 20 * ms {
		if o := c.Advance(now); o.Kind != Continue {
			return o, now
		}
	}
	t.Fatalf("no decision within %v", limit)
	return Outcome{}, 0
}

func TestCollectorInterDigitTimeout(t *testing.T) {
	c := newCollector(t, exampleMap)
	o, last := dialKeys(t, c, "2125551234", 2*time.Second)
	if o.Kind != Continue {
		t.Fatalf("last key: %+v, want Continue (a longer number could follow)", o)
	}
	o, at := waitFor(t, c, last, 10*time.Second)
	if o.Kind != Dial || o.Number != "2125551234" {
		t.Fatalf("got %+v, want Dial 2125551234", o)
	}
	if at-last != 4*time.Second {
		t.Fatalf("dialled %v after the last key, want the 4 s inter-digit timer", at-last)
	}
	if o := c.Digit('5', at+ms); o.Kind != Continue || c.Advance(at+time.Hour).Kind != Continue {
		t.Fatal("collector acts after its decision")
	}
}

func TestCollectorImmediate(t *testing.T) {
	cases := []struct {
		spec, keys string
		want       Outcome
	}{
		{exampleMap, "*69", Outcome{Kind: Dial, Number: "*69"}},
		{usMap, "911", Outcome{Kind: Dial, Number: "911"}},
		{usMap, "92125551234", Outcome{Kind: Dial, Number: "12125551234"}},
		{usMap, "19005551234", Outcome{Kind: Reject, Reason: ReasonBarred}},
		{usMap, "55", Outcome{Kind: Reject, Reason: ReasonNoMatch}},
		{deMap, "112", Outcome{Kind: Dial, Number: "112"}}, // S0 beats the longer [1-9]x.T
		{deMap, "*21*0170123#", Outcome{Kind: Dial, Number: "*21*0170123#"}},
		{deMap, "0900", Outcome{Kind: Reject, Reason: ReasonBarred}},
		{"(x.T)", strings.Repeat("1", 33), Outcome{Kind: Reject, Reason: ReasonTooLong}},
	}
	for _, c := range cases {
		col := newCollector(t, c.spec)
		if o, _ := dialKeys(t, col, c.keys, 2*time.Second); o != c.want {
			t.Errorf("%s: %q -> %+v, want %+v", c.spec, c.keys, o, c.want)
		}
	}
}

func TestCollectorHash(t *testing.T) {
	cases := []struct {
		spec, keys string
		want       Outcome
	}{
		// '#' not in the plan: send now.
		{exampleMap, "2125551234#", Outcome{Kind: Dial, Number: "2125551234"}},
		{exampleMap, "21#", Outcome{Kind: Dial, Number: "21"}}, // xx.T matches: # skips the timer
		{usMap, "95551234#", Outcome{Kind: Dial, Number: "5551234"}},
		{exampleMap, "*6#", Outcome{Kind: Reject, Reason: ReasonIncomplete}},
		{exampleMap, "#", Outcome{Kind: Reject, Reason: ReasonNoMatch}},
		{usMap, "1900555123#", Outcome{Kind: Reject, Reason: ReasonIncomplete}},
		// '#' part of a pattern: an ordinary key.
		{deMap, "*31#", Outcome{Kind: Dial, Number: "*31#"}},
		{deMap, "#31#", Outcome{Kind: Dial, Number: "#31#"}},
		// '#' where no pattern takes it, after a complete number: send it.
		{deMap, "0301234567#", Outcome{Kind: Dial, Number: "+49301234567"}},
	}
	for _, c := range cases {
		col := newCollector(t, c.spec)
		if o, _ := dialKeys(t, col, c.keys, 2*time.Second); o != c.want {
			t.Errorf("%s: %q -> %+v, want %+v", c.spec, c.keys, o, c.want)
		}
	}
	// "#31" is only the start of #xx#: it waits for more.
	col := newCollector(t, deMap)
	if o, _ := dialKeys(t, col, "#31", 2*time.Second); o.Kind != Continue {
		t.Fatalf("#31 -> %+v, want Continue", o)
	}
}

func TestCollectorFirstDigitTimeout(t *testing.T) {
	c := newCollector(t, exampleMap) // started at 1 s
	if o := c.Advance(16*time.Second - ms); o.Kind != Continue {
		t.Fatalf("Advance(15.999s) = %+v, want Continue", o)
	}
	if o := c.Advance(16 * time.Second); o.Kind != Timeout {
		t.Fatalf("Advance(16s) = %+v, want Timeout", o)
	}
	// A key stops the first-digit timer; Start restarts everything.
	c.Start(20 * time.Second)
	c.Digit('*', 21*time.Second)
	if o := c.Advance(31*time.Second - ms); o.Kind != Continue {
		t.Fatalf("Advance(30.999s) = %+v, want Continue", o)
	}
	if o := c.Advance(36 * time.Second); o.Kind != Reject || o.Reason != ReasonIncomplete {
		t.Fatalf("got %+v, want the long timer's Reject, not the first-digit Timeout", o)
	}
}

func TestCollectorIncompleteTimeout(t *testing.T) {
	c := newCollector(t, exampleMap)
	_, last := dialKeys(t, c, "*6", 2*time.Second)
	if o := c.Advance(last + 10*time.Second - ms); o.Kind != Continue {
		t.Fatalf("rejected before the long timer: %+v", o)
	}
	if o := c.Advance(last + 10*time.Second); o != (Outcome{Kind: Reject, Reason: ReasonIncomplete}) {
		t.Fatalf("got %+v, want Reject incomplete", o)
	}
}

func TestCollectorTimers(t *testing.T) {
	cases := []struct {
		spec string
		wait time.Duration
	}{
		{"(1234T)", 4 * time.Second}, // T: the inter-digit timer, though nothing longer matches
		{"(1234S7)", 7 * time.Second},
		{"(1234S|12345)", 4 * time.Second},
		{"(1234|12345)", 4 * time.Second},
	}
	for _, c := range cases {
		col := newCollector(t, c.spec)
		o, last := dialKeys(t, col, "1234", 2*time.Second)
		if o.Kind != Continue {
			t.Fatalf("%s: decided at the last key: %+v", c.spec, o)
		}
		o, at := waitFor(t, col, last, 20*time.Second)
		if o.Kind != Dial || o.Number != "1234" || at-last != c.wait {
			t.Errorf("%s: %+v after %v, want Dial 1234 after %v", c.spec, o, at-last, c.wait)
		}
	}
	// The timer restarts with each key.
	col := newCollector(t, "(x.T)")
	col.Digit('1', 2*time.Second)
	col.Digit('2', 5*time.Second)
	if o := col.Advance(6 * time.Second); o.Kind != Continue {
		t.Fatalf("timer not restarted by the second key: %+v", o)
	}
	if o := col.Advance(9 * time.Second); o.Number != "12" {
		t.Fatalf("got %+v, want Dial 12", o)
	}
}

func TestCollectorOptions(t *testing.T) {
	o := Opts{InterDigit: 2 * time.Second}
	c := NewCollector(mustParse(t, "(x.T)"), o)
	c.Start(0)
	c.Digit('1', time.Second)
	if got := c.Advance(3 * time.Second); got.Number != "1" {
		t.Fatalf("InterDigit 2s: %+v", got)
	}
	c.Start(10 * time.Second) // zero FirstDigit took the 15 s default
	if got := c.Advance(25*time.Second - ms); got.Kind != Continue {
		t.Fatalf("first-digit default: %+v", got)
	}
	if err := DefaultOpts().Validate(); err != nil {
		t.Fatal(err)
	}
	for field, mod := range map[string]func(*Opts){
		"FirstDigit": func(o *Opts) { o.FirstDigit = 0 },
		"InterDigit": func(o *Opts) { o.InterDigit = -time.Second },
		"Incomplete": func(o *Opts) { o.Incomplete = 0 },
		"MaxDigits":  func(o *Opts) { o.MaxDigits = 0 },
	} {
		o := DefaultOpts()
		mod(&o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "Opts."+field) {
			t.Errorf("%s: %v", field, err)
		}
	}
	// A nil plan refuses everything; keys A-D are ignored.
	c = NewCollector(nil, DefaultOpts())
	c.Start(0)
	if got := c.Digit('A', ms); got.Kind != Continue {
		t.Fatalf("key A: %+v", got)
	}
	if got := c.Digit('1', ms); got.Reason != ReasonNoMatch {
		t.Fatalf("nil plan: %+v", got)
	}
}

func TestCollectorAdvanceNoAllocs(t *testing.T) {
	c := newCollector(t, usMap)
	c.Digit('9', 2*time.Second)
	c.Digit('5', 2*time.Second)
	now := 2 * time.Second
	if a := testing.AllocsPerRun(1000, func() { now += 10 * time.Microsecond; c.Advance(now) }); a != 0 {
		t.Fatalf("Advance allocates %v times", a)
	}
	c.Start(now) // waiting for the first digit
	if a := testing.AllocsPerRun(1000, func() { now += 10 * time.Microsecond; c.Advance(now) }); a != 0 {
		t.Fatalf("Advance allocates %v times", a)
	}
}

// FuzzCollector drives a collector with random keys and gaps: it must not
// panic, must decide exactly once, and a Dial must be what Match says.
func FuzzCollector(f *testing.F) {
	f.Add(usMap, []byte("92125551234"), []byte{3, 3, 3, 200})
	f.Add(deMap, []byte("*21*0170#"), []byte{1, 255, 255})
	f.Add(exampleMap, []byte("#"), []byte{})
	f.Fuzz(func(t *testing.T, spec string, keys, gaps []byte) {
		p, err := Parse(spec)
		if err != nil {
			return
		}
		c := NewCollector(p, DefaultOpts())
		c.Start(0)
		var now time.Duration
		decisions := 0
		check := func(o Outcome) {
			if o.Kind == Continue {
				return
			}
			decisions++
			if o.Kind == Dial {
				if r := p.Match(c.Collected()); r.Number != o.Number {
					t.Fatalf("dialled %q but Match(%q) = %+v", o.Number, c.Collected(), r)
				}
			}
		}
		for i, k := range keys {
			if i < len(gaps) {
				now += time.Duration(gaps[i]) * 100 * ms
			}
			check(c.Advance(now))
			check(c.Digit(k, now))
		}
		check(c.Advance(now + maxTimer + time.Second)) // longer than any timer
		if decisions != 1 {
			t.Fatalf("%d decisions, want exactly 1", decisions)
		}
	})
}

func BenchmarkCollectorAdvance(b *testing.B) {
	c := NewCollector(mustParse(b, usMap), DefaultOpts())
	c.Start(0)
	c.Digit('9', 0)
	b.ReportAllocs()
	var now time.Duration
	for b.Loop() {
		now++
		c.Advance(now)
	}
}
