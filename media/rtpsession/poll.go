package rtpsession

import "time"

// Polled receiving: a relay (bridge.Relay) carrying many calls reads each
// session's RTP socket itself, on its frame clock, instead of waking one
// goroutine per received packet.
//
// Why the socket also leaves the Go runtime's poller while polled: a
// socket registered there wakes the runtime (a thread blocked in
// epoll_wait) at every arriving packet even with no goroutine waiting on
// it, and a wake-up costs more CPU than the packet's own receive and send.
// Measured with BenchmarkRouterRelay at 20 relayed calls: 4.1 ms CPU per
// call-second with the RTP goroutines, about the same polled but still
// registered, 2.9 ms polled and out of the poller (rtpengine 2.3-3.4 ms
// in the same runs). So StartPolling keeps a duplicate of the socket and
// closes the session's conn (which takes it out of the poller), and
// StopPolling makes a new conn from the duplicate.
//
// The packets keep their kernel arrival time (SO_TIMESTAMPNS), so the
// jitter buffer and the jitter figures see when they came, not when they
// were read.

// pollGate is the polled state; Session.mu guards it (the send path
// holds mu already, and Poll takes it around its receive only).
type pollGate struct {
	on     bool
	fd     int           // the socket, outside the Go poller, while on
	v6     bool          // an AF_INET6 socket
	resume chan struct{} // closed when polling stops or the session closes
	ps     *pollState    // receive buffers, made at the first StartPolling
}

// afterRead decides, when the RTP goroutine's conn reported closed,
// whether it reads on (the conn was replaced by StopPolling), after
// waiting out a polled period, or ends (the session closed).
func (s *Session) afterRead() bool {
	for {
		s.mu.Lock()
		closed, on, resume := s.closed, s.pollGate.on, s.pollGate.resume
		s.mu.Unlock()
		if closed {
			return false
		}
		if !on {
			return true
		}
		<-resume
	}
}

// arrivedAt places a kernel receive time (wall clock, ns) on the
// session's clock, given a reading of both clocks now. A time from the
// future or older than a second (a clock step) counts as now.
func arrivedAt(now time.Duration, wallNow, stamp int64) time.Duration {
	age := time.Duration(wallNow - stamp)
	if stamp == 0 || age < 0 || age > time.Second {
		return now
	}
	return now - age
}
