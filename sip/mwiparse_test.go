package sip

import (
	"errors"
	"strings"
	"testing"
)

func TestParseMessageSummary(t *testing.T) {
	for _, tc := range []struct {
		body string
		want MessageSummary
	}{
		{"Messages-Waiting: yes\r\nMessage-Account: sip:alice@vmail.example.com\r\nVoice-Message: 2/8 (0/2)\r\n",
			MessageSummary{Waiting: true, Account: "sip:alice@vmail.example.com", New: 2, Old: 8, UrgentOld: 2}},
		{"Messages-Waiting: no\r\n", MessageSummary{}},
		{"messages-waiting:YES\nvoice-message: 3/0\nFax-Message: 9/9\n", MessageSummary{Waiting: true, New: 3}},
		// RFC 3842 §5.2: message headers after an empty line are not counts.
		{"Messages-Waiting: yes\r\nVoice-Message: 4/0 (1/0)\r\n\r\nTo: <alice@example.com>\r\nVoice-Message: 9/9\r\n",
			MessageSummary{Waiting: true, New: 4, UrgentNew: 1}},
	} {
		got, err := ParseMessageSummary([]byte(tc.body))
		if err != nil || got != tc.want {
			t.Errorf("ParseMessageSummary(%q) = %+v, %v; want %+v", tc.body, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "Voice-Message: 1/2\r\n", "Messages-Waiting: maybe\r\n",
		"Messages-Waiting: yes\r\nVoice-Message: 1\r\n", "Messages-Waiting: yes\r\nVoice-Message: 1/2 (3/x)\r\n",
		"Messages-Waiting: yes\r\nVoice-Message: 99999999/0\r\n", "Messages-Waiting yes\r\n"} {
		if s, err := ParseMessageSummary([]byte(bad)); !errors.Is(err, ErrMessageSummary) {
			t.Errorf("ParseMessageSummary(%q) = %+v, %v; want ErrMessageSummary", bad, s, err)
		}
	}
}

// FuzzParseMessageSummary: a NOTIFY body from the network must never
// panic the parser; errors wrap ErrMessageSummary; what it accepts
// formats to a body that parses the same.
func FuzzParseMessageSummary(f *testing.F) {
	f.Add([]byte("Messages-Waiting: yes\r\nMessage-Account: sip:*97@pbx\r\nVoice-Message: 2/8 (0/2)\r\n"))
	f.Add([]byte("Messages-Waiting: no\n"))
	f.Add([]byte("Messages-Waiting: yes\r\nVoice-Message: 1/2 (3/4)\r\n\r\nTo: x\r\n"))
	f.Add([]byte("Voice-Message: 1/(\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseMessageSummary(b)
		if err != nil {
			if !errors.Is(err, ErrMessageSummary) {
				t.Fatalf("error %v does not wrap ErrMessageSummary", err)
			}
			return
		}
		if s.New < 0 || s.Old < 0 || s.UrgentNew < 0 || s.UrgentOld < 0 {
			t.Fatalf("negative counts %+v", s)
		}
		if strings.ContainsAny(s.Account, "\r\n") {
			t.Fatalf("account %q spans lines", s.Account)
		}
		back, err := ParseMessageSummary(s.Format())
		if err != nil || back != s {
			t.Fatalf("round trip of %+v: %+v, %v (body %q)", s, back, err, s.Format())
		}
	})
}
