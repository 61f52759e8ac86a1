package callerid

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

var callTime = time.Date(2024, time.September, 30, 12, 24, 0, 0, time.UTC)

// The SDMF example published with Bellcore's CND description (Sept. 30,
// 12:24, 609-555-1212): its checksum 0x51 checks our two's complement sum.
func TestSDMFPublishedExample(t *testing.T) {
	want := []byte{0x04, 0x12, '0', '9', '3', '0', '1', '2', '2', '4',
		'6', '0', '9', '5', '5', '5', '1', '2', '1', '2', 0x51}
	got, err := SDMF(Info{Time: callTime, Number: "6095551212"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("SDMF = % x\nwant   % x", got, want)
	}
	info, err := ParseSDMF(want)
	if err != nil {
		t.Fatal(err)
	}
	if info.Number != "6095551212" || !sameMinute(info.Time, callTime) {
		t.Fatalf("ParseSDMF = %+v", info)
	}
}

func TestMDMFBytes(t *testing.T) {
	tests := []struct {
		name string
		info Info
		body []byte // between the length byte and the checksum
	}{
		{
			name: "number and name, date first",
			info: Info{Time: callTime, Number: "6095551212", Name: "JOHN DOE"},
			body: cat([]byte{0x01, 8}, "09301224", []byte{0x02, 10}, "6095551212", []byte{0x07, 8}, "JOHN DOE"),
		},
		{
			name: "private number and name",
			info: Info{Time: callTime, NumberAbsent: 'P', NameAbsent: 'P'},
			body: cat([]byte{0x01, 8}, "09301224", []byte{0x04, 1, 'P', 0x08, 1, 'P'}),
		},
		{
			name: "unavailable number, no name parameter",
			info: Info{Time: callTime, NumberAbsent: 'O'},
			body: cat([]byte{0x01, 8}, "09301224", []byte{0x04, 1, 'O'}),
		},
		{
			name: "no number and no reason means unavailable",
			info: Info{Name: "ACME"},
			body: cat([]byte{0x04, 1, 'O', 0x07, 4}, "ACME"),
		},
		{
			name: "number with name withheld, no time",
			info: Info{Number: "0301234567", NameAbsent: 'O'},
			body: cat([]byte{0x02, 10}, "0301234567", []byte{0x08, 1, 'O'}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MDMF(tt.info)
			if err != nil {
				t.Fatal(err)
			}
			if got[0] != 0x80 || int(got[1]) != len(tt.body) || len(got) != len(tt.body)+3 {
				t.Fatalf("header % x, len %d; want 80 %02x and %d bytes", got[:2], len(got), len(tt.body), len(tt.body)+3)
			}
			if !bytes.Equal(got[2:len(got)-1], tt.body) {
				t.Fatalf("body % x\nwant % x", got[2:len(got)-1], tt.body)
			}
			var sum byte
			for _, b := range got {
				sum += b
			}
			if sum != 0 {
				t.Fatalf("bytes sum to 0x%02x with the checksum, want 0", sum)
			}
		})
	}
}

func cat(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch p := p.(type) {
		case string:
			b = append(b, p...)
		case []byte:
			b = append(b, p...)
		}
	}
	return b
}

func sameMinute(a, b time.Time) bool {
	return a.Month() == b.Month() && a.Day() == b.Day() && a.Hour() == b.Hour() && a.Minute() == b.Minute()
}

func equalInfo(a, b Info) bool {
	return sameMinute(a.Time, b.Time) && a.Time.IsZero() == b.Time.IsZero() &&
		a.Number == b.Number && a.Name == b.Name &&
		a.NumberAbsent == b.NumberAbsent && a.NameAbsent == b.NameAbsent
}

var roundTripInfos = []Info{
	{Time: callTime, Number: "6095551212", Name: "JOHN DOE"},
	{Time: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Number: "1", Name: "A"},
	{Time: time.Date(2025, 12, 31, 23, 59, 0, 0, time.UTC), Number: "01234567890123456789", Name: strings.Repeat("x", 50)},
	{Time: callTime, NumberAbsent: 'P', NameAbsent: 'P'},
	{Time: callTime, NumberAbsent: 'O', NameAbsent: 'O'},
	{Number: "*31#", NameAbsent: 'O'},
	{Time: time.Date(2024, 2, 29, 7, 5, 0, 0, time.UTC), Number: "112"},
}

func TestMDMFRoundTrip(t *testing.T) {
	for _, in := range roundTripInfos {
		msg, err := MDMF(in)
		if err != nil {
			t.Fatalf("MDMF(%+v): %v", in, err)
		}
		out, err := ParseMDMF(msg)
		if err != nil {
			t.Fatalf("ParseMDMF(% x): %v", msg, err)
		}
		want := in
		if want.Number == "" && want.NumberAbsent == 0 {
			want.NumberAbsent = Unavailable
		}
		if !equalInfo(out, want) {
			t.Errorf("round trip of %+v gave %+v", in, out)
		}
	}
}

func TestSDMFRoundTrip(t *testing.T) {
	for _, in := range []Info{
		{Time: callTime, Number: "6095551212"},
		{Time: callTime, NumberAbsent: 'P'},
		{Time: callTime, NumberAbsent: 'O'},
	} {
		msg, err := SDMF(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := ParseSDMF(msg)
		if err != nil {
			t.Fatal(err)
		}
		if !equalInfo(out, in) {
			t.Errorf("round trip of %+v gave %+v", in, out)
		}
	}
	if _, err := SDMF(Info{Number: "1"}); !errors.Is(err, ErrInvalidInfo) {
		t.Errorf("SDMF without time: err %v, want ErrInvalidInfo", err)
	}
}

func TestParseMDMFRejects(t *testing.T) {
	good, err := MDMF(Info{Time: callTime, Number: "6095551212", Name: "JOHN DOE"})
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	reframe := func(typ byte, body ...byte) []byte {
		b := append([]byte{typ, byte(len(body))}, body...)
		return append(b, checksum(b))
	}
	tests := map[string][]byte{
		"empty":           nil,
		"bad checksum":    mutate(func(b []byte) []byte { b[len(b)-1]++; return b }),
		"flipped data":    mutate(func(b []byte) []byte { b[20] ^= 0x01; return b }),
		"truncated":       good[:len(good)-1],
		"trailing byte":   append(append([]byte(nil), good...), 0),
		"SDMF type":       reframe(0x04, []byte("09301224")...),
		"param overrun":   reframe(0x80, 0x02, 5, '1', '2'),
		"param no length": reframe(0x80, 0x02),
		"short date":      reframe(0x80, 0x01, 4, '0', '9', '3', '0'),
		"month 13":        reframe(0x80, cat([]byte{0x01, 8}, "13011200")...),
		"april 31":        reframe(0x80, cat([]byte{0x01, 8}, "04311200")...),
		"hour 24":         reframe(0x80, cat([]byte{0x01, 8}, "01012400")...),
		"date not digits": reframe(0x80, cat([]byte{0x01, 8}, "0a011200")...),
		"absence of 2":    reframe(0x80, 0x04, 2, 'P', 'P'),
	}
	for name, b := range tests {
		if info, err := ParseMDMF(b); !errors.Is(err, ErrMessage) {
			t.Errorf("%s: ParseMDMF(% x) = %+v, %v; want ErrMessage", name, b, info, err)
		}
	}
	// Unknown parameters (e.g. 0x03 dialled number) are skipped.
	info, err := ParseMDMF(reframe(0x80, cat([]byte{0x03, 3}, "123", []byte{0x02, 2}, "42")...))
	if err != nil || info.Number != "42" {
		t.Errorf("unknown parameter: %+v, %v", info, err)
	}
}

func TestCheckLimits(t *testing.T) {
	tests := []struct {
		std     Standard
		info    Info
		errText string // "" when valid
	}{
		{Bell202, Info{Number: strings.Repeat("1", 20), Name: strings.Repeat("n", 15)}, ""},
		{Bell202, Info{Number: strings.Repeat("1", 21)}, "21 digits exceeds bell202's 20"},
		{Bell202, Info{Number: "1", Name: strings.Repeat("n", 16)}, "16 characters exceeds bell202's 15"},
		{ETSIFSK, Info{Number: "1", Name: strings.Repeat("n", 50)}, ""},
		{ETSIFSKDTAS, Info{Number: "1", Name: strings.Repeat("n", 51)}, "51 characters exceeds etsi-fsk-dtas's 50"},
		{Bell202SDMF, Info{Time: callTime, Number: "1", Name: "X"}, "bell202-sdmf carries no name"},
		{DTMF, Info{Number: "5551234"}, ""},
		{DTMF, Info{Number: "555*1234"}, "'*' is not allowed by dtmf"},
		{DTMF, Info{Number: "1", Name: "X"}, "dtmf carries no name"},
		{Bell202, Info{Number: "555-1234"}, "'-' is not allowed"},
		{Bell202, Info{Number: "1", Name: "M\xc3\xbcller"}, "not printable ASCII"},
		{Bell202, Info{NumberAbsent: 'X'}, "want 'P' (private) or 'O' (unavailable)"},
		{Bell202, Info{Number: "1", NumberAbsent: 'P'}, "together with absence code"},
	}
	for _, tt := range tests {
		err := tt.std.Check(tt.info)
		switch {
		case tt.errText == "" && err != nil:
			t.Errorf("%s.Check(%+v) = %v, want nil", tt.std, tt.info, err)
		case tt.errText != "" && (err == nil || !strings.Contains(err.Error(), tt.errText) || !errors.Is(err, ErrInvalidInfo)):
			t.Errorf("%s.Check(%+v) = %v, want ErrInvalidInfo containing %q", tt.std, tt.info, err, tt.errText)
		}
		// Render refuses the same infos, and Clamp always makes them pass.
		if _, err := Render(tt.std, tt.info, DefaultFSKLevel); (err == nil) != (tt.errText == "") {
			t.Errorf("Render(%s, %+v) error = %v", tt.std, tt.info, err)
		}
		if err := tt.std.Check(tt.std.Clamp(tt.info)); err != nil {
			t.Errorf("%s: Clamp(%+v) still fails: %v", tt.std, tt.info, err)
		}
	}
}

func TestClamp(t *testing.T) {
	got := Bell202.Clamp(Info{Number: "+1 (609) 555-1212 ext", Name: "Jürgen Müller-Lüdenscheidt"})
	if got.Number != "16095551212" || got.Name != "J?rgen M?ller-L" || got.NumberAbsent != 0 {
		t.Errorf("Clamp = %+v", got)
	}
	got = DTMF.Clamp(Info{Number: "*31#0201234567", Name: "X", NameAbsent: 'P'})
	if got.Number != "310201234567" || got.Name != "" || got.NameAbsent != 0 {
		t.Errorf("DTMF Clamp = %+v", got)
	}
	got = ETSIFSK.Clamp(Info{NumberAbsent: 'Z'})
	if got.NumberAbsent != Unavailable {
		t.Errorf("Clamp of bad code = %+v, want 'O'", got)
	}
	got = ETSIFSK.Clamp(Info{})
	if got.NumberAbsent != Unavailable || got.NameAbsent != 0 {
		t.Errorf("Clamp of empty info = %+v, want number 'O'", got)
	}
}

func TestParseStandard(t *testing.T) {
	for _, std := range Standards {
		got, err := ParseStandard(" " + strings.ToUpper(string(std)) + "\n")
		if err != nil || got != std {
			t.Errorf("ParseStandard(%q) = %q, %v", std, got, err)
		}
	}
	_, err := ParseStandard("v23")
	if err == nil {
		t.Fatal("ParseStandard(v23) accepted")
	}
	for _, std := range Standards {
		if !strings.Contains(err.Error(), string(std)) {
			t.Errorf("error %q does not name %q", err, std)
		}
	}
}
