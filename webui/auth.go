package webui

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/openata/ata/config"
)

// AdminFile is the file in Options.DataDir holding the admin password hash
// and the secret that signs pre-login CSRF tokens.
const AdminFile = "admin.json"

// adminFile is the JSON in AdminFile.
type adminFile struct {
	Hash   string    `json:"password_hash"` // argon2id, PHC string format
	Secret string    `json:"secret"`        // base64, 32 bytes
	SetAt  time.Time `json:"set_at"`
}

// adminStore holds the admin password. An empty hash is the first-boot
// state: nothing but the set-password page is reachable.
type adminStore struct {
	path string
	// verify checks a password against an encoded hash (verifyPassword;
	// tests slow it down to line up parallel guesses).
	verify func(encoded, pw string) (bool, error)

	mu     sync.Mutex
	hash   string
	secret []byte
	setAt  time.Time
}

func openAdminStore(dir string) (*adminStore, error) {
	a := &adminStore{path: filepath.Join(dir, AdminFile), verify: verifyPassword}
	data, err := os.ReadFile(a.path)
	if errors.Is(err, fs.ErrNotExist) {
		a.secret = randomBytes(32)
		return a, nil
	}
	if err != nil {
		return nil, fmt.Errorf("webui: admin file: %w", err)
	}
	// A damaged file is an error, not a return to first boot: falling back
	// to "no password yet" would hand the device to whoever comes first.
	var f adminFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("webui: admin file %s: %w (remove it to set a new password)", a.path, err)
	}
	secret, err := base64.StdEncoding.DecodeString(f.Secret)
	if err != nil || len(secret) < 16 {
		return nil, fmt.Errorf("webui: admin file %s: bad secret (remove it to set a new password)", a.path)
	}
	if _, err := parseHash(f.Hash); err != nil {
		return nil, fmt.Errorf("webui: admin file %s: %w (remove it to set a new password)", a.path, err)
	}
	a.hash, a.secret, a.setAt = f.Hash, secret, f.SetAt
	return a, nil
}

// isSet reports whether the admin password has been set.
func (a *adminStore) isSet() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hash != ""
}

func (a *adminStore) key() []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.secret
}

// check verifies pw against the stored hash; the caller holds a slot of
// the hash gate. A right password whose hash has older parameters is
// hashed again with today's (in the same slot) and saved: upgraded says
// so, err says why that failed (the password was right all the same).
func (a *adminStore) check(pw string) (ok, upgraded bool, err error) {
	a.mu.Lock()
	hash := a.hash
	a.mu.Unlock()
	if hash == "" {
		return false, false, nil
	}
	if ok, err := a.verify(hash, pw); err != nil || !ok {
		return false, false, nil
	}
	if h, err := parseHash(hash); err == nil && !h.current() {
		if err := a.rehash(hash, pw); err != nil {
			return true, false, err
		}
		return true, true, nil
	}
	return true, false, nil
}

// rehash replaces old (if still the stored hash: a password change in
// between wins) with a hash of pw made with today's parameters.
func (a *adminStore) rehash(old, pw string) error {
	hash, err := hashPassword(pw)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.hash != old {
		return nil
	}
	return a.storeLocked(hash, a.setAt)
}

var errAlreadySet = errors.New("webui: the admin password is already set")

// set hashes pw and saves it atomically (temp file, fsync, rename, fsync
// the directory) before the running state changes. With first, it fails
// with errAlreadySet if a password exists (two first-boot forms racing).
// It waits its turn at the hash gate (errHashBusy if none comes).
func (a *adminStore) set(pw string, now time.Time, first bool) error {
	if err := hashes.acquire(hashWait); err != nil {
		return err
	}
	hash, err := hashPassword(pw)
	hashes.release()
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if first && a.hash != "" {
		return errAlreadySet
	}
	return a.storeLocked(hash, now.UTC())
}

// storeLocked writes hash to the admin file, then makes it the running one.
func (a *adminStore) storeLocked(hash string, setAt time.Time) error {
	data, err := json.MarshalIndent(adminFile{Hash: hash, Secret: base64.StdEncoding.EncodeToString(a.secret), SetAt: setAt}, "", "  ")
	if err != nil {
		return fmt.Errorf("webui: admin file: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(a.path), 0o700); err != nil {
		return fmt.Errorf("webui: admin file: %w", err)
	}
	if err := config.WriteFileAtomic(a.path, data, 0o600); err != nil {
		return fmt.Errorf("webui: admin file: %w", err)
	}
	a.hash, a.setAt = hash, setAt
	return nil
}

// reset removes the password (factory reset): the next visit is a first boot.
func (a *adminStore) reset() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := os.Remove(a.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("webui: admin file: %w", err)
	}
	a.hash = ""
	a.secret = randomBytes(32)
	return nil
}

// preToken is the CSRF token of the login and set-password forms, which
// have no session yet: an HMAC of a random nonce kept in a cookie.
func (a *adminStore) preToken(nonce string) string {
	m := hmac.New(sha256.New, a.key())
	m.Write([]byte("pre-session csrf\x00" + nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("webui: crypto/rand: %v", err)) // the system is unusable without it
	}
	return b
}

// randomID is 128 random bits in hex.
func randomID() string { return hex.EncodeToString(randomBytes(16)) }

// Session lifetimes (OWASP session management: short idle, bounded life).
const (
	SessionIdle     = 15 * time.Minute
	SessionAbsolute = 8 * time.Hour
	maxSessions     = 32
)

type session struct {
	id      string
	csrf    string
	created time.Time
	seen    time.Time
	flash   string // a one-shot message for the next page
}

type sessionStore struct {
	mu sync.Mutex
	m  map[string]*session
}

func newSessionStore() *sessionStore { return &sessionStore{m: map[string]*session{}} }

// create starts a session with fresh random id and CSRF token.
func (s *sessionStore) create(now time.Time) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= maxSessions { // drop the least recently used
		var oldest *session
		for _, v := range s.m {
			if oldest == nil || v.seen.Before(oldest.seen) {
				oldest = v
			}
		}
		delete(s.m, oldest.id)
	}
	ss := &session{id: randomID(), csrf: randomID(), created: now, seen: now}
	s.m[ss.id] = ss
	return ss
}

// get returns the live session with this id, or nil. touch extends the idle
// timer (requests the user makes; not the status page's event stream).
func (s *sessionStore) get(id string, now time.Time, touch bool) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[id]
	if ss == nil {
		return nil
	}
	if now.Sub(ss.seen) >= SessionIdle || now.Sub(ss.created) >= SessionAbsolute {
		delete(s.m, id)
		return nil
	}
	if touch {
		ss.seen = now
	}
	return ss
}

func (s *sessionStore) delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// deleteAll ends every session (password change, factory reset).
func (s *sessionStore) deleteAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.m)
}

func (s *sessionStore) setFlash(ss *session, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss.flash = msg
}

func (s *sessionStore) takeFlash(ss *session) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := ss.flash
	ss.flash = ""
	return f
}

// Login throttling (ASVS 2.2.1, EN 303 645 5.1-5): per client address,
// ThrottleFailures wrong passwords in a row are allowed; after that every
// attempt is refused for ThrottleBase·2^(failures-ThrottleFailures), at most
// ThrottleMax, without even checking the password. A correct password
// (outside a lockout) clears the count. IPv6 clients are counted per /64.
//
// An attempt is counted as a failure when it is let through to the hash,
// before its password is checked (reserve), and forgiven if it proves
// right: guesses sent in parallel each see the ones before them, so no
// more than ThrottleFailures of them reach the hash before the lockout.
const (
	ThrottleFailures = 5
	ThrottleBase     = 30 * time.Second
	ThrottleMax      = time.Hour
	throttleForget   = 24 * time.Hour
	throttleEntries  = 4096
)

type attempts struct {
	fails int
	last  time.Time
	until time.Time
}

type throttle struct {
	mu sync.Mutex
	m  map[netip.Prefix]*attempts
}

func newThrottle() *throttle { return &throttle{m: map[netip.Prefix]*attempts{}} }

// clientKey is the throttling key of a request's remote address.
func clientKey(remoteAddr string) netip.Prefix {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}
	}
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// wait returns how long the client must wait before it may try again.
func (t *throttle) wait(key netip.Prefix, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.m[key]
	if a == nil || !now.Before(a.until) {
		return 0
	}
	return a.until.Sub(now)
}

// reserve lets one attempt through to the password check, or returns how
// long the client must wait (refused). A let-through attempt already
// counts as a wrong password; lock is the lockout that starts if it is
// one (0 if none). A right password then calls succeed.
func (t *throttle) reserve(key netip.Prefix, now time.Time) (wait, lock time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.m[key]
	if a != nil && now.Before(a.until) {
		return a.until.Sub(now), 0
	}
	if a == nil {
		t.evict(now)
		a = &attempts{}
		t.m[key] = a
	}
	if now.Sub(a.last) > throttleForget {
		a.fails = 0
	}
	a.fails++
	a.last = now
	if a.fails < ThrottleFailures {
		return 0, 0
	}
	d := ThrottleBase << min(a.fails-ThrottleFailures, 20)
	d = min(d, ThrottleMax)
	a.until = now.Add(d)
	return 0, d
}

func (t *throttle) succeed(key netip.Prefix) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, key)
}

// evict keeps the table bounded: stale entries go first, then the oldest.
func (t *throttle) evict(now time.Time) {
	if len(t.m) < throttleEntries {
		return
	}
	var oldestKey netip.Prefix
	var oldest *attempts
	for k, a := range t.m {
		if now.Sub(a.last) > throttleForget && !now.Before(a.until) {
			delete(t.m, k)
			continue
		}
		if oldest == nil || a.last.Before(oldest.last) {
			oldestKey, oldest = k, a
		}
	}
	if len(t.m) >= throttleEntries && oldest != nil {
		delete(t.m, oldestKey)
	}
}

// equalTokens compares two secrets in constant time.
func equalTokens(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
