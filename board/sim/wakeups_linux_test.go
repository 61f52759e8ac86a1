package sim

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openata/ata/board"
)

// voluntarySwitches is how many times the process's threads have blocked
// (voluntary_ctxt_switches summed over /proc/self/task): each is one
// wake-up, a count that other processes' load does not inflate.
func voluntarySwitches(tb testing.TB) int64 {
	tb.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		tb.Skipf("no /proc: %v", err)
	}
	var n int64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%s/status", t.Name()))
		if err != nil {
			continue // the thread ended
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
				c, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				if err != nil {
					tb.Fatal(err)
				}
				n += c
			}
		}
	}
	return n
}

type countingHandler struct{ frames atomic.Int64 }

func (h *countingHandler) HookEdge(board.HookEdge)               {}
func (h *countingHandler) Frame(time.Duration, []int16, []int16) { h.frames.Add(1) }

// TestFrameWaitWakesOncePerFrame: on the wall clock with one P (as
// cmd/ata runs), each frame costs about one wake-up of the process. The
// frame loop used to sleep in nanosleep holding the P; the runtime's
// sysmon then took the P back during every sleep and polled every 20 µs
// after each wake-up: five or more wake-ups a frame, most of the
// firmware's CPU time in a call.
func TestFrameWaitWakesOncePerFrame(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	b, err := New(Opts{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	h := &countingHandler{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Port().Run(ctx, h) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	time.Sleep(200 * time.Millisecond) // started, threads raised
	f0, w0 := h.frames.Load(), voluntarySwitches(t)
	time.Sleep(time.Second)
	f1, w1 := h.frames.Load(), voluntarySwitches(t)
	frames := f1 - f0
	if frames < 40 {
		t.Fatalf("%d frames in 1 s, want 50", frames)
	}
	// One for the frame, and some slack for the test's own sleep and the
	// runtime's housekeeping.
	if per := float64(w1-w0) / float64(frames); per > 2.5 {
		t.Errorf("%d wake-ups for %d frames (%.1f a frame), want about 1", w1-w0, frames, per)
	} else {
		t.Logf("%d wake-ups for %d frames (%.2f a frame)", w1-w0, frames, per)
	}
}
