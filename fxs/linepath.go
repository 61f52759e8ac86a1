package fxs

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/openata/ata/fxs/echo"
	"github.com/openata/ata/fxs/tonedetect"
)

// The call's audio between the line and the network, as a real ATA treats
// it: the line echo canceller on the mouthpiece signal (the SLIC's hybrid
// returns the earpiece into it), the tone disabler that gets the
// canceller out of a fax's or modem's way, and the person's gains.
//
// All of it runs in the frame goroutine. A call here is the time from the
// handset's lifting (or a call's audio being connected) to the next such
// moment: the line's echo path belongs to the phone on it, not to the far
// end, so one canceller serves every call of a session, and its
// figures stay readable until the next call starts.

// EchoStats are the current (or last) call's echo canceller figures and
// tone disabler state, for the status page, the call log and /metrics.
type EchoStats struct {
	// On: a canceller is in the mouthpiece path ([phone] echo_canceller).
	On bool
	// ERL is the echo return loss of the line (earpiece to mouthpiece) and
	// ERLE what the canceller takes off it, in dB; 0 until the far end has
	// talked alone.
	ERL, ERLE float64
	// Converged: ERLE has reached 10 dB this call.
	Converged bool
	// Delay is the echo's delay the canceller found: from the earpiece
	// signal to the echo path's main arrival (the sound card's bulk delay
	// and the hybrid's own millisecond or few); 0 until found.
	Delay time.Duration
	// NLPOff: a 2100 Hz answer tone (fax CED) turned the non-linear
	// processor off for the rest of the call.
	NLPOff bool
	// Bypassed: a phase-reversed answer tone (V.25 ANS/, V.8 ANSam/) took
	// the canceller out of the path for the rest of the call.
	Bypassed bool
	// DataTone is the strongest fax or modem tone heard this call, in
	// either direction: tonedetect.None, CNG, CED or ANSPR.
	DataTone tonedetect.Kind
}

// Bits of Port.lineFlags; the data tone kind sits above them.
const (
	flagOn uint32 = 1 << iota
	flagNLPOff
	flagBypassed
	flagConverged
	toneShift = 8
)

// statsEvery is how often, in frames, the canceller's figures are copied
// out for EchoStats: the status page needs no more than five a second.
const statsEvery = 10

// EchoStats reads the current call's figures. It is safe from any
// goroutine and takes no lock: the frame goroutine publishes them with
// atomics, the tone disabler's state as it changes and the canceller's
// figures every 200 ms. The fields are read one by one, so a reader may
// see one publication's ERL with the next one's ERLE.
func (p *Port) EchoStats() EchoStats {
	f := p.lineFlags.Load()
	return EchoStats{On: f&flagOn != 0, NLPOff: f&flagNLPOff != 0, Bypassed: f&flagBypassed != 0,
		Converged: f&flagConverged != 0, DataTone: tonedetect.Kind(f >> toneShift),
		ERL: math.Float64frombits(p.lineERL.Load()), ERLE: math.Float64frombits(p.lineERLE.Load()),
		Delay: time.Duration(p.lineDelay.Load())}
}

// lineFigures are EchoStats' atomics, written by the frame goroutine only.
type lineFigures struct {
	lineFlags         atomic.Uint32
	lineERL, lineERLE atomic.Uint64 // math.Float64bits
	lineDelay         atomic.Int64
}

// linePath is the frame goroutine's state of the call's audio.
type linePath struct {
	ec             *echo.Canceller // nil: no canceller
	micTone        *tonedetect.Detector
	earTone        *tonedetect.Detector
	lastEar        []int16 // the earpiece frame written last: what played while mic was captured
	micOut         []int16 // the mouthpiece without the echo
	tx             []int16 // the mouthpiece after the gain, toward the call
	txGain, rxGain gain
	running        bool  // the canceller ran last frame
	tones          uint8 // bit per tonedetect.Kind heard this call
	strongest      tonedetect.Kind
	converged      bool
	frames         int // frames since the figures were last published
}

func newLinePath(samples int, o Options) linePath {
	return linePath{
		ec:      o.canceller,
		micTone: tonedetect.New(),
		earTone: tonedetect.New(),
		lastEar: make([]int16, samples),
		micOut:  make([]int16, samples),
		tx:      make([]int16, samples),
		txGain:  newGain(o.TxGainDB),
		rxGain:  newGain(o.RxGainDB),
	}
}

// newCall starts the figures, the canceller and the tone disabler afresh:
// the canceller back in and its NLP on, whatever the last call heard.
func (p *Port) newCall() {
	l := &p.line
	if l.ec != nil {
		l.ec.Reset()
		l.ec.DisableNLP(false)
		l.ec.Bypass(false)
	}
	l.micTone.Reset()
	l.earTone.Reset()
	clear(l.lastEar)
	l.tones, l.strongest = 0, tonedetect.None
	p.publishFigures()
}

// takeLineOptions switches gains and canceller to new settings. A new
// canceller (echo_canceller turned on, another tail) starts a call afresh;
// the same one keeps its filter and the call's tone disabler state.
func (p *Port) takeLineOptions(o Options) {
	l := &p.line
	l.txGain, l.rxGain = newGain(o.TxGainDB), newGain(o.RxGainDB)
	if o.canceller != l.ec {
		l.ec = o.canceller
		if l.ec != nil {
			l.ec.Reset()
			l.ec.DisableNLP(l.tones&(1<<tonedetect.CED) != 0)
			l.ec.Bypass(l.tones&(1<<tonedetect.ANSPR) != 0)
		}
		p.publishFigures()
	}
}

// publishFigures copies the canceller's figures out for EchoStats (and
// the flags with them). Only the frame goroutine, which runs the
// canceller, reads them from it.
func (p *Port) publishFigures() {
	l := &p.line
	l.frames = 0
	var st echo.Stats
	if l.ec != nil {
		st = l.ec.Stats()
	}
	l.converged = st.Converged
	p.lineERL.Store(math.Float64bits(st.ERL))
	p.lineERLE.Store(math.Float64bits(st.ERLE))
	p.lineDelay.Store(int64(st.Delay))
	p.publishLine()
}

func (p *Port) publishLine() {
	l := &p.line
	var f uint32
	if l.ec != nil {
		f |= flagOn
		if l.tones&(1<<tonedetect.CED|1<<tonedetect.ANSPR) != 0 {
			f |= flagNLPOff
		}
		if l.tones&(1<<tonedetect.ANSPR) != 0 {
			f |= flagBypassed
		}
		if l.converged {
			f |= flagConverged
		}
	}
	f |= uint32(l.strongest) << toneShift
	p.lineFlags.Store(f)
}

// lineActive says the call's audio path is up: off hook with a call's
// audio connected.
func (p *Port) lineActive() bool { return p.have.audio != nil && p.offHook.Load() }

// cancelEcho returns the mouthpiece frame without the echo of what the
// earpiece played: the canceller's output while the line is active,
// else mic itself. An open loop (a flash, or a hang-up not yet told from
// one) carries no echo: the canceller would unlearn the path from it.
func (p *Port) cancelEcho(mic []int16) []int16 {
	l := &p.line
	if l.ec == nil || !p.lineActive() || p.hook.LoopOpen() || len(mic)%echo.BlockSize != 0 {
		l.running = false
		return mic
	}
	if !l.running {
		// The earpiece history is stale after a pause (on hook, no call).
		clear(l.lastEar)
		l.running = true
	}
	l.ec.Process(l.lastEar, mic, l.micOut)
	if l.frames++; l.frames >= statsEvery {
		p.publishFigures()
	}
	return l.micOut
}

// rememberEar keeps the earpiece frame for the next frame's canceller.
func (p *Port) rememberEar(ear []int16) {
	if p.line.running {
		copy(p.line.lastEar, ear)
	}
}

// toCall is the mouthpiece frame the call gets: tx gain applied.
func (p *Port) toCall(mic []int16) []int16 {
	l := &p.line
	if l.txGain.unity() || len(mic) != len(l.tx) {
		return mic
	}
	l.txGain.apply(l.tx, mic)
	return l.tx
}

// fromCall listens for data tones on both directions of the call's audio
// and applies the rx gain to what the call sent the earpiece.
func (p *Port) fromCall(mic, ear []int16) {
	l := &p.line
	if p.offHook.Load() {
		if r := l.micTone.Process(mic); r.Kind != tonedetect.None {
			p.dataTone(r, false)
		}
		if r := l.earTone.Process(ear); r.Kind != tonedetect.None {
			p.dataTone(r, true)
		}
	}
	if !l.rxGain.unity() {
		l.rxGain.apply(ear, ear)
	}
}

// dataTone is the tone disabler (ITU-T G.168): a 2100 Hz answer tone
// turns the NLP off, so the residual of a fax's signal passes untouched;
// one with phase reversals takes the canceller out, the modems cancel
// their own echo. With fax_mode "passthrough" call control hears of each
// kind of tone once per call (DataTone) and switches the call over.
func (p *Port) dataTone(r tonedetect.Result, network bool) {
	l := &p.line
	if l.ec != nil {
		switch r.Kind {
		case tonedetect.CED:
			l.ec.DisableNLP(true)
		case tonedetect.ANSPR:
			l.ec.DisableNLP(true)
			l.ec.Bypass(true)
		}
	}
	bit := uint8(1) << r.Kind
	if l.tones&bit != 0 {
		return
	}
	l.tones |= bit
	l.strongest = max(l.strongest, r.Kind)
	p.publishLine()
	p.log.Info("fxs: data tone", "tone", r.Kind, "am", r.AM, "from_network", network, "canceller", l.ec != nil)
	if p.opts.FaxPassthrough {
		p.emit(Event{Kind: DataTone, At: p.now, Tone: r.Kind, AM: r.AM, FromNetwork: network})
	}
}

// gain scales samples by a fixed factor in Q12, saturating.
type gain struct{ q int32 }

const gainOne = 1 << 12

func newGain(db float64) gain {
	return gain{int32(math.Round(gainOne * math.Pow(10, db/20)))}
}

func (g gain) unity() bool { return g.q == gainOne || g.q == 0 }

// apply writes src scaled into dst (which may be src). ±12 dB keeps the
// product within 31 bits; the sum saturates instead of wrapping.
func (g gain) apply(dst, src []int16) {
	for i, v := range src {
		dst[i] = clip16((int32(v)*g.q + gainOne/2) >> 12)
	}
}
