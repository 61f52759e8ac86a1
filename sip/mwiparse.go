package sip

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MessageSummary is an RFC 3842 application/simple-message-summary body.
type MessageSummary struct {
	Waiting bool   // Messages-Waiting: yes
	Account string // Message-Account, "" if absent
	// Voice-Message: new/old (urgent new/urgent old); zero if absent.
	New, Old, UrgentNew, UrgentOld int
}

// ErrMessageSummary is wrapped by every error ParseMessageSummary returns.
var ErrMessageSummary = errors.New("sip: malformed message summary")

// maxSummaryBody bounds the body we read (a summary is a few lines).
const maxSummaryBody = 16 << 10

// maxMessageCount bounds a message count: more is nonsense, and bounding
// keeps the arithmetic of callers safe.
const maxMessageCount = 1_000_000

// ParseMessageSummary parses an RFC 3842 body: "Messages-Waiting: yes|no"
// (required), "Message-Account: <uri>" and "Voice-Message: n/o (un/uo)"
// (the urgent counts optional). Header names are case-insensitive, lines
// end with CRLF or LF; other message-context classes (fax-message ...) and
// unknown lines are skipped, and the optional message headers after the
// first empty line are ignored. Errors wrap ErrMessageSummary.
func ParseMessageSummary(body []byte) (MessageSummary, error) {
	var s MessageSummary
	if len(body) > maxSummaryBody {
		return s, fmt.Errorf("%w: body of %d bytes", ErrMessageSummary, len(body))
	}
	seenWaiting := false
	text := string(body)
	for text != "" {
		var line string
		line, text, _ = strings.Cut(text, "\n")
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			if seenWaiting {
				break // the message headers that may follow are not ours to read
			}
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return MessageSummary{}, fmt.Errorf("%w: line %.40q has no colon", ErrMessageSummary, line)
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if strings.ContainsAny(value, "\r\x00") { // a lone CR is no line end here, and no value holds one (found by fuzzing)
			return MessageSummary{}, fmt.Errorf("%w: line %.40q holds a control character", ErrMessageSummary, line)
		}
		switch strings.ToLower(name) {
		case "messages-waiting":
			switch strings.ToLower(value) {
			case "yes":
				s.Waiting = true
			case "no":
				s.Waiting = false
			default:
				return MessageSummary{}, fmt.Errorf("%w: Messages-Waiting %.20q, want yes or no", ErrMessageSummary, value)
			}
			seenWaiting = true
		case "message-account":
			s.Account = value
		case "voice-message":
			var err error
			if s.New, s.Old, s.UrgentNew, s.UrgentOld, err = parseMsgCounts(value); err != nil {
				return MessageSummary{}, err
			}
		}
	}
	if !seenWaiting {
		return MessageSummary{}, fmt.Errorf("%w: no Messages-Waiting line", ErrMessageSummary)
	}
	return s, nil
}

// parseMsgCounts reads "new/old" or "new/old (urgentnew/urgentold)".
func parseMsgCounts(v string) (n, o, un, uo int, err error) {
	counts, urgent, hasUrgent := strings.Cut(v, "(")
	if n, o, err = parsePair(strings.TrimSpace(counts)); err != nil {
		return
	}
	if hasUrgent {
		inner, rest, closed := strings.Cut(urgent, ")")
		if !closed || strings.TrimSpace(rest) != "" {
			err = fmt.Errorf("%w: Voice-Message %.40q: bad urgent counts", ErrMessageSummary, v)
			return
		}
		un, uo, err = parsePair(strings.TrimSpace(inner))
	}
	return
}

func parsePair(v string) (a, b int, err error) {
	x, y, ok := strings.Cut(v, "/")
	if !ok {
		return 0, 0, fmt.Errorf("%w: message counts %.40q, want new/old", ErrMessageSummary, v)
	}
	if a, err = parseCount(strings.TrimSpace(x)); err != nil {
		return
	}
	b, err = parseCount(strings.TrimSpace(y))
	return
}

func parseCount(v string) (int, error) {
	if v == "" || len(v) > 7 {
		return 0, fmt.Errorf("%w: message count %.20q", ErrMessageSummary, v)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, fmt.Errorf("%w: message count %.20q", ErrMessageSummary, v)
		}
	}
	n, err := strconv.Atoi(v)
	if err != nil || n > maxMessageCount {
		return 0, fmt.Errorf("%w: message count %.20q", ErrMessageSummary, v)
	}
	return n, nil
}

// Format renders s as an RFC 3842 body (the counts only if any is set).
func (s MessageSummary) Format() []byte {
	var b strings.Builder
	if s.Waiting {
		b.WriteString("Messages-Waiting: yes\r\n")
	} else {
		b.WriteString("Messages-Waiting: no\r\n")
	}
	if s.Account != "" {
		b.WriteString("Message-Account: " + s.Account + "\r\n")
	}
	if s.New|s.Old|s.UrgentNew|s.UrgentOld != 0 {
		fmt.Fprintf(&b, "Voice-Message: %d/%d (%d/%d)\r\n", s.New, s.Old, s.UrgentNew, s.UrgentOld)
	}
	return []byte(b.String())
}
