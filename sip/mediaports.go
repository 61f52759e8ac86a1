package sip

import (
	"slices"
	"sync"
)

// mediaPorts counts the local RTP and RTCP ports the stack's calls hold,
// so that StackConfig.OnMediaPorts (the packet capture) knows which
// datagrams in the RTP range are ours.
type mediaPorts struct {
	mu   sync.Mutex
	held map[uint16]int       // port → calls holding it (a port is reused only once freed)
	tell func(ports []uint16) // StackConfig.OnMediaPorts, taken at the first claim
}

// claim records ports as held by a call and tells the new set.
func (m *mediaPorts) claim(tell func([]uint16), ports ...uint16) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.held == nil {
		m.held = map[uint16]int{}
	}
	for _, p := range ports {
		m.held[p]++
	}
	m.tell = tell
	m.notify()
}

// release forgets ports a call closed and tells the new set.
func (m *mediaPorts) release(ports ...uint16) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range ports {
		if m.held[p] <= 1 {
			delete(m.held, p)
		} else {
			m.held[p]--
		}
	}
	m.notify()
}

// notify runs under m.mu, so that listeners see the sets in order.
func (m *mediaPorts) notify() {
	if m.tell == nil {
		return
	}
	out := make([]uint16, 0, len(m.held))
	for p := range m.held {
		out = append(out, p)
	}
	slices.Sort(out)
	m.tell(out)
}

// MediaPorts is the sorted set of local RTP and RTCP ports the stack's
// calls hold now.
func (s *Stack) MediaPorts() []uint16 {
	s.media.mu.Lock()
	defer s.media.mu.Unlock()
	out := make([]uint16, 0, len(s.media.held))
	for p := range s.media.held {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}
