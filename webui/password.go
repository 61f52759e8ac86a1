package webui

import (
	"bufio"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password rules: NIST SP 800-63B style (length and a blocklist, no
// composition rules).
const (
	MinPasswordLen = 12   // characters
	maxPasswordLen = 1024 // bytes: bounds the hashing work a request can ask for
)

// Argon2id parameters: the OWASP minimum (19 MiB, 2 passes, 1 lane), about
// 0.1 s on this class of machine and affordable in a Pi's RAM.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

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
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("webui: salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
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
