package tone

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseGood(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		spec string
		want Tone
	}{
		{"350+440", Tone{Level: DefaultLevel, Parts: []Part{
			{Freqs: [MaxFreqs]float64{350, 440}, NFreqs: 2}}}},
		{"480+620/500,0/500", Tone{Level: DefaultLevel, Parts: []Part{
			{Freqs: [MaxFreqs]float64{480, 620}, NFreqs: 2, Duration: 500 * ms},
			{Duration: 500 * ms}}}},
		{"!350+440/100,!0/100,350+440", Tone{Level: DefaultLevel, Parts: []Part{
			{Freqs: [MaxFreqs]float64{350, 440}, NFreqs: 2, Duration: 100 * ms, Once: true},
			{Duration: 100 * ms, Once: true},
			{Freqs: [MaxFreqs]float64{350, 440}, NFreqs: 2}}}},
		{"400*16/1000,0/2000@-19.5", Tone{Level: -19.5, Parts: []Part{
			{Freqs: [MaxFreqs]float64{400}, NFreqs: 1, ModHz: 16, Duration: time.Second},
			{Duration: 2 * time.Second}}}},
		{" 1400+2060+2450+2600/100 , 0/100 @ +3", Tone{Level: 3, Parts: []Part{
			{Freqs: [MaxFreqs]float64{1400, 2060, 2450, 2600}, NFreqs: 4, Duration: 100 * ms},
			{Duration: 100 * ms}}}},
		{"!425/200,0", Tone{Level: DefaultLevel, Parts: []Part{
			{Freqs: [MaxFreqs]float64{425}, NFreqs: 1, Duration: 200 * ms, Once: true},
			{}}}},
		{"16.5+33.25*8", Tone{Level: DefaultLevel, Parts: []Part{
			{Freqs: [MaxFreqs]float64{16.5, 33.25}, NFreqs: 2, ModHz: 8}}}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.spec)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.spec, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %+v, want %+v", tt.spec, got, tt.want)
		}
		back, err := Parse(got.String())
		if err != nil || !reflect.DeepEqual(back, got) {
			t.Errorf("round trip of %q via %q: %+v, %v", tt.spec, got.String(), back, err)
		}
	}
}

func TestStringCanonical(t *testing.T) {
	for spec, want := range map[string]string{
		"350+440":                          "350+440",
		"480+620/500,0/500@-24":            "480+620/500,0/500@-24",
		"!350+440/100,!0/100,350+440":      "!350+440/100,!0/100,350+440",
		"400*16/1000, 0/2000 @ -13":        "400*16/1000,0/2000",
		"0350.50+440/0100":                 "350.5+440/100",
		"1400+2060+2450+2600/100,0/100@-9": "1400+2060+2450+2600/100,0/100@-9",
	} {
		tn, err := Parse(spec)
		if err != nil {
			t.Fatalf("Parse(%q): %v", spec, err)
		}
		if got := tn.String(); got != want {
			t.Errorf("Parse(%q).String() = %q, want %q", spec, got, want)
		}
	}
}

func TestParseBad(t *testing.T) {
	tests := []struct{ spec, wantErr string }{
		{"", `tone: empty spec`},
		{"   ", `tone: empty spec`},
		{"@-13", `tone: empty spec`},
		{"480+62x/500", `tone: part 1 "480+62x/500": bad frequency "62x" (want Hz, above 0 and below 4000)`},
		{"480+620/500,0/5o0", `tone: part 2 "0/5o0": bad duration "5o0" (want whole milliseconds, 1 to 3600000)`},
		{"425/0", `tone: part 1 "425/0": bad duration "0"`},
		{"425/-5", `bad duration "-5"`},
		{"425/1.5", `bad duration "1.5"`},
		{"425/100,,0/100", `tone: part 2 "": empty part`},
		{"425,0/100", `tone: part 1 "425": lasts forever (no /ms) but is not the last part`},
		{"0+440", `tone: part 1 "0+440": bad frequency "0": silence must stand alone`},
		{"4000", `bad frequency "4000"`},
		{"1e3", `bad frequency "1e3"`},
		{"NaN", `bad frequency "NaN"`},
		{"-440", `bad frequency "-440"`},
		{"350++440", `bad frequency ""`},
		{"1+2+3+4+5", `tone: part 1 "1+2+3+4+5": more than 4 frequencies`},
		{"400*", `bad modulation frequency ""`},
		{"400*16*2", `bad modulation frequency "16*2"`},
		{"400*500", `modulation 500 Hz does not fit carrier 400 Hz`},
		{"3990*20", `modulation 20 Hz does not fit carrier 3990 Hz`},
		{"350+440@", `tone: bad level "" (want dBm0 from -60 to 3)`},
		{"350+440@-99", `tone: bad level "-99"`},
		{"350+440@4", `tone: bad level "4"`},
		{"350+440@-1e1", `tone: bad level "-1e1"`},
		{strings.Repeat("425/1,", 64) + "0", `tone: 65 parts, more than 64`},
		{strings.Repeat("4", MaxSpecLen+1), `longer than 2048`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.spec)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want error %q", tt.spec, tt.wantErr)
			continue
		}
		if !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Parse(%q) error %q, want it to contain %q", tt.spec, err, tt.wantErr)
		}
	}
}

func TestRepeatFrom(t *testing.T) {
	for spec, want := range map[string]int{
		"350+440":                     0,
		"!350+440/100,!0/100,350+440": 2,
		"!425/200,!0/200":             -1,
		"!425/200,0":                  1,
	} {
		tn := MustParse(spec)
		if got := tn.RepeatFrom(); got != want {
			t.Errorf("%q: RepeatFrom() = %d, want %d", spec, got, want)
		}
	}
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("MustParse(bad) did not panic")
		}
	}()
	MustParse("425/x")
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"350+440", "480+620/500,0/500", "!350+440/100,!0/100,350+440",
		"400*16/1000,0/2000@-19", "1400+2060+2450+2600/100,0/100@-9",
		"425/200,0/200,425/600,0/1000", "!425/200,0", "0", "", "@", "4.5*2.25/7",
		"350+440/750,440/750", "425,0/1", "!0", "1+2+3+4*0.5/3600000",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		tn, err := Parse(spec)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "tone: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
			return
		}
		if len(tn.Parts) == 0 || len(tn.Parts) > MaxParts {
			t.Fatalf("Parse(%q) gave %d parts", spec, len(tn.Parts))
		}
		s := tn.String()
		back, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q does not parse: %v", spec, s, err)
		}
		if !reflect.DeepEqual(back, tn) {
			t.Fatalf("round trip %q -> %q changed the tone: %+v vs %+v", spec, s, back, tn)
		}
		if back.String() != s {
			t.Fatalf("String not stable: %q vs %q", back.String(), s)
		}
		// Whatever parses must play without panicking or allocating.
		var p Player
		p.Play(&tn, tn.Level)
		buf := make([]int16, 160)
		for range 3 {
			p.Fill(buf)
		}
	})
}
