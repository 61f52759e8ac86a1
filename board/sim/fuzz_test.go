package sim

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzParseDialRequest checks that any POST /dial body is either refused as
// invalid or yields digits every one of which the method can send.
func FuzzParseDialRequest(f *testing.F) {
	for _, s := range []string{
		`{"digits":"5551234","method":"dtmf"}`, `{"digits":"0","method":"pulse"}`,
		`{"digits":"*#ABCDabcd"}`, `{"digits":""}`, `{"digits":"1"} x`, `{"digit":"1"}`,
		`null`, `[]`, `{"digits":"1\u0000"}`, `{"digits":1}`, "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseDialRequest(body)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		allowed := "0123456789*#ABCDabcd"
		switch req.Method {
		case MethodPulse:
			allowed = "0123456789"
		case MethodDTMF:
		default:
			t.Fatalf("accepted method %q", req.Method)
		}
		if req.Digits == "" || len(req.Digits) > MaxDigits {
			t.Fatalf("accepted %d digits", len(req.Digits))
		}
		for _, c := range []byte(req.Digits) {
			if !strings.ContainsRune(allowed, rune(c)) {
				t.Fatalf("accepted digit %q for %s", c, req.Method)
			}
		}
		if req.Method == MethodPulse {
			if segs := pulseSegments(req.Digits); len(segs) == 0 || len(segs)%2 != 0 {
				t.Fatalf("pulse digits %q gave %d segments", req.Digits, len(segs))
			}
		} else if n := len(dtmfSamples(req.Digits)); n != len(req.Digits)*durSamples(DTMFOn+DTMFOff) {
			t.Fatalf("dtmf digits %q gave %d samples", req.Digits, n)
		}
	})
}

// FuzzParseQuery checks the query and text parsers of /listen, /events and
// /hook: a result is in range or an ErrInvalid error.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"1", "120000", "120001", "0", "-5", "abc", "", "18446744073709551616", " off\n", "FLASH"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := ParseListenMS(s); err == nil {
			if d < time.Millisecond || d > MaxListen {
				t.Fatalf("ParseListenMS(%q) = %v", s, d)
			}
		} else if !errors.Is(err, ErrInvalid) {
			t.Fatalf("ParseListenMS error %v does not wrap ErrInvalid", err)
		}
		if _, err := ParseSince(s); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("ParseSince error %v does not wrap ErrInvalid", err)
		}
		a := ParseHookAction(s)
		if a != strings.ToLower(strings.TrimSpace(s)) {
			t.Fatalf("ParseHookAction(%q) = %q", s, a)
		}
	})
}
