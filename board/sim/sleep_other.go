//go:build !linux

package sim

import "time"

func sleepThread(d time.Duration) { time.Sleep(d) }
