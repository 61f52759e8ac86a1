package rpi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/openata/ata/board"
	"periph.io/x/conn/v3/gpio"
)

const (
	// sampleDur is one 8 kHz sample, the finest board-time step.
	sampleDur = time.Second / board.SampleRate
	// edgePoll bounds one WaitForEdge, so the hook watcher notices the
	// end of Run even on pins whose Halt cannot interrupt a wait.
	edgePoll = 50 * time.Millisecond
	// edgeBacklog is the number of hook edges expected between two
	// frames (a dial pulse train is 20 per second), preallocated.
	edgeBacklog = 64
)

// F/R levels (AG1171 datasheet §5.9).
const (
	forward = gpio.High
	reverse = gpio.Low
)

var (
	errRunning = errors.New("rpi: port is already running")
	errClosed  = errors.New("rpi: board is closed")
	errNoAudio = errors.New("rpi: no audio device")
)

// rawEdge is a hook change as the watcher saw it, on the monotonic clock.
type rawEdge struct {
	mono    time.Duration
	offHook bool
}

// Port is the board's FXS port. It implements board.Port.
//
// Board time is the audio device's sample clock: frame k ends at k frames.
// Hook edges are stamped on the monotonic clock when the watcher sees them
// and placed on board time relative to the end of the previous frame, so
// both stay on one time line even when the sound card's crystal drifts.
type Port struct {
	pins         Pins
	shk          gpio.PinIn
	rm, fr, en   gpio.PinOut
	audio        Audio
	clock        Clock
	log          *slog.Logger
	frameSamples int
	frameDur     time.Duration
	ringHz       float64

	mu         sync.Mutex
	running    bool
	closed     bool
	lastOff    bool      // hook state of the last edge the watcher queued
	pending    []rawEdge // seen by the watcher, not yet delivered
	ringing    bool
	ringGen    uint64 // bumped at every ring start and stop: stale togglers quit
	ringCancel context.CancelFunc
	reversed   bool
	toggles    int   // F/R toggles made by ring bursts, for the smoke test
	frErr      error // first F/R write error of a burst, logged once
	ringWG     sync.WaitGroup

	// Frame loop state: touched only by the Run goroutine.
	mic, ear   []int16
	due        []board.HookEdge
	frames     int64
	doneAt     time.Duration // board time at the end of the last frame
	lastMono   time.Duration // clock time when the last frame was read
	lastEdgeAt time.Duration
}

func newPort(opts Opts, ps PinSet) (*Port, error) {
	p := &Port{
		pins:         opts.Pins,
		shk:          ps.SHK,
		rm:           ps.RM,
		fr:           ps.FR,
		en:           ps.Enable,
		audio:        opts.Audio,
		clock:        opts.Clock,
		log:          opts.Logger,
		frameSamples: opts.FrameSamples,
		frameDur:     time.Duration(opts.FrameSamples) * sampleDur,
		ringHz:       opts.RingHz,
		pending:      make([]rawEdge, 0, edgeBacklog),
		due:          make([]board.HookEdge, 0, edgeBacklog),
		mic:          make([]int16, opts.FrameSamples),
		ear:          make([]int16, opts.FrameSamples),
	}
	// Pull SHK towards on-hook, so an unplugged module reads as idle.
	pull := gpio.PullUp
	if p.pins.SHKActiveHigh {
		pull = gpio.PullDown
	}
	if err := p.shk.In(pull, gpio.BothEdges); err != nil {
		return nil, fmt.Errorf("rpi: SHK on GPIO%d: %w", p.pins.SHK, err)
	}
	if err := p.rm.Out(gpio.Low); err != nil {
		return nil, fmt.Errorf("rpi: RM on GPIO%d: %w", p.pins.RM, err)
	}
	if err := p.fr.Out(forward); err != nil {
		return nil, fmt.Errorf("rpi: FR on GPIO%d: %w", p.pins.FR, err)
	}
	if p.en != nil {
		if err := p.en.Out(p.enableLevel(true)); err != nil {
			return nil, fmt.Errorf("rpi: Enable on GPIO%d: %w", p.pins.Enable, err)
		}
	}
	return p, nil
}

func (p *Port) enableLevel(on bool) gpio.Level {
	return gpio.Level(on != p.pins.EnableActiveLow)
}

func (p *Port) offHook(l gpio.Level) bool { return bool(l) == p.pins.SHKActiveHigh }

// OffHook reads the loop state now, straight from SHK.
func (p *Port) OffHook() bool { return p.offHook(p.shk.Read()) }

// FrameSamples implements board.Port.
func (p *Port) FrameSamples() int { return p.frameSamples }

// RingHz is the ring frequency.
func (p *Port) RingHz() float64 { return p.ringHz }

// Toggles counts the F/R toggles ring bursts have made so far.
func (p *Port) Toggles() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.toggles
}

// Run implements board.Port. It reads SHK for the initial edge at time 0,
// then makes one frame per Read of the audio device: the hook edges seen
// before the frame's samples arrived, then the handler's Frame, then the
// earpiece samples to the device. It returns nil when ctx ends (noticed
// between frames) and an error when the audio device fails.
func (p *Port) Run(ctx context.Context, h board.Handler) error {
	if p.audio == nil {
		return errNoAudio
	}
	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		return errClosed
	case p.running:
		p.mu.Unlock()
		return errRunning
	}
	p.running = true
	start := p.clock.Now()
	initial := p.offHook(p.shk.Read())
	p.lastOff = initial
	p.pending = p.pending[:0]
	p.mu.Unlock()
	p.frames, p.doneAt, p.lastMono, p.lastEdgeAt = 0, 0, start, 0

	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		p.watchHook(watchCtx)
	}()
	defer func() {
		stopWatch()
		_ = p.shk.Halt() // interrupts a pending WaitForEdge where supported
		<-watched
		p.mu.Lock()
		p.running = false
		p.mu.Unlock()
	}()

	p.log.Debug("rpi: port running", "frame", p.frameDur)
	// The thread stays locked until Run's goroutine ends; Go then ends it
	// rather than reuse a thread whose priority was raised.
	board.LockRealtime(p.log)
	h.HookEdge(board.HookEdge{At: 0, OffHook: initial})
	for ctx.Err() == nil {
		if err := p.step(h); err != nil {
			if ctx.Err() != nil {
				return nil // the device was closed under us on shutdown
			}
			return err
		}
	}
	return nil
}

// watchHook queues a raw edge for every change of SHK. It reads the level
// after each edge event and drops events that leave it unchanged, so a
// glitch that is over by the time it is read (well under a millisecond)
// produces nothing. Debouncing proper is fxs/hook's job.
func (p *Port) watchHook(ctx context.Context) {
	for ctx.Err() == nil {
		if !p.shk.WaitForEdge(edgePoll) {
			continue
		}
		mono := p.clock.Now()
		off := p.offHook(p.shk.Read())
		p.mu.Lock()
		if off != p.lastOff {
			p.lastOff = off
			p.pending = append(p.pending, rawEdge{mono: mono, offHook: off})
		}
		p.mu.Unlock()
	}
}

// step runs one frame: read the mouthpiece samples (blocking on the
// device), deliver the hook edges seen until then, call the handler, write
// the earpiece samples. It allocates nothing in steady state.
func (p *Port) step(h board.Handler) error {
	if err := p.audio.Read(p.mic); err != nil {
		return fmt.Errorf("rpi: audio read: %w", err)
	}
	mono := p.clock.Now()
	p.frames++
	at := time.Duration(p.frames) * p.frameDur

	p.mu.Lock()
	n := 0
	for n < len(p.pending) && p.pending[n].mono <= mono {
		n++
	}
	p.due = p.due[:0]
	for _, e := range p.pending[:n] {
		// Place the edge after the previous frame's end by its monotonic
		// distance from it, then keep it in order and inside this frame
		// (the device may have been late, or its clock slow).
		t := p.doneAt + (e.mono - p.lastMono)
		t = min(max(t, p.doneAt, p.lastEdgeAt), at-sampleDur)
		p.lastEdgeAt = t
		p.due = append(p.due, board.HookEdge{At: t, OffHook: e.offHook})
	}
	p.pending = p.pending[:copy(p.pending, p.pending[n:])]
	p.mu.Unlock()
	p.doneAt, p.lastMono = at, mono

	for _, e := range p.due {
		h.HookEdge(e)
	}
	clear(p.ear)
	h.Frame(at, p.mic, p.ear)
	if err := p.audio.Write(p.ear); err != nil {
		return fmt.Errorf("rpi: audio write: %w", err)
	}
	return nil
}

// rest is the F/R level outside ring bursts: forward, or reverse while the
// line is reversed.
func (p *Port) restLocked() gpio.Level {
	if p.reversed {
		return reverse
	}
	return forward
}

// SetRing implements board.Port. On: RM goes high and a toggler flips F/R
// every 1/(2·RingHz) against absolute deadlines from the burst's start, so
// the phase stays steady whatever the wake-up latency. Off: F/R returns to
// rest, then RM goes low. It never waits for the toggler: a toggler that
// is still waking up sees the burst is over and quits without writing.
func (p *Port) SetRing(on bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errClosed
	}
	if on == p.ringing {
		return nil
	}
	if on {
		if err := p.rm.Out(gpio.High); err != nil {
			return fmt.Errorf("rpi: ring on: RM: %w", err)
		}
		p.ringing = true
		p.ringGen++
		p.frErr = nil
		ctx, cancel := context.WithCancel(context.Background())
		p.ringCancel = cancel
		p.ringWG.Add(1)
		go p.ring(ctx, p.ringGen, p.clock.Now())
		return nil
	}
	return p.stopRingLocked()
}

func (p *Port) stopRingLocked() error {
	if !p.ringing {
		return nil
	}
	p.ringing = false
	p.ringGen++
	p.ringCancel()
	p.ringCancel = nil
	// F/R first: ending on a last ring half-cycle is harmless, while RM
	// low with F/R reversed would flip the idle line's polarity.
	return errors.Join(
		wrapErr("rpi: ring off: FR", p.fr.Out(p.restLocked())),
		wrapErr("rpi: ring off: RM", p.rm.Out(gpio.Low)),
	)
}

func wrapErr(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// halfPeriodAt is the time from a burst's start to its k-th F/R toggle,
// computed from k each time so rounding never accumulates.
func (p *Port) halfPeriodAt(k int64) time.Duration {
	return time.Duration(float64(k) * float64(time.Second) / (2 * p.ringHz))
}

// ring toggles F/R for the burst gen that started at start: toggle k is
// due at start + k/(2·RingHz); odd k leave F/R away from rest, even k back
// at it. A wake-up later than a whole half-period skips the missed toggles
// and keeps to the same grid.
func (p *Port) ring(ctx context.Context, gen uint64, start time.Duration) {
	defer p.ringWG.Done()
	// The toggler's own thread at real-time priority; it ends with the
	// burst. The Run loop already says when real-time is refused.
	board.LockRealtime(nil)
	for k := int64(1); ; k++ {
		due := start + p.halfPeriodAt(k)
		if err := p.clock.SleepUntil(ctx, due); err != nil {
			return
		}
		for now := p.clock.Now(); start+p.halfPeriodAt(k+1) <= now; {
			k++
		}
		p.mu.Lock()
		if p.ringGen != gen {
			p.mu.Unlock()
			return
		}
		l := p.restLocked()
		if k%2 == 1 {
			l = !l
		}
		err := p.fr.Out(l)
		p.toggles++
		if err != nil && p.frErr == nil {
			p.frErr = err
			p.log.Error("rpi: ring: F/R write failed", "gpio", p.pins.FR, "err", err)
		}
		p.mu.Unlock()
	}
}

// SetReversed implements board.Port: F/R held low reverses the line where
// the profile says the module allows it, else board.ErrNotSupported.
// During a ring burst the new polarity applies when the burst ends.
func (p *Port) SetReversed(reversed bool) error {
	if !p.pins.CanReverse {
		return board.ErrNotSupported
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errClosed
	}
	p.reversed = reversed
	if p.ringing {
		return nil
	}
	return wrapErr("rpi: polarity: FR", p.fr.Out(p.restLocked()))
}

// close stops ringing, waits for the toggler and leaves the outputs at
// rest with the module disabled.
func (p *Port) close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	err := p.stopRingLocked()
	p.reversed = false
	err = errors.Join(err, wrapErr("rpi: close: FR", p.fr.Out(forward)), wrapErr("rpi: close: RM", p.rm.Out(gpio.Low)))
	if p.en != nil {
		err = errors.Join(err, wrapErr("rpi: close: Enable", p.en.Out(p.enableLevel(false))))
	}
	p.mu.Unlock()
	p.ringWG.Wait()
	return err
}
