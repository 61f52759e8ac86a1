package echo

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/openata/ata/board/echopath"
)

// frame is the port's frame: 20 ms.
const frame = 160

// speechRMS is the active level the fixtures are scaled to: about −20 dBm0
// (G.711's 0 dBm0 is 3.17 dB below a full-scale sine).
const speechRMS = 2300

var (
	fixturesOnce sync.Once
	farSpeech    []int16
	nearSpeech   []int16
	fixturesErr  error
)

// fixtures returns the far-end and near-end speech of testdata (see
// testdata/make-speech.sh), scaled to speechRMS over their active samples.
func fixtures(t testing.TB) (far, near []int16) {
	t.Helper()
	fixturesOnce.Do(func() {
		farSpeech, fixturesErr = loadUlaw("far.ul")
		if fixturesErr == nil {
			nearSpeech, fixturesErr = loadUlaw("near.ul")
		}
	})
	if fixturesErr != nil {
		t.Fatal(fixturesErr)
	}
	return farSpeech, nearSpeech
}

func loadUlaw(name string) ([]int16, error) {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		return nil, err
	}
	s := make([]int16, len(b))
	for i, v := range b {
		s[i] = ulaw(v)
	}
	return scaleActive(s, speechRMS), nil
}

// ulaw decodes one G.711 μ-law byte.
func ulaw(u byte) int16 {
	u = ^u
	t := (int(u&0x0f) << 3) + 0x84
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return int16(0x84 - t)
	}
	return int16(t - 0x84)
}

// scaleActive scales s so that its 10 ms blocks above −50 dB of full scale
// have rms power.
func scaleActive(s []int16, rms float64) []int16 {
	var sum float64
	var n int
	for i := 0; i+80 <= len(s); i += 80 {
		p := power(s[i : i+80])
		if p > 1e2 {
			sum += p * 80
			n += 80
		}
	}
	g := rms / math.Sqrt(sum/float64(n))
	out := make([]int16, len(s))
	for i, v := range s {
		out[i] = sat16(float32(float64(v) * g))
	}
	return out
}

// css is a composite-source-like signal after ITU-T G.168 clause 6.4.1 and
// P.501: a voiced burst (a glottal pulse train at a varying pitch through
// two formant resonators, 48 ms), an unvoiced burst (speech-shaped noise,
// 200 ms) and a pause (100 ms), repeated with alternating polarity and
// pitch, for d of signal; active level speechRMS.
func css(d time.Duration, seed uint64) []int16 {
	n := int(d / sampleDur)
	out := make([]float64, n)
	rng := rand.New(rand.NewPCG(seed, 7))
	var shaper speechShaper
	const voiced, unvoiced, pause = 384, 1600, 800
	period := voiced + unvoiced + pause
	var f1, f2 resonator
	f1.set(700, 130)
	f2.set(1220, 180)
	for i, sign := 0, 1.0; i < n; i += period {
		pitch := 50 + rng.IntN(20) // samples: 160 to 114 Hz
		for j := 0; j < voiced && i+j < n; j++ {
			pulse := 0.0
			if j%pitch == 0 {
				pulse = sign
			}
			out[i+j] = f2.step(f1.step(pulse))
		}
		for j := voiced; j < voiced+unvoiced && i+j < n; j++ {
			out[i+j] = shaper.next(rng.NormFloat64())
		}
		sign = -sign
	}
	// Scale each burst kind to the active level on its own.
	levelize := func(from, to int) {
		var sum float64
		var cnt int
		for i := 0; i < n; i += period {
			for j := from; j < to && i+j < n; j++ {
				sum += out[i+j] * out[i+j]
				cnt++
			}
		}
		g := speechRMS / math.Sqrt(sum/float64(cnt))
		for i := 0; i < n; i += period {
			for j := from; j < to && i+j < n; j++ {
				out[i+j] *= g
			}
		}
	}
	levelize(0, voiced)
	levelize(voiced, voiced+unvoiced)
	s := make([]int16, n)
	for i, v := range out {
		s[i] = sat16(float32(v))
	}
	return s
}

// resonator is a two-pole formant filter.
type resonator struct{ a1, a2, y1, y2 float64 }

func (r *resonator) set(f, bw float64) {
	rad := math.Exp(-math.Pi * bw / Rate)
	r.a1 = 2 * rad * math.Cos(2*math.Pi*f/Rate)
	r.a2 = -rad * rad
}

func (r *resonator) step(x float64) float64 {
	y := x + r.a1*r.y1 + r.a2*r.y2
	r.y2, r.y1 = r.y1, y
	return y
}

func power(s []int16) float64 {
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return sum / float64(max(len(s), 1))
}

// levelRatio is 10·log10 of the power of a over the power of b.
func levelRatio(a, b []int16) float64 { return db(power(a) / power(b)) }

// line is one simulated call: what the earpiece played, what the mouthpiece
// returned (near end + echo + noise), the near end alone and the
// canceller's output, frame by frame.
type line struct {
	ear, mic, echoOnly, near, out []int16
	c                             *Canceller
}

type scenario struct {
	model     int
	erl       float64
	delay     time.Duration
	far, near []int16 // near may be shorter or nil
	nearAt    time.Duration
	noiseRMS  float64
	tail      time.Duration
	off       bool // bypass the canceller
	noNLP     bool
	noSearch  bool
	// change switches the echo path to model changeTo (and ERL
	// changeERL, if not 0) at changeAt.
	changeAt  time.Duration
	changeTo  int
	changeERL float64
	// hum adds a DC offset and 50 Hz hum to the mouthpiece.
	hum bool
}

func run(t testing.TB, sc scenario) *line {
	t.Helper()
	hy, err := echopath.New(sc.model, sc.erl, sc.delay)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{Tail: sc.tail, FixedWindow: sc.noSearch})
	if err != nil {
		t.Fatal(err)
	}
	c.Bypass(sc.off)
	c.DisableNLP(sc.noNLP)
	n := len(sc.far) / frame * frame
	l := &line{ear: sc.far[:n], mic: make([]int16, n), echoOnly: make([]int16, n), near: make([]int16, n), out: make([]int16, n), c: c}
	at := int(sc.nearAt / sampleDur)
	for i := range sc.near {
		if at+i < n {
			l.near[at+i] = sc.near[i]
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < n; i += frame {
		if sc.changeAt > 0 && i == int(sc.changeAt/sampleDur)/frame*frame {
			if err := hy.SetModel(sc.changeTo); err != nil {
				t.Fatal(err)
			}
			if sc.changeERL != 0 {
				if err := hy.SetERL(sc.changeERL); err != nil {
					t.Fatal(err)
				}
			}
		}
		ear := l.ear[i : i+frame]
		echo := l.echoOnly[i : i+frame]
		hy.Echo(ear, echo)
		mic := l.mic[i : i+frame]
		for j := range mic {
			v := float64(echo[j]) + float64(l.near[i+j]) + sc.noiseRMS*rng.NormFloat64()
			if sc.hum {
				v += 400 + 300*math.Sin(2*math.Pi*50*float64(i+j)/Rate)
			}
			mic[j] = sat16(float32(v))
		}
		c.Process(ear, mic, l.out[i:i+frame])
	}
	return l
}

// span returns s between times from and to (to 0: the end).
func span(s []int16, from, to time.Duration) []int16 {
	a := int(from / sampleDur)
	b := len(s)
	if to > 0 {
		b = min(b, int(to/sampleDur))
	}
	return s[a:b]
}

// speechShaper colours white noise roughly like the long-term spectrum of
// speech: a high-pass at 100 Hz and two poles at 700 Hz (flat to about
// 600 Hz, then falling about 9 dB per octave).
type speechShaper struct{ hpIn, hpOut, lp1, lp2 float64 }

func (s *speechShaper) next(x float64) float64 {
	const hp, lp = 0.924, 0.577 // exp(−2π·100/8000), exp(−2π·700/8000)
	s.hpOut = hp * (s.hpOut + x - s.hpIn)
	s.hpIn = x
	s.lp1 = lp*s.lp1 + (1-lp)*s.hpOut
	s.lp2 = lp*s.lp2 + (1-lp)*s.lp1
	return s.lp2
}
