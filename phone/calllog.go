package phone

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// Entry is one call in the call log: one JSON object per line.
type Entry struct {
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Direction string    `json:"direction"` // "in" or "out"
	Number    string    `json:"number"`
	Name      string    `json:"name,omitempty"`
	Duration  float64   `json:"duration_s"` // answered time; 0 if never answered
	Cause     string    `json:"end_cause"`
	Status    int       `json:"sip_status,omitempty"`
	Codec     string    `json:"codec,omitempty"`
	Loss      float64   `json:"loss"`
	JitterMS  float64   `json:"jitter_ms"`
	MOS       float64   `json:"mos"`
}

// CallLog appends entries to a JSON-lines file.
type CallLog struct {
	mu   sync.Mutex
	path string
}

// OpenCallLog returns a log writing to path (created on first use).
func OpenCallLog(path string) *CallLog { return &CallLog{path: path} }

// Path is the log file.
func (l *CallLog) Path() string { return l.path }

// Append writes one entry as a line. Each line is written with a single
// write on an O_APPEND file, so a crash leaves whole lines behind.
func (l *CallLog) Append(e Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("call log: %w", err)
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("call log: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("call log: write %s: %w", l.path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("call log: close %s: %w", l.path, err)
	}
	return nil
}
