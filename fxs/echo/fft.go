package echo

import (
	"math"
	"math/cmplx"
)

// realFFT transforms real blocks of length 2m to their m+1 non-negative
// frequency bins and back, through a complex FFT of length m (the even
// samples as real parts, the odd ones as imaginary parts). m = 80 here: a
// 10 ms block of the canceller needs a 160-point transform, and 80 = 4·4·5
// is not a power of two, hence a mixed-radix Stockham FFT. The canceller's
// size has its own unrolled code (fft80: a dozen transforms a frame are
// half its time); other sizes, for the tests, the generic one. Nothing
// allocates after newRealFFT.
type realFFT struct {
	m      int
	c      cfft
	z, tmp []complex64
	w      []complex64 // e^{-2πik/2m}, k = 0..m
	f80    *fft80      // m = 80
}

func newRealFFT(m int) *realFFT {
	r := &realFFT{m: m, z: make([]complex64, m), tmp: make([]complex64, m), w: make([]complex64, m+1)}
	for k := range r.w {
		r.w[k] = complex64(cmplx.Rect(1, -math.Pi*float64(k)/float64(m)))
	}
	if m == 80 {
		r.f80 = newFFT80()
	} else {
		r.c = newCFFT(m)
	}
	return r
}

// forward computes X[0..m] of the 2m real samples x (unnormalised).
func (r *realFFT) forward(x []float32, X []complex64) {
	if r.f80 != nil {
		r.f80.forward((*[160]float32)(x), (*[81]complex64)(X))
		return
	}
	m := r.m
	for i := 0; i < m; i++ {
		r.z[i] = complex(x[2*i], x[2*i+1])
	}
	Z := r.c.transform(r.z, r.tmp)
	Z = Z[:m]
	X = X[:m+1]
	w := r.w[:m+1]
	z0 := Z[0]
	X[0] = complex(real(z0)+imag(z0), 0)
	X[m] = complex(real(z0)-imag(z0), 0)
	for k := 1; k < m; k++ {
		a := Z[k]
		b := conj(Z[m-k])
		even := (a + b) * 0.5
		odd := (a - b) * complex(0, -0.5)
		X[k] = even + w[k]*odd
	}
}

// inverse computes the 2m real samples x of the spectrum X[0..m], scaled
// by 1/(2m) so that inverse(forward(x)) == x.
func (r *realFFT) inverse(X []complex64, x []float32) {
	if r.f80 != nil {
		r.f80.inverse((*[81]complex64)(X), (*[160]float32)(x))
		return
	}
	m := r.m
	for k := 0; k < m; k++ {
		a := X[k]
		b := conj(X[m-k])
		even := a + b
		odd := (a - b) * conj(r.w[k]) // 2·W^{-k}·Xo
		// Z = Xe + i·Xo, conjugated so that the forward transform inverts.
		r.z[k] = conj(even + complex(0, 1)*odd)
	}
	z := r.c.transform(r.z, r.tmp)
	s := float32(0.5 / float64(m))
	for i := 0; i < m; i++ {
		// conj again and scale: 1/m for the complex inverse, 1/2 for the
		// doubled Xe and Xo above.
		x[2*i] = real(z[i]) * s
		x[2*i+1] = -imag(z[i]) * s
	}
}

func conj(c complex64) complex64 { return complex(real(c), -imag(c)) }

// cfft is a Stockham autosort FFT for lengths made of the factors 2, 4 and
// 5: each stage reads one buffer and writes the other in natural order, so
// no bit reversal is needed.
type cfft struct {
	n      int
	stages []stage
}

type stage struct {
	radix, n, s int         // radix, current length, stride
	tw          []complex64 // tw[p*radix+k] = e^{-2πi·p·k/n}
}

func newCFFT(n int) cfft {
	c := cfft{n: n}
	rest, s := n, 1
	for rest > 1 {
		var r int
		switch {
		case rest%4 == 0:
			r = 4
		case rest%2 == 0:
			r = 2
		case rest%5 == 0:
			r = 5
		default:
			panic("echo: FFT length must be made of factors 2 and 5")
		}
		st := stage{radix: r, n: rest, s: s, tw: make([]complex64, rest/r*r)}
		for p := 0; p < rest/r; p++ {
			for k := 0; k < r; k++ {
				st.tw[p*r+k] = complex64(cmplx.Rect(1, -2*math.Pi*float64(p*k)/float64(rest)))
			}
		}
		c.stages = append(c.stages, st)
		rest /= r
		s *= r
	}
	return c
}

// transform computes the forward DFT of x, using y as scratch; it returns
// whichever of the two holds the result.
func (c *cfft) transform(x, y []complex64) []complex64 {
	for i := range c.stages {
		st := &c.stages[i]
		m, s := st.n/st.radix, st.s
		switch st.radix {
		case 2:
			for p := 0; p < m; p++ {
				w1 := st.tw[p*2+1]
				for q := 0; q < s; q++ {
					a, b := x[q+s*p], x[q+s*(p+m)]
					y[q+s*(2*p)] = a + b
					y[q+s*(2*p+1)] = (a - b) * w1
				}
			}
		case 4:
			for p := 0; p < m; p++ {
				w1, w2, w3 := st.tw[p*4+1], st.tw[p*4+2], st.tw[p*4+3]
				for q := 0; q < s; q++ {
					a0, a1, a2, a3 := x[q+s*p], x[q+s*(p+m)], x[q+s*(p+2*m)], x[q+s*(p+3*m)]
					t0, t1 := a0+a2, a0-a2
					t2 := a1 + a3
					d := a1 - a3
					t3 := complex(imag(d), -real(d)) // −i·(a1−a3)
					y[q+s*(4*p)] = t0 + t2
					y[q+s*(4*p+1)] = (t1 + t3) * w1
					y[q+s*(4*p+2)] = (t0 - t2) * w2
					y[q+s*(4*p+3)] = (t1 - t3) * w3
				}
			}
		case 5:
			// The five-point DFT with its symmetries: y1/y4 and y2/y3 share
			// a real part built from sums and an imaginary part from
			// differences.
			const (
				c1 = 0.30901699437494745 // cos 2π/5
				c2 = -0.8090169943749475 // cos 4π/5
				s1 = 0.9510565162951535  // sin 2π/5
				s2 = 0.5877852522924731  // sin 4π/5
			)
			for p := 0; p < m; p++ {
				tw := st.tw[p*5 : p*5+5]
				w1, w2, w3, w4 := tw[1], tw[2], tw[3], tw[4]
				for q := 0; q < s; q++ {
					a0, a1, a2, a3, a4 := x[q+s*p], x[q+s*(p+m)], x[q+s*(p+2*m)], x[q+s*(p+3*m)], x[q+s*(p+4*m)]
					t1, t2, t3, t4 := a1+a4, a2+a3, a1-a4, a2-a3
					b1 := a0 + t1*c1 + t2*c2
					b2 := a0 + t1*c2 + t2*c1
					u := t3*s1 + t4*s2
					v := t3*s2 - t4*s1
					b3 := complex(imag(u), -real(u)) // −i·u
					b4 := complex(imag(v), -real(v))
					o := q + s*5*p
					y[o] = a0 + t1 + t2
					y[o+s] = (b1 + b3) * w1
					y[o+2*s] = (b2 + b4) * w2
					y[o+3*s] = (b2 - b4) * w3
					y[o+4*s] = (b1 - b3) * w4
				}
			}
		}
		x, y = y, x
	}
	return x
}

// fft80 is realFFT's m = 80, unrolled: the complex 80-point transform in
// three fixed Stockham stages (radix 4 of stride 1, radix 4 of stride 4,
// radix 5 of stride 16, whose twiddles are all 1), real arithmetic where
// a factor is real or ±i, and arrays of fixed length so that the compiler
// drops the bounds checks.
type fft80 struct {
	z, tmp [80]complex64
	w      [81]complex64 // e^{-2πik/160}
	tw1    [20][3]complex64
	tw2    [5][3]complex64
}

func newFFT80() *fft80 {
	f := &fft80{}
	for k := range f.w {
		f.w[k] = complex64(cmplx.Rect(1, -math.Pi*float64(k)/80))
	}
	for p := range f.tw1 {
		for j := range 3 {
			f.tw1[p][j] = complex64(cmplx.Rect(1, -2*math.Pi*float64(p*(j+1))/80))
		}
	}
	for p := range f.tw2 {
		for j := range 3 {
			f.tw2[p][j] = complex64(cmplx.Rect(1, -2*math.Pi*float64(p*(j+1))/20))
		}
	}
	return f
}

// cmul is a·b. Go computes a complex64 product in float64 and rounds it
// back, converting every operand; in float32 it is half the time, and the
// canceller's loops are made of these.
func cmul(a, b complex64) complex64 {
	return complex(real(a)*real(b)-imag(a)*imag(b), real(a)*imag(b)+imag(a)*real(b))
}

// cmulConj is conj(a)·b, as cmul.
func cmulConj(a, b complex64) complex64 {
	return complex(real(a)*real(b)+imag(a)*imag(b), real(a)*imag(b)-imag(a)*real(b))
}

// mulNegI returns −i·c.
func mulNegI(c complex64) complex64 { return complex(imag(c), -real(c)) }

// rmul returns c·f for a real f without the complex product's four
// multiplications.
func rmul(c complex64, f float32) complex64 { return complex(real(c)*f, imag(c)*f) }

// transform computes the DFT of f.z, using f.tmp as scratch; it returns
// f.tmp, which holds the result.
func (f *fft80) transform() *[80]complex64 {
	x, y := &f.z, &f.tmp
	// Radix 4, n = 80, stride 1.
	for p := range 20 {
		a0, a1, a2, a3 := x[p], x[p+20], x[p+40], x[p+60]
		t0, t1 := a0+a2, a0-a2
		t2, t3 := a1+a3, mulNegI(a1-a3)
		w := &f.tw1[p]
		o := y[4*p : 4*p+4 : 4*p+4]
		o[0] = t0 + t2
		o[1] = cmul(t1+t3, w[0])
		o[2] = cmul(t0-t2, w[1])
		o[3] = cmul(t1-t3, w[2])
	}
	// Radix 4, n = 20, stride 4: y to x.
	for p := range 5 {
		w := &f.tw2[p]
		for q := range 4 {
			i := q + 4*p
			a0, a1, a2, a3 := y[i], y[i+20], y[i+40], y[i+60]
			t0, t1 := a0+a2, a0-a2
			t2, t3 := a1+a3, mulNegI(a1-a3)
			o := q + 16*p
			x[o] = t0 + t2
			x[o+4] = cmul(t1+t3, w[0])
			x[o+8] = cmul(t0-t2, w[1])
			x[o+12] = cmul(t1-t3, w[2])
		}
	}
	// Radix 5, n = 5, stride 16, twiddles 1: x to y. The five-point DFT
	// with its symmetries: y1/y4 and y2/y3 share a real part built from
	// sums and an imaginary part from differences.
	const (
		c1 = 0.30901699437494745 // cos 2π/5
		c2 = -0.8090169943749475 // cos 4π/5
		s1 = 0.9510565162951535  // sin 2π/5
		s2 = 0.5877852522924731  // sin 4π/5
	)
	for q := range 16 {
		a0, a1, a2, a3, a4 := x[q], x[q+16], x[q+32], x[q+48], x[q+64]
		t1, t2, t3, t4 := a1+a4, a2+a3, a1-a4, a2-a3
		b1 := a0 + rmul(t1, c1) + rmul(t2, c2)
		b2 := a0 + rmul(t1, c2) + rmul(t2, c1)
		b3 := mulNegI(rmul(t3, s1) + rmul(t4, s2))
		b4 := mulNegI(rmul(t3, s2) - rmul(t4, s1))
		y[q] = a0 + t1 + t2
		y[q+16] = b1 + b3
		y[q+32] = b2 + b4
		y[q+48] = b2 - b4
		y[q+64] = b1 - b3
	}
	return y
}

// forward is realFFT.forward for m = 80.
func (f *fft80) forward(x *[160]float32, X *[81]complex64) {
	for i := range 80 {
		f.z[i] = complex(x[2*i], x[2*i+1])
	}
	Z := f.transform()
	z0 := Z[0]
	X[0] = complex(real(z0)+imag(z0), 0)
	X[80] = complex(real(z0)-imag(z0), 0)
	// X[k] = (Z[k] + conj Z[80−k])/2 + w^k·(Z[k] − conj Z[80−k])/(2i),
	// in reals.
	for k := 1; k < 80; k++ {
		a, b := Z[k], Z[80-k]
		er, ei := 0.5*(real(a)+real(b)), 0.5*(imag(a)-imag(b))
		or, oi := 0.5*(imag(a)+imag(b)), -0.5*(real(a)-real(b))
		w := f.w[k]
		X[k] = complex(er+real(w)*or-imag(w)*oi, ei+real(w)*oi+imag(w)*or)
	}
}

// inverse is realFFT.inverse for m = 80.
func (f *fft80) inverse(X *[81]complex64, x *[160]float32) {
	// z[k] = conj(Xe + i·Xo), Xe = X[k] + conj X[80−k],
	// Xo = (X[k] − conj X[80−k])·conj w^k, in reals.
	for k := range 80 {
		a, b := X[k], X[80-k]
		er, ei := real(a)+real(b), imag(a)-imag(b)
		dr, di := real(a)-real(b), imag(a)+imag(b)
		w := f.w[k]
		or, oi := dr*real(w)+di*imag(w), di*real(w)-dr*imag(w)
		f.z[k] = complex(er-oi, -(ei + or))
	}
	z := f.transform()
	const s = 0.5 / 80
	for i, v := range z {
		x[2*i] = real(v) * s
		x[2*i+1] = -imag(v) * s
	}
}
