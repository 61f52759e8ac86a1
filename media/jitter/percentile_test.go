package jitter

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPercentile97MatchesSort: the one-pass p97 is the element the sort
// it replaced picked, for every history length and for ties.
func TestPercentile97MatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var top [topK]int64
	for n := 1; n <= historySize; n++ {
		for _, spread := range []int64{3, 1000, 1 << 40} {
			vals := make([]int64, n)
			for i := range vals {
				vals[i] = rng.Int64N(spread) - spread/2
			}
			sorted := slices.Clone(vals)
			slices.Sort(sorted)
			want := sorted[(n*97+99)/100-1]
			if got := percentile97(vals, &top); got != want {
				t.Fatalf("n=%d spread=%d: p97 %d, want %d", n, spread, got, want)
			}
		}
	}
}

func TestPercentile97AllocatesNothing(t *testing.T) {
	vals := make([]int64, historySize)
	for i := range vals {
		vals[i] = int64(i * 7919 % 1000)
	}
	var top [topK]int64
	if n := testing.AllocsPerRun(100, func() { percentile97(vals, &top) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
