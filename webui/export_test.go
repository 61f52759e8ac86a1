package webui

import "time"

// Test hooks for the external tests of this package.

// SetVerify replaces how srv checks a password against its hash.
func SetVerify(srv *Server, f func(encoded, pw string) (bool, error)) { srv.admin.verify = f }

// VerifyPassword is the real check, for hooks that wrap it.
var VerifyPassword = verifyPassword

// HashGate reports the process-wide hash gate: hashes running, requests
// waiting for a slot, and the most that ever ran at once (since ResetHashPeak).
func HashGate() (running, waiting, peak int) {
	return int(hashes.inflight.Load()), int(hashes.waiting.Load()), int(hashes.peak.Load())
}

// ResetHashPeak forgets the peak HashGate reports.
func ResetHashPeak() { hashes.peak.Store(hashes.inflight.Load()) }

// SetHashWait changes how long a request waits for a slot; the returned
// func restores it.
func SetHashWait(d time.Duration) (restore func()) {
	old := hashWait
	hashWait = d
	return func() { hashWait = old }
}

// Hash gate sizes.
const (
	MaxHashes      = maxHashes
	MaxHashWaiters = maxHashWaiters
)

// HashPasswordWith hashes with other costs: an admin file of an older release.
var HashPasswordWith = hashPasswordWith
