package main

// Issue 14 end to end: the line echo canceller, fax/modem pass-through and
// the gains, on the sim board's hybrid (an echo path from earpiece to
// mouthpiece, [board] sim_echo_*) with the firmware binary registered on
// Kamailio and baresip far ends that play speech, a modem's answer tone
// and V.21 data, and record what they hear.

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/board/pcm"
	"github.com/openata/ata/internal/baresiptest"
	"github.com/openata/ata/internal/kamailiotest"
	"github.com/openata/ata/media/codec"
)

// echoRig is the firmware (line 1001, the web UI on a known port) and far
// ends registered on one Kamailio, each answering at once.
type echoRig struct {
	*multiRig
	phones map[string]*baresiptest.Phone
}

// newEchoRig starts Kamailio, the firmware with boardExtra added to
// [board] and phoneExtra to [phone], and a far end for each number.
func newEchoRig(t *testing.T, boardExtra, phoneExtra string, fars map[string]baresiptest.Opts) *echoRig {
	t.Helper()
	users := map[string]string{"1001": "secret"}
	for n := range fars {
		users[n] = "pw" + n
	}
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: users})
	web := freePort(t)
	cfg := lineConfig(kam, "")
	for _, r := range []struct{ anchor, repl string }{
		{`sim_listen = "SIM_LISTEN"`, "sim_listen = \"SIM_LISTEN\"\n" + boardExtra},
		{`dial_plan = "(xxxx)"`, "dial_plan = \"(xxxx)\"\n" + phoneExtra},
		{`listen = "127.0.0.1:0"`, fmt.Sprintf("listen = %q", web)}, // [web], the first listen
	} {
		if !strings.Contains(cfg, r.anchor) {
			t.Fatalf("lineConfig changed: no %q", r.anchor)
		}
		cfg = strings.Replace(cfg, r.anchor, r.repl, 1)
	}
	r := &echoRig{multiRig: &multiRig{t: t, kam: kam, f: startFirmware(t, cfg), web: "http://" + web},
		phones: map[string]*baresiptest.Phone{}}
	waitRegistered(t, kam, "1001")
	var st struct{}
	r.webAPI("/api/status", &st) // logs in now: first-boot setup takes a while, not to be spent in a call
	for n, o := range fars {
		o.User, o.Registrar, o.Password = n, kam.Addr().String(), users[n]
		o.Incoming = baresiptest.AutoAnswer
		r.phones[n] = baresiptest.Start(t, o)
	}
	return r
}

// call lifts the handset, dials number and returns when the call talks:
// the far end's CALL_ESTABLISHED event, whose time is when its audio
// starts.
func (r *echoRig) call(number string) (*baresiptest.Phone, baresiptest.Event) {
	r.t.Helper()
	r.hook("off")
	r.dial(number)
	far := r.phones[number]
	up := far.WaitEvent(baresiptest.Established, 10*time.Second)
	r.f.waitLog(r.t, "to=talking", 5*time.Second)
	return far, up
}

// hangUp puts the handset down and waits for the far end to see the BYE.
func (r *echoRig) hangUp(far *baresiptest.Phone) {
	r.t.Helper()
	r.hook("on")
	far.WaitEvent(baresiptest.Closed, 5*time.Second)
}

// echoCall is the current call as /api/status shows it.
type echoCall struct {
	Number      string  `json:"number"`
	Role        string  `json:"role"`
	Echo        string  `json:"echo"`
	EchoERL     float64 `json:"echo_erl_db"`
	EchoERLE    float64 `json:"echo_erle_db"`
	PassThrough bool    `json:"pass_through"`
}

func (r *echoRig) statusCall() echoCall {
	r.t.Helper()
	var st struct {
		Calls []echoCall `json:"calls"`
	}
	r.webAPI("/api/status", &st)
	if len(st.Calls) != 1 {
		r.t.Fatalf("/api/status shows %d calls, want the one call: %+v", len(st.Calls), st.Calls)
	}
	return st.Calls[0]
}

// echoLogEntry is a call log entry's echo and pass-through record.
type echoLogEntry struct {
	Number      string  `json:"number"`
	Leg         string  `json:"leg"`
	EchoERL     float64 `json:"echo_erl_db"`
	EchoERLE    float64 `json:"echo_erle_db"`
	EchoOff     bool    `json:"echo_off"`
	PassThrough bool    `json:"pass_through"`
	DataTone    string  `json:"data_tone"`
}

// callLog waits for n entries in the call log and returns them, newest
// first.
func (r *echoRig) callLog(n int) []echoLogEntry {
	r.t.Helper()
	var log struct {
		Calls []echoLogEntry `json:"calls"`
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		r.webAPI("/api/calls", &log)
		if len(log.Calls) >= n {
			return log.Calls
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("call log has %d entries, want %d: %+v", len(log.Calls), n, log.Calls)
		}
	}
}

// farSpeech is the echo canceller's far-end speech fixture (espeak-ng,
// 15.1 s, fxs/echo/testdata/make-speech.sh), decoded from μ-law.
func farSpeech(t *testing.T) []int16 {
	t.Helper()
	ul, err := os.ReadFile(filepath.Join("..", "..", "fxs", "echo", "testdata", "far.ul"))
	if err != nil {
		t.Fatal(err)
	}
	s := make([]int16, len(ul))
	codec.PCMU.Decode(s, ul)
	return s
}

// power is the mean square of x.
func power(x []int16) float64 {
	var p float64
	for _, v := range x {
		p += float64(v) * float64(v)
	}
	return p / float64(max(len(x), 1))
}

// db is 10·log10 of a power ratio (-Inf for silence over sound).
func db(num, den float64) float64 { return 10 * math.Log10(num/den) }

// The echo the far end hears is measured over exactly one period of its
// looping speech, starting after echoSettle: the power of a periodic
// signal over one whole period does not depend on where the window starts,
// so the round trip's delay needs no alignment. Before echoSettle the
// canceller converges (the figures are "after 1 s").
const echoSettle = 2 * time.Second

// echoLoss has the far end of the current call (up: its established
// event) play speech and returns how far below it the echo it heard is
// (dB, the combined loss of the line's hybrid and the canceller), reading
// the status API midway.
func (r *echoRig) echoLoss(far *baresiptest.Phone, up baresiptest.Event, speech []int16) (float64, echoCall) {
	r.t.Helper()
	period := time.Duration(len(speech)) * time.Second / 8000
	from := up.Time.Add(echoSettle)
	time.Sleep(time.Until(from.Add(period / 2)))
	st := r.statusCall()
	heard := far.Heard(from, from.Add(period))
	loss := -db(power(heard), power(speech))
	if d := os.Getenv("ATA_ECHO_DUMP"); d != "" {
		// What the far end heard from its answer on, as a WAV in d: where
		// in the call an echo (or comfort noise) got through.
		os.WriteFile(filepath.Join(d, r.t.Name()+".wav"), pcm.EncodeWAV(far.Heard(up.Time, from.Add(period)), 8000), 0o644)
	}
	r.t.Logf("far end sent speech at %.1f dBm0 (RMS), heard its echo at %.1f dBm0: %.1f dB down; status %+v",
		pcm.RMSLevel(math.Sqrt(power(speech))), pcm.RMSLevel(math.Sqrt(power(heard))), loss, st)
	return loss, st
}

const echoBoard = "sim_echo_erl = 6\nsim_echo_model = 1\nsim_echo_delay = \"20ms\""

// TestEchoHeardWithoutCanceller: with the canceller off, the sim's hybrid
// (ERL 6 dB, G.168 model 1, 20 ms bulk delay) returns the far end's own
// speech to it about 6 dB down: the echo path TestEchoCancelledEndToEnd
// cancels is there, and its loss is measured the way that test measures it.
func TestEchoHeardWithoutCanceller(t *testing.T) {
	speech := farSpeech(t)
	r := newEchoRig(t, echoBoard, "echo_canceller = false",
		map[string]baresiptest.Opts{"2000": {Audio: speech, MaxCall: 40 * time.Second}})
	far, up := r.call("2000")
	loss, st := r.echoLoss(far, up, speech)
	if loss < 3 || loss > 10 {
		t.Errorf("echo %.1f dB below the far end's speech with the canceller off, want about 6 (the hybrid's ERL)", loss)
	}
	if !strings.HasPrefix(st.Echo, "off") || st.EchoERLE != 0 {
		t.Errorf("status API call %+v: want the canceller shown off", st)
	}
	r.hangUp(far)
}

// TestEchoCancelledEndToEnd: the same call with the canceller on (the
// default): the far end hears its speech at least 40 dB down, through two
// G.711 codings and the network (the 45 dB is the canceller's
// figure on the line itself, BenchmarkVsSpeex in fxs/echo). The sim's line
// has no background noise, so once the canceller has converged and its
// NLP takes the residual out, the far end hears μ-law silence. The
// status API shows the canceller's figures during the call and the call
// log keeps them. With echo_canceller = false this test fails its loss
// assertion (about 6 dB; TestEchoHeardWithoutCanceller).
func TestEchoCancelledEndToEnd(t *testing.T) {
	speech := farSpeech(t)
	r := newEchoRig(t, echoBoard, "",
		map[string]baresiptest.Opts{"2000": {Audio: speech, MaxCall: 40 * time.Second}})
	far, up := r.call("2000")
	loss, st := r.echoLoss(far, up, speech)
	if loss < 40 {
		t.Errorf("echo %.1f dB below the far end's speech with the canceller on, want ≥ 40", loss)
	}
	if st.Echo == "" || strings.HasPrefix(st.Echo, "off") || st.EchoERLE < 20 || math.Abs(st.EchoERL-6) > 3 {
		t.Errorf("status API call %+v: want the canceller on, ERL about 6 dB and ERLE > 20 dB", st)
	}
	r.hangUp(far)
	e := r.callLog(1)[0]
	t.Logf("call log: %+v", e)
	if e.EchoERLE < 20 || math.Abs(e.EchoERL-6) > 3 || e.EchoOff || e.PassThrough {
		t.Errorf("call log entry %+v: want ERL about 6 dB, ERLE > 20 dB, the canceller in, no pass-through", e)
	}
}

// ansam is V.8's ANSam/ for d: 2100 Hz at dBm0 with 20 % amplitude
// modulation at 15 Hz and a phase reversal every 450 ms (the answering
// modem's request to disable echo cancellers).
func ansam(dBm0 float64, d time.Duration) []int16 {
	a := pcm.Amplitude(dBm0)
	x := make([]int16, int(d*8000/time.Second))
	for i := range x {
		t := float64(i) / 8000
		ph := 2 * math.Pi * 2100 * t
		if (i/(450*8))%2 == 1 {
			ph += math.Pi
		}
		x[i] = pcm.Clip16(a * (1 + 0.2*math.Sin(2*math.Pi*15*t)) * math.Sin(ph))
	}
	return x
}

// v21 is text sent by minimodem as V.21 channel 2 (the answering
// modem's: mark 1650 Hz, space 1850 Hz, 300 bit/s, 8-N-1), scaled to a
// peak of dBm0.
func v21(t *testing.T, text string, dBm0 float64) []int16 {
	t.Helper()
	if _, err := exec.LookPath("minimodem"); err != nil {
		t.Fatal("install minimodem: apt-get install minimodem")
	}
	wav := filepath.Join(t.TempDir(), "v21.wav")
	cmd := exec.Command("minimodem", "--tx", "-q", "-R", "8000", "-M", "1650", "-S", "1850", "-f", wav, "300")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("minimodem --tx: %v\n%s", err, out)
	}
	f, err := os.Open(wav)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	x, err := pcm.DecodeWAV(f)
	if err != nil {
		t.Fatal(err)
	}
	peak := 1
	for _, v := range x {
		peak = max(peak, int(v), -int(v))
	}
	g := pcm.Amplitude(dBm0) / float64(peak)
	for i, v := range x {
		x[i] = pcm.Clip16(float64(v) * g)
	}
	return x
}

// v21Decode is what minimodem reads as V.21 channel 2 in 8 kHz audio.
func v21Decode(t *testing.T, audio []int16) string {
	t.Helper()
	wav := filepath.Join(t.TempDir(), "ear.wav")
	if err := os.WriteFile(wav, pcm.EncodeWAV(audio, 8000), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("minimodem", "--rx", "-q", "-R", "8000", "-M", "1650", "-S", "1850", "-f", wav, "300").Output()
	if err != nil {
		t.Fatalf("minimodem --rx: %v", err)
	}
	return string(out)
}

// TestModemPassThrough: the far end answers like a modem (ANSam/ for
// 2.5 s) and sends V.21 data over a line whose hybrid returns 12 dB of
// echo. The tone disabler takes the canceller out and call control switches
// the call to pass-through: the earpiece's audio decodes bit-exact with
// minimodem; the status API shows pass-through during the call and the
// call log keeps it, with the tone and the canceller out; the next call has
// the canceller back in. With fax_mode = "off" the pass-through assertions
// fail (the canceller still steps aside: that is the tone disabler's, not
// the mode's).
func TestModemPassThrough(t *testing.T) {
	const text = "OPENATA V.21 PASS-THROUGH 0123456789 THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG\n"
	data := v21(t, text, -12)
	modem := append(ansam(-12, 2500*time.Millisecond), data...)
	speech := farSpeech(t)
	// fax_jitter at its largest: the far end (baresip, not real-time) can
	// stall for longer than the default 60 ms on a loaded machine, and a
	// gap is a lost character.
	r := newEchoRig(t, "sim_echo_erl = 12\nsim_echo_model = 1\nsim_echo_delay = \"20ms\"", `fax_jitter = "200ms"`,
		map[string]baresiptest.Opts{
			"2000": {Audio: modem, PlayOnce: true, MaxCall: 20 * time.Second},
			"3000": {Audio: speech, MaxCall: 30 * time.Second},
		})
	ctx := context.Background()
	r.hook("off")
	r.dial("2000")
	far := r.phones["2000"]
	up := far.WaitEvent(baresiptest.Established, 10*time.Second)
	// The earpiece from the answer on (the far end starts its answer tone
	// as the call is established) to a second after the data.
	ear := make(chan []int16, 1)
	go func() {
		x, err := r.f.phone.Listen(ctx, 3500*time.Millisecond+time.Duration(len(data))*time.Second/8000)
		if err != nil {
			t.Error(err)
		}
		ear <- x
	}()
	time.Sleep(time.Until(up.Time.Add(3500 * time.Millisecond))) // ANSam/ heard, the data on
	st := r.statusCall()
	t.Logf("status during the modem call: %+v", st)
	if !st.PassThrough || !strings.Contains(st.Echo, "modem") {
		t.Errorf("status API call %+v: want pass-through and the canceller out for a modem", st)
	}
	// The canceller is out of the path: the far end hears its own data
	// as the hybrid returns it, 12 dB down, not cancelled.
	dataAt := up.Time.Add(2500 * time.Millisecond)
	heard := far.Heard(dataAt.Add(300*time.Millisecond), dataAt.Add(time.Duration(len(data))*time.Second/8000-200*time.Millisecond))
	loss := -db(power(heard), power(data))
	t.Logf("the far end hears its V.21 data %.1f dB down", loss)
	if loss < 9 || loss > 16 {
		t.Errorf("the far end hears its V.21 data %.1f dB down, want the hybrid's 12 dB: the canceller was in the path", loss)
	}
	earpiece := <-ear
	got := v21Decode(t, earpiece)
	t.Logf("minimodem decoded from the earpiece: %q", got)
	if !strings.Contains(got, text) {
		if d := os.Getenv("ATA_ECHO_DUMP"); d != "" { // the earpiece, to see where the data broke
			os.WriteFile(filepath.Join(d, t.Name()+".wav"), pcm.EncodeWAV(earpiece, 8000), 0o644)
		}
		t.Errorf("minimodem decoded %q from the earpiece, want %q", got, text)
	}
	r.hangUp(far)
	e := r.callLog(1)[0]
	t.Logf("call log: %+v", e)
	if !e.PassThrough || e.DataTone != "ans-pr" || !e.EchoOff {
		t.Errorf("call log entry %+v: want pass-through, data tone ans-pr and the canceller off", e)
	}

	// The next call, to a person: the canceller is in again and cancels.
	time.Sleep(1500 * time.Millisecond) // hung up for good, not a flash
	next, up := r.call("3000")
	time.Sleep(time.Until(up.Time.Add(4 * time.Second)))
	st = r.statusCall()
	t.Logf("status during the next call: %+v", st)
	if st.PassThrough || strings.HasPrefix(st.Echo, "off") || st.EchoERLE < 15 {
		t.Errorf("status API call %+v: want no pass-through and the canceller in (ERLE > 15 dB)", st)
	}
	r.hangUp(next)
}

// gainLevels makes a call with phoneExtra in [phone]: the far end plays
// 1000 Hz and the handset says 700 Hz, both at -16 dBm0 (room for +6 dB);
// it returns the level of the handset's tone at the far end and of the
// far end's in the earpiece.
func gainLevels(t *testing.T, phoneExtra string) (atFar, inEar float64) {
	t.Helper()
	r := newEchoRig(t, "", phoneExtra,
		map[string]baresiptest.Opts{"2000": {Audio: baresiptest.Tone(1000, -16, 20*time.Second), MaxCall: 30 * time.Second}})
	far, _ := r.call("2000")
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	if err := r.f.phone.Speak(context.Background(), baresiptest.Tone(700, -16, 3*time.Second)); err != nil {
		t.Fatal(err)
	}
	inEar = baresiptest.BlockLevel(r.listen(time.Second), 1000)
	atFar = far.HeardLevel(700, start.Add(500*time.Millisecond), start.Add(2500*time.Millisecond))
	r.hangUp(far)
	t.Logf("[phone] %q: handset's 700 Hz at the far end %.2f dBm0, far end's 1000 Hz in the earpiece %.2f dBm0", phoneExtra, atFar, inEar)
	return atFar, inEar
}

// TestGains: tx_gain_db = 6 makes the handset 6 dB louder at the far end,
// rx_gain_db = -6 the far end 6 dB quieter in the earpiece, against the
// same call with no gains (each within 1 dB; G.711 and the tones' levels
// leave less than a few tenths).
func TestGains(t *testing.T) {
	far0, ear0 := gainLevels(t, "")
	far6, ear6 := gainLevels(t, "tx_gain_db = 6\nrx_gain_db = -6")
	if d := far6 - far0; math.Abs(d-6) > 1 {
		t.Errorf("tx_gain_db = 6: the far end hears the handset %+.2f dB louder, want +6", d)
	}
	if d := ear6 - ear0; math.Abs(d+6) > 1 {
		t.Errorf("rx_gain_db = -6: the earpiece plays the far end %+.2f dB louder, want -6", d)
	}
}
