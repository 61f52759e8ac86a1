package phone

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openata/ata/fxs"
	"github.com/openata/ata/fxs/callerid"
	"github.com/openata/ata/fxs/region"
)

// fakePort records what call control asks of the port.
type fakePort struct {
	events chan fxs.Event
	mu     sync.Mutex
	calls  []string
}

func (f *fakePort) Events() <-chan fxs.Event { return f.events }
func (f *fakePort) record(s string)          { f.mu.Lock(); f.calls = append(f.calls, s); f.mu.Unlock() }
func (f *fakePort) PlayTone(k region.Kind)   { f.record("tone:" + k.String()) }
func (f *fakePort) StopTone()                { f.record("stop-tone") }
func (f *fakePort) Collect()                 { f.record("collect") }
func (f *fakePort) StopCollecting()          { f.record("stop-collecting") }
func (f *fakePort) Ring(i *callerid.Info) {
	if i == nil {
		f.record("ring")
		return
	}
	f.record("ring:" + i.Number + "/" + i.Name)
}
func (f *fakePort) StopRing()        { f.record("stop-ring") }
func (f *fakePort) MuteDTMF(on bool) { f.record("mute-dtmf:" + strconv.FormatBool(on)) }
func (f *fakePort) Connect(a fxs.Audio) {
	if a == nil {
		f.record("disconnect-audio")
		return
	}
	f.record("connect-audio")
}
func (f *fakePort) take() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := strings.Join(f.calls, " ")
	f.calls = nil
	return s
}

// fakeTimer fires when the test says so.
type fakeTimer struct {
	c     chan time.Time
	armed time.Duration // 0: stopped
}

func (t *fakeTimer) C() <-chan time.Time   { return t.c }
func (t *fakeTimer) Reset(d time.Duration) { t.armed = d }
func (t *fakeTimer) Stop()                 { t.armed = 0 }

type harness struct {
	phone  *Phone
	port   *fakePort
	timer  *fakeTimer
	states chan State
	cancel context.CancelFunc
}

func start(t *testing.T, opts ...func(*Opts)) *harness {
	h := &harness{
		port:   &fakePort{events: make(chan fxs.Event)},
		timer:  &fakeTimer{c: make(chan time.Time)},
		states: make(chan State, 16),
	}
	o := Opts{NewTimer: func() Timer { return h.timer }}
	for _, f := range opts {
		f(&o)
	}
	ph := New(h.port, o)
	h.phone = ph
	ph.OnTransition(func(s State) { h.states <- s })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ph.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

// send delivers an event and waits for the resulting state, if any.
func (h *harness) send(t *testing.T, ev fxs.Event, want State) {
	t.Helper()
	h.port.events <- ev
	select {
	case s := <-h.states:
		if s != want {
			t.Fatalf("after %v: state %v, want %v", ev.Kind, s, want)
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("after %v: no transition, want %v", ev.Kind, want)
	}
}

func TestOffHookDialToneThenNoLineReorderThenHowler(t *testing.T) {
	h := start(t)
	h.send(t, fxs.Event{Kind: fxs.OffHook}, DialTone)
	if got := h.port.take(); got != "tone:dial collect" {
		t.Fatalf("port calls %q", got)
	}
	h.send(t, fxs.Event{Kind: fxs.DigitDown, Key: '5'}, Collecting)
	h.send(t, fxs.Event{Kind: fxs.Dialed, Number: "5551234"}, Reorder)
	if got := h.port.take(); got != "stop-collecting tone:congestion" {
		t.Fatalf("port calls %q", got)
	}
	if h.timer.armed != 30*time.Second {
		t.Fatalf("reorder timer %v, want 30 s", h.timer.armed)
	}
	h.timer.c <- time.Time{}
	if s := <-h.states; s != ReceiverOffHook {
		t.Fatalf("state %v after the reorder timeout", s)
	}
	if got := h.port.take(); got != "tone:receiver-off-hook" {
		t.Fatalf("port calls %q", got)
	}
	h.send(t, fxs.Event{Kind: fxs.OnHook}, Idle)
	if got := h.port.take(); got != "stop-collecting stop-tone" {
		t.Fatalf("port calls %q", got)
	}
}

func TestFirstDigitTimeoutHowls(t *testing.T) {
	h := start(t)
	h.send(t, fxs.Event{Kind: fxs.OffHook}, DialTone)
	h.send(t, fxs.Event{Kind: fxs.DialFailed, Reason: "timeout"}, ReceiverOffHook)
	if got := h.port.take(); !strings.HasSuffix(got, "tone:receiver-off-hook") {
		t.Fatalf("port calls %q", got)
	}
}

func TestNoMatchIsReorderAndHangUpStopsTimer(t *testing.T) {
	h := start(t)
	h.send(t, fxs.Event{Kind: fxs.OffHook}, DialTone)
	h.send(t, fxs.Event{Kind: fxs.DigitDown, Key: '0'}, Collecting)
	h.send(t, fxs.Event{Kind: fxs.DialFailed, Reason: "no match"}, Reorder)
	h.send(t, fxs.Event{Kind: fxs.OnHook}, Idle)
	if h.timer.armed != 0 {
		t.Fatalf("reorder timer still armed (%v) after hang-up", h.timer.armed)
	}
}

func TestStateNames(t *testing.T) {
	var names []string
	for s := Idle; s <= Ringing; s++ {
		names = append(names, s.String())
	}
	if got := fmt.Sprint(names); got != "[idle dial-tone collecting calling ringback early-media talking busy reorder disconnected receiver-off-hook ringing]" {
		t.Fatal(got)
	}
}
