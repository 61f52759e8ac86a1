package echo

// delayEstimator finds the echo's main arrival, in samples after the
// earpiece signal, up to lags·block samples: the bulk delay of the sound
// card plus the echo path's own lead-in. It estimates the echo path itself,
// coarsely and over the whole search range, by the Roth-weighted
// cross-correlation of the mouthpiece block with each of the last earpiece
// blocks (the cross-spectrum divided by the earpiece spectrum: speech's
// colouring and pitch, which make a plain cross-correlation a broad comb,
// divide out). The largest tap of that estimate is the arrival. Its cost
// is two transforms and lags×81 complex products per block, plus lags
// inverse transforms per evaluation.
type delayEstimator struct {
	fft   *realFFT
	lags  int
	xs    []complex64 // ring of earpiece spectra of [previous, current] block
	g     []complex64 // smoothed cross-spectra, one per lag block
	xi    int
	sxx   [bins]float32
	prevX [block]float32
	buf   [fftLen]float32
	spec  [bins]complex64
	fed   int // blocks of far-end speech accumulated
}

const (
	delaySmooth = 0.98 // per-block forgetting of the cross-spectra (0.5 s)
	delayReg    = 1e2  // regularisation of the earpiece spectrum (mean square)
	delayPeak   = 12   // the arrival's tap must stand this far (power) above the mean tap
)

func newDelayEstimator(fft *realFFT, lags int) *delayEstimator {
	return &delayEstimator{fft: fft, lags: lags, xs: make([]complex64, lags*bins), g: make([]complex64, lags*bins)}
}

func (e *delayEstimator) reset() {
	clear(e.xs)
	clear(e.g)
	e.sxx = [bins]float32{}
	e.prevX = [block]float32{}
	e.xi, e.fed = 0, 0
}

// push feeds one block of the high-passed earpiece (x) and mouthpiece (d)
// signals, undelayed; spectrum, if not nil, is the transform of the
// earpiece's [previous, current] block pair, already computed by the
// caller. far says the earpiece carries speech worth learning from.
func (e *delayEstimator) push(x, d []float32, spectrum []complex64, far bool) {
	e.xi = (e.xi + 1) % e.lags
	xs := e.xs[e.xi*bins : (e.xi+1)*bins]
	if spectrum != nil {
		copy(xs, spectrum)
	} else {
		copy(e.buf[:block], e.prevX[:])
		copy(e.buf[block:], x)
		e.fft.forward(e.buf[:], xs)
	}
	copy(e.prevX[:], x)
	if !far {
		return
	}
	for k := range bins {
		e.sxx[k] += (1 - delaySmooth) * (sq(xs[k]) - e.sxx[k])
	}
	clear(e.buf[:block])
	copy(e.buf[block:], d)
	e.fft.forward(e.buf[:], e.spec[:])
	for l := range e.lags {
		i := e.xi - l
		if i < 0 {
			i += e.lags
		}
		xl := e.xs[i*bins:][:bins]
		gl := e.g[l*bins:][:bins]
		for k := range bins {
			gl[k] = rmul(gl[k], delaySmooth) + rmul(cmulConj(xl[k], e.spec[k]), 1-delaySmooth)
		}
	}
	e.fed++
}

// estimate returns the echo's main arrival in samples, and whether it
// stands clearly above the rest of the estimated path.
func (e *delayEstimator) estimate() (int, bool) {
	reg := float32(delayReg * fftLen)
	var best, sum float32
	at := -1
	for l := range e.lags {
		gl := e.g[l*bins : (l+1)*bins]
		for k := range bins {
			e.spec[k] = rmul(gl[k], 1/(e.sxx[k]+reg))
		}
		e.fft.inverse(e.spec[:], e.buf[:])
		// Lags l·block+τ for τ in [0, block): τ = block is the next
		// block's τ = 0.
		for tau := range block {
			v := e.buf[tau] * e.buf[tau]
			sum += v
			if v > best {
				best, at = v, l*block+tau
			}
		}
	}
	mean := sum / float32(e.lags*block)
	return at, at >= 0 && best > delayPeak*mean
}
