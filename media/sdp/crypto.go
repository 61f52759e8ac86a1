package sdp

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/pion/srtp/v3"
)

// SDES (RFC 4568): SRTP master keys in a=crypto attributes. Each side
// names the key it sends with; the answerer picks one of the offerer's
// crypto suites (and its tag) and answers with a key of its own for it.

// SRTPPolicy is a line's use of SRTP.
type SRTPPolicy uint8

const (
	// SRTPOff offers RTP/AVP without keys and refuses RTP/SAVP.
	SRTPOff SRTPPolicy = iota
	// SRTPOptional offers RTP/AVP with keys ("best effort" SRTP: a peer
	// without SRTP ignores them and answers plain RTP) and takes SRTP
	// whenever the far end gives a usable key, plain RTP otherwise.
	SRTPOptional
	// SRTPMandatory offers RTP/SAVP with keys and refuses any offer or
	// answer without a usable key.
	SRTPMandatory
)

// ParseSRTPPolicy reads "off", "optional" or "mandatory".
func ParseSRTPPolicy(v string) (SRTPPolicy, error) {
	switch v {
	case "", "off":
		return SRTPOff, nil
	case "optional":
		return SRTPOptional, nil
	case "mandatory":
		return SRTPMandatory, nil
	}
	return SRTPOff, fmt.Errorf("sdp: unknown SRTP mode %q (off, optional, mandatory)", v)
}

func (p SRTPPolicy) String() string {
	switch p {
	case SRTPOptional:
		return "optional"
	case SRTPMandatory:
		return "mandatory"
	}
	return "off"
}

// Suite is an SRTP crypto suite of RFC 4568 §6.2 and RFC 7714 §12.
type Suite uint8

// The suites we take. The zero Suite is none.
const (
	AESCM128HMACSHA180 Suite = iota + 1 // AES_CM_128_HMAC_SHA1_80
	AESCM128HMACSHA132                  // AES_CM_128_HMAC_SHA1_32 (SRTCP keeps an 80-bit tag)
	AEADAES128GCM                       // AEAD_AES_128_GCM (RFC 7714)
)

// Suites are the suites we take, our preference first.
var Suites = []Suite{AESCM128HMACSHA180, AESCM128HMACSHA132, AEADAES128GCM}

// offeredSuites are the suites our offers list. AEAD_AES_128_GCM is taken
// when a peer offers it but not offered: SDES stacks older than RFC 7714
// refuse a whole offer over a suite they cannot parse.
var offeredSuites = []Suite{AESCM128HMACSHA180, AESCM128HMACSHA132}

var suiteNames = map[Suite]string{
	AESCM128HMACSHA180: "AES_CM_128_HMAC_SHA1_80",
	AESCM128HMACSHA132: "AES_CM_128_HMAC_SHA1_32",
	AEADAES128GCM:      "AEAD_AES_128_GCM",
}

func (s Suite) String() string {
	if n, ok := suiteNames[s]; ok {
		return n
	}
	return "suite(" + strconv.Itoa(int(s)) + ")"
}

// SuiteByName is the suite an a=crypto attribute names (case-sensitive,
// as RFC 4568's grammar is).
func SuiteByName(name string) (Suite, bool) {
	for s, n := range suiteNames {
		if n == name {
			return s, true
		}
	}
	return 0, false
}

// KeyLen is the length of the suite's master key and salt together, as
// an inline key carries them: 16+14 for AES-CM, 16+12 for AES-GCM.
func (s Suite) KeyLen() int {
	if s == AEADAES128GCM {
		return 28
	}
	return 30
}

// Profile is pion/srtp's name for the suite.
func (s Suite) Profile() srtp.ProtectionProfile {
	switch s {
	case AESCM128HMACSHA132:
		return srtp.ProtectionProfileAes128CmHmacSha1_32
	case AEADAES128GCM:
		return srtp.ProtectionProfileAeadAes128Gcm
	}
	return srtp.ProtectionProfileAes128CmHmacSha1_80
}

// Key is SRTP key material: master key then master salt. It never
// prints: every fmt verb, log/slog and JSON show "[key redacted]". It is
// a value (no pointer to follow) so that it stays behind its Format even
// where fmt prints a pointer's target raw (a wrong verb).
type Key struct {
	b [maxKeyLen]byte
	n uint8
}

const (
	maxKeyLen = 32
	redacted  = "[key redacted]"
)

// NewKey copies b (at most 32 bytes) into a Key.
func NewKey(b []byte) (Key, error) {
	var k Key
	if len(b) > maxKeyLen {
		return k, fmt.Errorf("sdp: key of %d bytes (at most %d)", len(b), maxKeyLen)
	}
	k.n = uint8(copy(k.b[:], b))
	return k, nil
}

// Bytes is a copy of the key material.
func (k Key) Bytes() []byte { return append([]byte(nil), k.b[:k.n]...) }

// Len is the key material's length in bytes.
func (k Key) Len() int { return int(k.n) }

func (Key) Format(f fmt.State, _ rune)   { io.WriteString(f, redacted) }
func (Key) String() string               { return redacted }
func (Key) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (Key) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Crypto is one usable a=crypto attribute: a tag, a suite and the key its
// writer sends with.
type Crypto struct {
	Tag   int
	Suite Suite
	Key   Key
	// MKI is the master key identifier the writer puts in each packet
	// (RFC 3711 §3.1) as bytes, "" without one.
	MKI string
}

// NewCryptos makes fresh random keys (crypto/rand) for every suite we
// take, tagged 1, 2, ... in our order of preference: a call's keys.
func NewCryptos() ([]Crypto, error) {
	out := make([]Crypto, 0, len(Suites))
	for i, s := range Suites {
		k := Key{n: uint8(s.KeyLen())}
		if _, err := rand.Read(k.b[:k.n]); err != nil {
			return nil, fmt.Errorf("sdp: SRTP key: %w", err)
		}
		out = append(out, Crypto{Tag: i + 1, Suite: s, Key: k})
	}
	return out, nil
}

// Attribute is the a=crypto value: "tag suite inline:key". Our keys are
// sent without lifetime or MKI.
func (c Crypto) Attribute() string {
	return strconv.Itoa(c.Tag) + " " + c.Suite.String() + " inline:" + base64.StdEncoding.EncodeToString(c.Key.b[:c.Key.n])
}

// ErrCrypto is wrapped by every error of ParseCrypto.
var ErrCrypto = errors.New("sdp: unusable crypto attribute")

// minLifetime is the shortest key lifetime (in packets) we take: we do
// not re-key during a call, and 2^20 packets last over 5 hours at 20 ms.
const minLifetime = 1 << 20

// maxMKILen bounds the MKI length we take (RFC 4568 allows up to 128
// bytes; real peers use 1 to 4).
const maxMKILen = 8

// ParseCrypto reads an a=crypto value (RFC 4568 §9.1):
//
//	tag SP suite SP inline:<base64 key||salt>[|lifetime][|MKI:length] *(SP session-param)
//
// Only what we can honour parses: our suites, one key, a lifetime of at
// least 2^20 packets, an MKI of up to 8 bytes, and the session
// parameters that change nothing we do (WSH, FEC_ORDER, FEC_KEY, KDR=0 and
// those marked optional with "-"). UNENCRYPTED_SRTP, UNENCRYPTED_SRTCP,
// UNAUTHENTICATED_SRTP and a key derivation rate are refused (no
// protection, or what pion/srtp does not do), as is an unknown mandatory
// parameter (§6.3.7). Errors wrap ErrCrypto and never quote the key.
func ParseCrypto(v string) (Crypto, error) {
	fields := strings.Fields(v)
	if len(fields) < 3 {
		return Crypto{}, fmt.Errorf("%w: want tag, suite and key, got %d fields", ErrCrypto, len(fields))
	}
	tag, err := strconv.ParseUint(fields[0], 10, 32)
	if err != nil || len(fields[0]) > 9 {
		return Crypto{}, fmt.Errorf("%w: tag %q is not 1-9 digits", ErrCrypto, clip(fields[0]))
	}
	suite, ok := SuiteByName(fields[1])
	if !ok {
		return Crypto{}, fmt.Errorf("%w: suite %q not supported", ErrCrypto, clip(fields[1]))
	}
	c := Crypto{Tag: int(tag), Suite: suite}
	if strings.Contains(fields[2], ";") {
		return Crypto{}, fmt.Errorf("%w: tag %d: several keys (only one key per attribute is supported)", ErrCrypto, tag)
	}
	method, info, ok := strings.Cut(fields[2], ":")
	if !ok || method != "inline" {
		return Crypto{}, fmt.Errorf("%w: tag %d: key method is not inline", ErrCrypto, tag)
	}
	parts := strings.Split(info, "|")
	if len(parts) > 3 {
		return Crypto{}, fmt.Errorf("%w: tag %d: too many |-fields in the key", ErrCrypto, tag)
	}
	if c.Key, err = decodeKey(parts[0], suite); err != nil {
		return Crypto{}, fmt.Errorf("%w: tag %d: %w", ErrCrypto, tag, err)
	}
	for i, p := range parts[1:] {
		if val, length, isMKI := strings.Cut(p, ":"); isMKI {
			if c.MKI, err = parseMKI(val, length); err != nil {
				return Crypto{}, fmt.Errorf("%w: tag %d: %w", ErrCrypto, tag, err)
			}
			continue
		}
		if i > 0 || c.MKI != "" {
			return Crypto{}, fmt.Errorf("%w: tag %d: lifetime after the MKI", ErrCrypto, tag)
		}
		life, err := parseLifetime(p)
		if err != nil {
			return Crypto{}, fmt.Errorf("%w: tag %d: %w", ErrCrypto, tag, err)
		}
		if life < minLifetime {
			return Crypto{}, fmt.Errorf("%w: tag %d: key lifetime %d packets is under 2^20 (we do not re-key during a call)", ErrCrypto, tag, life)
		}
	}
	for _, p := range fields[3:] {
		if err := checkSessionParam(p); err != nil {
			return Crypto{}, fmt.Errorf("%w: tag %d: %w", ErrCrypto, tag, err)
		}
	}
	return c, nil
}

// decodeKey reads the base64 key||salt, padded or not.
func decodeKey(s string, suite Suite) (Key, error) {
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		k, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		return Key{}, errors.New("key is not base64")
	}
	if len(k) != suite.KeyLen() {
		return Key{}, fmt.Errorf("key is %d bytes, %s takes %d", len(k), suite, suite.KeyLen())
	}
	return NewKey(k)
}

// parseLifetime reads a lifetime: decimal, or 2^n.
func parseLifetime(s string) (uint64, error) {
	if exp, ok := strings.CutPrefix(s, "2^"); ok {
		n, err := strconv.ParseUint(exp, 10, 8)
		if err != nil || n > 63 {
			return 0, fmt.Errorf("lifetime %q is not 2^0..2^63", clip(s))
		}
		return 1 << n, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("lifetime %q is not a number", clip(s))
	}
	return n, nil
}

// parseMKI reads "value:length": the MKI as length bytes, big-endian.
func parseMKI(val, length string) (string, error) {
	n, err := strconv.ParseUint(length, 10, 8)
	if err != nil || n == 0 || n > 128 {
		return "", fmt.Errorf("MKI length %q is not 1-128", clip(length))
	}
	if n > maxMKILen {
		return "", fmt.Errorf("MKI of %d bytes (up to %d supported)", n, maxMKILen)
	}
	v, err := strconv.ParseUint(val, 10, 64)
	if err != nil || (n < 8 && v>>(8*n) != 0) {
		return "", fmt.Errorf("MKI value %q does not fit in %d bytes", clip(val), n)
	}
	mki := make([]byte, n)
	for i := int(n) - 1; i >= 0; i-- {
		mki[i] = byte(v)
		v >>= 8
	}
	return string(mki), nil
}

// checkSessionParam accepts the session parameters (RFC 4568 §6.3) that
// leave the stream as we run it.
func checkSessionParam(p string) error {
	name, val, _ := strings.Cut(p, "=")
	switch {
	case strings.HasPrefix(p, "-"):
		return nil // optional by definition (§6.3.7)
	case name == "WSH", name == "FEC_ORDER", name == "FEC_KEY":
		return nil // a replay window hint; FEC we do not do
	case name == "KDR":
		if n, err := strconv.ParseUint(val, 10, 8); err != nil || n > 24 {
			return fmt.Errorf("KDR %q is not 0-24", clip(val))
		} else if n != 0 {
			return fmt.Errorf("key derivation rate 2^%d not supported", n)
		}
		return nil
	case name == "UNENCRYPTED_SRTP", name == "UNENCRYPTED_SRTCP", name == "UNAUTHENTICATED_SRTP":
		return fmt.Errorf("%s: we take only encrypted and authenticated SRTP", name)
	}
	return fmt.Errorf("unknown mandatory session parameter %q", clip(p))
}

// clip shortens what an error quotes from the network.
func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

// SRTP is a stream's negotiated SDES: the suite (0: plain RTP), the tag
// of the chosen attribute (an answer repeats it) and each side's key.
type SRTP struct {
	Suite  Suite
	Tag    int
	Local  Key // we send with it
	Remote Key // the far end sends with it
	// RemoteMKI is the far end's MKI in each packet as bytes, "" without.
	RemoteMKI string
}

// On reports whether the stream is SRTP.
func (s SRTP) On() bool { return s.Suite != 0 }

// ErrNoCrypto is a negotiation's error when SRTP is mandatory (or the
// stream is RTP/SAVP) and no crypto attribute is usable.
var ErrNoCrypto = errors.New("sdp: no usable SRTP key (a=crypto)")

// keyFor is our crypto of suite s, if we have one.
func (l Local) keyFor(s Suite) (Crypto, bool) {
	for _, c := range l.Crypto {
		if c.Suite == s && c.Key.Len() == s.KeyLen() {
			return c, true
		}
	}
	return Crypto{}, false
}

// negotiateCrypto picks the remote's first usable crypto attribute (its
// order is its preference) of a suite we have a key for.
func negotiateCrypto(l Local, values []string) (SRTP, error) {
	var why []string
	for _, v := range values {
		c, err := ParseCrypto(v)
		if err != nil {
			why = append(why, strings.TrimPrefix(err.Error(), ErrCrypto.Error()+": "))
			continue
		}
		ours, ok := l.keyFor(c.Suite)
		if !ok {
			why = append(why, fmt.Sprintf("tag %d: %s not offered by us", c.Tag, c.Suite))
			continue
		}
		return SRTP{Suite: c.Suite, Tag: c.Tag, Local: ours.Key, Remote: c.Key, RemoteMKI: c.MKI}, nil
	}
	if len(why) == 0 {
		return SRTP{}, fmt.Errorf("%w: none in the SDP", ErrNoCrypto)
	}
	return SRTP{}, fmt.Errorf("%w: %s", ErrNoCrypto, strings.Join(why, "; "))
}
