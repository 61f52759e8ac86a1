//go:build !linux || 386

package rtpsession

import "net/netip"

// pollState: polling needs Linux's recvmmsg (poll_linux.go).
type pollState struct{}

// StartPolling: the session keeps receiving by itself here.
func (s *Session) StartPolling() bool { return false }

// StopPolling does nothing: polling never started.
func (s *Session) StopPolling() {}

// Poll does nothing: polling never started.
func (s *Session) Poll() {}

func (s *Session) endPolling() bool { return false }

func (s *Session) sendPolled([]byte, netip.AddrPort) error { panic("unreachable") }
