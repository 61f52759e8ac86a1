package echo

import (
	"math"
	"math/cmplx"
	"math/rand/v2"
	"testing"
)

// TestRealFFTMatchesDFT checks the mixed-radix transform against the
// textbook DFT and its inverse against the input: the canceller's filter
// is only as right as these.
func TestRealFFTMatchesDFT(t *testing.T) {
	t.Parallel()
	for _, m := range []int{5, 8, 20, 40, 80} {
		r := newRealFFT(m)
		rng := rand.New(rand.NewPCG(1, uint64(m)))
		x := make([]float32, 2*m)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		X := make([]complex64, m+1)
		r.forward(x, X)
		for k := 0; k <= m; k++ {
			var want complex128
			for n, v := range x {
				want += complex(float64(v), 0) * cmplx.Rect(1, -2*math.Pi*float64(k*n)/float64(2*m))
			}
			if d := cmplx.Abs(complex128(X[k]) - want); d > 1e-3*math.Sqrt(float64(2*m)) {
				t.Fatalf("m=%d bin %d: got %v, want %v", m, k, X[k], want)
			}
		}
		back := make([]float32, 2*m)
		r.inverse(X, back)
		for i := range x {
			if math.Abs(float64(back[i]-x[i])) > 1e-4 {
				t.Fatalf("m=%d sample %d: inverse gives %v, want %v", m, i, back[i], x[i])
			}
		}
	}
}
