package tone

import (
	"math"
	"time"

	"github.com/openata/ata/board"
	"github.com/openata/ata/board/pcm"
)

// RampSamples is the length of the raised-cosine fade (3 ms) applied to a
// frequency component where it starts or stops, so that cadence edges do not
// click. The fade lies inside the part, so a part's length stays exact.
const RampSamples = 3 * board.SampleRate / 1000

var ramp = func() (r [RampSamples]float64) {
	for i := range r {
		r[i] = 0.5 - 0.5*math.Cos(math.Pi*(float64(i)+0.5)/RampSamples)
	}
	return r
}()

// Player renders a Tone into PCM frames. Cadence is counted in samples, so
// it is exact whatever the frame size, and oscillator phase carries over
// from frame to frame. A frequency present on both sides of a part boundary
// keeps its phase and level (no fade); one that appears or disappears fades.
// The zero value is a stopped player. A Player is not safe for concurrent
// use: the port goroutine owns it.
type Player struct {
	tone    *Tone
	amp     float64
	playing bool
	repeat  int   // part to loop back to, -1 to end
	idx     int   // current part
	pos     int64 // samples played of the current part
	length  int64 // samples in the current part, <0 forever
	elapsed int64 // samples since Play

	n       int // sounding components of the current part
	freqs   [MaxFreqs]float64
	osc     [MaxFreqs]pcm.Sine
	rampIn  [MaxFreqs]bool
	rampOut [MaxFreqs]bool
	modHz   float64
	mod     pcm.Sine

	tail int // samples left of the fade-out after Stop
}

// Play starts t from its beginning at levelDBm0 per frequency component
// (pass t.Level for the tone's nominal level, or add a user gain to it).
// A nil or empty tone stops the player. The player keeps t: do not change
// it while it plays.
func (p *Player) Play(t *Tone, levelDBm0 float64) {
	*p = Player{}
	if t == nil || len(t.Parts) == 0 {
		return
	}
	p.tone = t
	p.amp = pcm.Amplitude(levelDBm0)
	p.repeat = t.RepeatFrom()
	p.playing = true
	p.startPart(0)
}

// Stop ends the tone with a short fade (RampSamples) so it does not click.
func (p *Player) Stop() {
	if !p.playing {
		return
	}
	p.playing = false
	if p.n > 0 {
		p.tail = RampSamples
	}
}

// Playing reports whether a tone is playing: false after Stop and after a
// tone whose parts are all '!' has finished.
func (p *Player) Playing() bool { return p.playing }

// Elapsed returns how long the current tone has played (by samples rendered
// since Play; it stops counting when the tone ends).
func (p *Player) Elapsed() time.Duration {
	return time.Duration(p.elapsed) * time.Second / board.SampleRate
}

// Fill renders the next len(buf) samples (silence when stopped). It does
// not allocate.
func (p *Player) Fill(buf []int16) {
	for i := range buf {
		if !p.playing {
			buf[i] = p.tailSample()
			continue
		}
		if p.length >= 0 && p.pos >= p.length {
			p.advance()
			if !p.playing {
				buf[i] = 0
				continue
			}
		}
		v := 0.0
		if p.n > 0 {
			for k := 0; k < p.n; k++ {
				g := 1.0
				if p.rampIn[k] && p.pos < RampSamples {
					g = ramp[p.pos]
				}
				if left := p.length - 1 - p.pos; p.rampOut[k] && p.length >= 0 && left < RampSamples {
					g *= ramp[left]
				}
				v += g * p.osc[k].Next()
			}
			if p.modHz > 0 {
				v *= 1 + p.mod.Next()
			}
		}
		buf[i] = pcm.Clip16(v)
		p.pos++
		p.elapsed++
	}
}

func (p *Player) tailSample() int16 {
	if p.tail <= 0 {
		return 0
	}
	p.tail--
	v := 0.0
	for k := 0; k < p.n; k++ {
		v += p.osc[k].Next()
	}
	if p.modHz > 0 {
		v *= 1 + p.mod.Next()
	}
	return pcm.Clip16(v * ramp[p.tail])
}

// next returns the part after i, or -1 when the tone ends after i.
func (p *Player) next(i int) int {
	if i+1 < len(p.tone.Parts) {
		return i + 1
	}
	return p.repeat
}

func (p *Player) advance() {
	nx := p.next(p.idx)
	if nx < 0 {
		p.playing = false
		p.n = 0
		return
	}
	p.startPart(nx)
}

// startPart switches to part i, carrying over the oscillators of the
// frequencies the previous part shares with it.
func (p *Player) startPart(i int) {
	part := &p.tone.Parts[i]
	sameMod := p.n > 0 && p.modHz == part.ModHz
	var osc [MaxFreqs]pcm.Sine
	for k, f := range part.Frequencies() {
		carried := false
		if sameMod {
			for j := 0; j < p.n; j++ {
				if p.freqs[j] == f {
					osc[k], carried = p.osc[j], true
					break
				}
			}
		}
		if !carried {
			osc[k] = pcm.NewSine(f, p.amp, board.SampleRate)
		}
		p.rampIn[k] = !carried
	}
	if part.ModHz != p.modHz || p.n == 0 {
		p.mod = pcm.NewSine(part.ModHz, ModDepth, board.SampleRate)
	}
	p.osc = osc
	p.freqs = part.Freqs
	p.n = part.NFreqs
	p.modHz = part.ModHz
	p.idx = i
	p.pos = 0
	p.length = -1
	if part.Duration > 0 {
		p.length = max(1, int64(part.Duration)*board.SampleRate/int64(time.Second))
	}

	// Fade out the components the following part does not continue.
	var np *Part
	if nx := p.next(i); nx >= 0 {
		np = &p.tone.Parts[nx]
	}
	for k, f := range part.Frequencies() {
		p.rampOut[k] = p.length >= 0 && !continues(np, part.ModHz, f)
	}
}

func continues(np *Part, modHz, f float64) bool {
	if np == nil || np.ModHz != modHz {
		return false
	}
	for _, g := range np.Frequencies() {
		if g == f {
			return true
		}
	}
	return false
}
