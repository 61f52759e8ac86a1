package update

import (
	"bufio"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
)

// Staged is a bundle whose signature, manifest and payload hash have been
// verified, its payload kept in a spool file (on the box: /tmp, RAM) until
// it is installed or removed. Nothing of it is on the card yet.
type Staged struct {
	Manifest *Manifest
	path     string
}

// countingReader counts what passes.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Stage reads a whole bundle from r: the header (ReadHeader), then the
// manifest is checked against e (Check) before the payload is read, then
// the payload is kept in a file in spoolDir while it is unpacked and
// hashed as it arrives. A bundle that is refused (bad signature, another
// board, an older version, too large, truncated, a hash that differs,
// data after the payload) leaves nothing behind.
func Stage(r io.Reader, pub ed25519.PublicKey, e Expect, spoolDir string) (*Staged, error) {
	m, err := ReadHeader(r, pub)
	if err != nil {
		return nil, err
	}
	if err := Check(m, e); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(spoolDir, "bundle-*.gz")
	if err != nil {
		return nil, fmt.Errorf("update: spool: %w", err)
	}
	st := &Staged{Manifest: m, path: f.Name()}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(st.path)
		}
	}()
	bw := bufio.NewWriterSize(f, 256<<10)
	in := &countingReader{r: io.LimitReader(r, m.Image.Compressed)}
	var spoolErr error
	tee := io.TeeReader(in, writerFunc(func(p []byte) (int, error) {
		n, err := bw.Write(p)
		if err != nil && spoolErr == nil {
			spoolErr = err
		}
		return n, err
	}))
	if err := checkPayload(tee, m); err != nil {
		if spoolErr != nil {
			return nil, fmt.Errorf("update: spool (is there room for %d MiB?): %w", m.Image.Compressed>>20, spoolErr)
		}
		if in.n < m.Image.Compressed {
			// Read what is left of the declared payload: a short stream is
			// truncated, whatever the unpacking made of it.
			io.Copy(io.Discard, in)
			if in.n < m.Image.Compressed {
				return nil, errorf(KindTruncated, "truncated: the payload has %d of its %d bytes", in.n, m.Image.Compressed)
			}
		}
		return nil, err
	}
	if in.n != m.Image.Compressed {
		return nil, errorf(KindFormat, "the payload's gzip stream ends after %d of its %d bytes", in.n, m.Image.Compressed)
	}
	var one [1]byte
	if n, _ := io.ReadFull(r, one[:]); n != 0 {
		return nil, errorf(KindSize, "data after the payload: the bundle is larger than its manifest says")
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("update: spool: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("update: spool: %w", err)
	}
	ok = true
	return st, nil
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }

// checkPayload unpacks the gzip stream from r and checks the image's size
// and SHA-256 against m; it reads r to the gzip stream's end.
func checkPayload(r io.Reader, m *Manifest) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return errorf(KindTruncated, "truncated: the file ends before its payload")
		}
		return errorf(KindFormat, "payload: %v", err)
	}
	zr.Multistream(false)
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(zr, m.Image.Size+1))
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(KindTruncated, "truncated: the payload ends after %d bytes of its %d-byte image", n, m.Image.Size)
	case err != nil:
		return errorf(KindHash, "payload damaged: %v", err)
	case n != m.Image.Size:
		return errorf(KindSize, "the payload unpacks to %s bytes; the manifest says %d", sizeWord(n, m.Image.Size), m.Image.Size)
	}
	// The gzip trailer (its CRC and length) is read with the stream's end.
	if _, err := zr.Read(make([]byte, 1)); err != io.EOF {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return errorf(KindTruncated, "truncated: the payload's gzip trailer is missing")
		}
		return errorf(KindHash, "payload damaged: %v", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != m.Image.SHA256 {
		return errorf(KindHash, "hash mismatch: the slot image's SHA-256 is %s, the signed manifest says %s", got[:16]+"…", m.Image.SHA256[:16]+"…")
	}
	return nil
}

func sizeWord(n, want int64) string {
	if n > want {
		return fmt.Sprintf("more than %d", want)
	}
	return fmt.Sprint(n)
}

// Open unpacks the staged payload again: the slot image.
func (s *Staged) Open() (io.ReadCloser, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return nil, fmt.Errorf("update: staged bundle: %w", err)
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 256<<10))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("update: staged bundle: %w", err)
	}
	return struct {
		io.Reader
		io.Closer
	}{zr, f}, nil
}

// Remove deletes the spool file.
func (s *Staged) Remove() error { return os.Remove(s.path) }
