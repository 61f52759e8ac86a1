package board

import (
	"errors"
	"log/slog"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// RealtimePriority is the SCHED_FIFO priority of a port's frame loop:
// above ordinary work, below the kernel's own interrupt threads (50).
const RealtimePriority = 10

// LockRealtime pins the calling goroutine to its OS thread and asks the
// kernel to schedule that thread SCHED_FIFO, so a busy system does not
// delay audio frames (and the RTP packets sent from them). Without the
// privilege (not root, no CAP_SYS_NICE) the loop still runs, at normal
// priority, and says so once.
//
// The thread stays locked for good: call this from a goroutine that ends
// when the loop does. Go then terminates the thread instead of handing a
// real-time thread to other goroutines.
func LockRealtime(log *slog.Logger) {
	runtime.LockOSThread()
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: RealtimePriority}
	if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
		if log != nil {
			log.Info("board: frame loop at normal priority (no real-time scheduling)", "err", err)
		}
	}
}

// RealtimeProcess asks the kernel to schedule every thread of the process
// SCHED_FIFO at RealtimePriority; a thread created later inherits the
// policy of the thread that creates it, so the whole process stays there
// until restore, which puts every thread back to the caller's policy from
// before. It is for a frame loop that waits in the Go runtime's poller (a
// timerfd, board/sim) instead of blocking a thread of its own: the runtime
// wakes whichever of its threads sits in epoll, so that thread, any of
// them, must be real-time for the frame to start on time when every core
// is busy. Go code then preempts ordinary processes; with one P
// (GOMAXPROCS=1, cmd/ata) that is at most one core, and the kernel's
// real-time throttling (sched_rt_runtime_us) still bounds it. Without the
// privilege the process runs at normal priority and says so once.
func RealtimeProcess(log *slog.Logger) (restore func()) {
	prev, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		prev = &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL}
	}
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: RealtimePriority}
	if err := setAllThreads(&attr); err != nil {
		if log != nil {
			log.Info("board: frame loop at normal priority (no real-time scheduling)", "err", err)
		}
		setAllThreads(prev) // the threads raised before the error
		return func() {}
	}
	return func() { setAllThreads(prev) }
}

// setAllThreads applies attr to every thread of the process.
func setAllThreads(attr *unix.SchedAttr) error {
	done := map[int]bool{}
	// A second pass catches a thread cloned, during the first, from one
	// not yet changed; the runtime starts threads rarely once running.
	for pass := 0; pass < 2; pass++ {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil || done[tid] {
				continue
			}
			if err := unix.SchedSetAttr(tid, attr, 0); err != nil && !errors.Is(err, unix.ESRCH) {
				return err // ESRCH: the thread ended meanwhile
			}
			done[tid] = true
		}
	}
	return nil
}
