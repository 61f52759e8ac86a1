package kamailiotest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority made for a test (crypto/x509, ECDSA
// P-256, valid for a day): it issues the server certificates of TLS
// listeners, and its certificate (CAFile) is what a client is told to
// trust.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
	dir  string
}

// NewCA makes a CA named name; its files live in the test's temp dir.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("kamailiotest: CA key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"openata tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("kamailiotest: CA certificate: %v", err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &CA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), dir: t.TempDir()}
	if err := os.WriteFile(ca.CAFile(), ca.pem, 0o644); err != nil {
		t.Fatalf("kamailiotest: %v", err)
	}
	return ca
}

// CAFile is the CA certificate as a PEM file.
func (ca *CA) CAFile() string { return filepath.Join(ca.dir, "ca.pem") }

// PEM is the CA certificate in PEM.
func (ca *CA) PEM() []byte { return ca.pem }

// Issue writes a server certificate for names (DNS names or IP
// addresses) and its key into dir, returning their paths.
func (ca *CA) Issue(t testing.TB, dir string, names ...string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("kamailiotest: server key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: names[0], Organization: []string{"openata tests"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip, err := netip.ParseAddr(n); err == nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.IP(ip.AsSlice()))
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatalf("kamailiotest: server certificate: %v", err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatalf("kamailiotest: %v", err)
	}
	certFile, keyFile = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), ca.pem...)
	if err := os.WriteFile(certFile, chain, 0o644); err != nil {
		t.Fatalf("kamailiotest: %v", err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatalf("kamailiotest: %v", err)
	}
	return certFile, keyFile
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatalf("kamailiotest: serial: %v", err)
	}
	return n
}

// TCPAddr is the TCP listener's address (Config.TCP).
func (s *Server) TCPAddr() netip.AddrPort { return s.tcp }

// TLSAddr is the TLS listener's address (Config.TLS).
func (s *Server) TLSAddr() netip.AddrPort { return s.tls }

// CA is the authority of the TLS listener's certificate (Config.TLS).
func (s *Server) CA() *CA { return s.ca }

// writeTLS issues the server certificate and writes the tls module's
// configuration: TLS 1.2 and up, no client certificate asked.
func (s *Server) writeTLS() error {
	s.ca = s.cfg.CA
	if s.ca == nil {
		s.ca = NewCA(s.t, "openata test CA")
	}
	cert, key := s.ca.Issue(s.t, s.dir, s.tlsNames()...)
	cfg := fmt.Sprintf(`[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
certificate = %s
private_key = %s

[client:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
`, cert, key)
	return os.WriteFile(s.path("tls.cfg"), []byte(cfg), 0o644)
}

func freeTCPPort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("kamailiotest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// aliases are the certificate's DNS names: Kamailio takes requests for
// them as its own (a line whose registrar is "sip.test:PORT").
func (s *Server) aliases() []string {
	if !s.cfg.TLS {
		return nil
	}
	var out []string
	for _, n := range s.tlsNames() {
		if _, err := netip.ParseAddr(n); err != nil && safe.MatchString(n) {
			out = append(out, n)
		}
	}
	return out
}

func (s *Server) tlsNames() []string {
	if len(s.cfg.TLSNames) > 0 {
		return s.cfg.TLSNames
	}
	return []string{"sip.test", "127.0.0.1"}
}

// freeBothPort is a loopback port free for UDP and TCP alike.
func freeBothPort(t testing.TB) int {
	for range 50 {
		p := freePort(t)
		if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", fmt.Sprint(p))); err == nil {
			l.Close()
			return p
		}
	}
	t.Fatal("kamailiotest: no port free for both UDP and TCP")
	return 0
}
