//go:build imagetest

package image_test

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
)

// checkCABundle: the image's initramfs holds the CA bundle Go verifies
// TLS lines and HTTPS provisioning against, as parseable certificates.
func checkCABundle(t *testing.T, repo string) {
	path := filepath.Join(repo, "out", "image-"+board, "initramfs", "etc", "ssl", "certs", "ca-certificates.crt")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("CA bundle: %v", err)
	}
	n := 0
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(bytes.TrimSpace(rest)); b == nil {
			break
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			t.Fatalf("CA bundle: certificate %d: %v", n+1, err)
		}
		n++
	}
	if n < 100 {
		t.Fatalf("CA bundle %s holds %d certificates, want Debian's Mozilla roots (over 100)", path, n)
	}
	t.Logf("CA bundle: %d certificates", n)
}
