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

// mediaPortsLinger is how long the capture keeps an ended call's ports:
// its last packets (our RTCP BYE, the far end's last RTP and BYE) are
// still on their way when the sockets close.
const mediaPortsLinger = 2 * time.Second

// mediaPortsChanged takes the SIP side's set of local RTP and RTCP ports
// (sip.StackConfig.OnMediaPorts) for the packet capture, running or next.
func (a *app) mediaPortsChanged(ports []uint16) {
	a.capMu.Lock()
	defer a.capMu.Unlock()
	now := time.Now()
	for _, p := range a.mediaPorts {
		if !slices.Contains(ports, p) {
			if a.portsGone == nil {
				a.portsGone = map[uint16]time.Time{}
			}
			a.portsGone[p] = now.Add(mediaPortsLinger)
			time.AfterFunc(mediaPortsLinger, a.refreshCapturePorts)
		}
	}
	a.mediaPorts = slices.Clone(ports)
	if a.cap != nil {
		a.cap.SetMediaPorts(a.capturePortsLocked(now))
	}
}

// refreshCapturePorts lets go of ports whose linger is over.
func (a *app) refreshCapturePorts() {
	a.capMu.Lock()
	defer a.capMu.Unlock()
	if a.cap != nil {
		a.cap.SetMediaPorts(a.capturePortsLocked(time.Now()))
	}
}

// capturePortsLocked is what the capture keeps besides SIP: the calls'
// ports and those of calls ended less than mediaPortsLinger ago. a.capMu
// is held.
func (a *app) capturePortsLocked(now time.Time) []uint16 {
	out := slices.Clone(a.mediaPorts)
	for p, until := range a.portsGone {
		switch {
		case !now.Before(until):
			delete(a.portsGone, p)
		case !slices.Contains(out, p):
			out = append(out, p)
		}
	}
	return out
}
