package sim

import (
	"syscall"
	"time"
)

// sleepThread blocks the calling OS thread for d (nanosleep). With the
// frame loop on a real-time thread (board.LockRealtime) the kernel wakes it
// on time even when every core is busy; a Go timer would instead wait for
// some normal-priority thread to run the runtime's timers.
func sleepThread(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}
