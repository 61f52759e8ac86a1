//go:build linux && !386

package rtpsession

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/openata/ata/media/codec"
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

// newFrameTicker returns a func that waits for the next period of a
// periodic timerfd, as the sim board paces its frames (board/sim): a Go
// timer would wake the process twice a period (its poller timeout is in
// whole milliseconds) and wake sysmon at each expiry, hiding what this
// test counts.
func newFrameTicker(tb testing.TB, period time.Duration) (wait func()) {
	tb.Helper()
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		tb.Skipf("timerfd: %v", err)
	}
	f := os.NewFile(uintptr(fd), "ticker")
	tb.Cleanup(func() { f.Close() })
	p := unix.NsecToTimespec(int64(period))
	if err := unix.TimerfdSettime(fd, 0, &unix.ItimerSpec{Interval: p, Value: p}, nil); err != nil {
		tb.Fatal(err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	var buf [8]byte
	read := func(fd uintptr) bool {
		_, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), 8)
		return e != syscall.EAGAIN
	}
	return func() {
		if err := rc.Read(read); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestFramesWakeOnceEach: two sessions exchanging a frame each way every
// 20 ms, with one P (as cmd/ata runs), cost about one wake-up of the
// process a frame: the pacing timer's. With Go system calls for the
// sockets (net.UDPConn's), each wake-up also woke the runtime's sysmon
// thread, which polled every 20 µs until the process was idle again:
// three or more wake-ups a frame (rawio_linux.go).
func TestFramesWakeOnceEach(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	ca, cb := listenTB(t), listenTB(t)
	a, err := New(Config{Conn: ca, Remote: addrOf(cb), Codec: codec.PCMU, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New(Config{Conn: cb, Remote: addrOf(ca), Codec: codec.PCMU, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a.Start()
	b.Start()
	mic, ear := toneFrame(), make([]int16, 160)
	tick := newFrameTicker(t, 20*time.Millisecond)
	frame := func() {
		tick()
		a.Exchange(mic, ear)
		b.Exchange(mic, ear)
	}
	for range 10 { // jitter buffers filled, goroutines settled
		frame()
	}
	const frames = 50
	w0 := voluntarySwitches(t)
	for range frames {
		frame()
	}
	w := voluntarySwitches(t) - w0
	if got := b.Stats().PacketsReceived; got < frames {
		t.Fatalf("B received %d packets, want at least %d", got, frames)
	}
	// One for the timer, and some slack for the runtime's housekeeping.
	if per := float64(w) / frames; per > 2.5 {
		t.Errorf("%d wake-ups for %d frames (%.1f a frame), want about 1", w, frames, per)
	} else {
		t.Logf("%d wake-ups for %d frames (%.2f a frame)", w, frames, per)
	}
}
