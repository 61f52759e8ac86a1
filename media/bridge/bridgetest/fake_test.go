package bridgetest

import (
	"math"
	"slices"
	"testing"

	"github.com/openata/ata/board/pcm"
)

func TestHeardKeepsTheLastSamplesInOrder(t *testing.T) {
	e := Constant(0)
	if got := e.Heard(10); len(got) != 0 {
		t.Fatalf("heard %v before any frame", got)
	}
	frame := make([]int16, 160)
	next := int16(0)
	for range 60 { // 9600 samples: the ring wraps
		for i := range frame {
			frame[i] = next
			next++
		}
		e.WriteFrame(frame)
	}
	got := e.Heard(History + 5)
	if len(got) != History || got[0] != next-History || got[History-1] != next-1 {
		t.Fatalf("heard %d samples %d…%d, want %d samples %d…%d", len(got), got[0], got[len(got)-1], History, next-History, next-1)
	}
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Fatalf("sample %d is %d after %d", i, got[i], got[i-1])
		}
	}
	if got := e.Heard(3); !slices.Equal(got, []int16{next - 3, next - 2, next - 1}) {
		t.Fatalf("last 3 = %v", got)
	}
	if e.Writes() != 60 || e.Reads() != 0 {
		t.Fatalf("writes %d reads %d", e.Writes(), e.Reads())
	}
}

func TestSignals(t *testing.T) {
	f := make([]int16, 800)
	Tone(1000, -10).ReadFrame(f)
	if l := pcm.ToneLevel(f, 1000); math.Abs(l+10) > 0.05 {
		t.Fatalf("tone at %.2f dBm0, want -10", l)
	}
	c := Constant(-1234)
	c.ReadFrame(f)
	if f[0] != -1234 || f[799] != -1234 || c.Reads() != 1 {
		t.Fatalf("constant says %d…%d", f[0], f[799])
	}
}

func TestFrameMethodsDoNotAllocate(t *testing.T) {
	e, f := Tone(440, -20), make([]int16, 160)
	if a := testing.AllocsPerRun(100, func() { e.ReadFrame(f); e.WriteFrame(f) }); a != 0 {
		t.Fatalf("%v allocs per frame", a)
	}
}
