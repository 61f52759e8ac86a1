package sim

import (
	"time"

	"golang.org/x/sys/unix"
)

// sleepThread blocks the calling OS thread for d (nanosleep).
func sleepThread(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	for unix.Nanosleep(&ts, &ts) == unix.EINTR {
	}
}
