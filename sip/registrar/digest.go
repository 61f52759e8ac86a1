package registrar

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// AuthResult is what a request's credentials are worth.
type AuthResult int

const (
	// AuthMissing: no credentials for our realm (a first request).
	// Challenge; not a failure.
	AuthMissing AuthResult = iota
	// AuthOK: the credentials verify with a fresh nonce.
	AuthOK
	// AuthStale: the credentials are right but the nonce is too old, not
	// ours (a restart) or its nonce count was used before. Challenge with
	// stale=true; not a failure (RFC 7616 §3.3).
	AuthStale
	// AuthFailed: wrong password, unknown user, or a malformed or
	// unsupported answer. Challenge afresh and count a failure.
	AuthFailed
)

func (a AuthResult) String() string {
	switch a {
	case AuthMissing:
		return "missing"
	case AuthOK:
		return "ok"
	case AuthStale:
		return "stale"
	default:
		return "failed"
	}
}

// DefaultAlgorithms are the digest algorithms challenged with, strongest
// first: RFC 8760 §2.4 has the client use the first it supports.
var DefaultAlgorithms = []string{"SHA-256", "MD5"}

// md5OnlyAgents are User-Agent prefixes of phones known to fail a 401
// that offers any algorithm but MD5 instead of skipping it: libre before
// 2.x (baresip 1.0 in Debian bookworm) answers "Function not implemented"
// and gives up. They are challenged with MD5 alone.
var md5OnlyAgents = []string{"baresip v0.", "baresip v1."}

// checkAlgorithms validates Options.Algorithms.
func checkAlgorithms(algs []string) error {
	if len(algs) == 0 {
		return errors.New("registrar: no digest algorithm")
	}
	for i, a := range algs {
		if a != "SHA-256" && a != "MD5" {
			return fmt.Errorf("registrar: digest algorithm %q: SHA-256 or MD5", a)
		}
		if slices.Contains(algs[:i], a) {
			return fmt.Errorf("registrar: digest algorithm %q twice", a)
		}
	}
	return nil
}

// algorithmsFor are the algorithms to challenge req's sender with: the
// configured ones, or MD5 alone for a phone known to choke on others
// (when MD5 is allowed at all).
func algorithmsFor(req *sip.Request, configured []string) []string {
	if !slices.Contains(configured, "MD5") || len(configured) == 1 {
		return configured
	}
	if h := req.GetHeader("User-Agent"); h != nil {
		for _, p := range md5OnlyAgents {
			if strings.HasPrefix(h.Value(), p) {
				return []string{"MD5"}
			}
		}
	}
	return configured
}

// digester issues and checks digest nonces. A nonce is the time it was
// issued, 8 random bytes and an HMAC of both under a per-process secret,
// so no state is kept per nonce until one is used; then its last nonce
// count is kept (until it expires) to refuse replays.
type digester struct {
	realm  string
	algs   []string // allowed, in challenge order
	ttl    time.Duration
	clock  Clock
	secret []byte

	mu  sync.Mutex
	ncs map[string]uint32 // nonce → highest nonce count accepted
}

// maxNonces bounds the nonce counts kept; entries are made only for
// requests that verified, so only real users fill it.
const maxNonces = 8192

const nonceRaw = 8 + 8 + 16

func newDigester(realm string, algs []string, ttl time.Duration, clock Clock) (*digester, error) {
	if err := checkAlgorithms(algs); err != nil {
		return nil, err
	}
	if strings.ContainsAny(realm, "\"\\\r\n") {
		return nil, fmt.Errorf("registrar: realm %q cannot be quoted", realm)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("registrar: nonce secret: %w", err)
	}
	return &digester{realm: realm, algs: algs, ttl: ttl, clock: clock, secret: secret, ncs: map[string]uint32{}}, nil
}

func (d *digester) nonce() string {
	var b [nonceRaw]byte
	binary.BigEndian.PutUint64(b[:8], uint64(d.clock.Now().UnixNano()))
	rand.Read(b[8:16])
	copy(b[16:], d.mac(b[:16]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (d *digester) mac(b []byte) []byte {
	m := hmac.New(sha256.New, d.secret)
	m.Write(b)
	return m.Sum(nil)[:16]
}

// issued returns when a nonce of ours was made; ok is false for one we
// did not make (forged, or from before a restart).
func (d *digester) issued(n string) (time.Time, bool) {
	b, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil || len(b) != nonceRaw {
		return time.Time{}, false
	}
	if !hmac.Equal(b[16:], d.mac(b[:16])) {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b[:8]))), true
}

// fresh reports whether a nonce of ours is still within its lifetime.
func (d *digester) fresh(n string) bool {
	at, ok := d.issued(n)
	if !ok {
		return false
	}
	age := d.clock.Now().Sub(at)
	return age >= 0 && age < d.ttl
}

// challenges are the WWW-Authenticate values of a 401: one per
// algorithm, one nonce.
func (d *digester) challenges(algs []string, stale bool) []string {
	n := d.nonce()
	out := make([]string, 0, len(algs))
	for _, alg := range algs {
		v := fmt.Sprintf(`Digest realm="%s", nonce="%s", algorithm=%s, qop="auth"`, d.realm, n, alg)
		if stale {
			v += ", stale=true"
		}
		out = append(out, v)
	}
	return out
}

// credentials finds the request's answer for our realm: Authorization,
// else Proxy-Authorization.
func (d *digester) credentials(req *sip.Request) (*digest.Credentials, error) {
	var firstErr error
	for _, name := range []string{"Authorization", "Proxy-Authorization"} {
		for _, h := range req.GetHeaders(name) {
			c, err := digest.ParseCredentials(h.Value())
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			if c.Realm == d.realm {
				return c, nil
			}
		}
	}
	return nil, firstErr
}

// verdict is the outcome of checking a request's credentials.
type verdict struct {
	result AuthResult
	user   string // the digest user name, when credentials were given
	why    string // for the log, when not OK
}

// check verifies req's credentials against the users lookup gives.
// An unknown user takes as long as a known one and fails the same way,
// so answers do not tell which names exist.
func (d *digester) check(req *sip.Request, lookup func(name string) (User, bool)) verdict {
	c, err := d.credentials(req)
	if err != nil {
		return verdict{result: AuthFailed, why: "malformed credentials: " + err.Error()}
	}
	if c == nil {
		return verdict{result: AuthMissing}
	}
	v := verdict{result: AuthFailed, user: c.Username}
	var h hash.Hash
	switch alg := strings.ToUpper(c.Algorithm); {
	case (alg == "" || alg == "MD5") && slices.Contains(d.algs, "MD5"):
		h = md5.New()
	case alg == "SHA-256" && slices.Contains(d.algs, "SHA-256"):
		h = sha256.New()
	default:
		v.why = "algorithm not allowed: " + c.Algorithm
		return v
	}
	switch {
	case c.Username == "" || c.Userhash:
		v.why = "no user name (or a hashed one)"
		return v
	case c.QOP != "auth" || c.Cnonce == "" || c.Nc <= 0:
		// RFC 7616 §3.4: the client must use a qop we offered.
		v.why = "qop=auth with cnonce and nc required"
		return v
	case c.Nonce == "":
		v.why = "no nonce"
		return v
	}
	if err := uriMatches(c.URI, &req.Recipient); err != nil {
		v.why = err.Error()
		return v
	}
	ha1 := d.ha1(h, c.Username, lookup)
	a2 := hashHex(h, string(req.Method)+":"+c.URI)
	want := hashHex(h, fmt.Sprintf("%s:%s:%08x:%s:%s:%s", ha1, c.Nonce, c.Nc, c.Cnonce, c.QOP, a2))
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(c.Response))) != 1 {
		v.why = "wrong response (password or user)"
		return v
	}
	// The credentials are right; whether the nonce is acceptable decides
	// between OK and stale.
	if !d.fresh(c.Nonce) {
		v.result, v.why = AuthStale, "nonce expired or not ours"
		return v
	}
	if !d.count(c.Nonce, uint32(c.Nc)) {
		v.result, v.why = AuthStale, "nonce count used before"
		return v
	}
	v.result = AuthOK
	return v
}

// ha1 is H(user:realm:password) for the hash h is; an unknown user, or
// one without a secret for this algorithm, gets one nobody can match.
func (d *digester) ha1(h hash.Hash, name string, lookup func(string) (User, bool)) string {
	u, ok := lookup(name)
	if ok && u.Password != "" {
		return hashHex(h, u.Name+":"+d.realm+":"+u.Password)
	}
	if ok {
		stored := u.HA1
		if h.Size() == sha256.Size {
			stored = u.HA1SHA256
		}
		if stored != "" {
			return strings.ToLower(stored)
		}
	}
	// Same work as a real user; keyed so nobody can compute it.
	m := hmac.New(sha256.New, d.secret)
	m.Write([]byte("unknown:" + name))
	return hashHex(h, hex.EncodeToString(m.Sum(nil)))
}

// count accepts nonce count nc for nonce if it is above every count
// accepted before (RFC 7616 §3.4: the server may refuse a repeated nc).
func (d *digester) count(nonce string, nc uint32) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	last, seen := d.ncs[nonce]
	if seen && nc <= last {
		return false
	}
	if !seen && len(d.ncs) >= maxNonces {
		d.sweepLocked()
		if len(d.ncs) >= maxNonces {
			return false // full of live nonces: have the client take a new one
		}
	}
	d.ncs[nonce] = nc
	return true
}

func (d *digester) sweep() {
	d.mu.Lock()
	d.sweepLocked()
	d.mu.Unlock()
}

func (d *digester) sweepLocked() {
	for n := range d.ncs {
		if !d.fresh(n) {
			delete(d.ncs, n)
		}
	}
}

func hashHex(h hash.Hash, s string) string {
	h.Reset()
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil))
}

// uriMatches checks the digest-uri against the Request-URI (RFC 2617
// §3.2.2.5): an answer computed for another request does not count.
// Clients write the URI in different forms, so the parts that name the
// target are compared, not the text.
func uriMatches(digestURI string, ruri *sip.Uri) error {
	var u sip.Uri
	if err := sip.ParseUri(digestURI, &u); err != nil {
		return fmt.Errorf("digest uri %q: %w", digestURI, err)
	}
	if !strings.EqualFold(u.Host, ruri.Host) || u.User != ruri.User || portOf(&u) != portOf(ruri) {
		return errors.New("digest uri " + digestURI + " is not the Request-URI " + ruri.String())
	}
	return nil
}

func portOf(u *sip.Uri) int {
	if u.Port != 0 {
		return u.Port
	}
	if u.IsEncrypted() {
		return 5061
	}
	return 5060
}

// HA1 computes the stored form of a password for user in realm: hex
// MD5(user:realm:password) and hex SHA-256(user:realm:password), as
// User.HA1 and User.HA1SHA256 take them (the web UI saves these).
func HA1(user, realm, password string) (md5hex, sha256hex string) {
	s := user + ":" + realm + ":" + password
	return hashHex(md5.New(), s), hashHex(sha256.New(), s)
}
