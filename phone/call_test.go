package phone

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openata/ata/fxs"
	"github.com/openata/ata/sip"
)

// fakeCall is a SIP call the test drives.
type fakeCall struct {
	events       chan sip.CallEvent
	number, name string
	mu           sync.Mutex
	actions      []string
	answerErr    error
	audio        fxs.Audio
}

type nullAudio struct{}

func (nullAudio) Exchange(mic, ear []int16) {}

func newFakeCall(number, name string) *fakeCall {
	return &fakeCall{events: make(chan sip.CallEvent, 8), number: number, name: name, audio: nullAudio{}}
}

func (c *fakeCall) act(s string)                 { c.mu.Lock(); c.actions = append(c.actions, s); c.mu.Unlock() }
func (c *fakeCall) Events() <-chan sip.CallEvent { return c.events }
func (c *fakeCall) Answer() error                { c.act("answer"); return c.answerErr }
func (c *fakeCall) Hangup()                      { c.act("hangup") }
func (c *fakeCall) Reject(status int)            { c.act("reject:" + itoa(status)) }
func (c *fakeCall) Audio() fxs.Audio             { return c.audio }
func (c *fakeCall) SendDTMF(key byte, d time.Duration) error {
	c.act("dtmf:" + string(key) + "/" + d.String())
	return nil
}
func (c *fakeCall) Remote() (string, string) { return c.number, c.name }
func (c *fakeCall) InBandDTMF() bool         { return false }
func (c *fakeCall) Report() Report {
	return Report{Codec: "PCMU", Loss: 0.01, Jitter: 3 * time.Millisecond, MOS: 4.3}
}
func (c *fakeCall) took() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := strings.Join(c.actions, " ")
	c.actions = nil
	return s
}

func itoa(n int) string { return strconv.Itoa(n) }

// fakeLine hands out prepared calls.
type fakeLine struct {
	mu     sync.Mutex
	dialed []string
	next   *fakeCall
	err    error
}

func (l *fakeLine) Dial(ctx context.Context, number string) (Call, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dialed = append(l.dialed, number)
	if l.err != nil {
		return nil, l.err
	}
	return l.next, nil
}

// waitFor polls cond for up to 2 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func (h *harness) expect(t *testing.T, want State) {
	t.Helper()
	select {
	case s := <-h.states:
		if s != want {
			t.Fatalf("state %v, want %v", s, want)
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("no transition, want %v", want)
	}
}

func readLog(t *testing.T, path string) []Entry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Entry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("call log line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

func outgoingHarness(t *testing.T) (*harness, *fakeLine, *fakeCall, string) {
	line := &fakeLine{next: newFakeCall("5551234", "")}
	logPath := filepath.Join(t.TempDir(), "calls.jsonl")
	clock := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	h := start(t, func(o *Opts) {
		o.Line = line
		o.Log = OpenCallLog(logPath)
		o.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); clock = clock.Add(time.Second); return clock }
	})
	h.send(t, fxs.Event{Kind: fxs.OffHook}, DialTone)
	h.send(t, fxs.Event{Kind: fxs.Dialed, Number: "5551234"}, Calling)
	waitFor(t, "the dial", func() bool { line.mu.Lock(); defer line.mu.Unlock(); return len(line.dialed) == 1 })
	h.port.take()
	return h, line, line.next, logPath
}

func TestOutgoingCallRingbackAnswerTalkHangUp(t *testing.T) {
	h, _, call, logPath := outgoingHarness(t)
	call.events <- sip.CallEvent{Kind: sip.CallProgress}
	h.expect(t, Ringback)
	if got := h.port.take(); got != "tone:ringback" {
		t.Fatalf("port %q", got)
	}
	call.events <- sip.CallEvent{Kind: sip.CallAnswered}
	h.expect(t, Talking)
	if got := h.port.take(); got != "stop-tone mute-dtmf:true connect-audio" {
		t.Fatalf("port %q", got)
	}
	// A DTMF key is relayed with the length it was held; a rotary digit with
	// 100 ms; the release of a key pressed before the answer is not relayed.
	h.port.events <- fxs.Event{Kind: fxs.DigitUp, Key: '4', Duration: 70 * time.Millisecond}
	h.port.events <- fxs.Event{Kind: fxs.DigitDown, Key: '7'}
	h.port.events <- fxs.Event{Kind: fxs.DigitUp, Key: '7', Duration: 120 * time.Millisecond}
	h.port.events <- fxs.Event{Kind: fxs.DigitDown, Key: '3', Pulse: true}
	waitFor(t, "DTMF relay", func() bool { call.mu.Lock(); defer call.mu.Unlock(); return len(call.actions) == 2 })
	if got := call.took(); got != "dtmf:7/120ms dtmf:3/100ms" {
		t.Fatalf("call actions %q", got)
	}
	h.send(t, fxs.Event{Kind: fxs.OnHook}, Idle)
	if got := call.took(); got != "hangup" {
		t.Fatalf("call actions %q", got)
	}
	entries := readLog(t, logPath)
	if len(entries) != 1 {
		t.Fatalf("call log %+v", entries)
	}
	e := entries[0]
	if e.Direction != "out" || e.Number != "5551234" || e.Cause != "local hangup" || e.Codec != "PCMU" || e.MOS != 4.3 || e.JitterMS != 3 || e.Duration <= 0 {
		t.Fatalf("call log entry %+v", e)
	}
}

func TestOutgoingBusyAndNotFound(t *testing.T) {
	for _, tc := range []struct {
		status int
		state  State
		tone   string
	}{{486, Busy, "tone:busy"}, {600, Busy, "tone:busy"}, {404, Reorder, "tone:congestion"}, {503, Reorder, "tone:congestion"}, {480, Reorder, "tone:congestion"}} {
		t.Run(itoa(tc.status), func(t *testing.T) {
			h, _, call, logPath := outgoingHarness(t)
			call.events <- sip.CallEvent{Kind: sip.CallEnded, Status: tc.status, Reason: "x", Remote: true}
			h.expect(t, tc.state)
			if got := h.port.take(); got != "disconnect-audio stop-collecting "+tc.tone {
				t.Fatalf("port %q", got)
			}
			if h.timer.armed != 30*time.Second {
				t.Fatalf("tone timer %v", h.timer.armed)
			}
			if e := readLog(t, logPath); len(e) != 1 || e[0].Status != tc.status || e[0].Duration != 0 {
				t.Fatalf("call log %+v", e)
			}
		})
	}
}

func TestEarlyMediaThenAnswer(t *testing.T) {
	h, _, call, _ := outgoingHarness(t)
	call.events <- sip.CallEvent{Kind: sip.CallProgress}
	h.expect(t, Ringback)
	call.events <- sip.CallEvent{Kind: sip.CallEarlyMedia}
	h.expect(t, EarlyMedia)
	if got := h.port.take(); got != "tone:ringback stop-tone mute-dtmf:true connect-audio" {
		t.Fatalf("port %q", got)
	}
	call.events <- sip.CallEvent{Kind: sip.CallAnswered}
	h.expect(t, Talking)
}

func TestHangUpWhileCallingCancels(t *testing.T) {
	h, _, call, _ := outgoingHarness(t)
	call.events <- sip.CallEvent{Kind: sip.CallProgress}
	h.expect(t, Ringback)
	h.send(t, fxs.Event{Kind: fxs.OnHook}, Idle)
	if got := call.took(); got != "hangup" {
		t.Fatalf("call actions %q (want hangup: the line sends CANCEL)", got)
	}
}

func TestFarEndHangsUpGivesDisconnectTone(t *testing.T) {
	h, _, call, _ := outgoingHarness(t)
	call.events <- sip.CallEvent{Kind: sip.CallAnswered}
	h.expect(t, Talking)
	call.events <- sip.CallEvent{Kind: sip.CallEnded, Status: 200, Reason: "bye", Remote: true}
	h.expect(t, Disconnected)
	h.timer.c <- time.Time{}
	h.expect(t, ReceiverOffHook)
}

func TestDialErrorIsReorder(t *testing.T) {
	line := &fakeLine{err: errors.New("no route")}
	h := start(t, func(o *Opts) { o.Line = line })
	h.send(t, fxs.Event{Kind: fxs.OffHook}, DialTone)
	h.send(t, fxs.Event{Kind: fxs.Dialed, Number: "123"}, Calling)
	h.expect(t, Reorder)
}

func TestIncomingCallRingsAndIsAnswered(t *testing.T) {
	h := start(t)
	c := newFakeCall("5550000", "ADA")
	h.phone.Incoming(c)
	h.expect(t, Ringing)
	if got := h.port.take(); got != "ring:5550000/ADA" {
		t.Fatalf("port %q", got)
	}
	h.port.events <- fxs.Event{Kind: fxs.OffHook}
	waitFor(t, "answer", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return len(c.actions) == 1 })
	if got := c.took(); got != "answer" {
		t.Fatalf("call actions %q", got)
	}
	c.events <- sip.CallEvent{Kind: sip.CallAnswered}
	h.expect(t, Talking)
	if got := h.port.take(); got != "stop-tone mute-dtmf:true connect-audio" {
		t.Fatalf("port %q", got)
	}
	c.events <- sip.CallEvent{Kind: sip.CallEnded, Status: 200, Reason: "bye", Remote: true}
	h.expect(t, Disconnected)
}

func TestIncomingCallerGivesUp(t *testing.T) {
	h := start(t)
	c := newFakeCall("anonymous", "")
	h.phone.Incoming(c)
	h.expect(t, Ringing)
	if got := h.port.take(); got != "ring:/" {
		t.Fatalf("port %q (anonymous caller: no number)", got)
	}
	c.events <- sip.CallEvent{Kind: sip.CallEnded, Status: 487, Reason: "cancelled", Remote: true}
	h.expect(t, Idle)
	if got := h.port.take(); got != "disconnect-audio stop-ring" {
		t.Fatalf("port %q", got)
	}
}

func TestIncomingWhileOffHookIsBusy(t *testing.T) {
	h := start(t)
	h.send(t, fxs.Event{Kind: fxs.OffHook}, DialTone)
	c := newFakeCall("5550000", "")
	h.phone.Incoming(c)
	waitFor(t, "reject", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return len(c.actions) == 1 })
	if got := c.took(); got != "reject:486" {
		t.Fatalf("call actions %q", got)
	}
}
