//go:build !linux

package bridge

import "time"

// frameWaiter waits for the relays' next frame: a Go timer where there
// is no timerfd.
type frameWaiter interface {
	sleep(d time.Duration)
	close()
}

func newFrameWaiter() frameWaiter { return &goTimerWaiter{} }
