package echo

import "testing"

func BenchmarkRealFFT(b *testing.B) {
	r := newRealFFT(block)
	x := make([]float32, fftLen)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	X := make([]complex64, bins)
	b.Run("forward", func(b *testing.B) {
		for range b.N {
			r.forward(x, X)
		}
	})
	b.Run("inverse", func(b *testing.B) {
		for range b.N {
			r.inverse(X, x)
		}
	})
}
