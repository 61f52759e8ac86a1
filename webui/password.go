package webui

import (
	"bufio"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password rules: NIST SP 800-63B style (length and a blocklist, no
// composition rules).
const (
	MinPasswordLen = 12   // characters
	maxPasswordLen = 1024 // bytes: bounds the hashing work a request can ask for
)

// Argon2id parameters for new hashes: OWASP's m=7 MiB, t=5, p=1, one of
// its equal-strength set (19 MiB/t=2, 12 MiB/t=3, 7 MiB/t=5...). Of those
// it needs the least memory per hash for about the same CPU work (35 MiB
// of memory passes against 36-38), and memory is what a login flood
// exhausts on a small board: each concurrent hash holds m. About 30 ms
// on a desktop core. Hashes made with other parameters (the PHC string
// carries them) still verify and are redone with these at the next login.
const (
	argonTime    = 5
	argonMemory  = 7 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// At most maxHashes password hashes run at once in the process (each
// holds argonMemory); a request waits up to hashWait for a turn, and at
// most maxHashWaiters wait, so a login flood from many addresses costs
// neither memory nor an unbounded queue. Those turned away are told to
// come back in a moment (429 with Retry-After).
const (
	maxHashes      = 2
	maxHashWaiters = 16
)

// hashWait is how long a request waits for a hashing slot (a variable for
// the tests).
var hashWait = 2 * time.Second

// hashes is the process-wide gate: every Server (there may briefly be two
// while the web address changes) shares it.
var hashes = newHashGate(maxHashes, maxHashWaiters)

// errHashBusy: no hashing slot came free in time.
var errHashBusy = errors.New("webui: busy checking other passwords")

// hashGate is a counting semaphore with a bounded, deadline-limited wait.
type hashGate struct {
	slots    chan struct{}
	waiting  atomic.Int32
	maxWait  int32
	inflight atomic.Int32 // hashes running now (tests read the peak)
	peak     atomic.Int32
}

func newHashGate(n, waiters int) *hashGate {
	return &hashGate{slots: make(chan struct{}, n), maxWait: int32(waiters)}
}

// acquire takes a slot, waiting at most wait; it returns errHashBusy when
// none came free or too many are waiting already.
func (g *hashGate) acquire(wait time.Duration) error {
	select {
	case g.slots <- struct{}{}:
		g.enter()
		return nil
	default:
	}
	if g.waiting.Add(1) > g.maxWait {
		g.waiting.Add(-1)
		return errHashBusy
	}
	defer g.waiting.Add(-1)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		g.enter()
		return nil
	case <-t.C:
		return errHashBusy
	}
}

func (g *hashGate) enter() {
	n := g.inflight.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

// release gives back a slot taken by acquire. It first hands the memory
// the hash left (argonMemory of garbage) back to the system: otherwise
// the runtime lets the heap grow to twice what was live at the last
// collection, which during a flood includes the other slot's hash, so
// hashes would take fresh pages instead of the last one's, and what a
// burst took would stay with the process. With it the firmware's RSS is
// at most its idle size plus the hashes running (50 logins at once: +15
// MB, two 7 MiB hashes). It costs a collection of a few MB of live heap
// per hash, on a path that runs a few times a day.
func (g *hashGate) release() {
	debug.FreeOSMemory()
	g.inflight.Add(-1)
	<-g.slots
}

//go:embed common-passwords.txt
var commonPasswordsText string

// commonPasswords holds the embedded list, lower case.
var commonPasswords = func() map[string]bool {
	m := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(commonPasswordsText))
	for sc.Scan() {
		if w := strings.TrimSpace(sc.Text()); w != "" && !strings.HasPrefix(w, "#") {
			m[strings.ToLower(w)] = true
		}
	}
	return m
}()

// checkNewPassword says why pw may not become the admin password, or "".
func checkNewPassword(pw string) string {
	n := utf8.RuneCountInString(pw)
	switch {
	case !utf8.ValidString(pw):
		return "The password is not valid text."
	case n < MinPasswordLen:
		return fmt.Sprintf("Use at least %d characters (you typed %d). A few unrelated words make a good one.", MinPasswordLen, n)
	case len(pw) > maxPasswordLen:
		return fmt.Sprintf("Use at most %d characters.", maxPasswordLen)
	case commonPasswords[strings.ToLower(pw)]:
		return "This password is on a list of commonly used passwords: choose another."
	case trivial(pw):
		return "This password is a repeated or sequential pattern: choose another."
	}
	return ""
}

// trivial catches what a list misses: one character repeated, a short
// chunk repeated ("abcabcabcabc") or a run like "123456789012".
func trivial(pw string) bool {
	r := []rune(strings.ToLower(pw))
	for size := 1; size <= len(r)/2; size++ {
		if len(r)%size != 0 {
			continue
		}
		if strings.Repeat(string(r[:size]), len(r)/size) == string(r) {
			return true
		}
	}
	up, down := true, true
	for i := 1; i < len(r); i++ {
		d := r[i] - r[i-1]
		up = up && (d == 1 || (r[i-1] == '9' && r[i] == '0'))
		down = down && (d == -1 || (r[i-1] == '0' && r[i] == '9'))
	}
	return up || down
}

// hashPassword returns an encoded argon2id hash with a random salt, in the
// PHC string format ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
func hashPassword(pw string) (string, error) {
	return hashPasswordWith(pw, argonTime, argonMemory)
}

// hashPasswordWith is hashPassword with other time and memory costs (the
// hashes of earlier releases, in tests).
func hashPasswordWith(pw string, time, memory uint32) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("webui: salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, time, memory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, memory, time, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errBadHash = errors.New("webui: malformed password hash")

type argonHash struct {
	time, memory uint32
	threads      uint8
	salt, key    []byte
}

// parseHash decodes the PHC string hashPassword writes. The parameters come
// from the hash, so they can be raised later without breaking old files.
func parseHash(encoded string) (argonHash, error) {
	var h argonHash
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return h, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return h, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.memory, &h.time, &h.threads); err != nil ||
		h.time == 0 || h.time > 16 || h.threads == 0 || h.memory < 8*uint32(h.threads) || h.memory > 1<<20 {
		return h, errBadHash
	}
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(h.salt) < 8 {
		return h, errBadHash
	}
	if h.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.key) < 16 || len(h.key) > 64 {
		return h, errBadHash
	}
	return h, nil
}

// current reports whether h was made with today's parameters (else a
// successful login hashes the password again with them).
func (h argonHash) current() bool {
	return h.time == argonTime && h.memory == argonMemory && h.threads == argonThreads &&
		len(h.salt) == argonSaltLen && len(h.key) == argonKeyLen
}

// verifyPassword checks pw against an encoded hash in constant time.
func verifyPassword(encoded, pw string) (bool, error) {
	h, err := parseHash(encoded)
	if err != nil {
		return false, err
	}
	if len(pw) > maxPasswordLen {
		return false, nil
	}
	got := argon2.IDKey([]byte(pw), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(got, h.key) == 1, nil
}
