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
		cpu0 := cpuTime()
		for range b.N {
			r.forward(x, X)
		}
		b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	})
	b.Run("inverse", func(b *testing.B) {
		cpu0 := cpuTime()
		for range b.N {
			r.inverse(X, x)
		}
		b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	})
}
