package sim

import (
	"context"
	"encoding/binary"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/board"
	"github.com/openata/ata/board/pcm"
)

func TestHookOffOnFlash(t *testing.T) {
	t.Parallel()
	_, c, rec := startBoard(t, 0)
	ctx := context.Background()

	if s, err := c.State(ctx); err != nil || s != (State{Hook: "on"}) {
		t.Fatalf("initial state = %+v, %v; want on-hook, not ringing", s, err)
	}
	for _, a := range []string{"off", "on", "off"} {
		if err := c.Hook(ctx, a); err != nil {
			t.Fatalf("hook %s: %v", a, err)
		}
		rec.waitFrames(t, 2)
	}
	if s, _ := c.State(ctx); s.Hook != "off" {
		t.Fatalf("state after off = %+v", s)
	}
	start := time.Now()
	if err := c.Hook(ctx, "flash"); err != nil {
		t.Fatalf("flash: %v", err)
	}
	if el := time.Since(start); el < DefaultFlashBreak {
		t.Errorf("flash returned after %v, before the %v break ended", el, DefaultFlashBreak)
	}
	rec.waitFrames(t, 2)

	edges, _, _ := rec.snapshot()
	wantOff := []bool{false, true, false, true, false, true} // initial, off, on, off, flash break, flash make
	if len(edges) != len(wantOff) {
		t.Fatalf("edges = %+v; want %d", edges, len(wantOff))
	}
	for i, e := range edges {
		if e.OffHook != wantOff[i] {
			t.Errorf("edge %d = %+v; want OffHook %v", i, e, wantOff[i])
		}
		if i > 0 && e.At < edges[i-1].At {
			t.Errorf("edge %d at %v before edge %d at %v", i, e.At, i-1, edges[i-1].At)
		}
	}
	if edges[0].At != 0 {
		t.Errorf("initial edge at %v; want 0", edges[0].At)
	}
	if got := edges[5].At - edges[4].At; got != DefaultFlashBreak {
		t.Errorf("flash break lasted %v; want %v", got, DefaultFlashBreak)
	}

	evs, err := c.Events(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 5 {
		t.Fatalf("events = %+v; want 5 hook events", evs)
	}
	for i, e := range evs {
		edge := edges[i+1]
		want := Event{Seq: uint64(i + 1), TMs: edge.At.Milliseconds(), Kind: KindHook, On: !edge.OffHook}
		if e != want {
			t.Errorf("event %d = %+v; want %+v", i, e, want)
		}
	}
}

func TestDialDTMFTonesAndTiming(t *testing.T) {
	t.Parallel()
	_, c, rec := startBoard(t, 0)
	ctx := context.Background()
	const keys = "1234567890*#ABCD"
	if err := c.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	if err := c.Dial(ctx, keys, ""); err != nil { // method defaults to dtmf
		t.Fatalf("dial: %v", err)
	}
	rec.waitFrames(t, 2)
	_, _, mic := rec.snapshot()

	on, period := durSamples(DTMFOn), durSamples(DTMFOn+DTMFOff)
	first := -1
	for i, v := range mic {
		if v != 0 {
			first = i
			break
		}
	}
	if first < 1 {
		t.Fatalf("no tone in the mic stream (first non-zero sample %d)", first)
	}
	start := first - 1 // both oscillators start at phase 0: the first sample is 0
	if len(mic) < start+len(keys)*period {
		t.Fatalf("mic stream has %d samples; want at least %d", len(mic), start+len(keys)*period)
	}
	for k := 0; k < len(keys); k++ {
		tone := mic[start+k*period : start+k*period+on]
		gap := mic[start+k*period+on : start+(k+1)*period]
		for i, v := range gap {
			if v != 0 {
				t.Fatalf("key %c: sample %d of the 70 ms gap is %d, want silence", keys[k], i, v)
			}
		}
		// Energy right up to both ends of the window: the tone lasts 70 ms.
		if rms(tone[:40]) < 3000 || rms(tone[on-40:]) < 3000 {
			t.Errorf("key %c: tone does not fill its 70 ms window (rms head %.0f tail %.0f)", keys[k], rms(tone[:40]), rms(tone[on-40:]))
		}
		low, high := strongest(tone, pcm.DTMFLow[:]), strongest(tone, pcm.DTMFHigh[:])
		wantLow, wantHigh, _ := pcm.DTMFFrequencies(keys[k])
		if low != wantLow || high != wantHigh {
			t.Errorf("key %c: strongest tones %v+%v Hz; want %v+%v", keys[k], low, high, wantLow, wantHigh)
		}
		if l := pcm.Level(goertzelAmplitude(tone, wantLow)); math.Abs(l-DTMFLowDBm0) > 0.3 {
			t.Errorf("key %c: row tone at %.2f dBm0; want %v", keys[k], l, DTMFLowDBm0)
		}
		if l := pcm.Level(goertzelAmplitude(tone, wantHigh)); math.Abs(l-DTMFHighDBm0) > 0.3 {
			t.Errorf("key %c: column tone at %.2f dBm0; want %v", keys[k], l, DTMFHighDBm0)
		}
	}
	for i, v := range mic[start+len(keys)*period:] {
		if v != 0 {
			t.Fatalf("sample %d after the last key is %d; want silence", i, v)
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

func strongest(x []int16, freqs []float64) float64 {
	best, bestAmp := 0.0, -1.0
	for _, f := range freqs {
		if a := goertzelAmplitude(x, f); a > bestAmp {
			best, bestAmp = f, a
		}
	}
	return best
}

func TestDialPulseEdges(t *testing.T) {
	t.Parallel()
	_, c, rec := startBoard(t, 0)
	ctx := context.Background()
	if err := c.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	if err := c.Dial(ctx, "20", "pulse"); err != nil {
		t.Fatalf("dial: %v", err)
	}
	rec.waitFrames(t, 2)
	edges, _, _ := rec.snapshot()
	edges = edges[2:] // initial on-hook, off-hook
	if len(edges) != 2*(2+10) {
		t.Fatalf("got %d pulse edges; want %d: %+v", len(edges), 2*12, edges)
	}
	for i := 0; i < len(edges); i += 2 {
		brk, mk := edges[i], edges[i+1]
		if brk.OffHook || !mk.OffHook {
			t.Fatalf("pulse %d: edges %+v %+v; want break then make", i/2, brk, mk)
		}
		if d := mk.At - brk.At; d != PulseBreak {
			t.Errorf("pulse %d: break %v; want %v", i/2, d, PulseBreak)
		}
		if i+2 < len(edges) {
			want := PulseMake
			if i/2 == 1 { // last pulse of '2'
				want = PulseInterDigit
			}
			if d := edges[i+2].At - mk.At; d != want {
				t.Errorf("after pulse %d: make %v; want %v", i/2, d, want)
			}
		}
	}
	evs, err := c.Events(ctx, 1) // skip the off-hook event
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != len(edges) {
		t.Fatalf("%d events for %d pulse edges", len(evs), len(edges))
	}
	for i, e := range evs {
		if e.Kind != KindHook || e.On != !edges[i].OffHook || e.TMs != edges[i].At.Milliseconds() {
			t.Errorf("event %+v does not match edge %+v", e, edges[i])
		}
	}
}

func TestHangUpAbortsDial(t *testing.T) {
	t.Parallel()
	_, c, rec := startBoard(t, 0)
	ctx := context.Background()
	if err := c.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- c.Dial(ctx, "0", "pulse") }()
	time.Sleep(PulseInterDigit + 250*time.Millisecond) // the wind-up, then a few pulses
	if err := c.Hook(ctx, "on"); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; statusCode(err) != http.StatusConflict {
		t.Fatalf("dial interrupted by hang-up: %v; want 409", err)
	}
	rec.waitFrames(t, 2)
	edges, _, _ := rec.snapshot()
	if last := edges[len(edges)-1]; last.OffHook {
		t.Errorf("last edge %+v; want the loop open after hanging up", last)
	}
	if len(edges) > 2+2*10 || len(edges) < 2+2 {
		t.Errorf("%d edges: the aborted dial should have sent a few pulses, not all ten", len(edges))
	}
	if s, _ := c.State(ctx); s.Hook != "on" {
		t.Errorf("state %+v after hanging up", s)
	}
}

func TestSpeakQueuesInOrder(t *testing.T) {
	t.Parallel()
	_, c, rec := startBoard(t, board.FrameSamples10ms)
	ctx := context.Background()
	if err := c.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	a, b := make([]int16, 1000), make([]int16, 1500)
	for i := range a {
		a[i] = int16(i + 1)
	}
	for i := range b {
		b[i] = -int16(i + 1)
	}
	start := time.Now()
	if err := c.Speak(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := c.Speak(ctx, b); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 150*time.Millisecond {
		t.Errorf("speak took %v; it should answer at once", el)
	}
	want := append(append([]int16{}, a...), b...)
	waitFor(t, "speech in the mic stream", 5*time.Second, func() bool {
		_, _, mic := rec.snapshot()
		return len(mic) > 0 && mic[len(mic)-1] == 0 && countNonZero(mic) >= len(want)
	})
	_, _, mic := rec.snapshot()
	first := 0
	for first < len(mic) && mic[first] == 0 {
		first++
	}
	got := mic[first : first+len(want)]
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("mic sample %d after speech start = %d; want %d", i, got[i], want[i])
		}
	}
	if n := countNonZero(mic); n != len(want) {
		t.Errorf("%d non-zero mic samples; want exactly the %d spoken", n, len(want))
	}
}

func countNonZero(x []int16) int {
	n := 0
	for _, v := range x {
		if v != 0 {
			n++
		}
	}
	return n
}

func TestListenReturnsEarAudio(t *testing.T) {
	t.Parallel()
	_, c, _ := startBoard(t, 0)
	got, err := c.Listen(context.Background(), 250*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 250*8 {
		t.Fatalf("listen 250 ms gave %d samples; want 2000", len(got))
	}
	// The recorder writes a counter: the capture must be one unbroken run of
	// it starting at a frame boundary.
	n0 := -1
	for n := 0; n < 30011; n += board.FrameSamples20ms {
		if earValue(n) == got[0] {
			n0 = n
			break
		}
	}
	if n0 < 0 {
		t.Fatalf("first sample %d is not the start of a frame the handler wrote", got[0])
	}
	for i, v := range got {
		if v != earValue(n0+i) {
			t.Fatalf("sample %d = %d; want %d", i, v, earValue(n0+i))
		}
	}
}

func TestEventsAndState(t *testing.T) {
	t.Parallel()
	b, c, rec := startBoard(t, 0)
	ctx := context.Background()

	resp, err := http.Get(b.URL() + "/events")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.TrimSpace(string(body)) != "[]" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("empty events = %q (%s); want []", body, resp.Header.Get("Content-Type"))
	}

	p := b.Port()
	rec.waitFrames(t, 1)
	p.SetRing(true)
	p.SetRing(true) // no change: no event
	if s, _ := c.State(ctx); !s.Ringing || s.Hook != "on" {
		t.Errorf("state while ringing = %+v", s)
	}
	p.SetRing(false)
	if err := p.SetReversed(true); err != nil {
		t.Fatalf("SetReversed: %v", err)
	}
	if err := c.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	want := []Event{
		{Seq: 1, Kind: KindRing, On: true},
		{Seq: 2, Kind: KindRing, On: false},
		{Seq: 3, Kind: KindPolarity, On: true},
		{Seq: 4, Kind: KindHook, On: false},
	}
	all, err := c.Events(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(want) {
		t.Fatalf("events = %+v; want %+v", all, want)
	}
	for i := range want {
		if all[i].Seq != want[i].Seq || all[i].Kind != want[i].Kind || all[i].On != want[i].On {
			t.Errorf("event %d = %+v; want %+v", i, all[i], want[i])
		}
		if all[i].TMs < 0 || (i > 0 && all[i].TMs < all[i-1].TMs) {
			t.Errorf("event %d time %d ms out of order", i, all[i].TMs)
		}
	}
	since2, err := c.Events(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(since2) != 2 || since2[0].Seq != 3 || since2[1].Seq != 4 {
		t.Errorf("events since 2 = %+v; want seq 3 and 4", since2)
	}
	if none, _ := c.Events(ctx, 4); len(none) != 0 {
		t.Errorf("events since 4 = %+v; want none", none)
	}
}

func TestEventHistoryIsBounded(t *testing.T) {
	b, err := New(Opts{Clock: newFakeClock(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < eventHistory+5; i++ {
		b.Port().SetRing(i%2 == 0)
	}
	evs := b.Phone().Events(0)
	if len(evs) != eventHistory || evs[0].Seq != 6 || evs[len(evs)-1].Seq != eventHistory+5 {
		t.Fatalf("history holds %d events, seq %d..%d; want the last %d", len(evs), evs[0].Seq, evs[len(evs)-1].Seq, eventHistory)
	}
}

// wav16 builds a WAV header+data with the given format fields.
func wav(rate uint32, channels, bits uint16, dataBytes int) []byte {
	h := make([]byte, 44)
	copy(h, "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(36+dataBytes))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1)
	binary.LittleEndian.PutUint16(h[22:], channels)
	binary.LittleEndian.PutUint32(h[24:], rate)
	binary.LittleEndian.PutUint32(h[28:], rate*uint32(channels)*uint32(bits)/8)
	binary.LittleEndian.PutUint16(h[32:], channels*bits/8)
	binary.LittleEndian.PutUint16(h[34:], bits)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(dataBytes))
	return append(h, make([]byte, dataBytes)...)
}

func TestHTTPErrors(t *testing.T) {
	t.Parallel()
	b, _, _ := startBoard(t, 0)
	base := b.URL()
	const expectedFormat = "8000 Hz, mono, 16-bit"
	tests := []struct {
		name, method, path, body string
		code                     int
		mention                  string
	}{
		{"bad hook body", "POST", "/hook", "up", 400, `"off", "on", "flash"`},
		{"dial on-hook", "POST", "/dial", `{"digits":"123"}`, 409, "phone is on-hook"},
		{"flash on-hook", "POST", "/hook", "flash", 409, "phone is on-hook"},
		{"dial bad digit", "POST", "/dial", `{"digits":"12x","method":"dtmf"}`, 400, `digit 'x'`},
		{"dial pulse star", "POST", "/dial", `{"digits":"1*","method":"pulse"}`, 400, `digit '*'`},
		{"dial bad method", "POST", "/dial", `{"digits":"1","method":"mf"}`, 400, `method must be "dtmf" or "pulse"`},
		{"dial no digits", "POST", "/dial", `{"method":"dtmf"}`, 400, "no digits"},
		{"dial not json", "POST", "/dial", `digits=1`, 400, "want JSON"},
		{"dial unknown field", "POST", "/dial", `{"digit":"1"}`, 400, "unknown field"},
		{"speak 16 kHz", "POST", "/speak", string(wav(16000, 1, 16, 320)), 400, expectedFormat},
		{"speak stereo", "POST", "/speak", string(wav(8000, 2, 16, 320)), 400, expectedFormat},
		{"speak 8-bit", "POST", "/speak", string(wav(8000, 1, 8, 320)), 400, expectedFormat},
		{"speak not wav", "POST", "/speak", "hello", 400, expectedFormat},
		{"listen 0", "GET", "/listen?ms=0", "", 400, "from 1 to 120000"},
		{"listen too long", "GET", "/listen?ms=120001", "", 400, "from 1 to 120000"},
		{"listen missing", "GET", "/listen", "", 400, "from 1 to 120000"},
		{"events bad since", "GET", "/events?since=-1", "", 400, "since"},
		{"GET hook", "GET", "/hook", "", 405, ""},
		{"POST state", "POST", "/state", "", 405, ""},
		{"PUT speak", "PUT", "/speak", "", 405, ""},
		{"unknown path", "GET", "/nope", "", 404, ""},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, base+tt.path, strings.NewReader(tt.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code || !strings.Contains(string(body), tt.mention) {
			t.Errorf("%s: %d %q; want %d mentioning %q", tt.name, resp.StatusCode, body, tt.code, tt.mention)
		}
		if tt.code != 405 && tt.code != 404 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Errorf("%s: Content-Type %q; want text/plain", tt.name, resp.Header.Get("Content-Type"))
		}
	}
}

func TestListenRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:8081", "example.com:8081"} {
		b, err := New(Opts{Listen: addr, Logger: quietLogger()})
		if err == nil {
			b.Close()
			t.Errorf("New(%q) succeeded; want refusal", addr)
			continue
		}
		if want := "sim: listen address " + addr + " is not loopback"; err.Error() != want {
			t.Errorf("New(%q) = %q; want %q", addr, err, want)
		}
	}
	for _, addr := range []string{"[::1]:0", "localhost:0"} {
		b, err := New(Opts{Listen: addr, Logger: quietLogger()})
		if err != nil {
			if addr == "[::1]:0" && strings.Contains(err.Error(), "cannot assign") {
				continue // no IPv6 loopback on this machine
			}
			t.Errorf("New(%q): %v", addr, err)
			continue
		}
		b.Close()
	}
	if _, err := New(Opts{FrameSamples: 100}); err == nil {
		t.Error("New accepted a 100-sample frame")
	}
}

// TestFlashLastsTheConfiguredBreak: a flash opens the loop for
// Opts.FlashBreak (the firmware passes the middle of its flash window).
func TestFlashLastsTheConfiguredBreak(t *testing.T) {
	t.Parallel()
	_, c, rec := startBoardOpts(t, Opts{FlashBreak: 300 * time.Millisecond})
	ctx := context.Background()
	if err := c.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	if err := c.Hook(ctx, "flash"); err != nil {
		t.Fatal(err)
	}
	rec.waitFrames(t, 2)
	edges, _, _ := rec.snapshot()
	if len(edges) != 4 {
		t.Fatalf("edges %+v, want initial, off, flash break, flash make", edges)
	}
	if got := edges[3].At - edges[2].At; got != 300*time.Millisecond {
		t.Fatalf("flash break lasted %v, want 300ms", got)
	}
}
