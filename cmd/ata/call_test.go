package main

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/openata/ata/fxs/callerid/minimodemtest"
	"github.com/openata/ata/internal/baresiptest"
	"github.com/openata/ata/internal/kamailiotest"
)

// farEndCall is the firmware registered on Kamailio, with baresip as the
// far end that Kamailio relays unknown numbers to, and a call to 2000
// dialled from the virtual phone.
func farEndCall(t *testing.T, opts baresiptest.Opts) (*firmware, *baresiptest.Phone) {
	t.Helper()
	opts.User = "2000"
	far := baresiptest.Start(t, opts)
	return dialFarEnd(t, far.Addr().String()), far
}

// speak queues a tone into the virtual phone's mouthpiece.
func (f *firmware) speak(t *testing.T, hz float64, d time.Duration) {
	t.Helper()
	if err := f.phone.Speak(context.Background(), baresiptest.Tone(hz, -10, d)); err != nil {
		t.Fatal(err)
	}
}

func TestOutgoingCallAudioBothWaysAndHangUp(t *testing.T) {
	f, far := farEndCall(t, baresiptest.Opts{Incoming: baresiptest.AutoAnswer, AnswerDelay: 300 * time.Millisecond,
		Audio: baresiptest.Tone(1300, -10, 10*time.Second)})
	far.WaitEvent(baresiptest.Established, 10*time.Second)
	f.waitLog(t, "to=talking", 5*time.Second)
	f.speak(t, 700, 3*time.Second)
	time.Sleep(500 * time.Millisecond) // the jitter buffer fills
	ear, err := f.phone.Listen(context.Background(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if l := level(ear, 1300); l < -14 {
		t.Errorf("far end's 1300 Hz at %.1f dBm0 in the earpiece, want about -10", l)
	}
	time.Sleep(2 * time.Second)
	if err := f.phone.Hook(context.Background(), "on"); err != nil {
		t.Fatal(err)
	}
	far.WaitEvent(baresiptest.Closed, 5*time.Second)
	rec := far.RecordedAudio()
	if l := baresiptest.ToneLevel(rec, 700); l < -14 {
		t.Errorf("our 700 Hz at %.1f dBm0 at the far end, want about -10", l)
	}
	f.waitLog(t, "local hangup", 5*time.Second)
}

func TestFarEndHangsUpGivesDisconnectTone(t *testing.T) {
	f, far := farEndCall(t, baresiptest.Opts{Incoming: baresiptest.AutoAnswer})
	far.WaitEvent(baresiptest.Established, 10*time.Second)
	f.waitLog(t, "to=talking", 5*time.Second)
	far.Hangup()
	f.waitLog(t, "to=disconnected", 5*time.Second)
	ear, err := f.phone.Listen(context.Background(), 2500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	checkCadence(t, ear, 620, 50, "disconnect (busy) tone")
}

func TestCancelBeforeAnswer(t *testing.T) {
	f, far := farEndCall(t, baresiptest.Opts{Incoming: baresiptest.Ring})
	far.WaitEvent(baresiptest.Incoming, 10*time.Second)
	f.waitLog(t, "to=ringback", 5*time.Second)
	ear, err := f.phone.Listen(context.Background(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if l := level(ear, 480); l < -25 { // US ringback 440+480 Hz at -19 dBm0
		t.Errorf("no local ringback: 480 Hz at %.1f dBm0", l)
	}
	if err := f.phone.Hook(context.Background(), "on"); err != nil {
		t.Fatal(err)
	}
	ev := far.WaitEvent(baresiptest.Closed, 5*time.Second)
	t.Logf("far end closed: %s", ev.Param)
}

func TestIncomingCallRingsShowsCallerIDAndCarriesAudio(t *testing.T) {
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "secret", "3000": "pw3000"}})
	f := startFirmware(t, lineConfig(kam, ""))
	waitRegistered(t, kam, "1001")
	caller := baresiptest.Start(t, baresiptest.Opts{User: "3000", DisplayName: "ADA LOVELACE", Registrar: kam.Addr().String(),
		Password: "pw3000", Audio: baresiptest.Tone(1300, -10, 20*time.Second)})
	ctx := context.Background()
	evs, _ := f.phone.Events(ctx, 0)
	since := uint64(0)
	if len(evs) > 0 {
		since = evs[len(evs)-1].Seq
	}
	caller.Dial(fmt.Sprintf("sip:1001@%s", kam.Addr()))
	// Capture the first ring, the silence after it (caller ID) and the second ring.
	ear, err := f.phone.Listen(ctx, 7*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	info := minimodemtest.MDMF(t, ear, false)
	if info.Number != "3000" || info.Name != "ADA LOVELACE" {
		t.Fatalf("caller ID %+v, want 3000 / ADA LOVELACE", info)
	}
	evs, err = f.phone.Events(ctx, since)
	if err != nil {
		t.Fatal(err)
	}
	var rings []int64
	for _, e := range evs {
		if e.Kind == "ring" {
			rings = append(rings, e.TMs)
		}
	}
	// US cadence: 2 s on, 4 s off.
	if len(rings) < 3 || absMS(rings[1]-rings[0]-2000) > 40 || absMS(rings[2]-rings[1]-4000) > 40 {
		t.Fatalf("ring edges at %v ms, want 2 s on, 4 s off", rings)
	}
	if err := f.phone.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	caller.WaitEvent(baresiptest.Established, 5*time.Second)
	f.waitLog(t, "to=talking", 5*time.Second)
	if st, _ := f.phone.State(ctx); st.Ringing {
		t.Fatal("still ringing after off-hook")
	}
	f.speak(t, 700, 3*time.Second)
	time.Sleep(500 * time.Millisecond)
	ear, err = f.phone.Listen(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if l := level(ear, 1300); l < -14 {
		t.Errorf("caller's 1300 Hz at %.1f dBm0 in the earpiece", l)
	}
	time.Sleep(2 * time.Second)
	caller.Hangup()
	f.waitLog(t, "to=disconnected", 5*time.Second)
	caller.WaitEvent(baresiptest.Closed, 5*time.Second)
	if l := baresiptest.ToneLevel(caller.RecordedAudio(), 700); l < -14 {
		t.Errorf("our 700 Hz at %.1f dBm0 at the caller", l)
	}
}

func absMS(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// TestSIGTERMEndsCallsAndUnregisters: stopping the firmware in a call
// sends BYE to the far end and removes the registration.
func TestSIGTERMEndsCallsAndUnregisters(t *testing.T) {
	far := baresiptest.Start(t, baresiptest.Opts{User: "2000", Incoming: baresiptest.AutoAnswer})
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "secret"}, FarEnd: far.Addr().String()})
	f := startFirmware(t, lineConfig(kam, ""))
	waitRegistered(t, kam, "1001")
	ctx := context.Background()
	if err := f.phone.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	if err := f.phone.Dial(ctx, "2000", "dtmf"); err != nil {
		t.Fatal(err)
	}
	far.WaitEvent(baresiptest.Established, 10*time.Second)
	f.waitLog(t, "to=talking", 5*time.Second)
	f.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-f.done:
		f.done <- err
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10 s after SIGTERM")
	}
	far.WaitEvent(baresiptest.Closed, 2*time.Second)
	if c, err := kam.Contacts("1001"); err != nil || len(c) != 0 {
		t.Fatalf("still registered after shutdown: %v %v", c, err)
	}
}

// TestDTMFInCallGoesAsEventNotTone: a key pressed in a call reaches the far
// end once, as an RFC 4733 event, and its tone is cut from the audio after
// the detector recognises it (what is left is too short to be a digit).
func TestDTMFInCallGoesAsEventNotTone(t *testing.T) {
	f, far := farEndCall(t, baresiptest.Opts{Incoming: baresiptest.AutoAnswer})
	far.WaitEvent(baresiptest.Established, 10*time.Second)
	f.waitLog(t, "to=talking", 5*time.Second)
	time.Sleep(300 * time.Millisecond)
	if err := f.phone.Dial(context.Background(), "5", "dtmf"); err != nil {
		t.Fatal(err)
	}
	if ev := far.WaitEvent(baresiptest.DTMF, 3*time.Second); ev.Param != "5" {
		t.Fatalf("far end got DTMF %q, want 5", ev.Param)
	}
	time.Sleep(500 * time.Millisecond)
	if err := f.phone.Hook(context.Background(), "on"); err != nil {
		t.Fatal(err)
	}
	far.WaitEvent(baresiptest.Closed, 5*time.Second)
	// The longest run of 10 ms blocks carrying the key's column tone.
	rec := far.RecordedAudio()
	longest, run := 0, 0
	for i := 0; i+80 <= len(rec); i += 80 {
		if level(rec[i:i+80], 1336) > -25 {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	if longest == 0 {
		t.Fatal("no trace of the key at all: the test would not see a leak either")
	}
	if longest*10 >= 40 {
		t.Fatalf("the key's tone lasted %d ms in the call audio: a receiver may take it as a second digit (want < 40 ms)", longest*10)
	}
	for _, e := range far.Events() {
		if e.Kind == baresiptest.DTMF && e.Param != "5" {
			t.Fatalf("extra DTMF event %+v", e)
		}
	}
}
