package sim

import (
	"context"
	"time"
)

// Clock is the monotonic time source that paces Port.Run. Tests inject a
// fake one to check catch-up deterministically; the default reads the
// system's monotonic clock.
type Clock interface {
	// Now returns the time elapsed since an arbitrary fixed origin. It may
	// be called from any goroutine.
	Now() time.Duration
	// SleepUntil blocks until Now() >= t or ctx ends (then it returns
	// ctx's error). It returns at once when t has passed. Only the port's
	// Run goroutine calls it.
	SleepUntil(ctx context.Context, t time.Duration) error
}

// wallClock is the system monotonic clock. It keeps one timer and resets it
// against absolute deadlines, so waiting allocates nothing and never drifts.
type wallClock struct {
	origin time.Time
	timer  *time.Timer
}

func newWallClock() *wallClock {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &wallClock{origin: time.Now(), timer: t}
}

func (c *wallClock) Now() time.Duration { return time.Since(c.origin) }

// maxThreadSleep bounds one sleep in the kernel, so a cancelled ctx is
// noticed within it.
const maxThreadSleep = 50 * time.Millisecond

func (c *wallClock) SleepUntil(ctx context.Context, t time.Duration) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		d := t - c.Now()
		if d <= 0 {
			return nil
		}
		if d > maxThreadSleep {
			// Long waits (the port is idle far ahead) go through a Go timer.
			c.timer.Reset(d - maxThreadSleep/2)
			select {
			case <-ctx.Done():
				c.timer.Stop()
				return ctx.Err()
			case <-c.timer.C:
			}
			continue
		}
		// The frame wait sleeps in the kernel on the loop's own thread:
		// with real-time priority (board.LockRealtime) the kernel wakes it
		// on time even when every core is busy, where a Go timer would wait
		// for a normal-priority thread to run the timer.
		sleepThread(d)
	}
}
