package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/fxs/callerid/minimodemtest"
	"github.com/openata/ata/internal/baresiptest"
	"github.com/openata/ata/internal/kamailiotest"
)

// The multi-call tests: the ATA (line 1001, its handset speaking 1800 Hz
// when asked) and three baresip far ends registered on one Kamailio, each
// playing its own tone and recording what it hears.
const (
	handsetHz = 1800.0
	heardDB   = -17.0 // a tone that is heard: sent at -10 dBm0, through G.711 and a jitter buffer
	silentDB  = -38.0 // a tone that is not there
)

type farEnd struct {
	*baresiptest.Phone
	number string
	hz     float64
}

type multiRig struct {
	t   *testing.T
	kam *kamailiotest.Server
	f   *firmware
	web string             // the web UI's base URL
	w   *webClient         // logged in, on first use
	far map[string]*farEnd // by number: 2000 (1000 Hz), 3000 (600 Hz), 4000 (1400 Hz)
}

// newMultiRig starts Kamailio, the firmware (phoneExtra goes into
// [phone]) and the far ends; ringOnly numbers ring until answered, the
// others answer at once.
func newMultiRig(t *testing.T, phoneExtra string, ringOnly ...string) *multiRig {
	t.Helper()
	users := map[string]string{"1001": "secret", "2000": "pw2000", "3000": "pw3000", "4000": "pw4000"}
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: users})
	web := freePort(t)
	cfg := strings.Replace(lineConfig(kam, ""), `dial_plan = "(xxxx)"`, "dial_plan = \"(xxxx)\"\n"+phoneExtra, 1)
	cfg = strings.Replace(cfg, `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = %q", web), 1) // [web]
	r := &multiRig{t: t, kam: kam, f: startFirmware(t, cfg), far: map[string]*farEnd{}, web: "http://" + web}
	waitRegistered(t, kam, "1001")
	for _, fe := range []struct {
		number string
		hz     float64
	}{{"2000", 1000}, {"3000", 600}, {"4000", 1400}} {
		o := baresiptest.Opts{User: fe.number, Registrar: kam.Addr().String(), Password: users[fe.number],
			Incoming: baresiptest.AutoAnswer, AnswerDelay: 200 * time.Millisecond,
			Audio: baresiptest.Tone(fe.hz, -10, 60*time.Second), MaxCall: 90 * time.Second}
		for _, n := range ringOnly {
			if n == fe.number {
				o.Incoming = baresiptest.Ring
			}
		}
		r.far[fe.number] = &farEnd{baresiptest.Start(t, o), fe.number, fe.hz}
	}
	return r
}

func (r *multiRig) ctx() context.Context { return context.Background() }

func (r *multiRig) hook(action string) {
	r.t.Helper()
	if err := r.f.phone.Hook(r.ctx(), action); err != nil {
		r.t.Fatal(err)
	}
}

// dial lifts nothing: it keys number on the handset (already off-hook).
func (r *multiRig) dial(number string) {
	r.t.Helper()
	if err := r.f.phone.Dial(r.ctx(), number, "dtmf"); err != nil {
		r.t.Fatal(err)
	}
}

// callFromHandset lifts the handset, dials number and waits for the talk.
func (r *multiRig) callFromHandset(number string) *farEnd {
	r.t.Helper()
	r.hook("off")
	r.dial(number)
	fe := r.far[number]
	fe.WaitEvent(baresiptest.Established, 10*time.Second)
	r.f.waitLog(r.t, "to=talking", 5*time.Second)
	return fe
}

// listen records the earpiece for d.
func (r *multiRig) listen(d time.Duration) []int16 {
	r.t.Helper()
	ear, err := r.f.phone.Listen(r.ctx(), d)
	if err != nil {
		r.t.Fatal(err)
	}
	return ear
}

// earHears checks which far ends' tones the earpiece carries now.
func (r *multiRig) earHears(what string, hear []string, silent []string) {
	r.t.Helper()
	time.Sleep(300 * time.Millisecond) // media settles after a change
	ear := r.listen(time.Second)
	for _, n := range hear {
		l := baresiptest.BlockLevel(ear, r.far[n].hz)
		r.t.Logf("%s: earpiece %s's %.0f Hz at %.1f dBm0", what, n, r.far[n].hz, l)
		if l < heardDB {
			r.t.Errorf("%s: %s's %.0f Hz at %.1f dBm0 in the earpiece, want it heard", what, n, r.far[n].hz, l)
		}
	}
	for _, n := range silent {
		if l := baresiptest.BlockLevel(ear, r.far[n].hz); l > silentDB {
			r.t.Errorf("%s: %s's %.0f Hz at %.1f dBm0 in the earpiece, want silence", what, n, r.far[n].hz, l)
		}
	}
}

// speak has the handset say its tone for d and returns the window in
// which it was surely on the wire.
func (r *multiRig) speak(d time.Duration) (from, to time.Time) {
	r.t.Helper()
	start := time.Now()
	if err := r.f.phone.Speak(r.ctx(), baresiptest.Tone(handsetHz, -10, d)); err != nil {
		r.t.Fatal(err)
	}
	time.Sleep(d)
	return start.Add(300 * time.Millisecond), start.Add(d - 200*time.Millisecond)
}

// farHears checks what far end n heard of hz in a window.
func (r *multiRig) farHears(what, n string, hz float64, from, to time.Time, heard bool) {
	r.t.Helper()
	l := r.far[n].HeardLevel(hz, from, to)
	r.t.Logf("%s: %s heard %.0f Hz at %.1f dBm0", what, n, hz, l)
	switch {
	case heard && l < heardDB:
		r.t.Errorf("%s: %s heard %.0f Hz at %.1f dBm0, want it heard", what, n, hz, l)
	case !heard && l > silentDB:
		r.t.Errorf("%s: %s heard %.0f Hz at %.1f dBm0, want silence", what, n, hz, l)
	}
}

// webAPI GETs path from the web UI's API as the admin (first-boot setup,
// which logs in, on first use).
func (r *multiRig) webAPI(path string, v any) {
	r.t.Helper()
	if r.w == nil {
		const pw = "correct horse battery staple"
		r.w = newWebClient(r.t, r.web)
		if res := r.w.form("/setup", url.Values{"username": {"admin"}, "password": {pw}, "confirm": {pw}}); res.StatusCode >= 400 {
			r.t.Fatalf("web setup: %d", res.StatusCode)
		}
	}
	res, data := r.w.api("GET", path, nil)
	if res.StatusCode != 200 {
		r.t.Fatalf("GET %s: %d %s", path, res.StatusCode, data)
	}
	if err := json.Unmarshal(data, v); err != nil {
		r.t.Fatalf("GET %s: %v: %s", path, err, data)
	}
}

// webCalls is the calls the status API shows: number → role.
func (r *multiRig) webCalls() map[string]string {
	r.t.Helper()
	var st struct {
		Calls []struct {
			Number, Role string
			Codec        string
		} `json:"calls"`
	}
	r.webAPI("/api/status", &st)
	out := map[string]string{}
	for _, c := range st.Calls {
		out[c.Number] = c.Role
	}
	return out
}

func (r *multiRig) callATA(from string) {
	r.far[from].Dial(fmt.Sprintf("sip:1001@%s", r.kam.Addr()))
}

// TestCallWaitingSwapHoldAndRecall: a second call during a call gives
// Type II caller ID (decoded by minimodem after the phone's CAS
// acknowledgement), a flash answers it and holds the first (which hears
// silence), another flash swaps back, and hanging up rings the phone back
// for the held call.
func TestCallWaitingSwapHoldAndRecall(t *testing.T) {
	r := newMultiRig(t, "")
	a := r.callFromHandset("2000")
	r.earHears("talking to 2000", []string{"2000"}, nil)

	b := r.far["3000"]
	since := time.Now()
	r.callATA("3000")
	ear := r.listen(2500 * time.Millisecond) // SAS, CAS, the phone's 'D', FSK
	info := minimodemtest.MDMF(t, ear, false)
	if info.Number != "3000" {
		t.Errorf("call-waiting caller ID number %q, want 3000", info.Number)
	}
	if st, err := r.f.phone.State(r.ctx()); err != nil || st.CASAcks != 1 {
		t.Errorf("sim phone state %+v (%v), want one CAS acknowledgement", st, err)
	}
	b.WaitEventAfter(baresiptest.Ringing, since, 5*time.Second) // the caller hears ringback
	r.earHears("call waiting", []string{"2000"}, []string{"3000"})

	if got := r.webCalls(); got["2000"] != "active" || got["3000"] != "waiting" || len(got) != 2 {
		t.Errorf("web status calls %v, want 2000 active and 3000 waiting", got)
	}

	r.hook("flash")
	b.WaitEvent(baresiptest.Established, 5*time.Second)
	r.f.waitLog(t, "phone: flash: swapped", 5*time.Second)
	r.earHears("after flash", []string{"3000"}, []string{"2000"})
	if got := r.webCalls(); got["3000"] != "active" || got["2000"] != "held" {
		t.Errorf("web status calls %v, want 3000 active and 2000 held", got)
	}
	from, to := r.speak(1500 * time.Millisecond)
	r.farHears("3000 is active", "3000", handsetHz, from, to, true)
	r.farHears("2000 is held", "2000", handsetHz, from, to, false)
	r.farHears("2000 is held", "2000", 600, from, to, false)

	r.hook("flash")
	r.earHears("after second flash", []string{"2000"}, []string{"3000"})
	from, to = r.speak(1500 * time.Millisecond)
	r.farHears("2000 is back", "2000", handsetHz, from, to, true)
	r.farHears("3000 is held", "3000", handsetHz, from, to, false)

	r.hook("on")
	a.WaitEvent(baresiptest.Closed, 5*time.Second)
	r.f.waitLog(t, "to=recall", 5*time.Second)
	deadline := time.Now().Add(3 * time.Second)
	for {
		st, err := r.f.phone.State(r.ctx())
		if err == nil && st.Ringing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the phone does not ring back for the held call: %+v %v", st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.hook("off")
	r.f.waitLog(t, "recall answered", 5*time.Second)
	r.earHears("recall answered", []string{"3000"}, []string{"2000"})
	r.hook("on")
	b.WaitEvent(baresiptest.Closed, 5*time.Second)

	// The call log has each leg: 2000 out, 3000 in, both ended here.
	var log struct {
		Calls []struct {
			Number    string  `json:"number"`
			Direction string  `json:"direction"`
			Cause     string  `json:"end_cause"`
			Leg       string  `json:"leg"`
			Codec     string  `json:"codec"`
			Duration  float64 `json:"duration_s"`
		} `json:"calls"`
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		r.webAPI("/api/calls", &log)
		if len(log.Calls) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	legs := map[string]string{}
	for _, c := range log.Calls {
		legs[c.Number] = c.Direction + "/" + c.Cause
		if c.Leg == "" || c.Codec == "" || c.Duration <= 0 {
			t.Errorf("call log entry %+v: want a leg id, a codec and a duration", c)
		}
	}
	if legs["2000"] != "out/normal" || legs["3000"] != "in/normal" || len(legs) != 2 {
		t.Errorf("call log legs %v, want 2000 out/normal and 3000 in/normal", legs)
	}
}

// TestCallWaitingToneCadence: without Type II caller ID the call-waiting
// tone (US: 440 Hz for 300 ms) plays over the call and again 10 s later.
func TestCallWaitingToneCadence(t *testing.T) {
	r := newMultiRig(t, "call_waiting_caller_id = false")
	r.callFromHandset("2000")
	r.callATA("3000")
	ear := r.listen(11 * time.Second)
	var bursts []int // start of each 440 Hz burst, 10 ms steps
	on := 0
	for i := 0; i+80 <= len(ear); i += 80 {
		if level(ear[i:i+80], 440) > -30 {
			if on == 0 {
				bursts = append(bursts, i/80)
			}
			on++
			continue
		}
		if on > 0 && (on < 25 || on > 35) {
			t.Errorf("a 440 Hz burst of %d0 ms, want 300 ms", on)
		}
		on = 0
	}
	if len(bursts) != 2 || bursts[1]-bursts[0] < 1000 || bursts[1]-bursts[0] > 1040 {
		t.Fatalf("440 Hz bursts start at %v×10 ms, want two, 10.3 s apart", bursts)
	}
	if l := baresiptest.BlockLevel(ear, 1000); l < heardDB {
		t.Errorf("the call (1000 Hz) at %.1f dBm0 under the call-waiting tone", l)
	}
}

// TestThreeWayConferenceThenTransferOnHangup: flash, dial a second party,
// flash again for a conference in which everyone hears the two others,
// then hang up: the two far ends are joined and hear each other.
func TestThreeWayConferenceThenTransferOnHangup(t *testing.T) {
	r := newMultiRig(t, "")
	r.callFromHandset("2000")
	r.hook("flash")
	r.f.waitLog(t, "flash: second call", 5*time.Second)
	ear := r.listen(500 * time.Millisecond)
	if l := level(ear, 350); l < -20 {
		t.Errorf("second dial tone: 350 Hz at %.1f dBm0", l)
	}
	r.dial("3000")
	r.far["3000"].WaitEvent(baresiptest.Established, 10*time.Second)
	r.f.waitLog(t, "shape=consulting", 5*time.Second)
	r.earHears("consulting 3000", []string{"3000"}, []string{"2000"})
	from, to := r.speak(1500 * time.Millisecond)
	r.farHears("2000 held while consulting", "2000", handsetHz, from, to, false)
	r.farHears("3000 consulted", "3000", handsetHz, from, to, true)

	r.hook("flash")
	r.f.waitLog(t, "3-way conference", 5*time.Second)
	r.earHears("conference", []string{"2000", "3000"}, []string{"4000"})
	from, to = r.speak(2 * time.Second)
	r.farHears("conference", "2000", handsetHz, from, to, true)
	r.farHears("conference", "2000", 600, from, to, true)
	r.farHears("conference", "3000", handsetHz, from, to, true)
	r.farHears("conference", "3000", 1000, from, to, true)

	r.hook("on")
	r.f.waitLog(t, "conference parties joined", 5*time.Second)
	r.far["2000"].WaitEvent(baresiptest.Closed, 10*time.Second) // its call with the ATA
	time.Sleep(1500 * time.Millisecond)
	from = time.Now()
	time.Sleep(1500 * time.Millisecond)
	r.farHears("after transfer", "2000", 600, from, time.Now(), true)
	r.farHears("after transfer", "3000", 1000, from, time.Now(), true)
	r.farHears("after transfer", "3000", handsetHz, from, time.Now(), false)
	r.f.waitLog(t, "cause=transferred", 10*time.Second)
}

// TestBlindTransferWhileSecondRings: hanging up while the second party
// still rings transfers the first one to it.
func TestBlindTransferWhileSecondRings(t *testing.T) {
	r := newMultiRig(t, "", "4000")
	r.callFromHandset("2000")
	r.hook("flash")
	r.f.waitLog(t, "flash: second call", 5*time.Second)
	r.dial("4000")
	c := r.far["4000"]
	c.WaitEvent(baresiptest.Incoming, 10*time.Second)
	r.f.waitLog(t, "to=ringback", 5*time.Second)
	since := time.Now()
	r.hook("on")
	r.f.waitLog(t, "blind transfer to 4000", 5*time.Second)
	ev := c.WaitEventAfter(baresiptest.Incoming, since, 10*time.Second) // 2000 calls it now
	if !strings.Contains(ev.PeerURI, "2000") {
		t.Errorf("4000's new call is from %q, want 2000", ev.PeerURI)
	}
	c.SelectCall(ev.CallID)
	c.Answer()
	c.WaitCallEvent(baresiptest.Established, ev.CallID, 5*time.Second)
	time.Sleep(time.Second)
	from := time.Now()
	time.Sleep(1500 * time.Millisecond)
	r.farHears("after blind transfer", "2000", 1400, from, time.Now(), true)
	r.farHears("after blind transfer", "4000", 1000, from, time.Now(), true)
}

// TestIncomingReferFollowed: the far end transfers us (REFER); the ATA
// calls the target and the handset ends up talking to it.
func TestIncomingReferFollowed(t *testing.T) {
	r := newMultiRig(t, "")
	a := r.far["2000"]
	r.callATA("2000")
	r.f.waitLog(t, "to=ringing", 5*time.Second)
	r.hook("off")
	a.WaitEvent(baresiptest.Established, 5*time.Second)
	r.earHears("talking to 2000", []string{"2000"}, nil)
	a.Transfer(fmt.Sprintf("sip:3000@%s", r.kam.Addr()))
	r.far["3000"].WaitEvent(baresiptest.Established, 10*time.Second)
	r.f.waitLog(t, "phone: transfer completed", 5*time.Second)
	a.WaitEvent(baresiptest.Closed, 10*time.Second)
	r.earHears("after the far end's transfer", []string{"3000"}, []string{"2000"})
	from, to := r.speak(1500 * time.Millisecond)
	r.farHears("transfer target", "3000", handsetHz, from, to, true)
}

// TestFarEndKeysHeardInEarpiece: keys the far end presses (RFC 4733) are
// played in the earpiece; multimon-ng decodes them there.
func TestFarEndKeysHeardInEarpiece(t *testing.T) {
	r := newMultiRig(t, "")
	a := r.callFromHandset("2000")
	time.Sleep(300 * time.Millisecond)
	done := make(chan []int16, 1)
	go func() {
		ear, err := r.f.phone.Listen(r.ctx(), 3*time.Second)
		if err != nil {
			t.Error(err)
		}
		done <- ear
	}()
	time.Sleep(200 * time.Millisecond)
	a.SendDTMF("159#")
	ear := <-done
	if got := baresiptest.DecodeDTMF(t, ear); got != "159#" {
		t.Fatalf("earpiece keys %q, want 159#", got)
	}
}

// TestFarEndHoldFollowed: a far end that holds us (re-INVITE sendonly) is
// followed: the call shows as held by the far end, and resumes.
func TestFarEndHoldFollowed(t *testing.T) {
	r := newMultiRig(t, "")
	a := r.callFromHandset("2000")
	a.Hold()
	r.f.waitLog(t, "phone: far end held", 5*time.Second)
	a.Resume()
	r.f.waitLog(t, "phone: far end resumed", 5*time.Second)
	r.earHears("resumed", []string{"2000"}, nil)
}

// TestRingTimeoutEndsNeverCancelledCall: a caller that never gives up gets
// 480 after ring_timeout and the phone stops ringing; the next call rings
// and is answered.
func TestRingTimeoutEndsNeverCancelledCall(t *testing.T) {
	r := newMultiRig(t, `ring_timeout = "3s"`)
	a := r.far["2000"]
	start := time.Now()
	r.callATA("2000")
	r.f.waitLog(t, "to=ringing", 5*time.Second)
	ev := a.WaitEvent(baresiptest.Closed, 10*time.Second)
	took := time.Since(start)
	t.Logf("caller closed after %v: %s", took.Round(10*time.Millisecond), ev)
	if took < 2500*time.Millisecond || !strings.Contains(ev.Param, "480") {
		t.Errorf("the unanswered call ended after %v with %q, want 480 after the 3 s ring timeout", took, ev.Param)
	}
	if st, err := r.f.phone.State(r.ctx()); err != nil || st.Ringing {
		t.Fatalf("still ringing after the timeout: %+v %v", st, err)
	}
	b := r.far["3000"]
	r.callATA("3000")
	r.f.waitLog(t, `why="incoming call from 3000"`, 5*time.Second)
	r.hook("off")
	b.WaitEvent(baresiptest.Established, 5*time.Second)
	r.earHears("the next call", []string{"3000"}, nil)
}
