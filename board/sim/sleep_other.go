//go:build !linux

package sim

import "time"

// frameTimer is Linux's timerfd; elsewhere the clock uses a Go timer.
type frameTimer struct{}

func newFrameTimer() *frameTimer { return nil }

func (*frameTimer) sleep(time.Duration) bool { return false }
