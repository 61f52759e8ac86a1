package echo

import (
	"math"
	"math/cmplx"
)

// realFFT transforms real blocks of length 2m to their m+1 non-negative
// frequency bins and back, through a complex FFT of length m (the even
// samples as real parts, the odd ones as imaginary parts). m = 80 here: a
// 10 ms block of the canceller needs a 160-point transform, and 80 = 4·4·5
// is not a power of two, hence the mixed-radix Stockham FFT below. Nothing
// allocates after newRealFFT.
type realFFT struct {
	m      int
	c      cfft
	z, tmp []complex64
	w      []complex64 // e^{-2πik/2m}, k = 0..m
}

func newRealFFT(m int) *realFFT {
	r := &realFFT{m: m, c: newCFFT(m), z: make([]complex64, m), tmp: make([]complex64, m), w: make([]complex64, m+1)}
	for k := range r.w {
		r.w[k] = complex64(cmplx.Rect(1, -math.Pi*float64(k)/float64(m)))
	}
	return r
}

// forward computes X[0..m] of the 2m real samples x (unnormalised).
func (r *realFFT) forward(x []float32, X []complex64) {
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
