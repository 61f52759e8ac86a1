package board

import (
	"log/slog"
	"runtime"

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
