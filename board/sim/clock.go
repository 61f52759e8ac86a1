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
	// frame waits frames (short waits) on a timerfd (sleep_linux.go);
	// made by the first SleepUntil, nil where there is none.
	frame     *frameTimer
	frameMade bool
}

func newWallClock() *wallClock {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &wallClock{origin: time.Now(), timer: t}
}

func (c *wallClock) Now() time.Duration { return time.Since(c.origin) }

// maxFrameWait bounds one wait on the frame timer, so a cancelled ctx is
// noticed within it.
const maxFrameWait = 50 * time.Millisecond

func (c *wallClock) SleepUntil(ctx context.Context, t time.Duration) error {
	if !c.frameMade {
		c.frame, c.frameMade = newFrameTimer(), true
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		d := t - c.Now()
		if d <= 0 {
			return nil
		}
		if d <= maxFrameWait && c.frame != nil {
			if c.frame.sleep(d) {
				continue
			}
			c.frame = nil // the timerfd failed: Go timers from now on
		}
		// Long waits (the port is idle far ahead) go through a Go timer,
		// the end of them through the frame timer.
		wait := d
		if c.frame != nil {
			wait = d - maxFrameWait/2
		}
		c.timer.Reset(wait)
		select {
		case <-ctx.Done():
			c.timer.Stop()
			return ctx.Err()
		case <-c.timer.C:
		}
	}
}
