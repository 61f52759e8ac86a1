// Package fxs is the analog telephone port: it turns a board's raw hook
// edges and PCM frames into what a person experiences on a phone — dial
// tone, digit collection by DTMF or rotary dial, call-progress tones,
// ringing with the region's cadence and caller ID — and reports hook and
// digit events to call control. It knows nothing of SIP or RTP.
//
// All signal work happens in the board's frame goroutine (Handler.Frame),
// so it runs paced by the board's clock and needs no locks of its own.
// Call control talks to the port through goroutine-safe commands (PlayTone,
// Ring, Collect, Connect...) that the frame goroutine picks up at the start
// of the next frame, and reads Events.
package fxs

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openata/ata/board"
	"github.com/openata/ata/fxs/callerid"
	"github.com/openata/ata/fxs/dialplan"
	"github.com/openata/ata/fxs/dtmf"
	"github.com/openata/ata/fxs/echo"
	"github.com/openata/ata/fxs/hook"
	"github.com/openata/ata/fxs/region"
	"github.com/openata/ata/fxs/tone"
	"github.com/openata/ata/fxs/tonedetect"
)

// EventKind says what happened on the port.
type EventKind int

// The events a port reports.
const (
	OffHook            EventKind = iota + 1 // handset lifted (also answers a ringing call)
	OnHook                                  // handset put down (a break longer than a flash)
	Flash                                   // hook flash
	DigitDown                               // a key pressed: DTMF start, or a whole rotary digit
	DigitUp                                 // a DTMF key released (Duration set)
	Dialed                                  // digit collection completed a number: Number
	DialFailed                              // digit collection ended without a number: Reason
	CallWaitingIDSent                       // CallWaitingID: the phone acknowledged the CAS (Key) and the FSK was sent
	CallWaitingIDNoAck                      // CallWaitingID: no FSK sent; Reason says why
	DataTone                                // a fax or modem tone on the call (fax_mode "passthrough"): Tone, AM, FromNetwork
)

var eventNames = [...]string{"", "off-hook", "on-hook", "flash", "digit-down", "digit-up", "dialed", "dial-failed",
	"call-waiting-id-sent", "call-waiting-id-no-ack", "data-tone"}

func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one thing the port reports to call control.
type Event struct {
	Kind     EventKind
	At       time.Duration // board-clock time
	Key      byte          // DigitDown/DigitUp: 0-9 * # A-D; CallWaitingIDSent: the acknowledgement ('D' or 'A')
	Pulse    bool          // DigitDown: dialled with a rotary dial
	Duration time.Duration // DigitUp: how long the key was held
	Number   string        // Dialed: the number after dial-plan substitutions
	Reason   string        // DialFailed: "no match", "barred", "incomplete", "too many digits" or "timeout"; CallWaitingIDNoAck: see CallWaitingID
	// DataTone: the tone heard (CNG, CED or ANSPR; each kind once per
	// call), whether it carries ANSam's 15 Hz modulation, and whether it
	// came from the far end (else from the phone's side of the line).
	Tone        tonedetect.Kind
	AM          bool
	FromNetwork bool
}

// Audio is a call's audio as the port sees it (see board.Stream).
type Audio = board.Stream

// Options configure a port. Build them with BuildOptions.
type Options struct {
	Region    *region.Region
	CallerID  callerid.Standard
	Ring      region.Cadence
	Hook      hook.Opts
	DialPlan  *dialplan.Plan
	Collect   dialplan.Opts
	ToneLevel float64 // dBm0 per tone component when the region gives none; 0 = region's
	CIDLevel  float64 // caller-ID signal level, dBm0; 0 = the standard's nominal level
	// VMWIRefresh is how often the message-waiting lamp's state is sent
	// again while on hook (BuildOptions: DefaultVMWIRefresh); 0 sends it
	// once per change.
	VMWIRefresh time.Duration
	// EchoCanceller puts a line echo canceller (fxs/echo) with EchoTail
	// (16..128 ms; 0: 64 ms) on the mouthpiece signal of every call.
	EchoCanceller bool
	EchoTail      time.Duration
	// FaxPassthrough reports fax and modem tones to call control (DataTone
	// events) so it can switch the call to pass-through. The tone disabler
	// acts on the canceller either way: G.168 asks it of every canceller.
	FaxPassthrough bool
	// TxGainDB (mouthpiece → network) and RxGainDB (network → earpiece)
	// scale the call's audio, −12..+12 dB, saturating.
	TxGainDB, RxGainDB float64
	Logger             *slog.Logger

	canceller *echo.Canceller // built for EchoCanceller by New or SetOptions
}

// Port is one analog port.
type Port struct {
	hw     board.Port
	log    *slog.Logger
	events chan Event
	drops  atomic.Uint64

	mu      sync.Mutex // guards want, latest and the received-DTMF queue
	want    wanted
	wantGen atomic.Uint64
	latest  Options // the settings last given (New, SetOptions), for commands that render audio
	rxQ     rxQueue
	rxCount atomic.Int32 // keys in rxQ, read by the frame goroutine without the lock

	offHook atomic.Bool
	ringing atomic.Bool
	// cidBeforeRing mirrors the caller-ID standard for Ring, which runs
	// outside the frame goroutine; ringEarly says Ring already switched
	// the ring voltage on.
	cidBeforeRing atomic.Bool
	ringEarly     atomic.Bool
	mwi           atomic.Bool // SetMessageWaiting's state
	lineFigures               // EchoStats, published by the frame goroutine

	// Owned by the frame goroutine.
	opts      Options
	have      wanted
	haveGen   uint64
	hook      *hook.Detector
	dtmf      *dtmf.Detector
	player    tone.Player
	toneKind  region.Kind
	toneOn    bool
	collector *dialplan.Collector
	collect   bool
	ring      ringState
	dtmfDown  [256]int64 // sample index at which each key went down
	samples   int64      // mic samples seen, the DTMF detector's time base
	now       time.Duration
	frameDur  time.Duration
	scratch   []int16
	silence   []int16 // the mouthpiece while a DTMF key is muted
	keyHeld   bool    // a DTMF key is down on the mouthpiece (as detected)
	rx        rxPlayer
	cw        cwState
	vmwi      vmwiState
	swallow   byte // a key whose DigitDown was kept from call control (a CAS acknowledgement): keep its DigitUp too
	line      linePath
}

// wanted is the state call control asks for; the frame goroutine makes it so.
type wanted struct {
	tone     region.Kind
	toneOn   bool
	ringOn   bool
	ringGen  uint64 // bumps for each new Ring call so a re-ring restarts cleanly
	cid      *callerid.Info
	collect  bool
	colGen   uint64
	audio    Audio
	audioGen uint64 // bumps on each Connect: a new call's audio
	muteDTMF bool
	reversed bool
	opts     *Options // new settings to take over (SetOptions)
	cw       *cwRequest
	cwGen    uint64
	vmwi     *vmwiRequest
	vmwiGen  uint64
}

// New builds a port on a board's hardware port.
func New(hw board.Port, opts Options) (*Port, error) {
	if opts.Region == nil {
		return nil, fmt.Errorf("fxs: no region")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if len(opts.Ring) == 0 {
		opts.Ring = opts.Region.Ring
	}
	if err := opts.Hook.Validate(); err != nil {
		return nil, fmt.Errorf("fxs: %w", err)
	}
	if err := withCanceller(&opts, nil); err != nil {
		return nil, err
	}
	p := &Port{
		hw:       hw,
		log:      opts.Logger,
		events:   make(chan Event, 64),
		opts:     opts,
		hook:     hook.New(opts.Hook),
		dtmf:     dtmf.NewDetector(),
		frameDur: time.Duration(hw.FrameSamples()) * time.Second / board.SampleRate,
		scratch:  make([]int16, hw.FrameSamples()),
		silence:  make([]int16, hw.FrameSamples()),
	}
	p.collector = dialplan.NewCollector(opts.DialPlan, opts.Collect)
	p.cidBeforeRing.Store(beforeRing(opts.CallerID))
	p.latest = opts
	p.line = newLinePath(hw.FrameSamples(), opts)
	p.publishFigures()
	return p, nil
}

// withCanceller gives o the echo canceller its settings ask for: the one
// the port has (cur) when they did not change, a new one when they did.
func withCanceller(o *Options, cur *Options) error {
	o.canceller = nil
	if !o.EchoCanceller {
		return nil
	}
	if o.EchoTail == 0 {
		o.EchoTail = DefaultEchoTail
	}
	if cur != nil && cur.canceller != nil && cur.EchoTail == o.EchoTail {
		o.canceller = cur.canceller
		return nil
	}
	ec, err := echo.New(echo.Options{Tail: o.EchoTail})
	if err != nil {
		return fmt.Errorf("fxs: %w", err)
	}
	o.canceller = ec
	return nil
}

// beforeRing reports whether a caller-ID standard signals before the first ring.
func beforeRing(std callerid.Standard) bool {
	return std == callerid.ETSIFSKDTAS || std == callerid.DTMF
}

// Run drives the port until ctx ends.
func (p *Port) Run(ctx context.Context) error {
	return p.hw.Run(ctx, p)
}

// Events delivers what happens on the port, in order. If call control
// falls 64 events behind, newer events are dropped and counted (Dropped).
func (p *Port) Events() <-chan Event { return p.events }

// Dropped is the number of events lost because nobody read Events.
func (p *Port) Dropped() uint64 { return p.drops.Load() }

// IsOffHook reports the debounced hook state.
func (p *Port) IsOffHook() bool { return p.offHook.Load() }

// IsRinging reports whether a ring sequence (including caller ID) is on.
func (p *Port) IsRinging() bool { return p.ringing.Load() }

// Region is the port's region.
func (p *Port) Region() *region.Region { return p.opts.Region }

func (p *Port) update(f func(w *wanted)) {
	p.mu.Lock()
	f(&p.want)
	p.mu.Unlock()
	p.wantGen.Add(1)
}

// PlayTone starts a call-progress tone of the region in the earpiece,
// replacing any other tone.
func (p *Port) PlayTone(k region.Kind) {
	p.update(func(w *wanted) { w.tone, w.toneOn = k, true })
}

// StopTone silences the tone.
func (p *Port) StopTone() { p.update(func(w *wanted) { w.toneOn = false }) }

// Collect starts digit collection against the dial plan: the first-digit
// timer starts now and the first digit stops a dial tone. Collection ends
// with a Dialed or DialFailed event, or with StopCollecting.
func (p *Port) Collect() {
	p.update(func(w *wanted) { w.collect = true; w.colGen++ })
}

// StopCollecting ends digit collection without an event.
func (p *Port) StopCollecting() { p.update(func(w *wanted) { w.collect = false }) }

// Ring starts ringing with the region's cadence and sends caller ID (nil:
// none) the way the caller-ID standard says. Ringing stops by itself when
// the handset is lifted.
func (p *Port) Ring(info *callerid.Info) {
	// The first burst starts now rather than at the next frame: ringing is
	// a relay, and a caller's INVITE should ring the bell within
	// milliseconds. Caller ID sent before ringing must come first, though.
	if !p.offHook.Load() && (info == nil || !p.cidBeforeRing.Load()) && !p.ringing.Load() {
		if err := p.hw.SetRing(true); err == nil {
			p.ringEarly.Store(true)
		}
	}
	p.update(func(w *wanted) { w.ringOn, w.cid = true, info; w.ringGen++ })
}

// StopRing ends ringing (the caller gave up or another device answered).
func (p *Port) StopRing() { p.update(func(w *wanted) { w.ringOn = false }) }

// Connect attaches a call's audio to the handset; nil detaches it. Each
// Connect starts a call afresh for the echo canceller and the tone
// disabler (EchoStats), as lifting the handset does.
func (p *Port) Connect(a Audio) { p.update(func(w *wanted) { w.audio = a; w.audioGen++ }) }

// MuteDTMF keeps DTMF keys out of the call's audio, for calls that send
// keys as RFC 4733 events or SIP INFO: the far end must not get them
// twice. The detector needs about 30 ms to recognise a key, too short for
// a receiver to take as a digit; it reports the release 40 ms after the
// tone ends, so the rest of the tone is muted.
func (p *Port) MuteDTMF(on bool) { p.update(func(w *wanted) { w.muteDTMF = on }) }

// SetOptions changes the port's settings while it runs (a saved config):
// region, tones, ring cadence, caller ID, hook timing and dial plan. A
// tone or ring in progress keeps going; the next one uses the new region.
func (p *Port) SetOptions(o Options) error {
	if o.Region == nil {
		return fmt.Errorf("fxs: no region")
	}
	if err := o.Hook.Validate(); err != nil {
		return fmt.Errorf("fxs: %w", err)
	}
	if o.Logger == nil {
		o.Logger = p.log
	}
	if len(o.Ring) == 0 {
		o.Ring = o.Region.Ring
	}
	p.mu.Lock()
	cur := p.latest
	p.mu.Unlock()
	if err := withCanceller(&o, &cur); err != nil {
		return err
	}
	p.update(func(w *wanted) {
		w.opts = &o
		p.latest = o
		if w.vmwi != nil { // the lamp's state in the new caller-ID standard
			w.vmwi = p.renderVMWI(o, w.vmwi.on)
		}
	})
	return nil
}

// Reverse sets the line polarity (used to signal answer/disconnect to
// payphones and to announce caller ID in some countries).
func (p *Port) Reverse(on bool) { p.update(func(w *wanted) { w.reversed = on }) }

// emit hands an event to call control without ever blocking the audio path.
func (p *Port) emit(e Event) {
	select {
	case p.events <- e:
	default:
		p.drops.Add(1)
	}
}

// HookEdge implements board.Handler.
func (p *Port) HookEdge(e board.HookEdge) {
	for _, ev := range p.hook.Edge(e) {
		p.hookEvent(ev)
	}
}

func (p *Port) hookEvent(ev hook.Event) {
	switch ev.Kind {
	case hook.OffHook:
		p.offHook.Store(true)
		p.newCall()
		p.vmwiAbort()
		if p.ring.active {
			p.stopRinging() // lifting the handset answers: ring voltage off at once
		}
		p.emit(Event{Kind: OffHook, At: ev.At})
	case hook.OnHook:
		p.offHook.Store(false)
		p.player.Stop()
		p.toneOn = false
		p.collect = false
		p.stopDTMF()
		if p.cw.active() {
			p.cwFinish(ev.At, CallWaitingIDNoAck, 0, "on-hook")
		}
		p.emit(Event{Kind: OnHook, At: ev.At})
	case hook.Flash:
		p.emit(Event{Kind: Flash, At: ev.At})
	case hook.PulseDigit:
		p.emit(Event{Kind: DigitDown, At: ev.At, Key: ev.Digit, Pulse: true})
		p.digit(ev.Digit, ev.At)
	}
}

// Frame implements board.Handler: one audio period.
func (p *Port) Frame(at time.Duration, mic, ear []int16) {
	p.now = at
	if g := p.wantGen.Load(); g != p.haveGen {
		p.haveGen = g
		p.mu.Lock()
		w := p.want
		p.mu.Unlock()
		p.apply(w)
	}
	for _, ev := range p.hook.Advance(at) {
		p.hookEvent(ev)
	}
	mic = p.cancelEcho(mic) // keys and the call get the mouthpiece without the earpiece's echo
	p.detectDTMF(mic)
	if p.collect {
		p.collectResult(p.collector.Advance(at))
	}
	p.vmwiStep(at)
	p.fillEar(mic, ear)
	if p.ring.active {
		p.ringStep(at)
	}
	p.rememberEar(ear)
}

// apply makes the wanted state current, acting only on what changed.
func (p *Port) apply(w wanted) {
	old := p.have
	p.have = w
	if w.toneOn != old.toneOn || w.tone != old.tone || (w.toneOn && !p.toneOn) {
		if w.toneOn {
			p.startTone(w.tone)
		} else {
			p.player.Stop()
			p.toneOn = false
		}
	}
	if w.collect && (w.colGen != old.colGen || !old.collect) {
		p.collector.Start(p.now)
		p.collect = true
	} else if !w.collect {
		p.collect = false
	}
	if w.ringOn && w.ringGen != old.ringGen {
		p.vmwiAbort() // ringing wins; the lamp's state follows it
		p.startRinging(w.cid)
	} else if !w.ringOn && p.ring.active {
		p.stopRinging()
	}
	if !w.ringOn && p.ringEarly.Swap(false) {
		p.setRing(false) // rung and stopped between two frames
	}
	if w.reversed != old.reversed {
		p.setReversed(w.reversed)
	}
	if w.opts != nil && w.opts != old.opts {
		p.takeOptions(*w.opts)
	}
	if w.audioGen != old.audioGen {
		p.newCall()
	}
	if w.cw != nil && w.cwGen != old.cwGen {
		p.startCW(w.cw)
	}
	if w.vmwi != old.vmwi {
		p.applyVMWI(w.vmwi, w.vmwiGen != old.vmwiGen)
	}
}

// takeOptions switches to new settings in the frame goroutine. The hook
// detector restarts in the current loop state, so a lifted handset stays
// lifted and no event is invented.
func (p *Port) takeOptions(o Options) {
	hookChanged := o.Hook != p.opts.Hook
	p.opts = o
	p.cidBeforeRing.Store(beforeRing(o.CallerID))
	p.collector = dialplan.NewCollector(o.DialPlan, o.Collect)
	if p.collect {
		p.collector.Start(p.now)
	}
	p.takeLineOptions(o)
	if hookChanged {
		p.hook = hook.New(o.Hook)
		if p.offHook.Load() {
			p.hook.Edge(board.HookEdge{At: p.now, OffHook: true})
			p.hook.Advance(p.now + o.Hook.Debounce)
		}
	}
	p.log.Info("fxs: settings changed", "region", o.Region.Code, "caller_id", o.CallerID)
}

func (p *Port) startTone(k region.Kind) {
	t := p.opts.Region.Tone(k)
	if t == nil {
		p.log.Warn("fxs: region has no such tone", "region", p.opts.Region.Code, "tone", k)
		return
	}
	p.player.Play(t, p.toneLevel(t))
	p.toneKind, p.toneOn = k, true
}

func (p *Port) toneLevel(t *tone.Tone) float64 {
	if p.opts.ToneLevel != 0 {
		return p.opts.ToneLevel
	}
	return t.Level
}

func (p *Port) detectDTMF(mic []int16) {
	for _, ev := range p.dtmf.Process(mic) {
		// The detector's time is in samples of mic audio; place it on the board clock.
		at := p.now - time.Duration(p.samples+int64(len(mic))-ev.At)*time.Second/board.SampleRate
		p.keyHeld = ev.Down
		if ev.Down {
			if p.cwAck(ev.Key, at) {
				p.swallow = ev.Key // the phone's answer to the CAS, not a digit
				continue
			}
			p.dtmfDown[ev.Key] = ev.At
			p.emit(Event{Kind: DigitDown, At: at, Key: ev.Key})
			p.digit(ev.Key, at)
		} else {
			if p.swallow != 0 && ev.Key == p.swallow {
				p.swallow = 0
				p.cwAckEnd(at)
				continue
			}
			held := time.Duration(ev.At-p.dtmfDown[ev.Key]) * time.Second / board.SampleRate
			p.emit(Event{Kind: DigitUp, At: at, Key: ev.Key, Duration: held})
		}
	}
	p.samples += int64(len(mic))
}

// digit feeds a key to the collector when collecting; the first digit ends
// a dial tone, as on any exchange.
func (p *Port) digit(key byte, at time.Duration) {
	if !p.collect {
		return
	}
	if p.toneOn && (p.toneKind == region.Dial || p.toneKind == region.StutterDial) {
		p.player.Stop()
		p.toneOn = false
	}
	p.collectResult(p.collector.Digit(key, at))
}

func (p *Port) collectResult(o dialplan.Outcome) {
	switch o.Kind {
	case dialplan.Continue:
		return
	case dialplan.Dial:
		p.emit(Event{Kind: Dialed, At: p.now, Number: o.Number})
	case dialplan.Reject:
		p.emit(Event{Kind: DialFailed, At: p.now, Reason: o.Reason})
	case dialplan.Timeout:
		p.emit(Event{Kind: DialFailed, At: p.now, Reason: "timeout"})
	}
	p.collect = false
}

// fillEar writes the earpiece frame: the call's audio, with received
// DTMF or a tone in place of it (or a tone mixed over it, for call
// waiting), caller-ID signals while ringing, or the call-waiting caller-ID
// sequence, during which the call hears silence.
func (p *Port) fillEar(mic, ear []int16) {
	if a := p.have.audio; a != nil {
		tx := p.toCall(mic)
		if p.cw.active() || p.have.muteDTMF && p.keyHeld {
			tx = p.silence
		}
		a.Exchange(tx, ear)
		p.fromCall(mic, ear)
	} else {
		clear(ear)
	}
	if p.cw.active() {
		p.cwFill(ear) // received DTMF and tones wait
		return
	}
	if p.rx.left > 0 || p.rx.gap > 0 || p.rxCount.Load() > 0 {
		p.fillDTMF(ear)
	}
	switch {
	case p.ring.active && p.ring.cidPlaying:
		p.ring.fillCID(ear)
		if !p.ring.cidPlaying {
			p.ring.cidEnd = p.now
		}
	case p.vmwi.phase == vmwiPlaying:
		p.vmwiFill(ear)
	case p.toneOn && p.have.audio != nil && p.toneKind == region.CallWaiting:
		p.player.Fill(p.scratch)
		for i, v := range p.scratch {
			ear[i] = clip16(int32(ear[i]) + int32(v))
		}
	case p.toneOn:
		p.player.Fill(ear)
		if !p.player.Playing() {
			p.toneOn = false
		}
	}
}

func clip16(v int32) int16 {
	if v > 32767 {
		return 32767
	}
	if v < -32768 {
		return -32768
	}
	return int16(v)
}

func (p *Port) setReversed(on bool) {
	if err := p.hw.SetReversed(on); err != nil && err != board.ErrNotSupported {
		p.log.Warn("fxs: polarity", "reversed", on, "err", err)
	}
}
