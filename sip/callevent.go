package sip

import "time"

// MediaReport is a call's media summary for the call log and status page.
type MediaReport struct {
	Codec  string
	Loss   float64       // fraction of the far end's packets lost, 0..1
	Jitter time.Duration // interarrival jitter (RFC 3550)
	RTT    time.Duration
	MOS    float64 // E-model estimate; 0 when no media flowed
}

// CallEventKind says what happened to a call.
type CallEventKind int

// The events a call reports, in the order they can happen.
const (
	// CallProgress: the far end is alerting (180, or 183 without SDP);
	// the caller hears local ringback.
	CallProgress CallEventKind = iota + 1
	// CallEarlyMedia: 183 with SDP; the far end's audio flows before answer.
	CallEarlyMedia
	// CallAnswered: outgoing, the 200 OK arrived (ACK sent); incoming, our
	// 200 OK went out.
	CallAnswered
	// CallEnded: the call is over. Status and Reason say why.
	CallEnded
)

var callEventNames = [...]string{"", "progress", "early-media", "answered", "ended"}

func (k CallEventKind) String() string {
	if k > 0 && int(k) < len(callEventNames) {
		return callEventNames[k]
	}
	return "unknown"
}

// CallEvent is one step of a call's life.
type CallEvent struct {
	Kind CallEventKind
	// Status is, for CallEnded, the SIP status that ended the call: the
	// final error response of an outgoing call (486, 404...), 487 for a
	// cancelled call, 200 for a BYE after answer, 408 for a timeout.
	Status int
	// Reason is a short human text: "busy", "bye", "cancelled", "not found"...
	Reason string
	// Remote is true when the far end (or the network) ended the call.
	Remote bool
}
