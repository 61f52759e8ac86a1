// Package bridgetest has a fake media.Endpoint for tests of code that
// joins parties in a bridge.Mixer (call control, relays) without RTP.
package bridgetest

import (
	"sync"

	"github.com/openata/ata/board/pcm"
	"github.com/openata/ata/media"
)

// History is how much of what a FakeEndpoint hears it keeps: 1 s.
const History = 8000

var _ media.Endpoint = (*FakeEndpoint)(nil)

// FakeEndpoint says a fixed signal (a tone, a constant, or both summed)
// and records the last History samples it hears. Its methods are safe to
// call from the frame goroutine and a test goroutine at once, and its
// frame methods do not allocate.
type FakeEndpoint struct {
	mu       sync.Mutex
	tone     pcm.Sine
	constant float64
	heard    [History]int16 // ring: heard[pos] is the oldest once full
	pos      int
	total    int // samples heard so far
	reads    int
	writes   int
}

// Tone returns an endpoint saying a sine of freq Hz at dBm0.
func Tone(freq, dBm0 float64) *FakeEndpoint {
	return &FakeEndpoint{tone: pcm.NewSine(freq, pcm.Amplitude(dBm0), 8000)}
}

// Constant returns an endpoint saying v, sample after sample: a DC level
// that shows up in sums as exactly itself.
func Constant(v int16) *FakeEndpoint {
	return &FakeEndpoint{constant: float64(v)}
}

// ReadFrame fills f with the next samples of the endpoint's signal.
func (e *FakeEndpoint) ReadFrame(f []int16) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.reads++
	for i := range f {
		f[i] = pcm.Clip16(e.constant + e.tone.Next())
	}
}

// WriteFrame records f.
func (e *FakeEndpoint) WriteFrame(f []int16) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.writes++
	if len(f) > History {
		f = f[len(f)-History:]
	}
	e.total += len(f)
	for len(f) > 0 {
		n := copy(e.heard[e.pos:], f)
		f = f[n:]
		e.pos = (e.pos + n) % History
	}
}

// Heard returns a copy of the last n samples heard (fewer if it has not
// heard that many yet, at most History), oldest first.
func (e *FakeEndpoint) Heard(n int) []int16 {
	e.mu.Lock()
	defer e.mu.Unlock()
	n = min(n, e.total, History)
	out := make([]int16, n)
	start := (e.pos - n + History) % History
	k := copy(out, e.heard[start:min(start+n, History)])
	copy(out[k:], e.heard[:n-k])
	return out
}

// Reads and Writes count the calls of ReadFrame and WriteFrame.
func (e *FakeEndpoint) Reads() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.reads
}

// Writes counts the calls of WriteFrame.
func (e *FakeEndpoint) Writes() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.writes
}
