package callerid

import (
	"errors"
	"testing"
)

// FuzzParseMDMF feeds arbitrary bytes (what a line decoder could hand us)
// to ParseMDMF. It must not panic, must fail only with ErrMessage, and
// whatever it accepts must survive MDMF → ParseMDMF unchanged.
func FuzzParseMDMF(f *testing.F) {
	for _, in := range roundTripInfos {
		msg, err := MDMF(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(msg)
		f.Add(msg[:len(msg)-1])
	}
	f.Add([]byte{})
	f.Add([]byte{0x80, 0x00, 0x80})
	f.Add([]byte{0x80, 0x02, 0x02, 0xff, 0x7d})
	f.Add([]byte{0x80, 0x03, 0x01, 0x01, '0', 0x7b})
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := ParseMDMF(b)
		if err != nil {
			if !errors.Is(err, ErrMessage) {
				t.Fatalf("error %v does not wrap ErrMessage", err)
			}
			return
		}
		if checkFormat(info, mdmfLimits, "MDMF") != nil {
			return // e.g. a 30-digit number: parseable, but we never send it
		}
		again, err := MDMF(info)
		if err != nil {
			t.Fatalf("MDMF(%+v) of a parsed message: %v", info, err)
		}
		back, err := ParseMDMF(again)
		if err != nil {
			t.Fatalf("ParseMDMF(MDMF(%+v)): %v", info, err)
		}
		want := info
		if want.Number == "" && want.NumberAbsent == 0 {
			want.NumberAbsent = Unavailable // MDMF always says why a number is missing
		}
		if !equalInfo(back, want) {
			t.Fatalf("re-encoded %+v as %+v", info, back)
		}
	})
}

// FuzzParseSDMF: as FuzzParseMDMF, for single data messages.
func FuzzParseSDMF(f *testing.F) {
	f.Add([]byte{0x04, 0x12, '0', '9', '3', '0', '1', '2', '2', '4',
		'6', '0', '9', '5', '5', '5', '1', '2', '1', '2', 0x51})
	f.Add([]byte{0x04, 0x09, '0', '9', '3', '0', '1', '2', '2', '4', 'P', 0x00})
	f.Add([]byte{0x04, 0x00, 0xfc})
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := ParseSDMF(b)
		if err != nil {
			if !errors.Is(err, ErrMessage) {
				t.Fatalf("error %v does not wrap ErrMessage", err)
			}
			return
		}
		if info.Time.IsZero() {
			t.Fatalf("accepted SDMF without a time: %+v", info)
		}
	})
}

// FuzzParseStandard: configuration values. Whatever parses is a known
// standard that Render accepts.
func FuzzParseStandard(f *testing.F) {
	for _, s := range Standards {
		f.Add(string(s))
	}
	f.Add(" Bell202 ")
	f.Add("v23")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		std, err := ParseStandard(s)
		if err != nil {
			return
		}
		if _, err := Render(std, Info{Time: callTime, Number: "1"}, DefaultFSKLevel); err != nil {
			t.Fatalf("ParseStandard(%q) = %q, which Render refuses: %v", s, std, err)
		}
	})
}
