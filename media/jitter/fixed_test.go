package jitter

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/openata/ata/media/codec"
)

// With a fixed depth of 60 ms each frame plays three 20 ms frames after it
// arrived, from the first frame on; changing the depth mid-stream moves
// the playout point by whole frames (repeating to grow, skipping to
// shrink) and then holds it.
func TestFixedDelayExact(t *testing.T) {
	b := New(Config{}, codec.PCMU)
	b.SetFixed(60 * time.Millisecond)
	out := make([]int16, frame)
	var got []int
	for n := 0; n < 150; n++ {
		switch n {
		case 50:
			b.SetFixed(100 * time.Millisecond)
		case 100:
			b.SetFixed(40 * time.Millisecond)
		}
		now := time.Duration(n) * 20 * time.Millisecond
		b.Put(now+time.Millisecond, 7, uint32(n*frame), n == 0, marked(n%100))
		switch b.Get(now+2*time.Millisecond, out) {
		case Audio:
			got = append(got, identity(out))
		case Lost:
			got = append(got, -1)
		default:
			got = append(got, -2) // buffering
		}
	}
	// Ticks 0-2 are the lead-in; then frame n-3 plays at tick n.
	for n := 3; n < 50; n++ {
		if got[n] != n-3 {
			t.Fatalf("60 ms: tick %d played %d, want %d (all: %v)", n, got[n], n-3, got[:50])
		}
	}
	// 100 ms: two frames repeated right after the switch, then n-5.
	if got[50] != 47 || got[51] != 47 || got[52] != 47 || got[53] != 48 {
		t.Errorf("switch to 100 ms played %v, want 47 47 47 48", got[50:54])
	}
	for n := 53; n < 100; n++ {
		if got[n] != n-5 {
			t.Fatalf("100 ms: tick %d played %d, want %d", n, got[n], n-5)
		}
	}
	// 40 ms: three frames skipped at once, then n-2.
	for n := 100; n < 150; n++ {
		if got[n] != (n-2)%100 {
			t.Fatalf("40 ms: tick %d played %d, want %d (all: %v)", n, got[n], (n-2)%100, got[95:110])
		}
	}
	st := b.Stats()
	if st.Grown != 2 || st.Shrunk != 3 || st.Lost != 0 {
		t.Errorf("stats %+v: want 2 frames grown, 3 shrunk, none lost", st)
	}
	if st.Delay < 40*time.Millisecond || st.Delay >= 60*time.Millisecond || st.Target != 40*time.Millisecond {
		t.Errorf("delay %v target %v, want 40-60 ms and 40 ms", st.Delay, st.Target)
	}
}

// jitterRun plays 8 s of silence (where the adaptive buffer resizes
// freely): 4 s with up to 30 ms of jitter, then 4 s where every 25th packet
// is 150 ms late. At 2 s it calls switchAt (as call control switches a
// call to pass-through). It returns the stats at 3 s and at the end, and
// the longest and shortest wait of a played frame after 3 s.
func jitterRun(b *Buffer, switchAt func(*Buffer)) (early, end Stats, longest, shortest time.Duration) {
	rng := rand.New(rand.NewPCG(7, 8))
	silence := make([]byte, frame)
	for i := range silence {
		silence[i] = 0xFF
	}
	type pkt struct {
		at time.Duration
		k  int
	}
	var pkts []pkt
	for k := 0; k < 400; k++ {
		d := time.Duration(rng.Int64N(int64(30 * time.Millisecond)))
		if k >= 200 && k%25 == 0 {
			d = 150 * time.Millisecond
		}
		pkts = append(pkts, pkt{time.Duration(k)*20*time.Millisecond + d, k})
	}
	sort.Slice(pkts, func(i, j int) bool { return pkts[i].at < pkts[j].at })
	arrived := map[int]time.Duration{}
	out := make([]int16, frame)
	next := 0
	shortest = time.Hour
	for now := 5 * time.Millisecond; now < 8*time.Second; now += 20 * time.Millisecond {
		for next < len(pkts) && pkts[next].at <= now {
			p := pkts[next]
			b.Put(p.at, 1, uint32(p.k*frame), false, silence)
			arrived[p.k] = p.at
			next++
		}
		if now >= 2*time.Second && switchAt != nil {
			switchAt(b)
			switchAt = nil
		}
		st := b.Get(now, out)
		if now < 3*time.Second {
			early = b.Stats()
			continue
		}
		if ts, ok := b.Position(); ok && st == Audio {
			wait := now - arrived[int(ts/frame)]
			longest, shortest = max(longest, wait), min(shortest, wait)
		}
	}
	return early, b.Stats(), longest, shortest
}

// A fixed buffer never resizes for jitter or silence: the packets later
// than the depth are lost instead; the adaptive buffer, run on the same
// arrivals, resizes (the test's premise).
func TestFixedIgnoresJitter(t *testing.T) {
	adaptive := New(Config{}, codec.PCMU)
	ae, aend, _, _ := jitterRun(adaptive, nil)
	if aend.Grown == ae.Grown && aend.Shrunk == ae.Shrunk {
		t.Fatalf("premise: the adaptive buffer did not resize: %+v", aend)
	}
	fixed := New(Config{}, codec.PCMU)
	fe, fend, longest, shortest := jitterRun(fixed, func(b *Buffer) { b.SetFixed(60 * time.Millisecond) })
	if fend.Grown != fe.Grown || fend.Shrunk != fe.Shrunk {
		t.Errorf("fixed buffer resized after the switch: grown %d→%d, shrunk %d→%d",
			fe.Grown, fend.Grown, fe.Shrunk, fend.Shrunk)
	}
	if fend.Target != 60*time.Millisecond || fend.Delay != fe.Delay {
		t.Errorf("target %v, delay %v (was %v): want 60 ms and no change", fend.Target, fend.Delay, fe.Delay)
	}
	// Packets 0-30 ms late play 30-60 ms after they arrive (plus the
	// frame clock's phase, under 20 ms; the fastest waits the whole
	// depth); the 150 ms ones are late and lost.
	if longest > 80*time.Millisecond || shortest < 30*time.Millisecond || longest < 60*time.Millisecond {
		t.Errorf("frames waited %v to %v, want within 30..80 ms, the fastest ≥ 60 ms", shortest, longest)
	}
	if fend.Late < 7 || fend.Lost < 7 {
		t.Errorf("late %d lost %d: the 8 packets 150 ms late must be lost", fend.Late, fend.Lost)
	}
}

// A far end whose clock runs 0.5 % fast piles packets up in a fixed
// buffer; the buffer slips a frame whenever a whole frame has piled up,
// so the wait stays near the depth instead of growing 100 ms in 20 s.
func TestFixedFollowsDrift(t *testing.T) {
	b := New(Config{}, codec.PCMU)
	b.SetFixed(60 * time.Millisecond)
	silence := make([]byte, frame)
	arrived := map[int]time.Duration{}
	out := make([]int16, frame)
	k := 0
	var longest time.Duration
	shortest := time.Hour
	for now := 3 * time.Millisecond; now < 20*time.Second; now += 20 * time.Millisecond {
		for at := time.Duration(k) * 19900 * time.Microsecond; at <= now; at = time.Duration(k) * 19900 * time.Microsecond {
			b.Put(at, 1, uint32(k*frame), false, silence)
			arrived[k] = at
			k++
		}
		if b.Get(now, out) != Audio || now < time.Second {
			continue
		}
		ts, _ := b.Position()
		wait := now - arrived[int(ts/frame)]
		longest, shortest = max(longest, wait), min(shortest, wait)
	}
	st := b.Stats()
	if longest > 60*time.Millisecond+2*20*time.Millisecond || shortest < 60*time.Millisecond-20*time.Millisecond {
		t.Errorf("waits %v to %v over 20 s of drift, want within a frame or two of 60 ms", shortest, longest)
	}
	if st.Shrunk < 4 || st.Overflow != 0 || st.Lost != 0 {
		t.Errorf("stats %+v: want ≥ 4 slips (100 ms of drift), no overflow or loss", st)
	}
}

// With 10 ms packets and 20 ms frames, a lost packet costs exactly its
// 80 samples: the other half of the frame plays (adaptive mode clears the
// whole frame for the concealment that replaces it).
func TestFixedKeepsPartialFrame(t *testing.T) {
	for _, fixed := range []bool{false, true} {
		b := New(Config{}, codec.PCMU)
		if fixed {
			b.SetFixed(60 * time.Millisecond)
		}
		out := make([]int16, frame)
		half := marked(5)[:80]
		var lostFrame []int16
		for n := 0; n < 40; n++ {
			now := time.Duration(n) * 20 * time.Millisecond
			for h := range 2 {
				k := 2*n + h
				if k != 41 { // the second half of frame 20 is lost
					b.Put(now+time.Millisecond, 1, uint32(k*80), false, half)
				}
			}
			if b.Get(now+2*time.Millisecond, out) == Lost {
				lostFrame = append(lostFrame[:0], out...)
			}
		}
		if lostFrame == nil {
			t.Fatalf("fixed=%v: no frame reported lost", fixed)
		}
		kept := 0
		for _, v := range lostFrame[:80] {
			if v != 0 {
				kept++
			}
		}
		for _, v := range lostFrame[80:] {
			if v != 0 {
				t.Fatalf("fixed=%v: the missing half is not zero", fixed)
			}
		}
		if fixed && kept != 80 {
			t.Errorf("fixed: %d of the 80 received samples kept, want all", kept)
		}
		if !fixed && kept != 0 {
			t.Errorf("adaptive: %d received samples kept in a lost frame, want 0 (PLC replaces it)", kept)
		}
	}
}

// Back to adaptive: the target follows the statistics again.
func TestFixedOff(t *testing.T) {
	b := New(Config{}, codec.PCMU)
	b.SetFixed(120 * time.Millisecond)
	p := &player{b: b, out: make([]int16, frame)}
	for k := range 150 {
		p.step(1, k)
	}
	if st := b.Stats(); st.Target != 120*time.Millisecond || st.Delay < 120*time.Millisecond {
		t.Fatalf("fixed: %+v", st)
	}
	b.SetFixed(0)
	if b.Fixed() != 0 {
		t.Fatal("still fixed")
	}
	for k := range 150 {
		p.step(1, 0xFF-k%2) // near-silent frames: the adaptive mode may shrink
	}
	if st := b.Stats(); st.Target != 20*time.Millisecond || st.Delay >= 40*time.Millisecond {
		t.Fatalf("adaptive again: target %v delay %v, want 20 ms and < 40 ms", st.Target, st.Delay)
	}
}

func TestFixedNoAllocs(t *testing.T) {
	b := New(Config{}, codec.PCMU)
	b.SetFixed(60 * time.Millisecond)
	payload := marked(3)
	out := make([]int16, frame)
	now, ts := time.Duration(0), uint32(0)
	step := func() {
		now += 20 * time.Millisecond
		ts += frame
		b.Put(now, 1, ts, false, payload)
		b.Get(now, out)
		b.Position()
	}
	for range 200 {
		step()
	}
	if a := testing.AllocsPerRun(500, step); a != 0 {
		t.Fatalf("%v allocs per packet", a)
	}
	if b.Stats().Played < 690 {
		t.Fatalf("stats %+v", b.Stats())
	}
}

func BenchmarkPutGetFixed(b *testing.B) {
	buf := New(Config{}, codec.PCMU)
	buf.SetFixed(60 * time.Millisecond)
	payload := marked(3)
	out := make([]int16, frame)
	now, ts := time.Duration(0), uint32(0)
	b.ReportAllocs()
	for b.Loop() {
		now += 20 * time.Millisecond
		ts += frame
		buf.Put(now, 1, ts, false, payload)
		buf.Get(now, out)
	}
}
