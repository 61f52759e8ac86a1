package jitter

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/openata/ata/media/codec"
)

// TestPercentile97MatchesSort: the one-pass p97 (keepTop over p97k(n)
// values) is the element a sort picks, for every history length and
// for ties.
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

// percentile97 is the p97 as estimate finds it: the smallest of the
// p97k(n) largest values kept by keepTop in one pass.
func percentile97(vals []int64, top *[topK]int64) int64 {
	t := top[:0]
	for _, v := range vals {
		t = keepTop(t, p97k(len(vals)), v)
	}
	return t[0]
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

// TestTargetIsThe97thPercentile: the target follows the 97th percentile
// of the window's delays, not its worst: one packet in fifty 100 ms late
// leaves it at the floor; one in ten raises it past 100 ms.
func TestTargetIsThe97thPercentile(t *testing.T) {
	for _, c := range []struct {
		every      int
		atLeast    time.Duration
		atMost     time.Duration
		whatItMean string
	}{
		{50, 20 * time.Millisecond, 20 * time.Millisecond, "2 % late: above the p97, ignored"},
		{10, 100 * time.Millisecond, 130 * time.Millisecond, "10 % late: within the p97"},
	} {
		b := New(Config{}, codec.PCMU)
		out := make([]int16, frame)
		const ticks = 250 // 5 s
		late := map[int][]int{}
		for k := range ticks {
			arrive := k
			if k%c.every == c.every-1 {
				arrive += 5 // 100 ms late
			}
			late[arrive] = append(late[arrive], k)
		}
		for n := range ticks {
			now := time.Duration(n) * 20 * time.Millisecond
			for _, k := range late[n] {
				b.Put(now+time.Millisecond, 7, uint32(k*frame), k == 0, marked(k%200+1))
			}
			b.Get(now+2*time.Millisecond, out)
		}
		if got := b.Stats().Target; got < c.atLeast || got > c.atMost {
			t.Errorf("one packet in %d 100 ms late: target %v, want %v to %v (%s)", c.every, got, c.atLeast, c.atMost, c.whatItMean)
		}
	}
}
