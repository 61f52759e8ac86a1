package phone

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
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
	Duration  float64   `json:"duration_s"`           // answered time; 0 if never answered
	Cause     string    `json:"end_cause"`            // a call.Cause: normal, busy, transferred...
	Detail    string    `json:"detail,omitempty"`     // the signalling's own words ("486 Busy Here")
	Remote    bool      `json:"remote_end,omitempty"` // the far end (or network) ended it
	Leg       string    `json:"leg,omitempty"`
	// ForwardedTo is where a forwarded call went (it rang nothing here).
	ForwardedTo string  `json:"forwarded_to,omitempty"` // the leg's id, to tell the legs of one call apart
	Codec       string  `json:"codec,omitempty"`
	Loss        float64 `json:"loss"`
	JitterMS    float64 `json:"jitter_ms"`
	// RTTMS is the round trip from RTCP (RFC 3550 §6.4.1); 0: the far end
	// never reported on our stream.
	RTTMS float64 `json:"rtt_ms,omitempty"`
	MOS   float64 `json:"mos"`
	// EchoERL and EchoERLE are the line echo canceller's figures at the
	// end of the call (dB; 0 when the far end never talked alone);
	// EchoOff: a modem's answer tone took the canceller out.
	EchoERL  float64 `json:"echo_erl_db,omitempty"`
	EchoERLE float64 `json:"echo_erle_db,omitempty"`
	EchoOff  bool    `json:"echo_off,omitempty"`
	// PassThrough: a fax or modem tone (DataTone) switched the call to
	// pass-through.
	PassThrough bool   `json:"pass_through,omitempty"`
	DataTone    string `json:"data_tone,omitempty"`
	// SRTP: the call's media was encrypted.
	SRTP bool `json:"srtp"`
	// A call the router joined between two SIP legs (router mode): where
	// it came from ("line:1", "user:201"), the route it took, the
	// extension that answered, who hung up first ("caller", "callee"),
	// and the second leg with its figures (the first is Leg, Codec...).
	From         string  `json:"from,omitempty"`
	Route        string  `json:"route,omitempty"`
	AnsweredBy   string  `json:"answered_by,omitempty"`
	EndedBy      string  `json:"ended_by,omitempty"`
	PeerLeg      string  `json:"peer_leg,omitempty"`
	PeerCodec    string  `json:"peer_codec,omitempty"`
	PeerLoss     float64 `json:"peer_loss,omitempty"`
	PeerJitterMS float64 `json:"peer_jitter_ms,omitempty"`
	PeerMOS      float64 `json:"peer_mos,omitempty"`
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
	if err := l.trim(); err != nil {
		return fmt.Errorf("call log: trim %s: %w", l.path, err)
	}
	return nil
}

// maxLogBytes bounds the call log: past it, Append keeps the newest half.
const maxLogBytes = 1 << 20

// Read returns entries newest first, skipping offset and at most limit of
// them, and the number of entries in the log. Lines that do not parse
// (a torn write after power loss) are skipped.
func (l *CallLog) Read(offset, limit int) ([]Entry, int, error) {
	l.mu.Lock()
	data, err := os.ReadFile(l.path)
	l.mu.Unlock()
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("call log: %w", err)
	}
	var all []Entry
	for _, line := range bytes.Split(data, []byte{'\n'}) {
		var e Entry
		if len(line) == 0 || json.Unmarshal(line, &e) != nil {
			continue
		}
		all = append(all, e)
	}
	slices.Reverse(all)
	total := len(all)
	if offset < 0 {
		offset = 0
	}
	if offset >= total || limit <= 0 {
		return nil, total, nil
	}
	return all[offset:min(total, offset+limit)], total, nil
}

// trim keeps the newest half of an oversized log. Callers hold l.mu.
func (l *CallLog) trim() error {
	fi, err := os.Stat(l.path)
	if err != nil || fi.Size() <= maxLogBytes {
		return nil
	}
	data, err := os.ReadFile(l.path)
	if err != nil {
		return err
	}
	keep := data[len(data)-maxLogBytes/2:]
	if i := bytes.IndexByte(keep, '\n'); i >= 0 {
		keep = keep[i+1:]
	}
	tmp := l.path + ".tmp"
	if err := os.WriteFile(tmp, keep, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, l.path)
}

// Clear empties the log (factory reset).
func (l *CallLog) Clear() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := os.Remove(l.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("call log: %w", err)
	}
	return nil
}
