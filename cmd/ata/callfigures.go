package main

import (
	"slices"
	"time"
)

// callFiguresEvery is how often the web UI's live views hear of a change
// while calls are up: their duration, loss, jitter, round trip and MOS
// move without a state change to announce them.
const callFiguresEvery = time.Second

// tickCalls notifies the watchers every callFiguresEvery while the port
// has calls, until stop closes (the last watcher left). Without calls it
// only looks once a tick.
func (a *app) tickCalls(stop <-chan struct{}) {
	t := time.NewTicker(callFiguresEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if len(a.phone.Snapshot().Calls) > 0 {
				a.watch.notify()
			}
		}
	}
}

// mediaPortsChanged takes the SIP side's set of local RTP and RTCP ports
// (sip.StackConfig.OnMediaPorts) for the packet capture, running or next.
func (a *app) mediaPortsChanged(ports []uint16) {
	a.capMu.Lock()
	defer a.capMu.Unlock()
	a.mediaPorts = slices.Clone(ports)
	if a.cap != nil {
		a.cap.SetMediaPorts(a.mediaPorts)
	}
}
