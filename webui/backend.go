package webui

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/openata/ata/config"
)

// Backend is what the web UI needs from the firmware. cmd/ata implements
// it; tests use a fake. Methods may be called from many goroutines.
type Backend interface {
	// Status is a snapshot for the status page, /api/status and /metrics.
	Status() Status
	// Changes ticks whenever Status may have changed (registration, hook,
	// call). The channel should be buffered (1) and ticks coalesced: a
	// subscriber that is slow misses ticks, not the latest state. The func
	// unsubscribes.
	Changes() (<-chan struct{}, func())
	// Config is the running configuration. The web UI never modifies it.
	Config() *config.Config
	// Apply validates cfg fully and, if valid, saves it atomically and
	// applies it without restarting (a changed account re-registers; a call
	// survives changes that do not concern it). On invalid input it returns
	// a *FieldErrors and changes nothing.
	Apply(ctx context.Context, cfg *config.Config) error
	// CallLog returns entries newest first, skipping offset, at most limit
	// of them, and the total number of entries.
	CallLog(offset, limit int) (entries []CallRecord, total int, err error)
	// LogLines returns up to n recent firmware log lines, oldest first.
	LogLines(n int) []string
	Reboot() error
	// FactoryReset restores the default configuration (the web UI removes
	// its own admin password file itself).
	FactoryReset() error
	// StartCapture begins a bounded capture of SIP and RTP packets,
	// replacing the previous one; StopCapture ends it.
	StartCapture() error
	StopCapture() error
	CaptureStatus() CaptureStatus
	// WritePcap writes the last capture as a pcap file.
	WritePcap(w io.Writer) error
	// Confirm keeps a change of address that waits for confirmation
	// (Status.Pending) when token is its token; false if none matches.
	Confirm(token string) bool
}

// Status is the firmware's state at one moment.
type Status struct {
	Lines     []LineStatus
	Hook      string       // "on" (handset down) or "off"
	Phone     string       // call-control state: "idle", "dial-tone", "talking", ...
	Call      *CallStatus  // the current call (Calls[0]); nil when there is none
	Calls     []CallStatus // every call of the port: the current one first
	Uptime    time.Duration
	Addresses []string // the board's IP addresses
	Board     string   // board name, e.g. "sim"
	// CallsTotal counts the calls ended since the firmware started.
	CallsTotal uint64
	// AudioXRuns counts the sound card's overruns and underruns since the
	// start (hardware boards; always 0 on the sim board).
	AudioXRuns uint64
	// Problems are settings that could not be used as configured (a port
	// in use, a bad value from a file) and what runs instead.
	Problems []Problem
	// RestartNeeded lists saved keys that take effect after a restart.
	RestartNeeded []string
	// ConfigFile is the file the running config was read from ("" for
	// the built-in default); ConfigNote says why that one.
	ConfigFile, ConfigNote string
	// SavesTo is where the web UI's saves go.
	SavesTo string
	// Pending is a change of address waiting for confirmation, or nil.
	Pending *PendingChange
	// Router is router mode's users and calls; nil when it is off.
	Router *RouterStatus
	// Provisioning is the last fetch of the provisioning document, nil
	// when there is no URL; System the time zone and syslog (system.go).
	Provisioning *ProvisioningStatus
	System       *SystemStatus
}

// Line registration states, as LineStatus.State gives them.
const (
	LineRegistered  = "registered"
	LineRegistering = "registering"
	LineFailing     = "failing"
	LineInactive    = "inactive"
)

// LineStatus is one SIP account's registration.
type LineStatus struct {
	Number    string
	Domain    string
	State     string    // LineRegistered, LineRegistering, LineFailing or LineInactive
	LastError string    // why the last attempt failed ("403 Forbidden", "timeout")
	NextRetry time.Time // when a failing line tries again; zero if none is due
	Expires   time.Time // when the registration runs out; zero if not registered

	// Transport is "udp", "tcp" or "tls"; for TLS, TLSVersion ("TLS 1.3")
	// and TLSPeer (the provider certificate's subject) once connected, and
	// TLSUnverified where tls_verify = false (the page warns).
	Transport, TLSVersion, TLSPeer string
	TLSUnverified                  bool

	// NotAnsweringSince is when the provider stopped answering keep-alives
	// (or REGISTER); zero while it answers.
	NotAnsweringSince time.Time
	// LastRegistered and LastKeepAliveAnswer: the last successful REGISTER
	// and the last keep-alive answer; zero if none yet.
	LastRegistered, LastKeepAliveAnswer time.Time
	// Counters since the start, for /metrics: keep-alives unanswered,
	// flow failures, and re-registrations by cause ("refresh", "retry",
	// "flow_recovered", "binding_gone", "network", "nat").
	KeepAliveMisses, FlowFailures uint64
	ReRegistrations               map[string]uint64
	// Message waiting (RFC 3842) as the line's voicemail reports it:
	// MessagesWaiting, the new and old voice messages; MWISubscribed: the
	// provider accepted the subscription and it is current; MWIError: why
	// the last SUBSCRIBE failed ("" after a success).
	MessagesWaiting          bool
	NewMessages, OldMessages int
	MWISubscribed            bool
	MWIError                 string
}

// CallStatus is the call in progress.
type CallStatus struct {
	Number    string
	Name      string
	Direction string // "in" or "out"
	// Role is what the call is to the port: "active", "held", "waiting",
	// "ringing", "dialing" or "conference"; FarHeld: the far end holds us.
	Role     string
	FarHeld  bool
	Since    time.Time
	Codec    string  // "PCMU", "PCMA"
	Loss     float64 // fraction of the far end's packets lost, 0..1
	JitterMS float64
	RTTMS    float64 // round trip from RTCP; 0 until the far end reports one
	MOS      float64 // E-model estimate; 0 before media flowed
	// Echo is the line echo canceller on this call in words ("ERLE 31 dB,
	// ERL 6 dB", "off: a modem's answer tone"), "" for a call the handset
	// does not talk on; EchoERL and EchoERLE in dB (0 until measured).
	// PassThrough: a fax or modem tone switched the call to pass-through.
	Echo              string
	EchoERL, EchoERLE float64
	PassThrough       bool
	SRTP              bool // the media is encrypted (SRTP)
}

// CallRecord is one entry of the call log. Its fields and types are those
// of phone.Entry, so the backend converts with CallRecord(entry).
type CallRecord struct {
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Direction string    `json:"direction"` // "in" or "out"
	Number    string    `json:"number"`
	Name      string    `json:"name,omitempty"`
	Duration  float64   `json:"duration_s"`           // answered time in seconds; 0 if never answered
	Cause     string    `json:"end_cause"`            // normal, busy, transferred, ...
	Detail    string    `json:"detail,omitempty"`     // the signalling's words ("486 Busy Here")
	Remote    bool      `json:"remote_end,omitempty"` // the far end ended it
	Leg       string    `json:"leg,omitempty"`        // the leg's id
	// ForwardedTo is where a forwarded call went (it rang nothing here).
	ForwardedTo string  `json:"forwarded_to,omitempty"`
	Codec       string  `json:"codec,omitempty"`
	Loss        float64 `json:"loss"` // fraction, 0..1
	JitterMS    float64 `json:"jitter_ms"`
	RTTMS       float64 `json:"rtt_ms,omitempty"` // round trip from RTCP; 0: never reported
	MOS         float64 `json:"mos"`
	// The line echo canceller's ERL and ERLE at the end (dB); EchoOff: a
	// modem's answer tone took it out. PassThrough: a fax or modem tone
	// (DataTone: CNG, CED, ANSam) switched the call to pass-through.
	EchoERL     float64 `json:"echo_erl_db,omitempty"`
	EchoERLE    float64 `json:"echo_erle_db,omitempty"`
	EchoOff     bool    `json:"echo_off,omitempty"`
	PassThrough bool    `json:"pass_through,omitempty"`
	DataTone    string  `json:"data_tone,omitempty"`
	// SRTP: the call's media was encrypted.
	SRTP bool `json:"srtp"`
	// A call the router joined (router mode): where it came from, the
	// route, who answered, who hung up first ("caller", "callee"), and
	// the second leg's figures.
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

// CaptureStatus describes the packet capture.
type CaptureStatus struct {
	Running bool
	Bytes   int64 // size of the capture so far
	Limit   int64 // the capture stops by itself at this size
	Started time.Time
	// Available is true when there is a capture to download.
	Available bool
}

// FieldErrors is an invalid configuration: config key → message. Keys are
// the dotted TOML keys of config.KeyError: "sip.listen", "phone.region",
// "line[0].registrar".
type FieldErrors struct {
	Fields map[string]string
}

func (e *FieldErrors) Error() string {
	keys := slices.Sorted(maps.Keys(e.Fields))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + e.Fields[k]
	}
	return fmt.Sprintf("invalid configuration: %s", strings.Join(parts, "; "))
}

// add records msg for key unless the key already has one (the first
// problem found is usually the one to fix).
func (e *FieldErrors) add(key, msg string) {
	if e.Fields == nil {
		e.Fields = map[string]string{}
	}
	if _, ok := e.Fields[key]; !ok {
		e.Fields[key] = msg
	}
}

func (e *FieldErrors) empty() bool { return e == nil || len(e.Fields) == 0 }
