package jitter

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/openata/ata/media/codec"
)

const frame = 160

// marked returns a PCMU payload of 20 ms whose every byte is the code
// word k: frames carry their identity through the buffer.
func marked(k int) []byte {
	p := make([]byte, frame)
	for i := range p {
		p[i] = byte(k)
	}
	return p
}

// identity recovers k from a frame decoded from marked(k).
func identity(out []int16) int {
	var b [1]byte
	codec.PCMU.Encode(b[:], out[:1])
	return int(b[0])
}

// due schedules frame k (timestamp base+k*160) to arrive at tick n.
type due struct{ k, tick int }

// schedule plays a list of arrivals: tick n is at n*20 ms; at each tick the
// due packets go in, then one frame is pulled. It returns the identities
// of the Audio frames (-1 for Lost) after the lead-in.
func schedule(t *testing.T, b *Buffer, base uint32, ticks int, arr []due) []int {
	t.Helper()
	out := make([]int16, frame)
	var got []int
	for n := 0; n < ticks; n++ {
		now := time.Duration(n) * 20 * time.Millisecond
		for _, a := range arr {
			if a.tick == n {
				b.Put(now+time.Millisecond, 7, base+uint32(a.k*frame), a.k == 0, marked(a.k))
			}
		}
		switch b.Get(now+2*time.Millisecond, out) {
		case Audio:
			got = append(got, identity(out))
		case Lost:
			got = append(got, -1)
		}
	}
	return got
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReorderDuplicateAndLoss(t *testing.T) {
	b := New(Config{}, codec.PCMU)
	// 2 overtakes 1, 1 comes twice, 4 overtakes 3, 5 never comes.
	arr := []due{{0, 0}, {2, 2}, {1, 2}, {1, 2}, {4, 4}, {3, 4}, {6, 6}, {7, 7}, {8, 8}}
	got := schedule(t, b, 1000, 9, arr)
	if want := []int{0, 1, 2, 3, 4, -1, 6}; !equal(got, want) {
		t.Fatalf("played %v, want %v", got, want)
	}
	st := b.Stats()
	if st.Duplicates != 1 || st.Lost != 1 || st.Received != 8 || st.Late != 0 {
		t.Errorf("stats %+v: want 1 duplicate, 1 lost, 8 received, 0 late", st)
	}
}

func TestLatePacketCountedAndDropped(t *testing.T) {
	b := New(Config{}, codec.PCMU)
	// Frame 2 arrives 80 ms late, after its playout time (40-60 ms delay).
	arr := []due{{0, 0}, {1, 1}, {3, 3}, {4, 4}, {2, 6}, {5, 5}, {6, 6}, {7, 7}, {8, 8}}
	got := schedule(t, b, 0, 9, arr)
	if want := []int{0, 1, -1, 3, 4, 5, 6}; !equal(got, want) {
		t.Fatalf("played %v, want %v", got, want)
	}
	if st := b.Stats(); st.Late != 1 {
		t.Fatalf("late = %d, want 1", st.Late)
	}
}

func TestTimestampWrap(t *testing.T) {
	b := New(Config{}, codec.PCMU)
	var arr []due
	for k := 0; k < 10; k++ {
		arr = append(arr, due{k + 1, k})
	}
	// Timestamps wrap between the second and third frame.
	got := schedule(t, b, math.MaxUint32-2*frame+1-frame, 10, arr)
	if want := []int{1, 2, 3, 4, 5, 6, 7, 8}; !equal(got, want) {
		t.Fatalf("played %v across the timestamp wrap, want %v", got, want)
	}
}

type player struct {
	b   *Buffer
	now time.Duration
	ts  uint32
	out []int16
}

// step sends one frame with the given identity and pulls one.
func (p *player) step(ssrc uint32, k int) (Status, int) {
	p.now += 20 * time.Millisecond
	p.b.Put(p.now, ssrc, p.ts, false, marked(k))
	p.ts += frame
	st := p.b.Get(p.now+time.Millisecond, p.out)
	return st, identity(p.out)
}

func TestSSRCChangeResets(t *testing.T) {
	p := &player{b: New(Config{}, codec.PCMU), out: make([]int16, frame)}
	for k := 1; k < 6; k++ {
		p.step(7, k)
	}
	p.ts = 5_000_000
	if st, _ := p.step(99, 50); st != Buffering {
		t.Fatalf("after SSRC change got %v, want buffering (new lead-in)", st)
	}
	if st := p.b.Stats(); st.Resets != 1 {
		t.Fatalf("resets = %d, want 1", st.Resets)
	}
	p.step(99, 51)
	if st, id := p.step(99, 52); st != Audio || id != 50 {
		t.Fatalf("new stream played %v %d, want audio 50", st, id)
	}
}

func TestTimestampJumpNeedsConfirmation(t *testing.T) {
	p := &player{b: New(Config{}, codec.PCMU), out: make([]int16, frame)}
	for k := 1; k < 8; k++ {
		p.step(7, k)
	}
	// A stray packet far in the future is ignored ...
	p.b.Put(p.now, 7, p.ts+1_000_000, false, marked(90))
	if st := p.b.Stats(); st.Resets != 0 || st.Invalid != 1 {
		t.Fatalf("stray packet: %+v, want ignored", st)
	}
	if st, id := p.step(7, 8); st != Audio || id != 6 {
		t.Fatalf("after the stray packet: %v %d, want audio 6", st, id)
	}
	// ... but two in a row mean the sender restarted its clock.
	p.ts = 3_000_000
	p.step(7, 91)
	p.step(7, 92)
	if st := p.b.Stats(); st.Resets != 1 {
		t.Fatalf("confirmed jump: resets = %d, want 1", st.Resets)
	}
	for range 3 {
		if st, id := p.step(7, 93); st == Audio {
			if id != 92 {
				t.Fatalf("first frame after the jump: %d, want 92", id)
			}
			return
		}
	}
	t.Fatal("no audio after the jump")
}

func TestInvalidPayloads(t *testing.T) {
	b := New(Config{}, codec.PCMU)
	b.Put(0, 1, 0, false, nil)
	b.Put(0, 1, 0, false, make([]byte, MaxPayload+1))
	if st := b.Stats(); st.Invalid != 2 || st.Received != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// netSim runs a fake network: packets every 20 ms carrying 1 s talk spurts
// and 1 s silences, delayed by base + jitter(t), with loss and duplicates;
// Get every 20 ms on the receiver clock. It checks the buffer's bounds at
// every pull and returns the target seen at the end of each phase.
type phase struct {
	length time.Duration
	jitter time.Duration
}

func netSim(t *testing.T, phases []phase) []Stats {
	rng := rand.New(rand.NewPCG(1, 2))
	type pkt struct {
		arrive time.Duration
		ts     uint32
		data   []byte
	}
	var tone, quiet [frame]int16
	for i := range tone {
		tone[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/8000))
	}
	var pkts []pkt
	var ends []time.Duration
	sendAt, ts := time.Duration(0), uint32(5555)
	for _, ph := range phases {
		end := sendAt + ph.length
		for ; sendAt < end; sendAt += 20 * time.Millisecond {
			src := quiet[:]
			if (sendAt/time.Second)%2 == 0 {
				src = tone[:]
			}
			data := make([]byte, frame)
			codec.PCMU.Encode(data, src)
			ts += frame
			if rng.Float64() < 0.01 {
				continue // lost
			}
			d := 30*time.Millisecond + time.Duration(rng.Int64N(int64(ph.jitter)+1))
			pkts = append(pkts, pkt{sendAt + d, ts, data})
			if rng.Float64() < 0.01 {
				pkts = append(pkts, pkt{sendAt + d + 3*time.Millisecond, ts, data})
			}
		}
		ends = append(ends, end)
	}
	sort.SliceStable(pkts, func(i, j int) bool { return pkts[i].arrive < pkts[j].arrive })

	b := New(Config{}, codec.PCMU)
	out := make([]int16, frame)
	var targets []Stats
	next := 0
	for now := 7 * time.Millisecond; now < ends[len(ends)-1]; now += 20 * time.Millisecond {
		for next < len(pkts) && pkts[next].arrive <= now {
			b.Put(pkts[next].arrive, 1, pkts[next].ts, false, pkts[next].data)
			next++
		}
		b.Get(now, out)
		st := b.Stats()
		if st.Target < 20*time.Millisecond || st.Target > 200*time.Millisecond {
			t.Fatalf("at %v target %v outside 20..200 ms", now, st.Target)
		}
		if st.Delay > 200*time.Millisecond {
			t.Fatalf("at %v delay %v above 200 ms", now, st.Delay)
		}
		if len(targets) < len(ends) && now+20*time.Millisecond >= ends[len(targets)] {
			targets = append(targets, st)
			t.Logf("end of phase %d: %+v", len(targets), st)
		}
	}
	return targets
}

func TestAdaptsToJitter(t *testing.T) {
	got := netSim(t, []phase{
		{4 * time.Second, 0},
		{6 * time.Second, 100 * time.Millisecond},
		{6 * time.Second, 0},
	})
	if got[0].Target != 20*time.Millisecond || got[0].Delay >= 40*time.Millisecond {
		t.Errorf("no jitter: target %v delay %v, want the 20 ms floor and < 40 ms", got[0].Target, got[0].Delay)
	}
	if got[1].Target < 90*time.Millisecond || got[1].Target > 120*time.Millisecond || got[1].Delay < got[1].Target {
		t.Errorf("100 ms jitter: target %v delay %v, want 90-120 ms (97th percentile + 10 ms) and delay above it",
			got[1].Target, got[1].Delay)
	}
	if got[2].Target != 20*time.Millisecond || got[2].Delay >= 40*time.Millisecond {
		t.Errorf("jitter gone: target %v delay %v, want back at 20 ms and < 40 ms", got[2].Target, got[2].Delay)
	}
	// Late packets: a few while the target climbs, none once it is there.
	if late := got[1].Late; late > 10 {
		t.Errorf("%d late packets under 100 ms jitter", late)
	}
}

func TestDelayFollowsTargetInSilence(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	b := New(Config{}, codec.PCMU)
	silence := make([]byte, frame)
	for i := range silence {
		silence[i] = 0xFF
	}
	out := make([]int16, frame)
	// Jittery silence for 3 s (delay must grow), then steady (must shrink).
	type arrival struct {
		at time.Duration
		ts uint32
	}
	var arr []arrival
	for k := 0; k < 300; k++ {
		j := time.Duration(0)
		if k < 150 {
			j = time.Duration(rng.Int64N(int64(80 * time.Millisecond)))
		}
		arr = append(arr, arrival{time.Duration(k)*20*time.Millisecond + j, uint32(k * frame)})
	}
	sort.Slice(arr, func(i, j int) bool { return arr[i].at < arr[j].at })
	next := 0
	var peak time.Duration
	for now := 5 * time.Millisecond; now < 6*time.Second; now += 20 * time.Millisecond {
		for next < len(arr) && arr[next].at <= now {
			b.Put(arr[next].at, 1, arr[next].ts, false, silence)
			next++
		}
		b.Get(now, out)
		if now > 2*time.Second && now < 3*time.Second {
			peak = max(peak, b.Stats().Delay)
		}
	}
	st := b.Stats()
	if peak < 70*time.Millisecond {
		t.Errorf("delay under 80 ms jitter peaked at %v, want ≥ 70 ms", peak)
	}
	if st.Delay > 40*time.Millisecond {
		t.Errorf("delay after jitter stopped: %v, want ≤ 40 ms", st.Delay)
	}
	if st.Grown == 0 || st.Shrunk == 0 {
		t.Errorf("grown %d, shrunk %d: want both", st.Grown, st.Shrunk)
	}
}

func TestNoAllocs(t *testing.T) {
	b := New(Config{}, codec.PCMU)
	payload := marked(3)
	out := make([]int16, frame)
	now, ts := time.Duration(0), uint32(0)
	for range 200 { // reach steady state: history full, playing
		now += 20 * time.Millisecond
		ts += frame
		b.Put(now, 1, ts, false, payload)
		b.Get(now, out)
	}
	if a := testing.AllocsPerRun(500, func() {
		now += 20 * time.Millisecond
		ts += frame
		b.Put(now, 1, ts, false, payload)
		b.Get(now, out)
	}); a != 0 {
		t.Fatalf("%v allocs per packet", a)
	}
}

func BenchmarkPutGet(b *testing.B) {
	buf := New(Config{}, codec.PCMU)
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

// In continuous speech the buffer keeps its delay even when the target
// falls: shrinking would cut audible audio.
func TestNoShrinkDuringSpeech(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	b := New(Config{}, codec.PCMU)
	var tone [frame]int16
	for i := range tone {
		tone[i] = int16(6000 * math.Sin(2*math.Pi*float64(i)/8))
	}
	payload := make([]byte, frame)
	codec.PCMU.Encode(payload, tone[:])
	type arr struct {
		at time.Duration
		ts uint32
	}
	var arrs []arr
	for k := 0; k < 300; k++ {
		j := time.Duration(0)
		if k < 150 {
			j = time.Duration(rng.Int64N(int64(80 * time.Millisecond)))
		}
		arrs = append(arrs, arr{time.Duration(k)*20*time.Millisecond + j, uint32(k * frame)})
	}
	sort.Slice(arrs, func(i, j int) bool { return arrs[i].at < arrs[j].at })
	out := make([]int16, frame)
	next := 0
	var shrunkAt3s uint64
	for now := 5 * time.Millisecond; now < 6*time.Second; now += 20 * time.Millisecond {
		for next < len(arrs) && arrs[next].at <= now {
			b.Put(arrs[next].at, 1, arrs[next].ts, false, payload)
			next++
		}
		b.Get(now, out)
		if now < 3*time.Second {
			shrunkAt3s = b.Stats().Shrunk
		}
	}
	st := b.Stats()
	if st.Target != 20*time.Millisecond {
		t.Fatalf("target %v after the jitter stopped, want 20 ms", st.Target)
	}
	if st.Shrunk != shrunkAt3s || st.Delay < 60*time.Millisecond {
		t.Errorf("delay %v, shrunk %d times after the jitter stopped; speech must not be cut", st.Delay, st.Shrunk-shrunkAt3s)
	}
}
