package update

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// ErrBusy: a bundle is being read or installed.
var ErrBusy = errors.New("another update is being checked or installed; try again when it is done")

// Manager takes bundles for one card, one at a time: Stage verifies one
// and keeps it, Install writes it and restarts into it. The web UI and
// provisioning use it.
type Manager struct {
	Card     *Card // nil when NoCard says why there is none
	NoCard   error
	Key      ed25519.PublicKey // nil: built without a key, every bundle refused
	Board    string
	SpoolDir string
	// Restart reboots into the installed slot once (RebootTry), after
	// RestartDelay so that the answer reaches the browser.
	Restart      func() error
	RestartDelay time.Duration

	mu         sync.Mutex
	busy       bool
	staged     *Staged
	installing bool
}

// Snapshot is the manager's state.
type Snapshot struct {
	Status
	Available  bool
	Why        string
	KeyID      string
	Running    string // the running slot's version
	Staged     *Manifest
	Installing bool
}

// Snapshot is the card's and the manager's state.
func (m *Manager) Snapshot() Snapshot {
	var s Snapshot
	if m.Card == nil {
		s.Why = "no A/B card"
		if m.NoCard != nil {
			s.Why = m.NoCard.Error()
		}
	} else {
		s.Status = m.Card.Status()
		s.Available = true
		if r := m.Card.RunningManifest(); r != nil {
			s.Running = r.Version
		}
	}
	if len(m.Key) == ed25519.PublicKeySize {
		s.KeyID = KeyID(m.Key)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.staged != nil {
		s.Staged = m.staged.Manifest
	}
	s.Installing = m.installing
	return s
}

func (m *Manager) acquire() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.busy || m.installing {
		return ErrBusy
	}
	m.busy = true
	return nil
}

func (m *Manager) release() {
	m.mu.Lock()
	m.busy = false
	m.mu.Unlock()
}

// Stage reads and verifies a bundle (see the package Stage) and keeps it
// for Install, in place of one kept before.
func (m *Manager) Stage(r io.Reader, force bool) (*Manifest, error) {
	if m.Card == nil {
		return nil, fmt.Errorf("updates are not available: %w", m.NoCard)
	}
	if err := m.acquire(); err != nil {
		return nil, err
	}
	defer m.release()
	m.Discard()
	e, err := m.Card.Expect(m.Board, force)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	st, err := Stage(r, m.Key, e, m.SpoolDir)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.staged = st
	m.mu.Unlock()
	m.Card.log().Info("update: bundle verified", "version", st.Manifest.Version, "board", st.Manifest.Board,
		"bytes", st.Manifest.Image.Compressed, "received_and_checked_in", time.Since(start).Round(time.Millisecond))
	return st.Manifest, nil
}

// Discard forgets the kept bundle.
func (m *Manager) Discard() {
	m.mu.Lock()
	st := m.staged
	m.staged = nil
	m.mu.Unlock()
	if st != nil {
		st.Remove()
	}
}

// Install writes the kept bundle to the inactive slot (Card.Install) and
// restarts into it after RestartDelay.
func (m *Manager) Install() error {
	if m.Card == nil {
		return fmt.Errorf("updates are not available: %w", m.NoCard)
	}
	if err := m.acquire(); err != nil {
		return err
	}
	defer m.release()
	m.mu.Lock()
	st := m.staged
	m.mu.Unlock()
	if st == nil {
		return errors.New("no verified bundle waits: upload one first")
	}
	if err := m.Card.Install(st); err != nil {
		return err
	}
	m.Discard()
	m.mu.Lock()
	m.installing = true
	m.mu.Unlock()
	time.AfterFunc(m.RestartDelay, func() {
		m.Card.log().Warn("update: restarting into the new version (tryboot)")
		if err := m.Restart(); err != nil {
			m.Card.log().Error("update: restart", "err", err)
			m.mu.Lock()
			m.installing = false
			m.mu.Unlock()
		}
	})
	return nil
}
