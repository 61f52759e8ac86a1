package bridge

import (
	"context"
	"time"

	"github.com/openata/ata/media"
)

// Relay joins two endpoints (two calls' media) in a mixer paced by its own
// clock, one frame period at a time, until stop: what a B2BUA does with a
// call it anchors, and a call forwarded by bridging. stop waits for the
// relay to end.
func Relay(a, b media.Endpoint, frame time.Duration) (stop func()) {
	m := &Mixer{}
	m.Add(a, Active)
	m.Add(b, Active)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx, frame)
	}()
	return func() { cancel(); <-done }
}
