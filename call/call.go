// Package call is the vocabulary that call control (phone, and later the
// router) and the signalling layers (sip) share: a leg is one side of a
// call, with the operations a person's phone needs (answer, hang up, hold,
// transfer, keys) and the events it reports, and a typed end cause. It
// holds no SIP types: a leg may be a provider line or a local SIP phone,
// and call control never sees a status code.
package call

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openata/ata/media"
)

// Cause says why a leg ended (or why it is being ended). Call control maps
// it to a tone and the call log; the signalling layer maps it to and from
// its own codes.
type Cause int

// The end causes.
const (
	Normal      Cause = iota // a party hung up after the answer
	Busy                     // the called party is busy (SIP 486, 600)
	Declined                 // the called party refused (603)
	NotFound                 // no such number (404, 604)
	Unavailable              // the party is not reachable now, or nobody answered (480)
	Cancelled                // the caller gave up before the answer (CANCEL, 487)
	NoResponse               // the network did not answer (408, transaction timeout)
	Incomplete               // the number is incomplete (484)
	Congestion               // the network or the provider failed (5xx, 503)
	Rejected                 // refused for another reason (403, other 4xx)
	MediaFailed              // no common codec or bad SDP (488)
	Transferred              // the call went on to another party (REFER done)
	Replaced                 // another call took this one over (Replaces)
	Redirected               // the call was sent elsewhere before an answer (3xx)
	Anonymous                // an anonymous call refused (433)
	Shutdown                 // the firmware is stopping
	Failed                   // anything else
)

var causeNames = [...]string{"normal", "busy", "declined", "not-found", "unavailable", "cancelled",
	"no-response", "incomplete", "congestion", "rejected", "media-failed", "transferred", "replaced",
	"redirected", "anonymous", "shutdown", "failed"}

func (c Cause) String() string {
	if c >= 0 && int(c) < len(causeNames) {
		return causeNames[c]
	}
	return fmt.Sprintf("Cause(%d)", int(c))
}

// EventKind says what happened to a leg.
type EventKind int

// The events a leg reports.
const (
	// Progress: the far end is alerting; the caller hears local ringback.
	Progress EventKind = iota + 1
	// EarlyMedia: the far end's audio flows before the answer (Media is set).
	EarlyMedia
	// Answered: the call is up (outgoing: the far end answered; incoming:
	// our answer went out). Media is set.
	Answered
	// Held: the far end put this leg on hold (it stops sending to us).
	Held
	// Resumed: the far end took this leg off hold.
	Resumed
	// TransferRequested: the far end asks us to call another party in its
	// place (SIP REFER); Transfer says whom.
	TransferRequested
	// TransferDone: a transfer we asked for (Transfer, TransferTo) was
	// accepted by both parties; the leg ends with Transferred right after.
	TransferDone
	// TransferFailed: a transfer we asked for failed; the leg goes on as it
	// was. Detail says why.
	TransferFailed
	// DTMF: the far end pressed a key (Key, Duration).
	DTMF
	// Ended: the leg is over. Cause, Detail and Remote say why. It is the
	// last event; the channel closes after it.
	Ended
)

var eventNames = [...]string{"", "progress", "early-media", "answered", "held", "resumed",
	"transfer-requested", "transfer-done", "transfer-failed", "dtmf", "ended"}

func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one step of a leg's life.
type Event struct {
	Kind EventKind
	// Cause is why the leg ended (Ended).
	Cause Cause
	// Detail is a short text for logs and the call log ("486 Busy Here",
	// "bye", "REFER refused: 403"); call control never decides on it.
	Detail string
	// Remote is true when the far end or the network ended the leg.
	Remote bool
	// Key and Duration: a key the far end pressed (DTMF), 0-9 * # A-D.
	Key      byte
	Duration time.Duration
	// Transfer is the far end's transfer request (TransferRequested).
	Transfer *TransferRequest
}

// Party is who is on the other side.
type Party struct {
	Number string // user part or extension; "" or "anonymous" when withheld
	Name   string // display name, if any
}

// Anonymous reports whether the party withheld its number.
func (p Party) Anonymous() bool { return p.Number == "" || p.Number == "anonymous" }

// MediaReport is a leg's media summary for the call log and status page.
type MediaReport struct {
	Codec  string
	Loss   float64       // fraction of the far end's packets lost, 0..1
	Jitter time.Duration // interarrival jitter (RFC 3550)
	RTT    time.Duration
	MOS    float64 // E-model estimate; 0 when no media flowed
	// PassThrough is set when the call went to fax/modem pass-through
	// (fixed jitter buffer, no concealment or comfort noise) at any time.
	PassThrough bool
	// SRTP is set when the call's media was encrypted (SRTP).
	SRTP bool
}

// Leg is one side of a call. Its methods are safe from any goroutine and
// return without waiting for the network; results come as Events.
type Leg interface {
	// ID is unique among the legs alive (for logs and status).
	ID() string
	// Outgoing reports the direction: we placed it (true) or it came in.
	Outgoing() bool
	// Remote is the other party.
	Remote() Party
	// Events reports the leg's progress; it is closed after Ended.
	Events() <-chan Event
	// Alert tells the caller of an incoming leg that we ring (SIP 180):
	// the phone rings or a call waits. A leg refused, redirected or
	// forwarded is never alerted, so its caller never hears ringback.
	Alert() error
	// Answer accepts an incoming leg.
	Answer() error
	// Reject refuses an incoming leg not yet answered, with a cause (Busy,
	// Declined, Unavailable, Anonymous...). Ended(cause) follows.
	Reject(Cause)
	// Redirect sends an incoming leg not yet answered to another number
	// (SIP 302 with the target as Contact). Ended(Redirected) follows.
	Redirect(target string) error
	// Hangup ends the leg whatever its state: cancel before an answer,
	// hang up after, refuse an incoming one not answered. Ended follows.
	Hangup(Cause)
	// Hold puts the far end on hold (it stops hearing us and we stop
	// hearing it); Resume takes it off.
	Hold() error
	Resume() error
	// Transfer asks the far end to call target instead of us (blind
	// transfer, SIP REFER). TransferDone and Ended(Transferred) follow on
	// success, TransferFailed otherwise.
	Transfer(target string) error
	// TransferTo asks the far end to take over other, another of our
	// legs, in our place (attended transfer: REFER with Replaces, or a
	// blind REFER to other's party where the far end cannot replace).
	TransferTo(other Leg) error
	// SendDTMF sends a key to the far end the way the leg is set up to.
	SendDTMF(key byte, d time.Duration) error
	// InBandDTMF reports whether keys reach the far end only as tones in
	// the audio (then they must not be muted).
	InBandDTMF() bool
	// Media is the leg's audio endpoint; nil before there is any.
	Media() media.Endpoint
	// Replaces is the leg this incoming leg takes over (an INVITE with
	// Replaces for one of our calls), or nil.
	Replaces() Leg
	// Report is the media summary.
	Report() MediaReport
}

// Dialer places outgoing legs: a provider line, later a local user.
type Dialer interface {
	// Dial starts a call to number. It returns once the call is on its
	// way; the leg's Events tell the rest.
	Dial(ctx context.Context, number string, o DialOptions) (Leg, error)
}

// DialOptions shape one outgoing call.
type DialOptions struct {
	// Anonymous withholds our identity from the called party (caller-ID
	// blocking): SIP sends From anonymous with Privacy: id.
	Anonymous bool
	// Caller, when set, is who the call comes from, for a dialer that may
	// present it (a local user's phone shows the outside caller's number;
	// a provider line always presents its own account).
	Caller Party
}

// TransferRequest is a far end's request that we call someone in its
// place (SIP REFER). The signalling layer has already accepted it (202);
// call control decides to follow it with Place, or refuses with Refuse.
type TransferRequest struct {
	// Target is whom to call, as a number or a URI the leg's own Dialer
	// understands.
	Target string
	// Attended is true when the new call must take over an existing
	// call at the target (Replaces).
	Attended bool
	// place and refuse are the signalling layer's.
	place  func(ctx context.Context) (Leg, error)
	refuse func(Cause)
}

// NewTransferRequest is for signalling layers: place makes the new call
// (reporting its progress to the transferor, and ending the old leg with
// Transferred once the new one is answered); refuse tells the
// transferor it failed.
func NewTransferRequest(target string, attended bool, place func(ctx context.Context) (Leg, error), refuse func(Cause)) *TransferRequest {
	return &TransferRequest{Target: target, Attended: attended, place: place, refuse: refuse}
}

// ErrNotSupported is returned by an operation a leg cannot do.
var ErrNotSupported = errors.New("call: not supported by this leg")

// Place follows the request: the new leg to Target. Its progress goes to
// the transferor; once it is answered the transferring leg ends with
// Transferred.
func (t *TransferRequest) Place(ctx context.Context) (Leg, error) {
	if t.place == nil {
		return nil, ErrNotSupported
	}
	return t.place(ctx)
}

// Refuse declines the request (the transferor is told it failed).
func (t *TransferRequest) Refuse(c Cause) {
	if t.refuse != nil {
		t.refuse(c)
	}
}
