// Package phone is call control: the state machine that joins the analog
// port (fxs) to the SIP line. It runs in one goroutine, takes the port's
// events, the current call's events, incoming calls and its own timer as
// input, logs every transition and tells the port what to play.
package phone

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/openata/ata/fxs"
	"github.com/openata/ata/fxs/callerid"
	"github.com/openata/ata/fxs/region"
	"github.com/openata/ata/sip"
)

// State is where the phone is.
type State int

// The states of call control.
const (
	Idle            State = iota // on-hook, nothing happening
	DialTone                     // off-hook, dial tone, waiting for the first digit
	Collecting                   // digits arriving, dial plan not yet complete
	Calling                      // INVITE sent, no answer or progress yet
	Ringback                     // the far end is alerting: local ringback tone
	EarlyMedia                   // the far end's audio before answer (183)
	Talking                      // the call is up
	Busy                         // the far end is busy: busy tone
	Reorder                      // the call could not be made: reorder tone
	Disconnected                 // the far end hung up: the handset is still off-hook
	ReceiverOffHook              // left off-hook too long: the howler
	Ringing                      // an incoming call rings the phone
)

var stateNames = [...]string{"idle", "dial-tone", "collecting", "calling", "ringback", "early-media",
	"talking", "busy", "reorder", "disconnected", "receiver-off-hook", "ringing"}

func (s State) String() string { return stateNames[s] }

// Port is what call control needs of the analog port (fxs.Port has it).
type Port interface {
	Events() <-chan fxs.Event
	PlayTone(region.Kind)
	StopTone()
	Collect()
	StopCollecting()
	Ring(*callerid.Info)
	StopRing()
	Connect(fxs.Audio)
	MuteDTMF(bool)
}

// Call is one SIP call as call control drives it (sip.Call has it).
type Call interface {
	// Events reports the call's progress; it is closed after CallEnded.
	Events() <-chan sip.CallEvent
	// Answer accepts an incoming call (200 OK).
	Answer() error
	// Hangup ends the call in whatever way its state needs: CANCEL before
	// an answer, BYE after, 480 for an incoming call nobody answered.
	Hangup()
	// Reject refuses an incoming call with a status (486 busy).
	Reject(status int)
	// Audio is the call's media for the handset; nil before there is any.
	Audio() fxs.Audio
	// SendDTMF sends a key to the far end the way the line's DTMF mode says.
	SendDTMF(key byte, d time.Duration) error
	// InBandDTMF reports whether keys reach the far end only as tones in
	// the audio (then they must not be muted).
	InBandDTMF() bool
	// Remote is the other party: number and display name.
	Remote() (number, name string)
	// Report is the media summary for the call log.
	Report() Report
}

// Report is a call's media summary.
type Report = sip.MediaReport

// Dialer places outgoing calls (the SIP line).
type Dialer interface {
	Dial(ctx context.Context, number string) (Call, error)
}

// Timer is the phone's single timer, injectable for tests.
type Timer interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

// Opts configure call control.
type Opts struct {
	// Line places calls; nil: no line is configured (numbers get reorder).
	Line Dialer
	// Log records each ended call; nil records nothing.
	Log *CallLog
	// ToneTimeout is how long busy, reorder or the disconnect tone play
	// before the receiver-off-hook tone (default 30 s).
	ToneTimeout time.Duration
	// DTMFDuration is the length sent for a rotary digit relayed as DTMF.
	DTMFDuration time.Duration
	Logger       *slog.Logger
	// NewTimer makes the phone's timer; nil uses a real time.Timer.
	NewTimer func() Timer
	// Now is the wall clock for the call log; nil uses time.Now.
	Now func() time.Time
}

// Phone is the call-control state machine of one port.
type Phone struct {
	port  Port
	opts  Opts
	log   *slog.Logger
	timer Timer
	state State

	incoming chan Call
	dialed   chan dialResult
	lineSet  chan Dialer
	ctx      context.Context

	// snap is what Snapshot reads from other goroutines.
	snapMu   sync.Mutex
	snap     Snapshot
	snapCall Call

	call     Call // the current call, if any
	callEv   <-chan sip.CallEvent
	dialGen  int   // tells a stale dial result from the current one
	record   Entry // the call log entry being built
	answered time.Time
	keyDown  byte // the DTMF key pressed during the call, until released

	// changed, if set, is told of every transition (tests, status page).
	changed func(State)
}

type dialResult struct {
	gen  int
	call Call
	err  error
}

// New builds call control for a port.
func New(port Port, opts Opts) *Phone {
	if opts.ToneTimeout == 0 {
		opts.ToneTimeout = 30 * time.Second
	}
	if opts.DTMFDuration == 0 {
		opts.DTMFDuration = 100 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.NewTimer == nil {
		opts.NewTimer = newRealTimer
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Phone{
		port: port, opts: opts, log: opts.Logger, timer: opts.NewTimer(),
		incoming: make(chan Call, 4),
		dialed:   make(chan dialResult, 1),
		lineSet:  make(chan Dialer),
	}
}

// Snapshot is call control's state for a status page.
type Snapshot struct {
	State State
	// CallsEnded counts the calls that ended since call control started.
	CallsEnded uint64
	// Call is the current call, if any.
	Call *CallSnapshot
}

// CallSnapshot describes the current call.
type CallSnapshot struct {
	Number, Name string
	Direction    string    // "in" or "out"
	Start        time.Time // when it began (dialled or rang)
	Answered     time.Time // zero until answered
	Media        Report
}

// Snapshot returns the current state; safe from any goroutine.
func (ph *Phone) Snapshot() Snapshot {
	ph.snapMu.Lock()
	s, c := ph.snap, ph.snapCall
	if s.Call != nil {
		cs := *s.Call
		s.Call = &cs
	}
	ph.snapMu.Unlock()
	if s.Call != nil && c != nil {
		s.Call.Media = c.Report()
	}
	return s
}

// SetLine replaces the SIP line calls are placed on (nil: none), for a
// changed account. It waits for call control to take it.
func (ph *Phone) SetLine(ctx context.Context, d Dialer) {
	select {
	case ph.lineSet <- d:
	case <-ctx.Done():
	}
}

// publish updates the snapshot after a change.
func (ph *Phone) publish() {
	ph.snapMu.Lock()
	defer ph.snapMu.Unlock()
	ph.snap.State = ph.state
	ph.snapCall = ph.call
	if ph.record.Start.IsZero() {
		ph.snap.Call = nil
		return
	}
	ph.snap.Call = &CallSnapshot{Number: ph.record.Number, Name: ph.record.Name, Direction: ph.record.Direction,
		Start: ph.record.Start, Answered: ph.answered}
}

// OnTransition registers f to be called, from the phone's goroutine, after
// every state change. Set it before Run.
func (ph *Phone) OnTransition(f func(State)) { ph.changed = f }

// Incoming hands an incoming call to call control. It never blocks: if
// call control is swamped the call is refused as busy.
func (ph *Phone) Incoming(c Call) {
	select {
	case ph.incoming <- c:
	default:
		c.Reject(486)
	}
}

// Run handles events until ctx ends; then it ends the current call.
func (ph *Phone) Run(ctx context.Context) error {
	ph.ctx = ctx
	defer ph.timer.Stop()
	for {
		select {
		case <-ctx.Done():
			if ph.call != nil {
				ph.endCall(sip.CallEvent{Kind: sip.CallEnded, Reason: "shutdown"}, true)
			}
			return nil
		case ev := <-ph.port.Events():
			ph.portEvent(ev)
		case ev, ok := <-ph.callEv:
			if !ok {
				ph.callEv = nil
				continue
			}
			ph.callEvent(ev)
		case r := <-ph.dialed:
			ph.dialDone(r)
		case c := <-ph.incoming:
			ph.incomingCall(c)
		case d := <-ph.lineSet:
			ph.opts.Line = d
			ph.log.Info("phone: line changed", "configured", d != nil)
		case <-ph.timer.C():
			ph.timeout()
		}
	}
}

// portEvent is the analog side's input, handled per state.
func (ph *Phone) portEvent(ev fxs.Event) {
	ph.log.Debug("phone: port event", "state", ph.state, "event", ev.Kind, "key", keyString(ev.Key), "number", ev.Number)
	if ev.Kind == fxs.OnHook {
		ph.onHook()
		return
	}
	switch ph.state {
	case Idle:
		ph.idle(ev)
	case DialTone, Collecting:
		ph.dialling(ev)
	case Ringing:
		ph.ringing(ev)
	case Talking:
		ph.talking(ev)
	}
}

func keyString(k byte) string {
	if k == 0 {
		return ""
	}
	return string(k)
}

func (ph *Phone) idle(ev fxs.Event) {
	if ev.Kind == fxs.OffHook {
		ph.dialTone()
	}
}

func (ph *Phone) dialTone() {
	ph.port.PlayTone(region.Dial)
	ph.port.Collect()
	ph.to(DialTone, "off-hook")
}

func (ph *Phone) dialling(ev fxs.Event) {
	switch ev.Kind {
	case fxs.DigitDown:
		if ph.state == DialTone {
			ph.to(Collecting, "first digit")
		}
	case fxs.Dialed:
		ph.placeCall(ev.Number)
	case fxs.DialFailed:
		if ev.Reason == "timeout" {
			ph.howl("no digit dialled")
			return
		}
		ph.tone(Reorder, region.Congestion, ev.Reason)
	}
}

// placeCall starts an outgoing call; the INVITE goes out on its own
// goroutine (DNS and the first transaction may take a while) and the
// result comes back through ph.dialed.
func (ph *Phone) placeCall(number string) {
	if ph.opts.Line == nil {
		ph.log.Info("phone: number dialled but no SIP line is configured", "number", number)
		ph.tone(Reorder, region.Congestion, "no line")
		return
	}
	ph.dialGen++
	gen := ph.dialGen
	ph.record = Entry{Start: ph.opts.Now(), Direction: "out", Number: number}
	ph.to(Calling, "dialled "+number)
	go func() {
		c, err := ph.opts.Line.Dial(ph.ctx, number)
		ph.dialed <- dialResult{gen: gen, call: c, err: err}
	}()
}

func (ph *Phone) dialDone(r dialResult) {
	if r.gen != ph.dialGen || ph.state != Calling {
		if r.call != nil {
			r.call.Hangup() // the caller hung up while the INVITE was on its way
		}
		return
	}
	if r.err != nil {
		ph.log.Warn("phone: call failed", "number", ph.record.Number, "err", r.err)
		ph.record.Cause = r.err.Error()
		ph.writeLog()
		ph.tone(Reorder, region.Congestion, "call failed")
		return
	}
	ph.call, ph.callEv = r.call, r.call.Events()
}

// callEvent is the SIP side's input for the current call.
func (ph *Phone) callEvent(ev sip.CallEvent) {
	ph.log.Debug("phone: call event", "state", ph.state, "event", ev.Kind, "status", ev.Status, "reason", ev.Reason)
	switch ev.Kind {
	case sip.CallProgress:
		if ph.state == Calling {
			ph.port.PlayTone(region.Ringback)
			ph.to(Ringback, "far end ringing")
		}
	case sip.CallEarlyMedia:
		if ph.state == Calling || ph.state == Ringback {
			ph.port.StopTone()
			ph.connect()
			ph.to(EarlyMedia, "early media")
		}
	case sip.CallAnswered:
		ph.answered = ph.opts.Now()
		ph.keyDown = 0
		defer ph.publish()
		ph.port.StopTone()
		ph.connect()
		ph.to(Talking, "answered")
	case sip.CallEnded:
		ph.endCall(ev, false)
	}
}

// connect joins the call's audio to the handset, keeping DTMF keys out of
// it when they travel as events.
func (ph *Phone) connect() {
	ph.port.MuteDTMF(!ph.call.InBandDTMF())
	ph.port.Connect(ph.call.Audio())
}

// endCall closes the current call's books and moves to what the handset
// hears next.
func (ph *Phone) endCall(ev sip.CallEvent, hangup bool) {
	c := ph.call
	if c == nil {
		return
	}
	if hangup {
		c.Hangup()
	}
	ph.port.Connect(nil)
	ph.call, ph.callEv = nil, nil
	ph.record.Status = ev.Status
	if ph.record.Cause == "" {
		ph.record.Cause = ev.Reason
	}
	rep := c.Report()
	ph.record.Codec, ph.record.Loss, ph.record.MOS = rep.Codec, rep.Loss, rep.MOS
	ph.record.JitterMS = float64(rep.Jitter) / float64(time.Millisecond)
	ph.writeLog()
	if hangup {
		return
	}
	switch ph.state {
	case Ringing:
		ph.port.StopRing()
		ph.to(Idle, "caller gave up: "+ev.Reason)
	case Talking:
		ph.tone(Disconnected, region.Busy, "far end hung up")
	case Calling, Ringback, EarlyMedia:
		if ev.Status == 486 || ev.Status == 600 || ev.Status == 603 {
			ph.tone(Busy, region.Busy, ev.Reason)
		} else {
			ph.tone(Reorder, region.Congestion, ev.Reason)
		}
	}
}

func (ph *Phone) talking(ev fxs.Event) {
	switch {
	case ev.Kind == fxs.DigitDown && ev.Pulse:
		ph.sendDTMF(ev.Key, ph.opts.DTMFDuration)
	case ev.Kind == fxs.DigitDown:
		ph.keyDown = ev.Key
	case ev.Kind == fxs.DigitUp && ev.Key == ph.keyDown:
		// Only keys pressed during the call: the release of the last
		// dialled digit arrives after the answer and is not relayed.
		ph.keyDown = 0
		ph.sendDTMF(ev.Key, ev.Duration)
	}
}

func (ph *Phone) sendDTMF(key byte, d time.Duration) {
	if err := ph.call.SendDTMF(key, d); err != nil {
		ph.log.Warn("phone: DTMF not sent", "key", string(key), "err", err)
	}
}

// incomingCall rings the phone if it is free, else answers busy.
func (ph *Phone) incomingCall(c Call) {
	number, name := c.Remote()
	if ph.state != Idle || ph.call != nil {
		ph.log.Info("phone: incoming call while busy", "from", number, "state", ph.state)
		c.Reject(486)
		return
	}
	ph.call, ph.callEv = c, c.Events()
	ph.record = Entry{Start: ph.opts.Now(), Direction: "in", Number: number, Name: name}
	info := &callerid.Info{Time: ph.opts.Now(), Number: number, Name: name}
	if number == "" || number == "anonymous" {
		info.Number, info.NumberAbsent = "", callerid.Private
	}
	if name == "" {
		info.NameAbsent = callerid.Unavailable
	}
	ph.port.Ring(info)
	ph.to(Ringing, "incoming call from "+number)
}

func (ph *Phone) ringing(ev fxs.Event) {
	if ev.Kind != fxs.OffHook {
		return
	}
	if err := ph.call.Answer(); err != nil {
		ph.log.Warn("phone: answer failed", "err", err)
		ph.endCall(sip.CallEvent{Kind: sip.CallEnded, Reason: "answer failed"}, true)
		ph.tone(Reorder, region.Congestion, "answer failed")
		return
	}
	// Audio flows once the call reports CallAnswered; Talking follows it.
}

func (ph *Phone) onHook() {
	ph.port.StopCollecting()
	ph.port.StopTone()
	if ph.call != nil {
		ph.record.Cause = "local hangup"
		ph.endCall(sip.CallEvent{Kind: sip.CallEnded, Reason: "local hangup"}, true)
	}
	if ph.state == Calling {
		ph.dialGen++ // a dial still on its way is hung up when it returns
		ph.record.Cause = "local hangup"
		ph.writeLog()
	}
	ph.to(Idle, "on-hook")
}

// tone moves to a state that plays a tone until the handset goes down,
// and the howler after ToneTimeout.
func (ph *Phone) tone(s State, k region.Kind, why string) {
	ph.port.StopCollecting()
	ph.port.PlayTone(k)
	ph.timer.Reset(ph.opts.ToneTimeout)
	ph.to(s, why)
}

func (ph *Phone) howl(why string) {
	ph.port.PlayTone(region.ReceiverOffHook)
	ph.to(ReceiverOffHook, why)
}

func (ph *Phone) timeout() {
	switch ph.state {
	case Busy, Reorder, Disconnected:
		ph.howl(ph.state.String() + " timed out")
	}
}

func (ph *Phone) to(s State, why string) {
	if s == ph.state {
		return
	}
	ph.log.Info("phone: transition", "from", ph.state, "to", s, "why", why)
	switch ph.state {
	case Busy, Reorder, Disconnected:
		ph.timer.Stop()
	}
	ph.state = s
	ph.publish()
	if ph.changed != nil {
		ph.changed(s)
	}
}

// writeLog records the finished call, once.
func (ph *Phone) writeLog() {
	if ph.record.Start.IsZero() {
		return
	}
	ph.record.End = ph.opts.Now()
	if !ph.answered.IsZero() {
		ph.record.Duration = ph.record.End.Sub(ph.answered).Seconds()
	}
	if ph.opts.Log != nil {
		if err := ph.opts.Log.Append(ph.record); err != nil {
			ph.log.Warn("phone: call log", "err", err)
		}
	}
	ph.record, ph.answered = Entry{}, time.Time{}
	ph.snapMu.Lock()
	ph.snap.CallsEnded++
	ph.snapMu.Unlock()
	ph.publish()
}

type realTimer struct{ t *time.Timer }

func newRealTimer() Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &realTimer{t}
}
func (r *realTimer) C() <-chan time.Time   { return r.t.C }
func (r *realTimer) Reset(d time.Duration) { r.t.Reset(d) }
func (r *realTimer) Stop()                 { r.t.Stop() }
