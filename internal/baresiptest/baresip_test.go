package baresiptest

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/internal/kamailiotest"
)

const (
	callerHz = 700
	calleeHz = 1300
	toneDBm0 = -10
)

// checkHeard fails unless x carries want (near the level sent, G.711
// loses a fraction of a dB) and not other (our own tone, i.e. no loop).
func checkHeard(t *testing.T, who string, x []int16, want, other float64) {
	t.Helper()
	if len(x) < 8000*3/2 {
		t.Errorf("%s recorded %d samples, want at least 1.5 s", who, len(x))
		return
	}
	got, leak := ToneLevel(x, want), ToneLevel(x, other)
	t.Logf("%s heard %.0f Hz at %.1f dBm0, %.0f Hz at %.1f dBm0 over %.2f s", who, want, got, other, leak, float64(len(x))/8000)
	// The recording starts and ends with a little silence (jitter buffer).
	if got < toneDBm0-3 || got > toneDBm0+1 {
		t.Errorf("%s: %.0f Hz at %.1f dBm0, want about %d", who, want, got, toneDBm0)
	}
	if leak > -40 {
		t.Errorf("%s: %.0f Hz at %.1f dBm0, want silence there", who, other, leak)
	}
}

func TestRegisteredCallCarriesAudioBothWays(t *testing.T) {
	t.Parallel()
	k := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"alice": "pa", "bob": "pb"}})
	t0 := time.Now()
	alice := Start(t, Opts{User: "alice", DisplayName: "Alice Smith", Password: "pa", Registrar: k.Addr().String(),
		Audio: Tone(callerHz, toneDBm0, time.Second)})
	t.Logf("alice up and registered in %v", time.Since(t0))
	bob := Start(t, Opts{User: "bob", Password: "pb", Registrar: k.Addr().String(),
		Audio: Tone(calleeHz, toneDBm0, time.Second), Incoming: AutoAnswer, AnswerDelay: 300 * time.Millisecond})
	if c, err := k.Contacts("bob"); err != nil || len(c) != 1 {
		t.Fatalf("Kamailio has contacts %v (%v) for bob, want one", c, err)
	}
	if ev := alice.WaitEvent(Registered, time.Second); ev.Kind != Registered {
		t.Fatalf("got %+v", ev)
	}

	alice.Dial("sip:bob@" + k.Addr().String())
	in := bob.WaitEvent(Incoming, 5*time.Second)
	if in.Number != "alice" || in.PeerName != "Alice Smith" || in.Direction != "incoming" {
		t.Errorf("incoming call event %+v, want number alice, name Alice Smith", in)
	}
	alice.WaitEvent(Ringing, 5*time.Second)
	up := alice.WaitEvent(Established, 5*time.Second)
	bobUp := bob.WaitEvent(Established, 5*time.Second)
	if d := bobUp.At - in.At; d < 300*time.Millisecond {
		t.Errorf("answered %v after the INVITE, want the 300 ms AnswerDelay", d)
	}
	if up.Number != "bob" || up.Direction != "outgoing" {
		t.Errorf("caller's established event %+v", up)
	}
	time.Sleep(2 * time.Second)
	alice.Hangup()
	if ev := alice.WaitEvent(Closed, 5*time.Second); ev.Status != 0 {
		t.Errorf("caller's close %+v", ev)
	}
	if ev := bob.WaitEvent(Closed, 5*time.Second); ev.Param != "Connection reset by peer" {
		t.Errorf("callee's close %+v, want the BYE's reason", ev)
	}
	checkHeard(t, "caller", alice.RecordedAudio(), calleeHz, callerHz)
	checkHeard(t, "callee", bob.RecordedAudio(), callerHz, calleeHz)
	if sent := alice.SentAudio(); ToneLevel(sent, callerHz) < toneDBm0-1 {
		t.Errorf("caller's sent audio has %.0f Hz at %.1f dBm0", float64(callerHz), ToneLevel(sent, callerHz))
	}
}

func TestDirectCallsBusyDTMFAndCalleeHangup(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	caller := Start(t, Opts{User: "1001", DisplayName: "Front Door"})
	t.Logf("unregistered phone up in %v", time.Since(t0))
	busy := Start(t, Opts{User: "2002", Incoming: Busy})
	callee := Start(t, Opts{User: "3003"})

	caller.Dial(busy.URI())
	if in := busy.WaitEvent(Incoming, 5*time.Second); in.Number != "1001" || in.PeerName != "Front Door" {
		t.Errorf("busy phone saw %+v", in)
	}
	if ev := caller.WaitEvent(Closed, 5*time.Second); ev.Status != 486 {
		t.Errorf("call to a busy phone closed with %+v, want 486", ev)
	}

	caller.Dial(callee.URI())
	callee.WaitEvent(Incoming, 5*time.Second)
	caller.WaitEvent(Ringing, 5*time.Second)
	time.Sleep(200 * time.Millisecond) // still ringing: Ring mode waits for Answer
	for _, e := range callee.Events() {
		if e.Kind == Established {
			t.Fatal("Ring mode answered by itself")
		}
	}
	callee.Answer()
	caller.WaitEvent(Established, 5*time.Second)
	callee.WaitEvent(Established, 5*time.Second)
	caller.SendDTMF("19#")
	var keys string
	for range 3 {
		keys += callee.WaitEvent(DTMF, 3*time.Second).Param
	}
	if keys != "19#" {
		t.Errorf("callee got DTMF %q, want 19#", keys)
	}
	callee.Hangup()
	if ev := callee.WaitEvent(Closed, 5*time.Second); ev.Status != 0 {
		t.Errorf("callee's close %+v", ev)
	}
	if ev := caller.WaitEvent(Closed, 5*time.Second); ev.Param != "Connection reset by peer" {
		t.Errorf("caller's close %+v, want the BYE's reason", ev)
	}
}

func TestToneLevel(t *testing.T) {
	x := Tone(1000, -13, time.Second)
	if l := ToneLevel(x, 1000); math.Abs(l+13) > 0.05 {
		t.Errorf("1000 Hz at %.2f dBm0, want -13", l)
	}
	if l := ToneLevel(x, 1300); l > -50 {
		t.Errorf("1300 Hz at %.2f dBm0 in a 1000 Hz tone", l)
	}
	if l := ToneLevel(nil, 1000); !math.IsInf(l, -1) {
		t.Errorf("silence: %v", l)
	}
}

func TestPlaybackLoopsOrPads(t *testing.T) {
	tone := []int16{1, 2, 3}
	loop := playback(Opts{Audio: tone, MaxCall: time.Millisecond})
	if len(loop) != 8 || loop[3] != 1 || loop[7] != 2 {
		t.Errorf("looped %v", loop)
	}
	once := playback(Opts{Audio: tone, PlayOnce: true, MaxCall: time.Millisecond})
	if once[2] != 3 || once[3] != 0 {
		t.Errorf("played once %v", once)
	}
}

// The layout integration tests use: the far-end phone is Kamailio's
// static peer (unregistered, its user is the dialled number), the other
// side registers.
func TestFarEndBehindKamailio(t *testing.T) {
	t.Parallel()
	far := Start(t, Opts{User: "5551234", DisplayName: "Far End", Incoming: AutoAnswer,
		Audio: Tone(calleeHz, toneDBm0, time.Second)})
	k := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"alice": "pa", "carol": "right"}, FarEnd: far.Addr().String()})
	alice := Start(t, Opts{User: "alice", Password: "pa", Registrar: k.Addr().String(), Incoming: AutoAnswer,
		Audio: Tone(callerHz, toneDBm0, time.Second)})

	alice.Dial("sip:5551234@" + k.Addr().String())
	if in := far.WaitEvent(Incoming, 5*time.Second); in.Number != "alice" {
		t.Errorf("far end saw %+v", in)
	}
	alice.WaitEvent(Established, 5*time.Second)
	far.WaitEvent(Established, 5*time.Second)
	time.Sleep(time.Second)
	far.Hangup()
	alice.WaitEvent(Closed, 5*time.Second)
	far.WaitEvent(Closed, 5*time.Second)
	if l := ToneLevel(alice.RecordedAudio(), calleeHz); l < toneDBm0-3 {
		t.Errorf("alice heard the far end at %.1f dBm0", l)
	}

	// The far end calls in without credentials (Kamailio trusts it).
	far.Dial("sip:alice@" + k.Addr().String())
	if in := alice.WaitEvent(Incoming, 5*time.Second); in.Number != "5551234" || in.PeerName != "Far End" {
		t.Errorf("alice saw %+v", in)
	}
	far.WaitEvent(Established, 5*time.Second)
	alice.Hangup()
	far.WaitEvent(Closed, 5*time.Second)

	carol := Start(t, Opts{User: "carol", Password: "wrong", Registrar: k.Addr().String(), NoRegisterWait: true})
	if ev := carol.WaitEvent(RegisterFailed, 5*time.Second); ev.Status != 401 {
		t.Errorf("wrong password: %+v, want a 401 failure", ev)
	}
}

// fatalRecorder stands in for the test to catch Start's Fatalf.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestMissingBaresipFails(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(rec, Opts{})
	}()
	<-done
	if !strings.Contains(rec.msg, "install baresip: apt-get install baresip-core") {
		t.Errorf("Start without baresip said %q", rec.msg)
	}
}
