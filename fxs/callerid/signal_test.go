package callerid

import (
	"math"
	"testing"

	"github.com/openata/ata/board/pcm"
)

const rate = 8000.0

// expectedBits builds the on-line bit sequence from the framing rules as
// GR-30 states them, independently of Framing.bit.
func expectedBits(seizure, marks int, msg []byte, trailing int) []int {
	var bits []int
	for i := 0; i < seizure; i++ {
		bits = append(bits, i%2) // alternating, starting with a space
	}
	for i := 0; i < marks; i++ {
		bits = append(bits, 1)
	}
	for _, b := range msg {
		bits = append(bits, 0) // start
		for i := 0; i < 8; i++ {
			bits = append(bits, int(b>>i)&1) // LSB first
		}
		bits = append(bits, 1) // stop
	}
	for i := 0; i < trailing; i++ {
		bits = append(bits, 1)
	}
	return bits
}

func mustRender(t testing.TB, std Standard, info Info, level float64) []int16 {
	t.Helper()
	s, err := Render(std, info, level)
	if err != nil {
		t.Fatalf("Render(%s): %v", std, err)
	}
	return s
}

var fullInfo = Info{Time: callTime, Number: "6095551212", Name: "JOHN DOE"}

func TestRenderLength(t *testing.T) {
	for _, std := range []Standard{Bell202, Bell202SDMF, ETSIFSK, ETSIFSKDTAS} {
		info := std.Clamp(fullInfo) // SDMF drops the name
		msg, err := std.Message(info)
		if err != nil {
			t.Fatal(err)
		}
		bits := 300 + 180 + 10*len(msg) + OnHook.TrailingMarkBits
		want := int(math.Ceil(float64(bits) * rate / 1200))
		if std == ETSIFSKDTAS {
			want += 800 + 800 // 100 ms DT-AS, 100 ms pause
		}
		if got := len(mustRender(t, std, info, DefaultFSKLevel)); got != want {
			t.Errorf("%s: %d samples, want %d (%d bits at 1200 baud)", std, got, want, bits)
		}
	}
	cw, err := RenderCallWaiting(Bell202, fullInfo, DefaultFSKLevel)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := MDMF(fullInfo)
	if want := int(math.Ceil(float64(80+10*len(msg)+OffHook.TrailingMarkBits) * rate / 1200)); len(cw) != want {
		t.Errorf("call waiting: %d samples, want %d", len(cw), want)
	}
	if s, err := Render(None, fullInfo, DefaultFSKLevel); s != nil || err != nil {
		t.Errorf("Render(none) = %d samples, %v", len(s), err)
	}
	if _, err := RenderCallWaiting(DTMF, fullInfo, DefaultFSKLevel); err == nil {
		t.Error("RenderCallWaiting(dtmf) accepted")
	}
	for _, lvl := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), 4} {
		if _, err := Render(Bell202, fullInfo, lvl); err == nil {
			t.Errorf("level %v accepted", lvl)
		}
	}
}

// phaseAt recovers the phase of sample n of a sine of amplitude amp whose
// phase then advances by w: x[n] = amp·sin φ, x[n+1] = amp·sin(φ+w).
func phaseAt(x []int16, n int, amp, w float64) float64 {
	s := float64(x[n]) / amp
	c := (float64(x[n+1])/amp - s*math.Cos(w)) / math.Sin(w)
	return math.Atan2(s, c)
}

// TestFSKBitsAndPhase checks, sample by sample, that the signal is one
// sine whose phase advances by the mark or space step of the bit in force
// (bit k lasts from k/1200 s to (k+1)/1200 s), with no jump anywhere: the
// phase recovered at n plus the step equals the phase recovered at n+1.
func TestFSKBitsAndPhase(t *testing.T) {
	for _, tc := range []struct {
		std   Standard
		modem Modem
	}{{Bell202, Modem{1200, 2200}}, {ETSIFSK, Modem{1300, 2100}}} {
		x := mustRender(t, tc.std, fullInfo, DefaultFSKLevel)
		msg, _ := MDMF(fullInfo)
		bits := expectedBits(300, 180, msg, OnHook.TrailingMarkBits)
		amp := pcm.Amplitude(DefaultFSKLevel)
		step := func(n int) float64 { // phase step from sample n to n+1
			f := tc.modem.Space
			if bits[int(float64(n)*1200/rate)] == 1 {
				f = tc.modem.Mark
			}
			return 2 * math.Pi * f / rate
		}
		if x[0] != 0 {
			t.Errorf("%s: starts at %d, want 0 (phase zero)", tc.std, x[0])
		}
		worst := 0.0
		for n := 0; n+2 < len(x); n++ {
			got := phaseAt(x, n+1, amp, step(n+1))
			want := phaseAt(x, n, amp, step(n)) + step(n)
			d := math.Abs(math.Remainder(got-want, 2*math.Pi))
			worst = max(worst, d)
			if d > 0.01 {
				t.Fatalf("%s: phase error %.4f rad at sample %d (bit %d)", tc.std, d, n+1, int(float64(n+1)*1200/rate))
			}
		}
		t.Logf("%s: worst phase error %.5f rad over %d samples", tc.std, worst, len(x))
	}
}

// TestFSKStepBound is a coarser continuity check needing no bit timing: a
// continuous sine of peak A at f Hz never moves more than 2πf/rate·A between
// samples, while a phase jump would.
func TestFSKStepBound(t *testing.T) {
	x := mustRender(t, Bell202, fullInfo, DefaultFSKLevel)
	limit := pcm.Amplitude(DefaultFSKLevel)*2*math.Sin(math.Pi*2200/rate) + 1
	for n := 1; n < len(x); n++ {
		if d := math.Abs(float64(x[n]) - float64(x[n-1])); d > limit {
			t.Fatalf("step of %.0f at sample %d exceeds %.0f", d, n, limit)
		}
	}
}

func TestFSKLevel(t *testing.T) {
	for _, lvl := range []float64{DefaultFSKLevel, -30} {
		x := mustRender(t, ETSIFSK, fullInfo, lvl)
		if got := pcm.RMSLevel(rms(x)); math.Abs(got-lvl) > 0.1 {
			t.Errorf("FSK at %.1f dBm0 measures %.2f dBm0", lvl, got)
		}
	}
}

func rms(x []int16) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(len(x)))
}

// toneLevel is the level in dBm0 of the component of x at f, by a DFT bin
// (Goertzel) scaled to the peak amplitude of a sine.
func toneLevel(x []int16, f float64) float64 {
	w := 2 * math.Pi * f / rate
	var s1, s2 float64
	for _, v := range x {
		s1, s2 = float64(v)+2*math.Cos(w)*s1-s2, s1
	}
	re := s1 - s2*math.Cos(w)
	im := s2 * math.Sin(w)
	return pcm.Level(2 * math.Hypot(re, im) / float64(len(x)))
}

func checkTone(t *testing.T, name string, x []int16, level float64, want []float64, others []float64) {
	t.Helper()
	for _, f := range want {
		if got := toneLevel(x, f); math.Abs(got-level) > 0.5 {
			t.Errorf("%s: %.0f Hz at %.2f dBm0, want %.1f", name, f, got, level)
		}
	}
	for _, f := range others {
		if got := toneLevel(x, f); got > level-30 {
			t.Errorf("%s: %.0f Hz at %.2f dBm0, want below %.1f", name, f, got, level-30)
		}
	}
}

func TestDTASThenFSK(t *testing.T) {
	const lvl = -13.5
	x := mustRender(t, ETSIFSKDTAS, fullInfo, lvl)
	dtas, pause, fsk := x[:800], x[800:1600], x[1600:]
	checkTone(t, "DT-AS", dtas, lvl, []float64{2130, 2750}, []float64{440, 1300, 2100, 1700, 3200})
	for i, v := range pause {
		if v != 0 {
			t.Fatalf("pause sample %d = %d, want silence", i, v)
		}
	}
	// The FSK after the pause is the etsi-fsk signal, unchanged.
	plain := mustRender(t, ETSIFSK, fullInfo, lvl)
	if len(fsk) != len(plain) {
		t.Fatalf("FSK part %d samples, etsi-fsk %d", len(fsk), len(plain))
	}
	for i := range plain {
		if fsk[i] != plain[i] {
			t.Fatalf("FSK part differs from etsi-fsk at sample %d", i)
		}
	}
	// The seizure (first 250 ms) holds the V.23 tones only.
	checkTone(t, "V.23 seizure", fsk[:2000], lvl-3.5, nil, []float64{1200, 2200, 2130, 2750, 440})
}

func TestCallWaitingTones(t *testing.T) {
	const lvl = -15
	sas := AppendSAS(nil, lvl)
	if len(sas) != 2400 {
		t.Errorf("SAS %d samples, want 2400 (300 ms)", len(sas))
	}
	checkTone(t, "SAS", sas, lvl, []float64{440}, []float64{2130, 2750, 350, 480})
	cas := AppendCAS(nil, lvl)
	if len(cas) != 640 {
		t.Errorf("CAS %d samples, want 640 (80 ms)", len(cas))
	}
	checkTone(t, "CAS", cas, lvl, []float64{2130, 2750}, []float64{440, 1633, 941})
	// Appending reuses the caller's buffer.
	buf := make([]int16, 0, 3040)
	out := AppendCAS(AppendSAS(buf, lvl), lvl)
	if len(out) != 3040 || &out[0] != &buf[:1][0] {
		t.Errorf("SAS+CAS did not append in place")
	}
}

func TestRenderAllocatesOnce(t *testing.T) {
	for _, std := range []Standard{Bell202, ETSIFSKDTAS, DTMF} {
		info := DTMF.Clamp(fullInfo)
		if std != DTMF {
			info = fullInfo
		}
		allocs := testing.AllocsPerRun(20, func() {
			if _, err := Render(std, info, -13.5); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 1 {
			t.Errorf("Render(%s) allocates %.0f times, want 1 (the result)", std, allocs)
		}
	}
}

func BenchmarkRender(b *testing.B) {
	for _, std := range []Standard{Bell202, ETSIFSKDTAS} {
		b.Run(string(std), func(b *testing.B) {
			for b.Loop() {
				if _, err := Render(std, fullInfo, DefaultFSKLevel); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
