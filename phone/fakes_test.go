package phone

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/openata/ata/call"
	"github.com/openata/ata/call/calltest"
	"github.com/openata/ata/fxs"
	"github.com/openata/ata/fxs/callerid"
	"github.com/openata/ata/fxs/region"
	"github.com/openata/ata/media"
)

// fakePort records what call control asks of the analog port.
type fakePort struct {
	mu     sync.Mutex
	events chan fxs.Event
	ops    []string
	cwID   bool
	mwi    bool
	echo   fxs.EchoStats
}

func newFakePort() *fakePort { return &fakePort{events: make(chan fxs.Event, 16), cwID: true} }

func (p *fakePort) rec(s string) { p.mu.Lock(); p.ops = append(p.ops, s); p.mu.Unlock() }

// took returns the commands since the last call, space-separated.
func (p *fakePort) took() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := strings.Join(p.ops, " ")
	p.ops = nil
	return s
}

func (p *fakePort) Events() <-chan fxs.Event     { return p.events }
func (p *fakePort) PlayTone(k region.Kind)       { p.rec("tone:" + k.String()) }
func (p *fakePort) StopTone()                    { p.rec("stop-tone") }
func (p *fakePort) Collect()                     { p.rec("collect") }
func (p *fakePort) StopCollecting()              { p.rec("stop-collect") }
func (p *fakePort) StopRing()                    { p.rec("stop-ring") }
func (p *fakePort) Connect(fxs.Audio)            {}
func (p *fakePort) MuteDTMF(on bool)             { p.rec(fmt.Sprintf("mute:%v", on)) }
func (p *fakePort) CallWaitingIDSupported() bool { return p.cwID }
func (p *fakePort) EchoStats() fxs.EchoStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.echo
}
func (p *fakePort) MessageWaiting() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mwi
}
func (p *fakePort) Ring(info *callerid.Info) {
	n := ""
	if info != nil {
		n = info.Number
	}
	p.rec("ring:" + n)
}
func (p *fakePort) PlayDTMF(key byte, d time.Duration) { p.rec(fmt.Sprintf("dtmf:%c/%v", key, d)) }
func (p *fakePort) CallWaitingID(info *callerid.Info)  { p.rec("cwid:" + info.Number) }

// fakeMixer records each endpoint's mode.
type fakeMixer struct {
	mu    sync.Mutex
	modes map[media.Endpoint]Mode
}

func (m *fakeMixer) Exchange(mic, ear []int16) {}
func (m *fakeMixer) SetMode(e media.Endpoint, mode Mode) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mode == Out {
		delete(m.modes, e)
		return
	}
	m.modes[e] = mode
}
func (m *fakeMixer) mode(e media.Endpoint) Mode {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.modes[e]
}

// endpoint is a named media endpoint.
type endpoint string

func (endpoint) ReadFrame([]int16)  {}
func (endpoint) WriteFrame([]int16) {}

// gateDialer dials fake legs; with hold set, a dial waits for release.
type gateDialer struct {
	mu    sync.Mutex
	legs  []*calltest.Leg
	hold  bool
	gate  chan struct{}
	err   error
	count int
}

func (d *gateDialer) Dial(ctx context.Context, number string, o call.DialOptions) (call.Leg, error) {
	d.mu.Lock()
	hold, gate, err := d.hold, d.gate, d.err
	d.count++
	name := fmt.Sprintf("out%d", d.count)
	d.mu.Unlock()
	if hold {
		<-gate
	}
	if err != nil {
		return nil, err
	}
	l := calltest.NewLeg(name, number, true)
	l.Endpoint = endpoint(name)
	d.mu.Lock()
	d.legs = append(d.legs, l)
	d.mu.Unlock()
	return l, nil
}

func (d *gateDialer) last() *calltest.Leg {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.legs) == 0 {
		return nil
	}
	return d.legs[len(d.legs)-1]
}

// rig is a phone on fakes inside a synctest bubble.
type rig struct {
	t      *testing.T
	ph     *Phone
	port   *fakePort
	mix    *fakeMixer
	dialer *gateDialer
	log    *CallLog
	legs   map[string]*calltest.Leg // by name: in1, in2..., out1...
	in     int
	cancel context.CancelFunc
}

// newRig starts a phone; call inside synctest.Test.
func newRig(t *testing.T, mod func(*Opts)) *rig {
	r := &rig{t: t, port: newFakePort(), mix: &fakeMixer{modes: map[media.Endpoint]Mode{}},
		dialer: &gateDialer{gate: make(chan struct{})}, legs: map[string]*calltest.Leg{}}
	r.log = OpenCallLog(filepath.Join(t.TempDir(), "calls.jsonl"))
	o := DefaultOpts()
	o.Line, o.Mixer, o.Log = r.dialer, r.mix, r.log
	o.RingTimeout = 120 * time.Second
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		o.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if mod != nil {
		mod(&o)
	}
	r.ph = New(r.port, o)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go r.ph.Run(ctx)
	t.Cleanup(func() {
		cancel()
		r.dialer.mu.Lock()
		if r.dialer.hold {
			close(r.dialer.gate)
			r.dialer.hold = false
		}
		legs := append([]*calltest.Leg(nil), r.dialer.legs...)
		r.dialer.mu.Unlock()
		for _, l := range r.legs {
			legs = append(legs, l)
		}
		for _, l := range legs {
			l.Emit(call.Event{Kind: call.Ended})
		}
		synctest.Wait()
	})
	synctest.Wait()
	return r
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func (r *rig) settle() { synctest.Wait() }

func (r *rig) port_(k fxs.EventKind, f func(*fxs.Event)) {
	ev := fxs.Event{Kind: k}
	if f != nil {
		f(&ev)
	}
	r.port.events <- ev
	r.settle()
}

func (r *rig) offHook() { r.port_(fxs.OffHook, nil) }
func (r *rig) onHook()  { r.port_(fxs.OnHook, nil) }
func (r *rig) flash()   { r.port_(fxs.Flash, nil) }
func (r *rig) digit()   { r.port_(fxs.DigitDown, func(e *fxs.Event) { e.Key = '2' }) }
func (r *rig) dial(n string) {
	r.port_(fxs.Dialed, func(e *fxs.Event) { e.Number = n })
}

// incoming delivers a new incoming leg from number.
func (r *rig) incoming(number string) *calltest.Leg {
	r.in++
	l := calltest.NewLeg(fmt.Sprintf("in%d", r.in), number, false)
	l.Endpoint = endpoint(l.Name)
	r.legs[l.Name] = l
	r.ph.Incoming(l)
	r.settle()
	return l
}

// lastOut is the leg of the last dial.
func (r *rig) lastOut() *calltest.Leg {
	l := r.dialer.last()
	if l == nil {
		r.t.Fatal("nothing dialled")
	}
	return l
}

func (r *rig) emit(l *calltest.Leg, ev call.Event) { l.Emit(ev); r.settle() }

func (r *rig) is(st State, sh Shape) {
	r.t.Helper()
	s := r.ph.Snapshot()
	if s.State != st || s.Shape != sh {
		r.t.Fatalf("phone is %v/%v, want %v/%v", s.State, s.Shape, st, sh)
	}
}

func (r *rig) modeOf(l *calltest.Leg) Mode { return r.mix.mode(l.Endpoint) }

// hasOps checks that l was asked for want (in order, among others).
func hasOps(t *testing.T, l *calltest.Leg, want ...string) {
	t.Helper()
	got := l.Ops()
	i := 0
	for _, op := range got {
		if i < len(want) && op == want[i] {
			i++
		}
	}
	if i < len(want) {
		t.Fatalf("leg %s ops %v, want %v in order", l.Name, got, want)
	}
}
