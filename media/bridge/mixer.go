// Package bridge joins the audio of several parties (media.Endpoint: RTP
// sessions, or anything else that reads and writes 8 kHz frames) into one
// conversation: a three-way call, a call on hold beside an active one, or
// two SIP legs relayed to each other.
//
// A Mixer is driven one frame at a time, either by the local analog port
// through Exchange (the port is then one more party) or by its own clock
// through Run. Membership and modes change from call control's goroutine
// while frames flow; the frame path neither blocks nor allocates.
package bridge

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/openata/ata/media"
)

// MaxFrame is the longest frame the mixer takes, in samples: 60 ms, the
// same as rtpsession.MaxFrame. Longer port frames are cut to it and the
// rest of the ear frame is silence.
const MaxFrame = 480

// Mode is how a party takes part in the mix.
type Mode uint32

const (
	// Active parties hear everyone else and are heard by everyone else.
	Active Mode = iota
	// Held parties hear silence and are heard by no one. They are still
	// read (so a session's jitter buffer keeps draining) and written to
	// (so RTP keeps flowing to the held far end) every frame.
	Held
)

func (m Mode) String() string {
	switch m {
	case Active:
		return "active"
	case Held:
		return "held"
	}
	return fmt.Sprintf("Mode(%d)", uint32(m))
}

// Errors from Add, Remove and SetMode.
var (
	ErrNotJoined = errors.New("bridge: endpoint is not in the mixer")
	ErrJoined    = errors.New("bridge: endpoint is already in the mixer")
)

// party is one endpoint and its frame buffer. It is shared between the
// party lists the mixer publishes, so a mode change needs no new list.
type party struct {
	ep   media.Endpoint
	mode atomic.Uint32
	// Frame goroutine only: this frame's mode and what the party said.
	held bool
	said [MaxFrame]int16
}

// Mixer joins endpoints, and optionally the local port, into one
// conversation: each party hears the saturated sum of every other active
// party, never itself. The zero value is an empty mixer ready to use; it
// must not be copied.
//
// Exchange and Run are the frame path: use one of them, from one
// goroutine at a time. Add, Remove and SetMode may be called from any
// goroutine at any time; they take effect at the next frame.
type Mixer struct {
	mu      sync.Mutex // serialises membership changes
	parties atomic.Pointer[[]*party]

	// Frame goroutine only.
	total [MaxFrame]int32
	out   [MaxFrame]int16

	running         atomic.Bool
	frames, skipped atomic.Uint64
}

// Add joins e in the given mode. e must be comparable (usually a pointer)
// and must not block or allocate in ReadFrame and WriteFrame; it must
// not keep the slices it is given.
func (m *Mixer) Add(e media.Endpoint, mode Mode) error {
	if e == nil {
		return errors.New("bridge: nil endpoint")
	}
	if mode != Active && mode != Held {
		return fmt.Errorf("bridge: add: unknown %v", mode)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.list()
	if find(old, e) != nil {
		return ErrJoined
	}
	p := &party{ep: e}
	p.mode.Store(uint32(mode))
	// Copy on write: the frame goroutine may be walking the old list.
	next := make([]*party, len(old), len(old)+1)
	copy(next, old)
	next = append(next, p)
	m.parties.Store(&next)
	return nil
}

// Remove takes e out of the mixer. A frame already in progress may still
// call e once after Remove returns (rtpsession.Session is silent after
// Close, so closing right after Remove is safe).
func (m *Mixer) Remove(e media.Endpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.list()
	next := make([]*party, 0, len(old))
	for _, p := range old {
		if p.ep != e {
			next = append(next, p)
		}
	}
	if len(next) == len(old) {
		return ErrNotJoined
	}
	m.parties.Store(&next)
	return nil
}

// SetMode changes e's mode from the next frame on.
func (m *Mixer) SetMode(e media.Endpoint, mode Mode) error {
	if mode != Active && mode != Held {
		return fmt.Errorf("bridge: set mode: unknown %v", mode)
	}
	p := find(m.list(), e)
	if p == nil {
		return ErrNotJoined
	}
	p.mode.Store(uint32(mode))
	return nil
}

// Mode reports e's mode, and whether e is in the mixer.
func (m *Mixer) Mode(e media.Endpoint) (Mode, bool) {
	if p := find(m.list(), e); p != nil {
		return Mode(p.mode.Load()), true
	}
	return 0, false
}

// Len is the number of endpoints in the mixer, held ones included (the
// port, if any, is not counted).
func (m *Mixer) Len() int { return len(m.list()) }

// Stats counts the frame path's work.
type Stats struct {
	Frames  uint64 // frames mixed
	Skipped uint64 // frames Run dropped after falling behind its clock
}

// Stats returns the counters so far.
func (m *Mixer) Stats() Stats {
	return Stats{Frames: m.frames.Load(), Skipped: m.skipped.Load()}
}

func (m *Mixer) list() []*party {
	if p := m.parties.Load(); p != nil {
		return *p
	}
	return nil
}

func find(ps []*party, e media.Endpoint) *party {
	for _, p := range ps {
		if p.ep == e {
			return p
		}
	}
	return nil
}

// Exchange is the local port's side of the mixer (board.Stream, so
// fxs.Port.Connect takes a *Mixer): mic is what the port's phone says and
// ear is filled with the sum of the active endpoints. Each active endpoint
// hears mic plus the other active endpoints.
func (m *Mixer) Exchange(mic, ear []int16) {
	n := min(len(mic), len(ear), MaxFrame)
	clear(ear[n:])
	if n == 0 {
		return
	}
	m.mix(mic[:n], ear[:n], n)
}

// mix runs one frame of n samples: read every party, then write to each
// the sum of everyone else. mic and ear are the port's (nil when the mixer
// paces itself: no port).
func (m *Mixer) mix(mic, ear []int16, n int) {
	m.frames.Add(1)
	ps := m.list()
	for _, p := range ps {
		// One mode per party per frame, whatever SetMode does meanwhile.
		p.held = Mode(p.mode.Load()) == Held
		p.ep.ReadFrame(p.said[:n])
	}
	if mic == nil && len(ps) == 2 && !ps[0].held && !ps[1].held {
		// A relay: each hears exactly what the other said.
		ps[0].ep.WriteFrame(ps[1].said[:n])
		ps[1].ep.WriteFrame(ps[0].said[:n])
		return
	}

	// The sum stays exact in int32 (65536 parties before it could wrap),
	// so taking a party's own voice back out of it is exact too: only the
	// result each party hears is saturated.
	total := m.total[:n]
	clear(total)
	for _, p := range ps {
		if p.held {
			continue
		}
		for i, v := range p.said[:n] {
			total[i] += int32(v)
		}
	}
	if ear != nil {
		for i, v := range total {
			ear[i] = saturate(v)
		}
	}
	for i, v := range mic {
		total[i] += int32(v)
	}
	out := m.out[:n]
	for _, p := range ps {
		if p.held {
			clear(out) // every time: an endpoint could have written to it
		} else {
			for i, v := range p.said[:n] {
				out[i] = saturate(total[i] - int32(v))
			}
		}
		p.ep.WriteFrame(out)
	}
}

// saturate clips v to int16: a sum too loud is clipped, never wrapped
// into a click of the opposite sign.
func saturate(v int32) int16 {
	return int16(max(math.MinInt16, min(math.MaxInt16, v)))
}
