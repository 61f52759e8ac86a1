package dialplan

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

const (
	exampleMap = "(911|1[2-9]xxxxxxxxx|[2-9]xxxxxxxxx|*xx|xx.T)"
	// A US ATA behind a PBX-style "9 for an outside line".
	usMap = "( <9:>[2-9]xxxxxx | <9:1>[2-9]xxxxxxxxx | 911S0 | 9911S0 | 1[2-9]xxxxxxxxxS0 |" +
		" 011xx.T | 1900xxxxxxx! | *xx | [2-9]11S0 )"
	// A German line: emergency at once, national numbers rewritten to E.164,
	// GSM-style supplementary service codes ending in #.
	deMap = "(11[02]S0|<0:+49>[1-9]xxx.T|<00:+>[1-9]xx.T|[1-9]x.T|*xx#|*xx*x.#|#xx#|0900x.!)"
)

func mustParse(t testing.TB, spec string) *Plan {
	t.Helper()
	p, err := Parse(spec)
	if err != nil {
		t.Fatalf("Parse(%q): %v", spec, err)
	}
	return p
}

type matchCase struct {
	digits string
	status Status
	number string
	wait   time.Duration
}

func checkMatches(t *testing.T, spec string, cases []matchCase) {
	t.Helper()
	p := mustParse(t, spec)
	for _, c := range cases {
		r := p.Match(c.digits)
		if r.Status != c.status || r.Number != c.number || r.Wait != c.wait {
			t.Errorf("%s: Match(%q) = {%v %q wait %v}, want {%v %q wait %v}",
				spec, c.digits, r.Status, r.Number, r.Wait, c.status, c.number, c.wait)
		}
	}
}

const dt = DefaultTimer

func TestMatchExampleMap(t *testing.T) {
	checkMatches(t, exampleMap, []matchCase{
		{"", Partial, "", 0},
		{"9", CompleteWithMore, "9", dt}, // xx.T: one digit is enough, after the timer
		{"91", CompleteWithMore, "91", dt},
		{"911", CompleteWithMore, "911", dt}, // 911 wins (first), but xx.T could go on
		{"2125551234", CompleteWithMore, "2125551234", dt},
		{"12125551234", CompleteWithMore, "12125551234", dt},
		{"*69", Complete, "*69", 0},
		{"*6", Partial, "", 0},
		{"*", Partial, "", 0},
		{"*6#", NoMatch, "", 0},
		{"*699", NoMatch, "", 0},
		{"#", NoMatch, "", 0},
		{"9*", NoMatch, "", 0},
		{"12a", NoMatch, "", 0}, // not a key
	})
}

func TestMatchUSMap(t *testing.T) {
	checkMatches(t, usMap, []matchCase{
		{"911", Complete, "911", 0},
		{"9911", CompleteWithMore, "9911", 0}, // 9 + a 10-digit number could follow; S0 dials anyway
		{"411", Complete, "411", 0},
		{"5", Partial, "", 0},
		{"555", NoMatch, "", 0},
		{"95551234", CompleteWithMore, "5551234", dt}, // 9 stripped; a 10-digit number could follow
		{"92125551234", Complete, "12125551234", 0},   // 9 replaced by 1
		{"18005551234", Complete, "18005551234", 0},
		{"19005551234", Barred, "", 0},
		{"1900555123", Partial, "", 0},
		{"0114420", CompleteWithMore, "0114420", dt},
		{"011", Partial, "", 0},
		{"*72", Complete, "*72", 0},
	})
}

func TestMatchGermanMap(t *testing.T) {
	checkMatches(t, deMap, []matchCase{
		{"112", CompleteWithMore, "112", 0}, // S0 dials at once though [1-9]x.T could go on
		{"110", CompleteWithMore, "110", 0},
		{"0301234567", CompleteWithMore, "+49301234567", dt},
		{"00442071234567", CompleteWithMore, "+442071234567", dt},
		{"0", Partial, "", 0},
		{"00", Partial, "", 0},
		{"*21*01701234567#", Complete, "*21*01701234567#", 0},
		{"*31#", Complete, "*31#", 0},
		{"#31#", Complete, "#31#", 0},
		{"09001234567", Barred, "", 0},
		{"0900", Barred, "", 0},
		{"0901", CompleteWithMore, "+49901", dt},
	})
}

func TestSubstitutions(t *testing.T) {
	checkMatches(t, "(<9:>xxxxxxx)", []matchCase{{"95551234", Complete, "5551234", 0}, {"85551234", NoMatch, "", 0}})
	checkMatches(t, "(<:1408>xxxxxxx)", []matchCase{{"5551234", Complete, "14085551234", 0}})
	checkMatches(t, "(1<408:650>xxxxxxx)", []matchCase{{"14085551234", Complete, "16505551234", 0}})
	checkMatches(t, "(xxx<:#>)", []matchCase{{"123", Complete, "123#", 0}})
	checkMatches(t, "(<*67:>x.T)", []matchCase{{"*675551234", CompleteWithMore, "5551234", dt}, {"*67", CompleteWithMore, "", dt}})
	// A repeat inside a substitution takes all it can and leaves the rest.
	checkMatches(t, "(<x.:>xxx)", []matchCase{{"12345", CompleteWithMore, "345", dt}, {"12", Partial, "", 0}})
	checkMatches(t, "(<[2-9]:>[2-9]xx)", []matchCase{{"2345", Complete, "345", 0}})
	// Spaces are ignored anywhere.
	checkMatches(t, " ( < 9 : > x x x ) ", []matchCase{{"9123", Complete, "123", 0}})
	// No outer parentheses.
	checkMatches(t, "911|<:1>[2-9]xxxxxxxxx", []matchCase{{"2125551234", Complete, "12125551234", 0}})
}

func TestSetsAndRanges(t *testing.T) {
	checkMatches(t, "([135-7]|[*#]x)", []matchCase{
		{"1", Complete, "1", 0}, {"3", Complete, "3", 0}, {"5", Complete, "5", 0},
		{"6", Complete, "6", 0}, {"7", Complete, "7", 0}, {"2", NoMatch, "", 0},
		{"4", NoMatch, "", 0}, {"8", NoMatch, "", 0}, {"*1", Complete, "*1", 0}, {"#9", Complete, "#9", 0},
	})
}

func TestBars(t *testing.T) {
	spec := "(1900xxxxxxx!|1xxxxxxxxxx|1976x.!|x.T)"
	checkMatches(t, spec, []matchCase{
		{"19001234567", Barred, "", 0},
		{"18001234567", CompleteWithMore, "18001234567", dt}, // x.T could continue
		{"1976", Barred, "", 0},
		{"19761", Barred, "", 0},
		{"1900", CompleteWithMore, "1900", dt}, // only the timer pattern is complete
	})
	r := mustParse(t, spec).Match("19001234567")
	if r.Pattern != 0 {
		t.Errorf("barred by pattern %d, want 0", r.Pattern)
	}
}

func TestTimers(t *testing.T) {
	cases := []struct {
		spec string
		want time.Duration
		st   Status
	}{
		{"(1234T)", dt, Complete}, // complete, but T waits the inter-digit timer
		{"(1234t)", dt, Complete},
		{"(1234)", 0, Complete},
		{"(1234S0|12345)", 0, CompleteWithMore},
		{"(1234S5|12345)", 5 * time.Second, CompleteWithMore},
		{"(1234S12)", 12 * time.Second, Complete},
		{"(1234S9S5)", 14 * time.Second, Complete}, // Obihai concatenation
		{"(1234S|12345)", dt, CompleteWithMore},
		{"(1234|12345)", dt, CompleteWithMore},
	}
	for _, c := range cases {
		r := mustParse(t, c.spec).Match("1234")
		if r.Wait != c.want || r.Status != c.st || r.Number != "1234" {
			t.Errorf("%s: Match(1234) = %+v, want %v wait %v", c.spec, r, c.st, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		spec string
		pos  int
		msg  string
	}{
		{"", 1, "empty pattern"},
		{"()", 2, "empty pattern"},
		{"(911|)", 6, "empty pattern"},
		{"(911", 5, "missing ')'"},
		{"911)", 4, "')' without '('"},
		{"(911) x", 7, "after the closing ')'"},
		{"(9[2-]x)", 4, "range must run between two digits"},
		{"(9[]x)", 3, "empty set"},
		{"(9[5-2])", 4, "runs backwards"},
		{"(9[1x])", 5, "in a set"},
		{"(9[12", 3, "'[' without ']'"},
		{"(.x)", 2, "'.' must follow"},
		{"(x..)", 4, "'.' repeated"},
		{"(<9:>.x)", 6, "'.' must follow"},
		{"(9T1)", 4, "after the end of the pattern"},
		{"(9!1)", 4, "after the end of the pattern"},
		{"(xx.T!)", 6, "'!' after a timer"},
		{"(9TT)", 4, "more than one timer"},
		{"(9S1T)", 5, "more than one timer"},
		{"(9SS1)", 6, "bare S mixed with Sn"},
		{"(xS100)", 4, "timer longer than"},
		{"(9,1xxx)", 3, "second dial tone"},
		{"(9?)", 3, "'?'"},
		{"(9A)", 3, "keys A-D"},
		{"((911))", 2, "embedded"},
		{"(L:5,x.)", 2, "Cisco's L and P"},
		{"(<9>xx)", 2, "<dialled:replacement>"},
		{"(<9:xx)", 5, "in a replacement"},
		{"(<9:1", 2, "'<' without '>'"},
		{"(<:>x)", 2, "does nothing"},
		{"(<<9:>x)", 2, "<dialled:replacement>"},
		{"(S2)", 2, "no key to match"},
		{"(!)", 2, "no key to match"},
		{"(" + strings.Repeat("x", 64) + ")", 65, "longer than 63 keys"},
		{strings.Repeat("x", MaxSpecLen+1), MaxSpecLen + 1, "longer than 4096 bytes"},
	}
	for _, c := range cases {
		_, err := Parse(c.spec)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, want a SyntaxError", c.spec, err)
			continue
		}
		if se.Pos != c.pos || !strings.Contains(se.Msg, c.msg) {
			t.Errorf("Parse(%q) = %q, want position %d and %q", c.spec, err, c.pos, c.msg)
		}
		if !strings.HasPrefix(err.Error(), "dialplan: position ") {
			t.Errorf("error %q lacks the package and position prefix", err)
		}
	}
}

func TestMaxElements(t *testing.T) {
	spec := "(" + strings.Repeat("x", MaxElements) + ")"
	digits := strings.Repeat("7", MaxElements)
	checkMatches(t, spec, []matchCase{{digits, Complete, digits, 0}, {digits[1:], Partial, "", 0}, {digits + "7", NoMatch, "", 0}})
}

func TestPlanString(t *testing.T) {
	p := mustParse(t, usMap)
	q := mustParse(t, p.String())
	if p.String() != q.String() || !strings.Contains(p.String(), "<9:1>[2-9]xxxxxxxxx") {
		t.Fatalf("String() = %q, reparsed %q", p.String(), q.String())
	}
}

// patternRegexp turns a parsed pattern into an equivalent Go regexp over
// keys, an independent check of the matcher.
func patternRegexp(pat *pattern) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for _, e := range pat.elems {
		b.WriteString("[")
		for k := 0; k < 12; k++ {
			if e.keys&(1<<k) != 0 {
				b.WriteString(regexp.QuoteMeta(string("0123456789*#"[k])))
			}
		}
		b.WriteString("]")
		if e.repeat {
			b.WriteString("*")
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// checkPlan checks Match's promises for digits and each extension by one key.
func checkPlan(t *testing.T, p *Plan, digits string) {
	r := p.Match(digits)
	var res []*regexp.Regexp
	for i := range p.patterns {
		res = append(res, patternRegexp(&p.patterns[i]))
	}
	matched, barred := false, false
	for i, re := range res {
		if re.MatchString(digits) {
			matched = true
			barred = barred || p.patterns[i].barred
		}
	}
	switch {
	case barred && r.Status != Barred:
		t.Fatalf("%v: %q matches a barred pattern but Match = %v", p, digits, r.Status)
	case !barred && matched != (r.Status == Complete || r.Status == CompleteWithMore):
		t.Fatalf("%v: %q regexp match %v but Match = %v", p, digits, matched, r.Status)
	}
	for _, k := range []byte("0123456789*#") {
		next := p.Match(digits + string(k))
		switch r.Status {
		case NoMatch:
			if next.Status != NoMatch {
				t.Fatalf("%v: %q is NoMatch but %q is %v", p, digits, digits+string(k), next.Status)
			}
		case Complete:
			if next.Status != NoMatch {
				t.Fatalf("%v: %q is Complete but %q is %v", p, digits, digits+string(k), next.Status)
			}
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{exampleMap, usMap, deMap, "(<x.:>xxx)", "(1234S9S5)", "(9[2-]x)", "x.", "(<:>x)",
		"(*xx*x.#|[*#]x.<:1>T)", "( 1 | 2 ) "} {
		f.Add(s, "12125551234")
	}
	f.Fuzz(func(t *testing.T, spec, digits string) {
		p, err := Parse(spec)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Pos < 1 || se.Pos > len(spec)+1 || se.Msg == "" {
				t.Fatalf("Parse(%q): bad error %#v", spec, err)
			}
			return
		}
		if _, err := Parse(p.String()); err != nil && len(p.String()) <= MaxSpecLen {
			t.Fatalf("String() %q of %q does not parse: %v", p.String(), spec, err)
		}
		// Keep only keys; the matcher must also survive the rest.
		p.Match(digits)
		keys := strings.Map(func(r rune) rune {
			if strings.ContainsRune("0123456789*#", r) {
				return r
			}
			return -1
		}, digits)
		if len(keys) > 40 {
			keys = keys[:40]
		}
		for i := 0; i <= len(keys); i++ {
			checkPlan(t, p, keys[:i])
		}
	})
}

func BenchmarkMatch(b *testing.B) {
	p := mustParse(b, usMap)
	b.ReportAllocs()
	for b.Loop() {
		p.Match("92125551234")
	}
}
