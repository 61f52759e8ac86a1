package sim

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/openata/ata/board"
	"github.com/openata/ata/board/echopath"
)

// Event kinds reported by Phone.Events and GET /events.
const (
	KindHook     = "hook"     // On: the loop is open (handset on-hook, or a dial pulse/flash break)
	KindRing     = "ring"     // On: ringing voltage applied
	KindPolarity = "polarity" // On: line polarity reversed
	// KindVMWI: the port sent the message-waiting lamp's state (On: lit).
	// The virtual phone decodes no FSK: the port (fxs.VMWIIndicator) says
	// what it sent, right after the burst the earpiece carried.
	KindVMWI = "vmwi"
)

// Event is one change the board saw, in the order it saw them.
type Event struct {
	// Seq numbers events from 1 upwards, without gaps.
	Seq uint64 `json:"seq"`
	// TMs is the board-clock time of the change in whole milliseconds since
	// Run started (0 before the first Run).
	TMs int64 `json:"t_ms"`
	// Kind is KindHook, KindRing, KindPolarity or KindVMWI.
	Kind string `json:"kind"`
	// On is the state after the change; see the Kind constants.
	On bool `json:"on"`
}

// State is the line as the phone sees it now.
type State struct {
	// Hook is "on" while the loop is open (handset on-hook, or during a
	// dial-pulse or flash break) and "off" while the loop is closed.
	Hook    string `json:"hook"`
	Ringing bool   `json:"ringing"`
	// CASAcks counts the call-waiting CAS acknowledgements the phone sent
	// (DTMF 'D' after each CAS heard off-hook; see Opts.NoCASAck).
	CASAcks int `json:"cas_acks"`
}

const (
	eventHistory  = 10000 // events kept for GET /events
	maxQueuedJobs = 64    // speak/dial/flash requests waiting for the mouthpiece
	edgeBacklog   = 256   // hook edges expected between two frames, preallocated
)

// job is one thing the virtual handset does in time order: play audio into
// the mouthpiece (speech or DTMF) or open and close the loop (pulse dialing,
// flash). Jobs are built by the HTTP side and consumed sample by sample by
// the frame step, so the step itself allocates nothing.
type job struct {
	audio     []int16   // mouthpiece samples; nil for a loop job
	segs      []segment // loop job: loop open/closed for so many samples
	needsLoop bool      // abort when the handset goes on-hook (dialing, flash)
	seg, pos  int       // progress: current segment, samples done in it (or in audio)
	started   bool
	notBefore time.Duration // board time of the request: the job cannot start earlier
	done      chan error
}

type segment struct {
	samples int
	open    bool
}

func (j *job) finished() bool {
	if j.segs != nil {
		return j.seg == len(j.segs)
	}
	return j.pos == len(j.audio)
}

// listener collects the next len(buf) earpiece samples for GET /listen.
type listener struct {
	buf  []int16
	n    int
	done chan struct{}
}

// Port is the sim's single FXS port with a virtual analog phone on it. It
// implements board.Port; the phone side is driven through Phone (or HTTP).
type Port struct {
	frameSamples int
	frameDur     time.Duration
	clock        Clock
	log          *slog.Logger

	mu         sync.Mutex
	running    bool
	started    bool          // Run has started once: board time counts from start
	start      time.Duration // clock time at which Run started
	inFrame    bool          // the handler is being called for the frame ending at frameAt
	frameAt    time.Duration
	doneAt     time.Duration // end of the last frame whose edges were delivered
	handsetOff bool
	breaking   bool // a pulse or flash job holds the loop open
	loopClosed bool // loop state as last reported by an edge
	lastEdgeAt time.Duration
	pending    []board.HookEdge // edges not yet delivered, in time order
	ringing    bool
	reversed   bool
	jobs       []*job
	listeners  []*listener
	events     []Event // ring buffer of eventHistory
	evHead     int
	evLen      int
	lastSeq    uint64
	mic, ear   []int16          // reused by every frame
	due        []board.HookEdge // edges handed out by the current frame
	cas        casDetector
	ackTone    []int16 // the CAS acknowledgement; nil when the phone does not send it
	ackPos     int     // samples of ackTone sent; len(ackTone) when idle
	casAcks    int
	// hybrid, when set, returns the earpiece into the mouthpiece (the
	// line's echo); lastEar is the earpiece frame it plays next. Both
	// belong to the frame step.
	hybrid  *echopath.Hybrid
	lastEar []int16
}

func newPort(frameSamples int, clock Clock, log *slog.Logger, casAck bool) *Port {
	var ack []int16
	if casAck {
		n := durSamples(CASAckDuration)
		ack = dtmfTone(make([]int16, 0, n), CASAckKey, n)
	}
	return &Port{
		ackTone:      ack,
		ackPos:       len(ack),
		frameSamples: frameSamples,
		frameDur:     samplesDur(frameSamples),
		clock:        clock,
		log:          log,
		pending:      make([]board.HookEdge, 0, edgeBacklog),
		due:          make([]board.HookEdge, 0, edgeBacklog),
		jobs:         make([]*job, 0, maxQueuedJobs),
		events:       make([]Event, eventHistory),
		mic:          make([]int16, frameSamples),
		ear:          make([]int16, frameSamples),
	}
}

// durSamplesCeil is the number of whole samples needed to cover d.
func durSamplesCeil(d time.Duration) int {
	const sample = time.Second / board.SampleRate
	return int((d + sample - 1) / sample)
}

// samplesDur is the duration of n samples at 8 kHz (125 µs each, exact).
func samplesDur(n int) time.Duration {
	return time.Duration(n) * (time.Second / board.SampleRate)
}

// FrameSamples implements board.Port.
func (p *Port) FrameSamples() int { return p.frameSamples }

// SetRing implements board.Port: the sim records the change as an event.
func (p *Port) SetRing(on bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ringing != on {
		p.ringing = on
		p.recordLocked(p.nowLocked(), KindRing, on)
	}
	return nil
}

// SetReversed implements board.Port: the sim supports reversal and records
// each change as an event.
func (p *Port) SetReversed(reversed bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reversed != reversed {
		p.reversed = reversed
		p.recordLocked(p.nowLocked(), KindPolarity, reversed)
	}
	return nil
}

// IndicateVMWI records the message-waiting lamp state the port just sent
// (fxs.VMWIIndicator) as a KindVMWI event.
func (p *Port) IndicateVMWI(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recordLocked(p.nowLocked(), KindVMWI, on)
}

var errRunning = errors.New("sim: port is already running")

// Run implements board.Port. Frame k (k = 1, 2, ...) covers board time
// [(k-1)·frame, k·frame) and is processed once the clock reaches
// start + k·frame, against absolute deadlines: when the process is late the
// missed frames run back to back, so the board clock never loses time. Run
// returns nil when ctx ends.
func (p *Port) Run(ctx context.Context, h board.Handler) error {
	p.mu.Lock()
	if p.running {
		p.mu.Unlock()
		return errRunning
	}
	p.running, p.started = true, true
	p.start = p.clock.Now()
	p.doneAt, p.lastEdgeAt, p.inFrame = 0, 0, false
	p.pending = p.pending[:0] // changes before Run fold into the initial state
	for _, j := range p.jobs {
		j.notBefore = 0 // stamped on a previous Run's clock
	}
	initial := board.HookEdge{At: 0, OffHook: p.loopClosed}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.running = false
		p.mu.Unlock()
	}()

	p.log.Debug("sim: port running", "frame", p.frameDur)
	// Like hardware, the frame loop runs at real-time priority where the
	// system allows it. The wall clock waits for frames in the Go
	// runtime's poller (sleep_linux.go says why), so the frame runs on
	// whichever thread the runtime wakes: all of them are raised, until
	// Run returns. Not on a test's clock: the test's own work (an echo
	// canceller's thousands of frames) would run real-time with it.
	if _, ok := p.clock.(*wallClock); ok {
		defer board.RealtimeProcess(p.log)()
	}
	h.HookEdge(initial)
	for k := int64(1); ; k++ {
		at := time.Duration(k) * p.frameDur
		if err := p.clock.SleepUntil(ctx, p.start+at); err != nil || ctx.Err() != nil {
			return nil
		}
		p.step(h, at)
	}
}

// step processes the frame that ends at board time at: it runs the
// handset's jobs to make the mouthpiece samples, delivers the hook edges
// that fall before at, calls the handler and feeds the earpiece to the
// listeners. It allocates nothing in steady state.
func (p *Port) step(h board.Handler, at time.Duration) {
	p.mu.Lock()
	p.runJobsLocked(p.mic, at-p.frameDur)
	p.overlayAckLocked(p.mic)
	loopOpen := !p.loopClosed
	n := 0
	for n < len(p.pending) && p.pending[n].At < at {
		n++
	}
	p.due = append(p.due[:0], p.pending[:n]...)
	p.pending = p.pending[:copy(p.pending, p.pending[n:])]
	p.doneAt = at
	p.inFrame, p.frameAt = true, at
	p.mu.Unlock()

	p.addEcho(loopOpen)
	for _, e := range p.due {
		h.HookEdge(e)
	}
	clear(p.ear)
	h.Frame(at, p.mic, p.ear)
	if p.lastEar != nil {
		copy(p.lastEar, p.ear)
	}

	p.mu.Lock()
	p.inFrame = false
	p.listenCASLocked(p.ear)
	p.feedListenersLocked(p.ear)
	p.mu.Unlock()
}

// runJobsLocked fills mic from the job queue, sample-exact: a job that ends
// mid-frame hands over to the next one in the same frame. frameStart is the
// board time of mic[0], used to stamp the loop edges of pulse/flash jobs.
func (p *Port) runJobsLocked(mic []int16, frameStart time.Duration) {
	i := 0
	for len(p.jobs) > 0 {
		j := p.jobs[0]
		if j.finished() {
			if j.segs != nil && p.breaking {
				p.breaking = false
				p.updateLoopLocked(frameStart + samplesDur(i))
			}
			p.popJobLocked(nil)
			continue
		}
		if i == len(mic) {
			break
		}
		if !j.started {
			// A frame's samples are produced when the frame ends, so the
			// first unfilled sample can precede the request: wait for it.
			t := frameStart + samplesDur(i)
			if t < j.notBefore {
				wait := min(len(mic)-i, durSamplesCeil(j.notBefore-t))
				clear(mic[i : i+wait])
				i += wait
				continue
			}
			j.started = true
		}
		if j.segs == nil {
			n := copy(mic[i:], j.audio[j.pos:])
			if !p.loopClosed { // an open loop carries no speech
				clear(mic[i : i+n])
			}
			j.pos += n
			i += n
			continue
		}
		s := j.segs[j.seg]
		if j.pos == 0 && p.breaking != s.open {
			p.breaking = s.open
			p.updateLoopLocked(frameStart + samplesDur(i))
		}
		n := min(s.samples-j.pos, len(mic)-i)
		clear(mic[i : i+n])
		j.pos += n
		i += n
		if j.pos == s.samples {
			j.seg, j.pos = j.seg+1, 0
		}
	}
	clear(mic[i:])
}

// popJobLocked removes the head job and reports err to its requester.
func (p *Port) popJobLocked(err error) {
	j := p.jobs[0]
	p.jobs = p.jobs[:copy(p.jobs, p.jobs[1:])]
	j.done <- err // buffered 1, sent once
}

// abortLoopJobsLocked drops the dialing and flash jobs (they need a closed
// loop) after the handset went on-hook; queued speech keeps its place.
func (p *Port) abortLoopJobsLocked(err error) {
	kept := p.jobs[:0]
	for _, j := range p.jobs {
		if j.needsLoop {
			j.done <- err
			continue
		}
		kept = append(kept, j)
	}
	clear(p.jobs[len(kept):])
	p.jobs = kept
	p.breaking = false
}

// updateLoopLocked recomputes the loop and, on a change, queues an edge for
// the handler and records a hook event. Edge times never go backwards nor
// before a frame already delivered.
func (p *Port) updateLoopLocked(at time.Duration) {
	closed := p.handsetOff && !p.breaking
	if closed == p.loopClosed {
		return
	}
	p.loopClosed = closed
	at = max(at, p.lastEdgeAt, p.doneAt)
	p.lastEdgeAt = at
	if p.running {
		p.pending = append(p.pending, board.HookEdge{At: at, OffHook: closed})
	}
	p.recordLocked(at, KindHook, !closed)
}

func (p *Port) feedListenersLocked(ear []int16) {
	kept := p.listeners[:0]
	for _, l := range p.listeners {
		l.n += copy(l.buf[l.n:], ear)
		if l.n == len(l.buf) {
			close(l.done)
			continue
		}
		kept = append(kept, l)
	}
	clear(p.listeners[len(kept):])
	p.listeners = kept
}

// nowLocked is the board time: the frame being handled while the handler
// runs (so changes it makes line up with its frames), else the clock.
func (p *Port) nowLocked() time.Duration {
	switch {
	case p.inFrame:
		return p.frameAt
	case !p.started:
		return 0
	}
	return max(p.clock.Now()-p.start, p.doneAt)
}

func (p *Port) recordLocked(at time.Duration, kind string, on bool) {
	p.lastSeq++
	i := (p.evHead + p.evLen) % len(p.events)
	if p.evLen < len(p.events) {
		p.evLen++
	} else {
		p.evHead = (p.evHead + 1) % len(p.events)
	}
	p.events[i] = Event{Seq: p.lastSeq, TMs: int64(at / time.Millisecond), Kind: kind, On: on}
}
