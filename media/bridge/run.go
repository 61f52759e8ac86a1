package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// sampleTime is one 8 kHz sample.
const sampleTime = time.Second / 8000

// Run mixes the endpoints among themselves, with no local port, one frame
// every frame period on its own clock until ctx ends (nil then): two legs
// joined this way are a relay. Deadlines are absolute (start + k·frame), so
// lateness never accumulates as drift. After a stall, the frame that was
// due runs at once, then at most one more to catch up; the frames missed
// beyond that are dropped (counted in Stats.Skipped) and Run keeps its
// original phase. Time comes from the time package: tests run Run inside a
// testing/synctest bubble, where that clock is fake.
//
// Run must not overlap another Run or Exchange on the same mixer.
func (m *Mixer) Run(ctx context.Context, frame time.Duration) error {
	if frame <= 0 || frame%sampleTime != 0 || frame > MaxFrame*sampleTime {
		return fmt.Errorf("bridge: frame period %v is not a whole number of 8 kHz samples up to %v", frame, MaxFrame*sampleTime)
	}
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("bridge: mixer already running")
	}
	defer m.running.Store(false)
	n := int(frame / sampleTime)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	next := time.Now()
	for {
		if wait := time.Until(next); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return nil
		}
		m.mix(nil, nil, n)
		next = next.Add(frame)
		// More than a frame behind: jump whole periods so that next is
		// due now at the latest, which leaves one catch-up frame.
		if behind := time.Since(next); behind >= frame {
			k := behind / frame
			m.skipped.Add(uint64(k))
			next = next.Add(k * frame)
		}
	}
}
