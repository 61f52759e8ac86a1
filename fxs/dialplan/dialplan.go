// Package dialplan parses Cisco SPA / Obihai style digit maps and collects
// dialled digits against them.
//
// A plan is one or more patterns separated by '|', optionally wrapped in one
// pair of parentheses; spaces are ignored. Pattern elements:
//
//	0-9 * #     that key
//	x X         any digit 0-9
//	[2-9] [135-7*]  one key of a set; ranges are of digits
//	.           zero or more of the element before it (x. = any number of digits)
//	<a:b>       substitution: the keys matched by a (literals, x, sets, '.')
//	            are replaced by the literal b (0-9 * # +); either may be empty:
//	            <9:> strips a 9, <:1408> inserts 1408, <00:+> rewrites 00
//	T, t        (last) timer: the match is dialled only after the inter-digit
//	            timer (MGCP/Huawei/InnoMedia "T")
//	S, Sn       (last) timer: Sn waits n seconds (Cisco SPA per-sequence short
//	            timer, Obihai digit timer); S0 dials at once even when a longer
//	            pattern could still match; Obihai's S9S5 concatenation adds up
//	            (14 s); a bare S waits the inter-digit timer
//	!           (last) barred pattern: a number matching it is refused
//
// What is not supported, and is reported as an error naming its position:
// Cisco's ',' (second dial tone), 'P' and 'L:'/'S:' timer prefixes, Obihai's
// '?', embedded maps "(...)" and "(Mlabel)", letters A-D, and timers that are
// not at the end of a pattern.
//
// Timers follow Cisco SPA's two inter-digit timers: while the digits only
// begin a pattern the long (incomplete-entry) timer runs; once a pattern is
// complete but a longer one could still match, the short timer runs, and its
// expiry dials. The Collector's Opts.Incomplete and Opts.InterDigit are those
// two timers.
package dialplan

import (
	"fmt"
	"strings"
	"time"
)

// Limits that keep parsing and matching cheap and bounded.
const (
	// MaxSpecLen is the longest dial plan Parse accepts, in bytes.
	MaxSpecLen = 4096
	// MaxElements is the most key positions one pattern may have (the
	// matcher keeps a pattern's states in one 64-bit word).
	MaxElements = 63
	// maxTimer bounds an Sn timer (Cisco allows 0-64 s).
	maxTimer = 99 * time.Second
)

// DefaultTimer as a Result.Wait means: wait the collector's inter-digit
// timer (Opts.InterDigit).
const DefaultTimer time.Duration = -1

// keySet is a set of keys: bit 0-9 for the digits, 10 for '*', 11 for '#'.
type keySet uint16

const allDigits keySet = 1<<10 - 1

func keyIndex(k byte) int {
	switch {
	case k >= '0' && k <= '9':
		return int(k - '0')
	case k == '*':
		return 10
	case k == '#':
		return 11
	}
	return -1
}

// element is one key position of a pattern.
type element struct {
	keys   keySet
	repeat bool // followed by '.': zero or more
	drop   bool // inside <a:b>: matched but not dialled
}

type pattern struct {
	elems   []element
	inserts []string // inserts[i] is dialled before element i; len(elems)+1
	barred  bool
	timed   bool          // ends in T or S
	wait    time.Duration // timed: the wait, or DefaultTimer
	text    string        // as written, for messages
}

// Plan is a parsed dial plan. It is immutable and safe for concurrent use.
type Plan struct {
	patterns []pattern
}

// SyntaxError is a dial plan that cannot be parsed.
type SyntaxError struct {
	Pos int    // 1-based byte position in the spec
	Msg string // what was wrong
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("dialplan: position %d: %s", e.Pos, e.Msg)
}

// Parse parses a digit map such as "(911|1[2-9]xxxxxxxxx|[2-9]xxxxxxxxx|*xx|xx.T)".
// Errors are *SyntaxError values naming the position and the problem.
func Parse(spec string) (*Plan, error) {
	if len(spec) > MaxSpecLen {
		return nil, &SyntaxError{Pos: MaxSpecLen + 1, Msg: fmt.Sprintf("dial plan longer than %d bytes", MaxSpecLen)}
	}
	p := &parser{s: spec}
	plan, err := p.plan()
	if err != nil {
		return nil, err
	}
	return plan, nil
}

type parser struct {
	s   string
	pos int // next byte
}

func (p *parser) errf(pos int, format string, args ...any) error {
	return &SyntaxError{Pos: pos + 1, Msg: fmt.Sprintf(format, args...)}
}

// peek skips spaces and returns the next byte, or 0 at the end.
func (p *parser) peek() byte {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
			continue
		}
		return p.s[p.pos]
	}
	return 0
}

func (p *parser) plan() (*Plan, error) {
	plan := &Plan{}
	open := p.peek() == '('
	if open {
		p.pos++
	}
	for {
		pat, err := p.pattern()
		if err != nil {
			return nil, err
		}
		plan.patterns = append(plan.patterns, pat)
		c := p.peek()
		switch {
		case c == '|':
			p.pos++
			continue
		case c == ')' && open:
			p.pos++
			if c := p.peek(); c != 0 {
				return nil, p.errf(p.pos, "unexpected %q after the closing ')'", c)
			}
			return plan, nil
		case c == ')':
			return nil, p.errf(p.pos, "')' without '('")
		case c == 0 && open:
			return nil, p.errf(p.pos, "missing ')' at the end")
		case c == 0:
			return plan, nil
		}
		return nil, p.errf(p.pos, "unexpected %q", c) // unreachable: pattern stops only at | ) or end
	}
}

// pattern parses one alternative, up to '|', ')' or the end.
func (p *parser) pattern() (pattern, error) {
	start := p.pos
	pat := pattern{inserts: []string{""}}
	done := false // a timer or '!' was seen: only the end may follow
	for {
		c := p.peek()
		at := p.pos
		if c == 0 || c == '|' || c == ')' {
			break
		}
		if done {
			return pat, p.errf(at, "%q after the end of the pattern (timers and '!' must come last)", c)
		}
		switch {
		case c == '.':
			return pat, p.errf(at, "'.' must follow a key, 'x' or a set")
		case c == '<':
			if err := p.substitution(&pat); err != nil {
				return pat, err
			}
		case c == 'T' || c == 't' || c == 'S':
			if err := p.timer(&pat); err != nil {
				return pat, err
			}
			if p.peek() == '!' {
				return pat, p.errf(p.pos, "'!' after a timer: a barred pattern is never dialled, so it takes no timer")
			}
			done = true
		case c == '!':
			p.pos++
			pat.barred = true
			done = true
		default:
			e, err := p.element()
			if err != nil {
				return pat, err
			}
			if err := pat.add(e, p, at); err != nil {
				return pat, err
			}
		}
	}
	pat.text = strings.TrimSpace(p.s[start:p.pos])
	if len(pat.elems) == 0 {
		if pat.text == "" {
			return pat, p.errf(p.pos, "empty pattern")
		}
		return pat, p.errf(start, "pattern %q has no key to match", pat.text)
	}
	return pat, nil
}

func (pat *pattern) add(e element, p *parser, at int) error {
	if len(pat.elems) == MaxElements {
		return p.errf(at, "pattern longer than %d keys", MaxElements)
	}
	pat.elems = append(pat.elems, e)
	pat.inserts = append(pat.inserts, "")
	return nil
}

// element parses a key, 'x' or a set, with an optional '.'.
func (p *parser) element() (element, error) {
	c := p.peek()
	at := p.pos
	var e element
	switch {
	case keyIndex(c) >= 0:
		e.keys = 1 << keyIndex(c)
		p.pos++
	case c == 'x' || c == 'X':
		e.keys = allDigits
		p.pos++
	case c == '[':
		var err error
		if e.keys, err = p.set(); err != nil {
			return e, err
		}
	default:
		return e, p.errf(at, "unexpected %q%s", c, hint(c))
	}
	if p.peek() == '.' {
		p.pos++
		e.repeat = true
		if p.peek() == '.' {
			return e, p.errf(p.pos, "'.' repeated: one '.' already means any number")
		}
	}
	return e, nil
}

// hint explains characters other dial plan dialects use.
func hint(c byte) string {
	switch c {
	case ',':
		return " (Cisco's second dial tone ',' is not supported)"
	case '?':
		return " (Obihai's '?' is not supported)"
	case '(':
		return " (embedded digit maps are not supported)"
	case 'L', 'P':
		return " (Cisco's L and P timers are not supported; set the collector's options)"
	case 'A', 'B', 'C', 'D', 'a', 'b', 'c', 'd':
		return " (keys A-D are not supported)"
	case '-':
		return " ('-' only makes ranges inside [...])"
	case '>', ':':
		return " (outside <a:b>)"
	}
	return ""
}

// set parses "[...]" with single keys and digit ranges.
func (p *parser) set() (keySet, error) {
	open := p.pos
	p.pos++ // '['
	var ks keySet
	for {
		c := p.peek()
		at := p.pos
		switch {
		case c == 0:
			return 0, p.errf(open, "'[' without ']'")
		case c == ']':
			p.pos++
			if ks == 0 {
				return 0, p.errf(open, "empty set")
			}
			return ks, nil
		case keyIndex(c) < 0:
			return 0, p.errf(at, "unexpected %q in a set (want 0-9, *, # or a range like 2-9)", c)
		}
		p.pos++
		if p.peek() != '-' {
			ks |= 1 << keyIndex(c)
			continue
		}
		p.pos++
		hi := p.peek()
		if c < '0' || c > '9' || hi < '0' || hi > '9' {
			return 0, p.errf(at, "a range must run between two digits")
		}
		if hi < c {
			return 0, p.errf(at, "range %c-%c runs backwards", c, hi)
		}
		p.pos++
		for d := c; d <= hi; d++ {
			ks |= 1 << keyIndex(d)
		}
	}
}

// substitution parses "<a:b>".
func (p *parser) substitution(pat *pattern) error {
	open := p.pos
	p.pos++ // '<'
	first := len(pat.elems)
	for {
		c := p.peek()
		if c == ':' {
			p.pos++
			break
		}
		if c == 0 || c == '>' || c == '|' || c == ')' || c == '<' {
			return p.errf(open, "'<' needs the form <dialled:replacement>")
		}
		at := p.pos
		e, err := p.element()
		if err != nil {
			return err
		}
		e.drop = true
		if err := pat.add(e, p, at); err != nil {
			return err
		}
	}
	var repl strings.Builder
	for {
		c := p.peek()
		if c == '>' {
			p.pos++
			break
		}
		if keyIndex(c) < 0 && c != '+' {
			if c == 0 {
				return p.errf(open, "'<' without '>'")
			}
			return p.errf(p.pos, "unexpected %q in a replacement (want 0-9, *, # or +)", c)
		}
		repl.WriteByte(c)
		p.pos++
	}
	if first == len(pat.elems) && repl.Len() == 0 {
		return p.errf(open, "substitution <:> does nothing")
	}
	pat.inserts[first] += repl.String()
	return nil
}

// timer parses T, or one or more S with optional seconds.
func (p *parser) timer(pat *pattern) error {
	if c := p.peek(); c == 'T' || c == 't' {
		p.pos++
		pat.timed, pat.wait = true, DefaultTimer
		if c := p.peek(); c == 'T' || c == 't' || c == 'S' {
			return p.errf(p.pos, "more than one timer")
		}
		return nil
	}
	pat.timed, pat.wait = true, 0
	bare := false
	for p.peek() == 'S' {
		p.pos++
		start := p.pos
		n := time.Duration(0)
		for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
			n = n*10 + time.Duration(p.s[p.pos]-'0')
			p.pos++
			if n*time.Second > maxTimer {
				return p.errf(start, "timer longer than %v", maxTimer)
			}
		}
		if p.pos == start {
			bare = true
		}
		pat.wait += n * time.Second
		if pat.wait > maxTimer {
			return p.errf(start, "timer longer than %v", maxTimer)
		}
	}
	if c := p.peek(); c == 'T' || c == 't' {
		return p.errf(p.pos, "more than one timer")
	}
	if bare {
		if pat.wait != 0 {
			return p.errf(p.pos, "bare S mixed with Sn")
		}
		pat.wait = DefaultTimer
	}
	return nil
}

// Status is what a digit string means to a plan.
type Status uint8

// Match statuses.
const (
	// NoMatch: no pattern matches these digits or any continuation of them.
	NoMatch Status = iota
	// Partial: the digits begin at least one pattern; more are needed.
	Partial
	// Complete: a pattern matches and no pattern can take more digits.
	// Dial after Result.Wait (0 unless the pattern ends in a timer).
	Complete
	// CompleteWithMore: a pattern matches, but a longer number could match
	// too; dial if no digit follows within Result.Wait.
	CompleteWithMore
	// Barred: a barred ('!') pattern matches: refuse the number.
	Barred
)

func (s Status) String() string {
	switch s {
	case NoMatch:
		return "no match"
	case Partial:
		return "partial"
	case Complete:
		return "complete"
	case CompleteWithMore:
		return "complete with more"
	case Barred:
		return "barred"
	}
	return fmt.Sprintf("dialplan.Status(%d)", uint8(s))
}

// Result is the outcome of Match.
type Result struct {
	Status Status
	// Number is what to dial after substitutions (Complete, CompleteWithMore).
	Number string
	// Wait is how long to wait for a further digit before dialling
	// (Complete, CompleteWithMore): 0 = at once, DefaultTimer = the
	// collector's inter-digit timer.
	Wait time.Duration
	// Pattern is the index of the deciding pattern (Complete,
	// CompleteWithMore, Barred), -1 otherwise.
	Pattern int
}

// Match tells what digits (keys 0-9 * #) mean to the plan.
//
// A matching barred pattern wins over everything. Otherwise, of the
// patterns that match, the first one written decides the number and the
// timer: its own timer if it ends in T or S, else DefaultTimer if a longer
// number could still match, else 0.
func (p *Plan) Match(digits string) Result {
	live, winner := false, -1
	for i := range p.patterns {
		pat := &p.patterns[i]
		s := pat.run(digits)
		n := len(pat.elems)
		if s&(1<<n) != 0 { // matched
			if pat.barred {
				return Result{Status: Barred, Pattern: i}
			}
			if winner < 0 {
				winner = i
			}
		}
		// Any state short of the end can still reach it (sets are never
		// empty), so the pattern could take more digits.
		if s&(1<<n-1) != 0 {
			live = true
		}
	}
	if winner < 0 {
		if live {
			return Result{Status: Partial, Pattern: -1}
		}
		return Result{Status: NoMatch, Pattern: -1}
	}
	pat := &p.patterns[winner]
	r := Result{Status: Complete, Number: pat.dial(digits), Pattern: winner}
	if live {
		r.Status, r.Wait = CompleteWithMore, DefaultTimer
	}
	if pat.timed {
		r.Wait = pat.wait
	}
	return r
}

// run returns the set of positions (bit i: before element i; bit n: done)
// the pattern can be in after the digits; 0 when it has failed.
func (pat *pattern) run(digits string) uint64 {
	s := pat.closure(1)
	for i := 0; i < len(digits) && s != 0; i++ {
		k := keyIndex(digits[i])
		if k < 0 {
			return 0
		}
		var next uint64
		for j, e := range pat.elems {
			if s&(1<<j) == 0 || e.keys&(1<<k) == 0 {
				continue
			}
			if e.repeat {
				next |= 1 << j
			} else {
				next |= 1 << (j + 1)
			}
		}
		s = pat.closure(next)
	}
	return s
}

// closure adds the positions reachable by skipping repeated elements.
func (pat *pattern) closure(s uint64) uint64 {
	for j, e := range pat.elems {
		if e.repeat && s&(1<<j) != 0 {
			s |= 1 << (j + 1)
		}
	}
	return s
}

// dial returns the number to dial for digits, which the pattern matches:
// it walks one matching path (repeats take as many keys as they can) and
// applies the substitutions along it.
func (pat *pattern) dial(digits string) string {
	n, m := len(pat.elems), len(digits)
	// can[j] has bit i if elements i.. can match digits[j:].
	can := make([]uint64, m+1)
	for j := m; j >= 0; j-- {
		var c uint64
		if j == m {
			c = 1 << n
		}
		for i := n - 1; i >= 0; i-- {
			e := pat.elems[i]
			if e.repeat && c&(1<<(i+1)) != 0 {
				c |= 1 << i
			}
			if j < m && e.keys&(1<<keyIndex(digits[j])) != 0 {
				next := i + 1
				if e.repeat {
					next = i
				}
				if can[j+1]&(1<<next) != 0 {
					c |= 1 << i
				}
			}
		}
		can[j] = c
	}
	var b strings.Builder
	b.WriteString(pat.inserts[0])
	for i, j := 0, 0; i < n; {
		e := pat.elems[i]
		next := i + 1
		if e.repeat {
			next = i
		}
		if j < m && e.keys&(1<<keyIndex(digits[j])) != 0 && can[j+1]&(1<<next) != 0 {
			if !e.drop {
				b.WriteByte(digits[j])
			}
			j++
			if e.repeat {
				continue
			}
		}
		// Either consumed a single key or skipped a repeat that can take no more.
		i++
		b.WriteString(pat.inserts[i])
	}
	return b.String()
}

// String returns the patterns as written, joined into one plan.
func (p *Plan) String() string {
	parts := make([]string, len(p.patterns))
	for i, pat := range p.patterns {
		parts[i] = pat.text
	}
	return "(" + strings.Join(parts, "|") + ")"
}
