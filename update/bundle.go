// Package update reads, checks and installs signed firmware update
// bundles into the inactive one of the card's two boot slots, and keeps
// the state of an update across the reboot that tries it: committed when
// the new system reports itself healthy, rolled back otherwise.
//
// A bundle is a stream, read once from start to end:
//
//	magic      "ATAUPD1\n"                      8 bytes
//	length     manifest length, big-endian     4 bytes (at most MaxManifest)
//	manifest   JSON (Manifest)
//	signature  Ed25519 over magic|length|manifest   64 bytes
//	payload    the slot image, gzip, exactly Manifest.Image.Compressed bytes
//
// and nothing after it. The signature covers the manifest, and the
// manifest holds the SHA-256 and size of the slot image: the header is
// verified before a byte of the payload is read, the payload's hash before
// a byte of it is written to the card (see Stage).
package update

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Magic starts every bundle (format 1).
const Magic = "ATAUPD1\n"

// Limits: a manifest is a few hundred bytes; a slot image is what the
// card's slot partition holds (checked against the card at install).
const (
	MaxManifest  = 64 << 10
	MaxImageSize = 1 << 30
	// MaxCompressed bounds the payload kept in RAM (tmpfs) between upload
	// and install: a Pi Zero 2 W has 512 MB.
	MaxCompressed = 128 << 20
)

// Manifest describes a bundle: what it is for and what it writes.
type Manifest struct {
	Format  int    `json:"format"`  // 1
	Board   string `json:"board"`   // rpi3, rpi4, rpi02w
	Version string `json:"version"` // as the firmware reports it (git describe)
	// Built orders versions: the build's time (SOURCE_DATE_EPOCH, the
	// commit's time), Unix seconds. A bundle built earlier than the
	// running system is older.
	Built int64 `json:"built"`
	// Image is the slot's file system image (FAT) the payload unpacks to.
	Image Image `json:"image"`
	// Files are what the slot image holds (kernel, device trees,
	// initramfs with the firmware), for the record: the image's hash
	// covers them.
	Files []File `json:"files"`
}

// Image is the slot image's size and hash, and the payload's size.
type Image struct {
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
	Compressed int64  `json:"compressed_size"`
}

// File is one file in the slot image.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Error kinds: what is wrong with a bundle, as the web UI and API name it.
const (
	KindFormat    = "format"    // not a bundle, or a damaged header
	KindSignature = "signature" // not signed by this firmware's key
	KindBoard     = "board"     // built for another board
	KindVersion   = "version"   // older than (or the same as) the running system
	KindSize      = "size"      // larger than the slot or the limits
	KindTruncated = "truncated" // the stream ended early
	KindHash      = "hash"      // the payload is not what the manifest says
)

// Error is a refused bundle. Nothing has been written when one is
// returned by Stage or Check.
type Error struct {
	Kind string
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func errorf(kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// KindOf is the kind of a refused bundle's error, "" for other errors.
func KindOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

var (
	boardRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
	versionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+~-]{0,63}$`)
	fileRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$`)
	hashRE    = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Validate checks the manifest's fields (not the payload).
func (m *Manifest) Validate() error {
	switch {
	case m.Format != 1:
		return errorf(KindFormat, "bundle format %d: this firmware reads format 1", m.Format)
	case !boardRE.MatchString(m.Board):
		return errorf(KindFormat, "manifest: board %q is not a board name", m.Board)
	case !versionRE.MatchString(m.Version):
		return errorf(KindFormat, "manifest: version %q is not a version", m.Version)
	case m.Built <= 0:
		return errorf(KindFormat, "manifest: no build time")
	case m.Image.Size <= 0 || m.Image.Size > MaxImageSize:
		return errorf(KindSize, "manifest: slot image of %d bytes (want 1 byte to %d MiB)", m.Image.Size, MaxImageSize>>20)
	case m.Image.Compressed <= 0 || m.Image.Compressed > MaxCompressed:
		return errorf(KindSize, "manifest: payload of %d bytes (want 1 byte to %d MiB)", m.Image.Compressed, MaxCompressed>>20)
	case !hashRE.MatchString(m.Image.SHA256):
		return errorf(KindFormat, "manifest: image sha256 %q is not 64 lower-case hex digits", m.Image.SHA256)
	}
	for _, f := range m.Files {
		if !fileRE.MatchString(f.Name) || strings.Contains(f.Name, "..") || f.Size < 0 || f.Size > m.Image.Size || !hashRE.MatchString(f.SHA256) {
			return errorf(KindFormat, "manifest: file entry %q (%d bytes, sha256 %q) is not valid", f.Name, f.Size, f.SHA256)
		}
	}
	return nil
}

// header is magic|length|manifest: what the signature covers.
func header(manifest []byte) []byte {
	h := make([]byte, 0, len(Magic)+4+len(manifest))
	h = append(h, Magic...)
	h = binary.BigEndian.AppendUint32(h, uint32(len(manifest)))
	return append(h, manifest...)
}

// WriteHeader writes the signed header for m; the caller writes the
// payload (m.Image.Compressed bytes of gzip) after it.
func WriteHeader(w io.Writer, m *Manifest, key ed25519.PrivateKey) error {
	if err := m.Validate(); err != nil {
		return err
	}
	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	h := header(js)
	if _, err := w.Write(h); err != nil {
		return err
	}
	_, err = w.Write(ed25519.Sign(key, h))
	return err
}

// ReadHeader reads a bundle's header from r and verifies its signature
// with pub (before the manifest is even parsed) and the manifest's
// fields. r is left at the payload.
func ReadHeader(r io.Reader, pub ed25519.PublicKey) (*Manifest, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, errorf(KindSignature, "this firmware was built without an update key (make keys, then build it again): it accepts no bundle")
	}
	var fixed [len(Magic) + 4]byte
	if n, err := io.ReadFull(r, fixed[:]); err != nil {
		if n == 0 {
			return nil, errorf(KindTruncated, "the file is empty")
		}
		if !bytes.HasPrefix([]byte(Magic), fixed[:min(n, len(Magic))]) {
			return nil, errorf(KindFormat, "not an update bundle (it does not start with %q)", strings.TrimSpace(Magic))
		}
		return nil, errorf(KindTruncated, "truncated: the file ends in its header (%d bytes)", n)
	}
	if string(fixed[:len(Magic)]) != Magic {
		if strings.HasPrefix(string(fixed[:]), "ATAUPD") {
			return nil, errorf(KindFormat, "bundle format %q: this firmware reads %q", strings.TrimSpace(string(fixed[:len(Magic)])), strings.TrimSpace(Magic))
		}
		return nil, errorf(KindFormat, "not an update bundle (it does not start with %q)", strings.TrimSpace(Magic))
	}
	n := binary.BigEndian.Uint32(fixed[len(Magic):])
	if n == 0 || n > MaxManifest {
		return nil, errorf(KindFormat, "manifest of %d bytes (at most %d): not an update bundle", n, MaxManifest)
	}
	js := make([]byte, n)
	if _, err := io.ReadFull(r, js); err != nil {
		return nil, errorf(KindTruncated, "truncated: the file ends in its manifest")
	}
	sig := make([]byte, ed25519.SignatureSize)
	if _, err := io.ReadFull(r, sig); err != nil {
		return nil, errorf(KindTruncated, "truncated: the file ends in its signature")
	}
	if !ed25519.Verify(pub, header(js), sig) {
		return nil, errorf(KindSignature, "bad signature: the bundle was not signed with this firmware's update key (key %s), or it was changed after signing", KeyID(pub))
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, errorf(KindFormat, "manifest: %v", err)
	}
	if dec.More() {
		return nil, errorf(KindFormat, "manifest: data after the JSON object")
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// KeyID is a short name of a public key for messages: the first 8 bytes
// of its SHA-256, hex.
func KeyID(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return hex.EncodeToString(s[:8])
}

// ParsePublicKey reads a public key as the key files hold it (base64 of
// the 32 bytes, surrounding space ignored).
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("update key: want base64 of %d bytes", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// ParsePrivateKey reads a private key file's content (base64 of the
// 32-byte seed).
func ParsePrivateKey(s string) (ed25519.PrivateKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.SeedSize {
		return nil, fmt.Errorf("update signing key: want base64 of a %d-byte seed", ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(b), nil
}

// Expect is what a bundle must match to be installed here.
type Expect struct {
	Board   string // this board
	Running *Manifest
	// Force installs an older (or the same) version.
	Force bool
	// SlotSize is the inactive slot's size in bytes.
	SlotSize int64
}

// Check refuses a bundle for another board, an older version (unless
// forced) or a slot image larger than the slot.
func Check(m *Manifest, e Expect) error {
	if m.Board != e.Board {
		return errorf(KindBoard, "the bundle is for board %s; this is a %s", m.Board, e.Board)
	}
	if r := e.Running; r != nil && !e.Force {
		switch {
		case m.Version == r.Version:
			return errorf(KindVersion, "version %s is the one running (install it again with force)", m.Version)
		case m.Built < r.Built:
			return errorf(KindVersion, "version %s is older than the running %s (built %s before it; install it with force to go back)",
				m.Version, r.Version, ago(r.Built-m.Built))
		}
	}
	if e.SlotSize > 0 && m.Image.Size > e.SlotSize {
		return errorf(KindSize, "the slot image is %d bytes; the card's slot holds %d", m.Image.Size, e.SlotSize)
	}
	return nil
}

func ago(secs int64) string {
	switch {
	case secs >= 2*86400:
		return fmt.Sprintf("%d days", secs/86400)
	case secs >= 2*3600:
		return fmt.Sprintf("%d hours", secs/3600)
	case secs >= 120:
		return fmt.Sprintf("%d minutes", secs/60)
	}
	return fmt.Sprintf("%d seconds", secs)
}
