package sim

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/openata/ata/board"
)

// Timings and levels of the virtual handset.
const (
	// DefaultFlashBreak is how long a hook flash opens the loop unless
	// Opts.FlashBreak says: inside the 100–900 ms window ATAs accept (Cisco
	// SPA default), well clear of both ends.
	DefaultFlashBreak = 500 * time.Millisecond
	// DTMFOn and DTMFOff are the tone and pause of each DTMF key.
	DTMFOn  = 70 * time.Millisecond
	DTMFOff = 70 * time.Millisecond
	// DTMFLowDBm0 and DTMFHighDBm0 are the levels of the row and column
	// tones: a normal telephone sends the high group about 2 dB louder
	// (positive twist) to offset the line's high-frequency loss.
	DTMFLowDBm0  = -9.0
	DTMFHighDBm0 = -7.0
	// PulseBreak and PulseMake make 10 pulses per second at a 60 % break.
	PulseBreak = 60 * time.Millisecond
	PulseMake  = 40 * time.Millisecond
	// PulseInterDigit is how long the loop stays closed between the last
	// pulse of a digit and the first pulse of the next.
	PulseInterDigit = 700 * time.Millisecond
	// MaxDigits bounds one dial request.
	MaxDigits = 64
	// MaxListen bounds one listen request.
	MaxListen = 120 * time.Second
)

// Dial methods.
const (
	MethodDTMF  = "dtmf"
	MethodPulse = "pulse"
)

// Hook actions.
const (
	HookOff   = "off"
	HookOn    = "on"
	HookFlash = "flash"
)

// Errors of the phone side; the HTTP API maps them to status codes.
var (
	// ErrInvalid is wrapped by every error about a malformed request (400).
	ErrInvalid = errors.New("invalid request")
	// ErrOnHook means the action needs the handset off-hook (409).
	ErrOnHook = errors.New("phone is on-hook")
	// ErrBusy means too many requests are queued or listening (503).
	ErrBusy = errors.New("too many requests queued")
)

const maxListeners = 16

// Phone is the subscriber side of the sim's port: the virtual analog phone
// that people and tests drive, over HTTP or directly from Go.
type Phone struct {
	p     *Port
	flash time.Duration // how long a flash opens the loop
}

// Hook lifts the handset ("off"), hangs it up ("on") or flashes the hook
// ("flash": the loop opens for Opts.FlashBreak, queued after earlier speech and
// dialing). off/on return at once; flash returns once the loop is closed
// again. Hanging up aborts queued dialing and flashes with ErrOnHook.
func (ph *Phone) Hook(ctx context.Context, action string) error {
	p := ph.p
	switch action {
	case HookOff, HookOn:
		p.mu.Lock()
		defer p.mu.Unlock()
		off := action == HookOff
		if p.handsetOff == off {
			return nil
		}
		p.handsetOff = off
		if !off {
			p.abortLoopJobsLocked(fmt.Errorf("sim: %w (hung up)", ErrOnHook))
		}
		p.updateLoopLocked(p.nowLocked())
		return nil
	case HookFlash:
		return ph.enqueue(ctx, &job{segs: []segment{{samples: durSamples(ph.flash), open: true}}, needsLoop: true}, true)
	}
	return fmt.Errorf("sim: hook: %w: want one of %q, %q, %q, got %.20q", ErrInvalid, HookOff, HookOn, HookFlash, action)
}

// Dial sends digits with method ("dtmf" when empty, or "pulse") and returns
// once the last digit has been sent. DTMF keys are 0-9 * # A-D; pulse
// digits 0-9 ('0' is ten pulses).
func (ph *Phone) Dial(ctx context.Context, digits, method string) error {
	if err := CheckDial(digits, method); err != nil {
		return err
	}
	j := &job{needsLoop: true}
	if method == MethodPulse {
		j.segs = pulseSegments(digits)
		// The loop stays closed while the finger winds the dial: a real
		// dial never breaks the loop right after the handset is lifted.
		wind := &job{needsLoop: true, audio: make([]int16, durSamples(PulseInterDigit))}
		if err := ph.enqueue(ctx, wind, false); err != nil {
			return err
		}
	} else {
		j.audio = dtmfSamples(digits)
	}
	return ph.enqueue(ctx, j, true)
}

// CheckDial reports whether digits and method make a valid dial request.
func CheckDial(digits, method string) error {
	keys := "0123456789*#ABCDabcd"
	switch method {
	case "", MethodDTMF:
	case MethodPulse:
		keys = "0123456789"
	default:
		return fmt.Errorf("sim: dial: %w: method must be %q or %q, got %.20q", ErrInvalid, MethodDTMF, MethodPulse, method)
	}
	if digits == "" {
		return fmt.Errorf("sim: dial: %w: no digits", ErrInvalid)
	}
	if len(digits) > MaxDigits {
		return fmt.Errorf("sim: dial: %w: %d digits, at most %d", ErrInvalid, len(digits), MaxDigits)
	}
	for i := 0; i < len(digits); i++ {
		if !strings.ContainsRune(keys, rune(digits[i])) {
			return fmt.Errorf("sim: dial: %w: digit %q at %d not allowed for %s (allowed: %s)",
				ErrInvalid, digits[i], i, cmpOr(method, MethodDTMF), keys)
		}
	}
	return nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Speak queues samples (8 kHz) for the mouthpiece after everything queued
// before and returns at once. While the loop is open the mouthpiece is
// silent: speech timed into an on-hook period is lost, as on a real line.
func (ph *Phone) Speak(samples []int16) error {
	return ph.enqueue(context.Background(), &job{audio: samples}, false)
}

// enqueue appends j to the handset's queue and, when wait is set, waits
// until the frame step has finished it.
func (ph *Phone) enqueue(ctx context.Context, j *job, wait bool) error {
	p := ph.p
	j.done = make(chan error, 1)
	p.mu.Lock()
	if j.needsLoop && !p.handsetOff {
		p.mu.Unlock()
		return fmt.Errorf("sim: %w", ErrOnHook)
	}
	if len(p.jobs) >= maxQueuedJobs {
		p.mu.Unlock()
		return fmt.Errorf("sim: %w (%d)", ErrBusy, maxQueuedJobs)
	}
	j.notBefore = p.nowLocked()
	p.jobs = append(p.jobs, j)
	p.mu.Unlock()
	if !wait {
		return nil
	}
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("sim: waiting for the phone: %w", ctx.Err())
	}
}

// Listen returns the next d of earpiece audio, as the port's handler writes
// it, blocking until the port has played it. d is rounded down to whole
// samples and must be within (0, MaxListen].
func (ph *Phone) Listen(ctx context.Context, d time.Duration) ([]int16, error) {
	if d <= 0 || d > MaxListen {
		return nil, fmt.Errorf("sim: listen: %w: duration %v outside (0, %v]", ErrInvalid, d, MaxListen)
	}
	p := ph.p
	l := &listener{buf: make([]int16, durSamples(d)), done: make(chan struct{})}
	p.mu.Lock()
	if len(p.listeners) >= maxListeners {
		p.mu.Unlock()
		return nil, fmt.Errorf("sim: listen: %w (%d listeners)", ErrBusy, maxListeners)
	}
	p.listeners = append(p.listeners, l)
	p.mu.Unlock()
	select {
	case <-l.done:
		return l.buf, nil
	case <-ctx.Done():
		p.mu.Lock()
		for i, x := range p.listeners {
			if x == l {
				p.listeners = append(p.listeners[:i], p.listeners[i+1:]...)
				break
			}
		}
		p.mu.Unlock()
		return nil, fmt.Errorf("sim: listen: %w", ctx.Err())
	}
}

// Events returns the recorded events with Seq > since, oldest first; never
// nil. Only the last 10000 events are kept.
func (ph *Phone) Events(since uint64) []Event {
	p := ph.p
	p.mu.Lock()
	defer p.mu.Unlock()
	out := []Event{}
	for i := 0; i < p.evLen; i++ {
		e := p.events[(p.evHead+i)%len(p.events)]
		if e.Seq > since {
			out = append(out, e)
		}
	}
	return out
}

// State reports the loop and ringing state now.
func (ph *Phone) State() State {
	p := ph.p
	p.mu.Lock()
	defer p.mu.Unlock()
	s := State{Hook: HookOn, Ringing: p.ringing, CASAcks: p.casAcks}
	if p.loopClosed {
		s.Hook = HookOff
	}
	return s
}

func durSamples(d time.Duration) int {
	return int(d / (time.Second / board.SampleRate))
}

// dtmfSamples renders digits as DTMF: each key DTMFOn of its two tones,
// then DTMFOff of silence.
func dtmfSamples(digits string) []int16 {
	on, off := durSamples(DTMFOn), durSamples(DTMFOff)
	out := make([]int16, 0, len(digits)*(on+off))
	for i := 0; i < len(digits); i++ {
		out = dtmfTone(out, digits[i], on)
		out = append(out, make([]int16, off)...)
	}
	return out
}

// pulseSegments renders digits as loop breaks and makes at 10 pps.
func pulseSegments(digits string) []segment {
	brk, mk, gap := durSamples(PulseBreak), durSamples(PulseMake), durSamples(PulseInterDigit)
	var segs []segment
	for i := 0; i < len(digits); i++ {
		pulses := int(digits[i] - '0')
		if pulses == 0 {
			pulses = 10
		}
		for k := range pulses {
			closed := mk
			if k == pulses-1 && i < len(digits)-1 {
				closed = gap
			}
			segs = append(segs, segment{samples: brk, open: true}, segment{samples: closed})
		}
	}
	return segs
}
