package baresiptest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Kind is an event type as baresip's ctrl_tcp module names it.
type Kind string

// The events call tests wait for. Other baresip event types (CALL_RTCP,
// CALL_LOCAL_SDP, ...) are recorded too and can be waited for by name.
const (
	// Incoming: a call arrives (callee side). PeerURI is the caller's From
	// URI, Number its user part, PeerName its display name.
	Incoming Kind = "CALL_INCOMING"
	// Ringing: the callee sent 180 (caller side).
	Ringing Kind = "CALL_RINGING"
	// Progress: the callee sent 183 with early media (caller side).
	Progress Kind = "CALL_PROGRESS"
	// Established: the call is answered (both sides).
	Established Kind = "CALL_ESTABLISHED"
	// Closed: the call ended. Param is the reason ("486 Rejected",
	// "Connection reset by peer" for a BYE from the far end, "Connection
	// reset by user" for our own hangup); Status holds a SIP code if any.
	Closed Kind = "CALL_CLOSED"
	// DTMF: an RFC 4733 key press started; Param is the key.
	DTMF Kind = "CALL_DTMF_START"
	// Registered: the registrar accepted the REGISTER.
	Registered Kind = "REGISTER_OK"
	// RegisterFailed: registration failed; Param/Status say why.
	RegisterFailed Kind = "REGISTER_FAIL"
)

// Event is one event baresip reported.
type Event struct {
	Kind      Kind
	CallID    string
	Direction string        // "incoming" or "outgoing" for call events
	PeerURI   string        // the far end's URI as baresip saw it (From of an incoming call)
	PeerName  string        // the far end's display name, if it sent one
	Number    string        // user part of PeerURI
	Param     string        // baresip's free-form parameter (reason, DTMF key, ...)
	Status    int           // SIP status code leading Param ("486 Rejected"), else 0
	At        time.Duration // since the phone started
	Time      time.Time     // when the harness read it (wall clock, for Heard and friends)
}

// message is one ctrl_tcp netstring: either an event or a command response.
type message struct {
	Event     bool   `json:"event"`
	Response  bool   `json:"response"`
	OK        bool   `json:"ok"`
	Data      string `json:"data"`
	Token     string `json:"token"`
	Type      string `json:"type"`
	Direction string `json:"direction"`
	PeerURI   string `json:"peeruri"`
	PeerName  string `json:"peerdisplayname"`
	ID        string `json:"id"`
	Param     string `json:"param"`
}

// maxNetstring bounds one control message; baresip's are well under 4 KiB
// (the help text is the longest).
const maxNetstring = 64 << 10

var errNetstring = errors.New("malformed netstring")

// readNetstring reads one "LEN:DATA," frame.
func readNetstring(r *bufio.Reader) ([]byte, error) {
	head, err := r.ReadSlice(':')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("netstring: length prefix too long: %w", errNetstring)
		}
		return nil, err
	}
	digits := head[:len(head)-1]
	if len(digits) == 0 || len(digits) > 6 || (len(digits) > 1 && digits[0] == '0') {
		return nil, fmt.Errorf("netstring: length %q: %w", digits, errNetstring)
	}
	n, err := strconv.Atoi(string(digits))
	if err != nil || n > maxNetstring {
		return nil, fmt.Errorf("netstring: length %q: %w", digits, errNetstring)
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("netstring: body: %w", err)
	}
	if buf[n] != ',' {
		return nil, fmt.Errorf("netstring: no trailing comma: %w", errNetstring)
	}
	return buf[:n], nil
}

// appendNetstring frames b as a netstring.
func appendNetstring(dst, b []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(b)), 10)
	dst = append(dst, ':')
	dst = append(dst, b...)
	return append(dst, ',')
}

// parseMessage decodes one ctrl_tcp JSON message.
func parseMessage(b []byte) (message, error) {
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("ctrl_tcp: %w", err)
	}
	if m.Event == m.Response {
		return m, fmt.Errorf("ctrl_tcp: neither event nor response: %.100q", b)
	}
	return m, nil
}

// toEvent turns an event message into an Event.
func (m message) toEvent(at time.Duration) Event {
	return Event{
		Kind: Kind(m.Type), CallID: m.ID, Direction: m.Direction,
		PeerURI: m.PeerURI, PeerName: m.PeerName, Number: uriUser(m.PeerURI),
		Param: m.Param, Status: leadingStatus(m.Param), At: at,
	}
}

// uriUser returns the user part of a SIP URI ("sip:1001@host;x" → "1001"),
// or "" when it has none.
func uriUser(uri string) string {
	uri = strings.Trim(strings.TrimSpace(uri), "<>")
	_, rest, ok := strings.Cut(uri, ":")
	if !ok {
		return ""
	}
	user, _, ok := strings.Cut(rest, "@")
	if !ok {
		return ""
	}
	user, _, _ = strings.Cut(user, ";") // user parameters
	user, _, _ = strings.Cut(user, ":") // password
	return user
}

// leadingStatus returns the SIP status code that starts s ("486 Busy"),
// or 0.
func leadingStatus(s string) int {
	if len(s) < 3 || (len(s) > 3 && s[3] != ' ') {
		return 0
	}
	code, err := strconv.Atoi(s[:3])
	if err != nil || code < 100 || code > 699 {
		return 0
	}
	return code
}
