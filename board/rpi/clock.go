package rpi

import (
	"context"
	"time"

	"golang.org/x/sys/unix"
)

// Clock is the monotonic time source of the board: it stamps hook edges
// and paces the ring signal. Tests inject a manual one.
type Clock interface {
	// Now returns the time elapsed since an arbitrary fixed origin. It may
	// be called from any goroutine.
	Now() time.Duration
	// SleepUntil blocks until Now() >= t or ctx ends (then it returns
	// ctx's error). It returns at once when t has passed.
	SleepUntil(ctx context.Context, t time.Duration) error
}

// wallClock is the system's monotonic clock.
type wallClock struct{ origin time.Time }

func newWallClock() *wallClock { return &wallClock{origin: time.Now()} }

func (c *wallClock) Now() time.Duration { return time.Since(c.origin) }

// maxSleepSlice bounds one kernel sleep, so a cancelled ctx (a ring burst
// ending) is noticed within it.
const maxSleepSlice = 5 * time.Millisecond

// SleepUntil sleeps in the kernel on the calling thread: the ring toggler
// runs at real-time priority (board.LockRealtime) and the kernel then wakes
// it on time even when every core is busy, where a Go timer would wait for
// a normal-priority thread to fire it.
func (c *wallClock) SleepUntil(ctx context.Context, t time.Duration) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		d := t - c.Now()
		if d <= 0 {
			return nil
		}
		ts := unix.NsecToTimespec(int64(min(d, maxSleepSlice)))
		_ = unix.Nanosleep(&ts, nil) // EINTR: loop and sleep the rest
	}
}
