// Package phone is call control of one analog port: the state machine that
// joins the handset (fxs) to calls (call.Leg) through a media mixer. It
// runs in one goroutine, takes the port's events, the legs' events,
// incoming legs and its timers as input, logs every transition and tells
// the port what to play.
//
// Its state is the port's state (idle, dial tone, talking, ...) times the
// shape of its call slots: the current call (cur) and a second one (alt)
// that waits, is held, or is the held party of a consultation. What an
// input does in each (state, shape) is one entry of the table in table.go.
package phone

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/openata/ata/call"
	"github.com/openata/ata/fxs"
	"github.com/openata/ata/fxs/callerid"
	"github.com/openata/ata/fxs/region"
	"github.com/openata/ata/media"
)

// State is where the port is, as the person on the handset knows it.
type State int

// The states of the port.
const (
	Idle            State = iota // on-hook, nothing happening
	DialTone                     // off-hook, dial tone, waiting for the first digit
	Collecting                   // digits arriving, dial plan not yet complete
	Calling                      // call placed, no answer or progress yet
	Ringback                     // the far end is alerting: local ringback tone
	EarlyMedia                   // the far end's audio before answer
	Talking                      // a call is up
	Busy                         // the far end is busy: busy tone
	Reorder                      // the call could not be made: reorder tone
	Disconnected                 // the far end hung up: the handset is still off-hook
	ReceiverOffHook              // left off-hook too long: the howler
	Ringing                      // an incoming call rings the phone
	Conference                   // two far ends and the handset mixed (3-way)
	Recall                       // on-hook with a held call: the phone rings for it
	numStates
)

var modeNames = [...]string{"out", "active", "held"}

func (m Mode) String() string { return modeNames[m] }

var stateNames = [numStates]string{"idle", "dial-tone", "collecting", "calling", "ringback", "early-media",
	"talking", "busy", "reorder", "disconnected", "receiver-off-hook", "ringing", "conference", "recall"}

func (s State) String() string {
	if s >= 0 && s < numStates {
		return stateNames[s]
	}
	return "unknown"
}

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
	// PlayDTMF plays a key the far end pressed in the earpiece.
	PlayDTMF(key byte, d time.Duration)
	// CallWaitingID sends Type II caller ID (SAS, CAS, acknowledgement,
	// FSK) over a call; CallWaitingIDSupported says whether the port's
	// caller-ID standard has it.
	CallWaitingID(*callerid.Info)
	CallWaitingIDSupported() bool
	// MessageWaiting reports whether a voice message waits (the port's
	// lamp is lit): the dial tone stutters then.
	MessageWaiting() bool
	// EchoStats are the line echo canceller's figures of the call (its
	// ERL and ERLE go into the call log).
	EchoStats() fxs.EchoStats
}

// Mode is how a call's media takes part in the mix.
type Mode int

// The mix modes.
const (
	Out    Mode = iota // not in the mix
	Active             // hears the handset and the other active calls, is heard
	Held               // hears silence, is not heard
)

// Mixer joins the handset and the calls' media (bridge.Mixer has it
// through an adapter). Exchange is the port's audio.
type Mixer interface {
	fxs.Audio
	SetMode(e media.Endpoint, m Mode)
}

// Timer is one of the phone's timers, injectable for tests.
type Timer interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

// Opts configure call control.
type Opts struct {
	// Line places calls; nil: no line is configured (numbers get reorder).
	Line call.Dialer
	// Mixer joins the handset to the calls; required.
	Mixer Mixer
	// OnFeatures is told the features after a feature code changed them
	// (to save them); it runs on call control's goroutine and must not
	// block on it.
	OnFeatures func(Features)
	// NewRelay joins two legs' media with no port (a forward by bridge)
	// until stop is called; nil: forwards are redirects.
	NewRelay func(a, b media.Endpoint) (stop func())
	// Log records each ended leg; nil records nothing.
	Log *CallLog
	// ToneTimeout is how long busy, reorder or the disconnect tone play
	// before the receiver-off-hook tone (default 30 s).
	ToneTimeout time.Duration
	// CallWaitingRepeat is when the call-waiting tone sounds again after
	// Type II caller ID (default 10 s, the US interval).
	CallWaitingRepeat time.Duration
	// DTMFDuration is the length sent for a rotary digit relayed as DTMF.
	DTMFDuration time.Duration
	// FaxJitter is the fixed jitter buffer depth of a call switched to
	// fax/modem pass-through when the port hears a data tone
	// ([phone] fax_jitter; 0: the media's default).
	FaxJitter time.Duration
	Features
	Logger *slog.Logger
	// NewTimer makes the phone's timers; nil uses real time.Timers.
	NewTimer func() Timer
	// Now is the wall clock for the call log; nil uses time.Now.
	Now func() time.Time
}

// Features are the calling features a person can turn off ([phone]).
type Features struct {
	CallWaiting         bool // a second call during a call rings as call waiting
	CallWaitingCallerID bool // with Type II caller ID where the standard has it
	ThreeWay            bool // flash during a call places a second call / conference
	TransferOnHangup    bool // hanging up in a consultation or conference transfers
	// RingTimeout ends an incoming call nobody answers (ringing, waiting or
	// a recall) after this long; 0 rings until the caller gives up.
	RingTimeout time.Duration
	// DND refuses incoming calls with DNDCause (Busy, Unavailable or
	// Declined) without ringing; the dial tone stutters meanwhile.
	DND      bool
	DNDCause call.Cause
	// RejectAnonymous refuses callers without a number (call.Anonymous).
	RejectAnonymous bool
	// Forwarding targets ("" off): every call, calls while busy, calls
	// not answered within ForwardNoAnswerAfter. ForwardBridge places the
	// onward call here and joins the legs (Opts.NewRelay) instead of a
	// redirect.
	ForwardAlways, ForwardBusy, ForwardNoAnswer string
	ForwardNoAnswerAfter                        time.Duration
	ForwardBridge                               bool
	// Hotline is dialled when the handset is lifted: at once, or after
	// WarmlineAfter without a digit.
	Hotline       string
	WarmlineAfter time.Duration
	// CLIR withholds our number on every call (caller-ID blocking).
	CLIR bool
	// VoicemailNumber is dialled by the voicemail code.
	VoicemailNumber string
	// Codes are the feature codes dialled from the handset, by code.
	Codes map[string]Action
}

// DefaultOpts has the features on as a Cisco SPA112 has them by default.
func DefaultOpts() Opts {
	return Opts{Features: Features{CallWaiting: true, CallWaitingCallerID: true, ThreeWay: true, TransferOnHangup: true}}
}

// slot is one call of the port.
type slot struct {
	leg      call.Leg
	entry    Entry
	answered time.Time
	held     bool // we hold it
	farHeld  bool // the far end holds us
	consult  bool // placed as a second call while the other is held
	endpoint media.Endpoint
	mode     Mode
	// transfer is the new call a far end's REFER asked for, until it
	// answers and takes this slot's place.
	transfer *slot
	// replacing is the slot this one replaces once it answers.
	replacing *slot
	// passThrough: a fax or modem tone switched the call to pass-through.
	passThrough bool
}

func (s *slot) party() call.Party { return s.leg.Remote() }
func (s *slot) up() bool          { return !s.answered.IsZero() }

type legEvent struct {
	s  *slot
	ev call.Event
}

type dialResult struct {
	gen     int
	leg     call.Leg
	err     error
	consult bool
}

type placed struct {
	from *slot
	leg  call.Leg
	err  error
}

// Phone is the call-control state machine of one port.
type Phone struct {
	port  Port
	opts  Opts
	log   *slog.Logger
	state State

	toneTimer, cwTimer, ringTimer, fwdTimer, warmTimer Timer

	incoming chan call.Leg
	dialed   chan dialResult
	placedCh chan placed
	legEv    chan legEvent
	lineSet  chan call.Dialer
	features chan Features
	ctx      context.Context

	cur, alt *slot
	// departing are legs that left the port (transferred, hung up) and
	// whose end is still to be logged.
	departing map[*slot]bool
	// fwds are the legs of calls forwarded by bridge (both legs map to
	// their forward); fwdDialed brings their onward legs.
	fwds      map[*slot]*forward
	fwdDialed chan fwdDial
	dialGen   int
	dialing   Entry // the number being dialled, until its leg exists
	keyDown   byte  // the DTMF key pressed during the call, until released
	// pendingCode is a feature code waiting for its number; cwOffNext
	// turns call waiting off until the port is idle again (*70).
	pendingCode Action
	cwOffNext   bool
	muted       bool // DTMF muting as last set on the port

	snapMu sync.Mutex
	snap   Snapshot

	changed func(State)
	stepped func() // tests: after each input
}

// New builds call control for a port.
func New(port Port, opts Opts) *Phone {
	if opts.ToneTimeout == 0 {
		opts.ToneTimeout = 30 * time.Second
	}
	if opts.CallWaitingRepeat == 0 {
		opts.CallWaitingRepeat = 10 * time.Second
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
		port: port, opts: opts, log: opts.Logger,
		toneTimer: opts.NewTimer(), cwTimer: opts.NewTimer(), ringTimer: opts.NewTimer(),
		fwdTimer: opts.NewTimer(), warmTimer: opts.NewTimer(),
		fwds:      map[*slot]*forward{},
		fwdDialed: make(chan fwdDial, 2),
		incoming:  make(chan call.Leg, 4),
		dialed:    make(chan dialResult, 2),
		placedCh:  make(chan placed, 2),
		legEv:     make(chan legEvent, 64),
		lineSet:   make(chan call.Dialer),
		features:  make(chan Features),
		departing: map[*slot]bool{},
	}
}

// Snapshot is call control's state for a status page.
type Snapshot struct {
	State State
	Shape Shape
	// CallsEnded counts the legs that ended since call control started.
	CallsEnded uint64
	// Calls are the port's calls: the current one first.
	Calls []CallSnapshot
}

// CallSnapshot describes one call of the port.
type CallSnapshot struct {
	Number, Name string
	Direction    string    // "in" or "out"
	Role         string    // "active", "held", "waiting", "ringing", "dialing", "conference"
	FarHeld      bool      // the far end holds us
	Start        time.Time // when it began (dialled or rang)
	Answered     time.Time // zero until answered
	Media        call.MediaReport
	leg          call.Leg
}

// Snapshot returns the current state; safe from any goroutine.
func (ph *Phone) Snapshot() Snapshot {
	ph.snapMu.Lock()
	s := ph.snap
	s.Calls = append([]CallSnapshot(nil), s.Calls...)
	ph.snapMu.Unlock()
	for i := range s.Calls {
		if l := s.Calls[i].leg; l != nil {
			s.Calls[i].Media = l.Report()
		}
	}
	return s
}

// SetLine replaces the line calls are placed on (nil: none), for a
// changed account. It waits for call control to take it.
func (ph *Phone) SetLine(ctx context.Context, d call.Dialer) {
	select {
	case ph.lineSet <- d:
	case <-ctx.Done():
	}
}

// SetFeatures changes the calling features (a saved config); calls in
// progress go on. It waits for call control to take them.
func (ph *Phone) SetFeatures(ctx context.Context, f Features) {
	select {
	case ph.features <- f:
	case <-ctx.Done():
	}
}

// OnTransition registers f to be called, from the phone's goroutine, after
// every state change. Set it before Run.
func (ph *Phone) OnTransition(f func(State)) { ph.changed = f }

// Incoming hands an incoming leg to call control. It never blocks: if
// call control is swamped the leg is refused as busy.
func (ph *Phone) Incoming(l call.Leg) {
	select {
	case ph.incoming <- l:
	default:
		l.Reject(call.Busy)
	}
}

// Run handles events until ctx ends; then it ends every call.
func (ph *Phone) Run(ctx context.Context) error {
	ph.ctx = ctx
	defer ph.toneTimer.Stop()
	defer ph.cwTimer.Stop()
	defer ph.ringTimer.Stop()
	defer ph.fwdTimer.Stop()
	defer ph.warmTimer.Stop()
	ph.port.Connect(ph.opts.Mixer)
	for {
		select {
		case <-ctx.Done():
			for _, s := range []*slot{ph.cur, ph.alt} {
				if s != nil {
					s.leg.Hangup(call.Shutdown)
				}
			}
			for s, f := range ph.fwds {
				if f.stopRelay != nil {
					f.stopRelay()
					f.stopRelay = nil
				}
				s.leg.Hangup(call.Shutdown)
			}
			return nil
		case ev := <-ph.port.Events():
			ph.portEvent(ev)
		case le := <-ph.legEv:
			ph.legEvent(le.s, le.ev)
		case r := <-ph.dialed:
			ph.dialDone(r)
		case p := <-ph.placedCh:
			ph.transferPlaced(p)
		case l := <-ph.incoming:
			if !ph.screen(l) {
				ph.input(inIncoming, event{leg: l})
			}
		case d := <-ph.fwdDialed:
			ph.forwardDialed(d)
		case <-ph.fwdTimer.C():
			ph.input(inNoAnswer, event{})
		case <-ph.warmTimer.C():
			ph.input(inWarmline, event{})
		case f := <-ph.features:
			ph.opts.Features = f
			ph.log.Info("phone: features changed", "features", f)
		case d := <-ph.lineSet:
			ph.opts.Line = d
			ph.log.Info("phone: line changed", "configured", d != nil)
		case <-ph.toneTimer.C():
			ph.input(inToneTimeout, event{})
		case <-ph.ringTimer.C():
			ph.input(inRingTimeout, event{})
		case <-ph.cwTimer.C():
			if ph.alt != nil && !ph.alt.up() {
				ph.port.PlayTone(region.CallWaiting)
			}
		}
		ph.syncMedia()
		ph.publish()
		if ph.stepped != nil {
			ph.stepped()
		}
	}
}

// event carries an input's details to its action.
type event struct {
	port fxs.Event
	leg  call.Leg
	s    *slot
	call call.Event
}

func (ph *Phone) portEvent(ev fxs.Event) {
	ph.log.Debug("phone: port event", "state", ph.state, "event", ev.Kind, "key", keyString(ev.Key), "number", ev.Number)
	e := event{port: ev}
	switch ev.Kind {
	case fxs.OffHook:
		ph.input(inOffHook, e)
	case fxs.OnHook:
		ph.port.StopCollecting()
		ph.port.StopTone()
		ph.input(inOnHook, e)
	case fxs.Flash:
		ph.input(inFlash, e)
	case fxs.Dialed:
		ph.input(inDialed, e)
	case fxs.DialFailed:
		if ev.Reason == "timeout" {
			ph.input(inDialTimeout, e)
		} else {
			ph.input(inDialFailed, e)
		}
	case fxs.DigitDown, fxs.DigitUp:
		if ev.Kind == fxs.DigitDown && ph.state == DialTone {
			ph.to(Collecting, "first digit")
		}
		ph.relayKey(ev)
	case fxs.DataTone:
		ph.passThrough(ev)
	}
}

// passThrough switches the connected calls to fax/modem pass-through
// (fixed jitter buffer, no concealment, no comfort noise) when the port
// hears a fax or modem tone; the port has already taken the echo
// canceller's NLP or the canceller out of the path.
func (ph *Phone) passThrough(ev fxs.Event) {
	for _, s := range []*slot{ph.cur, ph.alt} {
		if s == nil || !s.up() || s.held {
			continue
		}
		pt, ok := s.leg.Media().(media.PassThrough)
		if !ok {
			continue
		}
		pt.SetPassThrough(true, ph.opts.FaxJitter)
		s.passThrough = true
		ph.log.Info("phone: call switched to fax/modem pass-through", "leg", s.leg.ID(), "tone", ev.Tone, "from_network", ev.FromNetwork)
	}
}

func keyString(k byte) string {
	if k == 0 {
		return ""
	}
	return string(k)
}

// relayKey sends keys pressed during a call to the far end(s).
func (ph *Phone) relayKey(ev fxs.Event) {
	if (ph.state != Talking && ph.state != Conference) || ph.cur == nil {
		return
	}
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
	for _, s := range ph.mixed() {
		if err := s.leg.SendDTMF(key, d); err != nil {
			ph.log.Warn("phone: DTMF not sent", "key", string(key), "err", err)
		}
	}
}

// mixed are the calls the handset talks to.
func (ph *Phone) mixed() []*slot {
	var out []*slot
	for _, s := range []*slot{ph.cur, ph.alt} {
		if s != nil && s.mode == Active {
			out = append(out, s)
		}
	}
	return out
}

// legEvent is a call's input: the parts every state handles alike here,
// the rest through the table.
func (ph *Phone) legEvent(s *slot, ev call.Event) {
	ph.log.Debug("phone: leg event", "state", ph.state, "leg", s.leg.ID(), "event", ev.Kind, "cause", ev.Cause, "detail", ev.Detail)
	if f := ph.fwds[s]; f != nil {
		ph.forwardEvent(f, s, ev)
		return
	}
	if ph.departing[s] {
		if ev.Kind == call.Ended {
			delete(ph.departing, s)
			ph.logLeg(s, ev)
		}
		return
	}
	if owner := ph.transferOwner(s); owner != nil {
		ph.transferEvent(owner, s, ev)
		return
	}
	e := event{s: s, call: ev}
	switch ev.Kind {
	case call.Answered:
		if s.answered.IsZero() {
			s.answered = ph.opts.Now()
		}
		if s == ph.cur {
			ph.input(inCurAnswered, e)
		}
	case call.Progress:
		if s == ph.cur {
			ph.input(inCurProgress, e)
		}
	case call.EarlyMedia:
		if s == ph.cur {
			ph.input(inCurEarly, e)
		}
	case call.Held, call.Resumed:
		s.farHeld = ev.Kind == call.Held
		ph.log.Info("phone: far end "+ev.Kind.String(), "leg", s.leg.ID())
	case call.DTMF:
		if s.mode == Active {
			ph.port.PlayDTMF(ev.Key, ev.Duration)
		}
	case call.TransferRequested:
		ph.followTransfer(s, ev.Transfer)
	case call.TransferDone, call.TransferFailed:
		ph.log.Info("phone: "+ev.Kind.String(), "leg", s.leg.ID(), "detail", ev.Detail)
	case call.Ended:
		ph.logLeg(s, ev)
		switch s {
		case ph.cur:
			ph.input(inCurEnded, e)
		case ph.alt:
			ph.input(inAltEnded, e)
		}
	}
}

// watch forwards a leg's events to the phone's goroutine.
func (ph *Phone) watch(s *slot) {
	go func() {
		for ev := range s.leg.Events() {
			ph.legEv <- legEvent{s, ev}
		}
	}()
}

func (ph *Phone) newSlot(l call.Leg, dir string) *slot {
	p := l.Remote()
	s := &slot{leg: l, entry: Entry{Start: ph.opts.Now(), Direction: dir, Number: p.Number, Name: p.Name, Leg: l.ID()}}
	ph.watch(s)
	return s
}

// --- Placing calls ---

// placeCall starts an outgoing call; the dial goes out on its own
// goroutine (DNS and the first transaction may take a while) and the
// result comes back through ph.dialed.
func (ph *Phone) placeCall(number string, consult bool) {
	ph.placeCallWith(number, consult, call.DialOptions{Anonymous: ph.opts.CLIR})
}

// placeCallWith places a call with options (caller-ID blocking per call).
func (ph *Phone) placeCallWith(number string, consult bool, o call.DialOptions) {
	if ph.opts.Line == nil {
		ph.log.Info("phone: number dialled but no line is configured", "number", number)
		ph.toneState(Reorder, region.Congestion, "no line")
		return
	}
	ph.dialGen++
	gen := ph.dialGen
	ph.dialing = Entry{Start: ph.opts.Now(), Direction: "out", Number: number}
	ph.to(Calling, "dialled "+number)
	line, ctx := ph.opts.Line, ph.ctx
	go func() {
		l, err := line.Dial(ctx, number, o)
		ph.dialed <- dialResult{gen: gen, leg: l, err: err, consult: consult}
	}()
}

func (ph *Phone) dialDone(r dialResult) {
	if r.gen != ph.dialGen || ph.state != Calling || ph.cur != nil {
		if r.leg != nil {
			r.leg.Hangup(call.Cancelled) // the caller gave up while the call was on its way
		}
		return
	}
	if r.err != nil {
		ph.log.Warn("phone: call failed", "number", ph.dialing.Number, "err", r.err)
		e := ph.dialing
		e.Cause = "failed: " + r.err.Error()
		ph.appendLog(e)
		ph.toneState(Reorder, region.Congestion, "call failed")
		return
	}
	s := ph.newSlot(r.leg, "out")
	s.entry.Start = ph.dialing.Start
	s.consult = r.consult
	ph.cur = s
}

// --- Transfers the far end asks for ---

// followTransfer places the call a far end's REFER asks for. The new leg
// stays beside the old one until it answers, then takes its place.
func (ph *Phone) followTransfer(s *slot, req *call.TransferRequest) {
	if req == nil {
		return
	}
	if s.transfer != nil {
		req.Refuse(call.Busy)
		return
	}
	ph.log.Info("phone: far end transfers us", "leg", s.leg.ID(), "to", req.Target, "attended", req.Attended)
	ctx := ph.ctx
	go func() {
		l, err := req.Place(ctx)
		ph.placedCh <- placed{from: s, leg: l, err: err}
	}()
}

func (ph *Phone) transferPlaced(p placed) {
	if p.err != nil {
		ph.log.Warn("phone: transfer call failed", "err", p.err)
		return
	}
	if p.from != ph.cur && p.from != ph.alt {
		p.leg.Hangup(call.Cancelled) // the transferring call is gone
		return
	}
	n := ph.newSlot(p.leg, "out")
	n.replacing = p.from
	p.from.transfer = n
}

func (ph *Phone) transferOwner(s *slot) *slot {
	if s.replacing != nil && s.replacing.transfer == s {
		return s.replacing
	}
	return nil
}

// transferEvent follows the new call of a transfer until it replaces old.
func (ph *Phone) transferEvent(old, n *slot, ev call.Event) {
	switch ev.Kind {
	case call.Answered:
		n.answered = ph.opts.Now()
		ph.replaceSlot(old, n)
		ph.log.Info("phone: transfer completed", "old", old.leg.ID(), "new", n.leg.ID())
	case call.DTMF:
	case call.Ended:
		old.transfer = nil
		ph.logLeg(n, ev)
		ph.log.Info("phone: transfer call ended before answer", "cause", ev.Cause)
	}
}

// replaceSlot puts n where old was; old departs (its end is logged when it
// comes).
func (ph *Phone) replaceSlot(old, n *slot) {
	n.replacing, old.transfer = nil, nil
	n.held, n.consult = old.held, old.consult
	switch old {
	case ph.cur:
		ph.cur = n
	case ph.alt:
		ph.alt = n
	}
	ph.depart(old)
	if n.held {
		_ = n.leg.Hold()
	}
}

// depart takes s off the port; its Ended is still awaited for the log.
func (ph *Phone) depart(s *slot) {
	if s == nil {
		return
	}
	ph.setMode(s, Out)
	ph.departing[s] = true
	if ph.cur == s {
		ph.cur = nil
	}
	if ph.alt == s {
		ph.alt = nil
	}
}

// --- Media ---

// syncMedia puts each call's media in the mix as its role says.
func (ph *Phone) syncMedia() {
	for _, s := range []*slot{ph.cur, ph.alt} {
		if s == nil {
			continue
		}
		want := Out
		switch {
		case s.held:
			want = Held
		case s == ph.cur && (ph.state == Talking || ph.state == EarlyMedia || ph.state == Conference):
			want = Active
		case s == ph.alt && ph.state == Conference:
			want = Active
		}
		ph.setMode(s, want)
	}
	mute := false
	for _, s := range ph.mixed() {
		if !s.leg.InBandDTMF() {
			mute = true
		}
	}
	if mute != ph.muted {
		ph.muted = mute
		ph.port.MuteDTMF(mute)
	}
}

func (ph *Phone) setMode(s *slot, m Mode) {
	if s.endpoint == nil {
		if m == Out {
			s.mode = Out
			return
		}
		s.endpoint = s.leg.Media()
		if s.endpoint == nil {
			return // no media yet: joins when it has some
		}
	}
	if s.mode == m {
		return
	}
	ph.log.Debug("phone: media", "leg", s.leg.ID(), "from", s.mode, "to", m)
	s.mode = m
	ph.opts.Mixer.SetMode(s.endpoint, m)
	if m == Out {
		s.endpoint = nil
	}
}

// --- Tones, ringing ---

// toneState moves to a state that plays a tone until the handset goes
// down, and the howler after ToneTimeout.
func (ph *Phone) toneState(s State, k region.Kind, why string) {
	ph.port.StopCollecting()
	ph.port.PlayTone(k)
	ph.toneTimer.Reset(ph.opts.ToneTimeout)
	ph.to(s, why)
}

func (ph *Phone) howl(why string) {
	ph.port.PlayTone(region.ReceiverOffHook)
	ph.to(ReceiverOffHook, why)
}

func (ph *Phone) dialTone(k region.Kind, why string) {
	ph.port.PlayTone(k)
	ph.port.Collect()
	ph.to(DialTone, why)
}

func callerInfo(p call.Party, now time.Time) *callerid.Info {
	info := &callerid.Info{Time: now, Number: p.Number, Name: p.Name}
	if p.Anonymous() {
		info.Number, info.NumberAbsent = "", callerid.Private
	}
	if p.Name == "" {
		info.NameAbsent = callerid.Unavailable
	}
	return info
}

func (ph *Phone) ring(s *slot, st State, why string) {
	ph.alert(s)
	ph.port.Ring(callerInfo(s.party(), ph.opts.Now()))
	ph.startRingTimer()
	ph.to(st, why)
}

// alert tells an incoming caller we ring (a recall's held leg is
// answered already: nothing to tell).
func (ph *Phone) alert(s *slot) {
	if s.up() || s.leg.Outgoing() {
		return
	}
	if err := s.leg.Alert(); err != nil {
		ph.log.Warn("phone: alert", "leg", s.leg.ID(), "err", err)
	}
}

// startRingTimer times a call that rings or waits; its end is an input
// only the ringing and waiting entries of the table act on.
func (ph *Phone) startRingTimer() {
	if ph.opts.RingTimeout > 0 {
		ph.ringTimer.Reset(ph.opts.RingTimeout)
	}
}

// callWaiting tells the person in a call that s waits: Type II caller ID
// where the port and the setting have it, else the call-waiting tone (which
// repeats by its own cadence).
func (ph *Phone) callWaiting(s *slot) {
	ph.alert(s) // the caller hears ringback
	ph.startRingTimer()
	if ph.opts.CallWaitingCallerID && ph.port.CallWaitingIDSupported() {
		ph.port.CallWaitingID(callerInfo(s.party(), ph.opts.Now()))
		ph.cwTimer.Reset(ph.opts.CallWaitingRepeat)
		return
	}
	ph.port.PlayTone(region.CallWaiting)
}

func (ph *Phone) stopCallWaiting() {
	ph.cwTimer.Stop()
	ph.port.StopTone()
}

// --- Bookkeeping ---

func (ph *Phone) to(s State, why string) {
	if s == ph.state {
		return
	}
	ph.log.Info("phone: transition", "from", ph.state, "to", s, "why", why, "shape", ph.shape())
	switch ph.state {
	case Busy, Reorder, Disconnected:
		ph.toneTimer.Stop()
	}
	ph.state = s
	if s == Idle {
		ph.pendingCode, ph.cwOffNext = 0, false
	}
	ph.syncMedia()
	ph.publish()
	if ph.changed != nil {
		ph.changed(s)
	}
}

// publish updates the snapshot after a change.
func (ph *Phone) publish() {
	var calls []CallSnapshot
	for _, s := range []*slot{ph.cur, ph.alt} {
		if s == nil {
			continue
		}
		calls = append(calls, CallSnapshot{Number: s.entry.Number, Name: s.entry.Name, Direction: s.entry.Direction,
			Role: ph.role(s), FarHeld: s.farHeld, Start: s.entry.Start, Answered: s.answered, leg: s.leg})
	}
	ph.snapMu.Lock()
	ph.snap.State = ph.state
	ph.snap.Shape = ph.shape()
	ph.snap.Calls = calls
	ph.snapMu.Unlock()
}

func (ph *Phone) role(s *slot) string {
	switch {
	case s.held:
		return "held"
	case ph.state == Conference:
		return "conference"
	case !s.up() && !s.leg.Outgoing() && s == ph.cur:
		return "ringing"
	case !s.up() && !s.leg.Outgoing():
		return "waiting"
	case !s.up():
		return "dialing"
	}
	return "active"
}

// logLeg records an ended leg, once.
func (ph *Phone) logLeg(s *slot, ev call.Event) {
	e := s.entry
	if e.Start.IsZero() {
		return
	}
	s.entry = Entry{}
	e.Cause = ev.Cause.String()
	e.Detail = ev.Detail
	e.Remote = ev.Remote
	rep := s.leg.Report()
	e.Codec, e.Loss, e.MOS = rep.Codec, rep.Loss, rep.MOS
	e.JitterMS = float64(rep.Jitter) / float64(time.Millisecond)
	e.RTTMS = float64(rep.RTT) / float64(time.Millisecond)
	e.PassThrough = rep.PassThrough || s.passThrough
	e.SRTP = rep.SRTP
	if s.up() {
		es := ph.port.EchoStats()
		e.EchoERL, e.EchoERLE, e.EchoOff = es.ERL, es.ERLE, es.Bypassed
		if es.DataTone != 0 {
			e.DataTone = es.DataTone.String()
		}
	}
	e.End = ph.opts.Now()
	if s.up() {
		e.Duration = e.End.Sub(s.answered).Seconds()
	}
	ph.appendLog(e)
}

func (ph *Phone) appendLog(e Entry) {
	if e.End.IsZero() {
		e.End = ph.opts.Now()
	}
	if ph.opts.Log != nil {
		if err := ph.opts.Log.Append(e); err != nil {
			ph.log.Warn("phone: call log", "err", err)
		}
	}
	ph.snapMu.Lock()
	ph.snap.CallsEnded++
	ph.snapMu.Unlock()
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
