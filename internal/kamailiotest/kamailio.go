// Package kamailiotest runs Debian's Kamailio as a SIP registrar and proxy
// on 127.0.0.1 for integration tests: digest auth with static passwords
// (401 for REGISTER, 407 for INVITE), registrar+usrloc in memory, relay to
// registered users or a static far end, record-routing. In-dialog
// requests (re-INVITE, REFER, NOTIFY, BYE) follow the Record-Route by
// loose routing, as they are: transfers and hold work through it
// (baresiptest's TestBlindTransfer and TestThreePhonesHoldAndResume).
// A server can be stopped and started again on the same port to test
// recovery.
package kamailiotest

import (
	"bytes"
	"context"
	"fmt"
	"github.com/openata/ata/internal/syncbuf"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// Config describes the server a test wants.
type Config struct {
	// Users maps digest user names to passwords. The realm is the To
	// domain for REGISTER and the From domain for INVITE.
	Users map[string]string
	// MinExpires, MaxExpires and DefaultExpires bound the granted
	// registration expiry in seconds (defaults 10, 3600, 3600). A small
	// MaxExpires makes clients refresh quickly.
	MinExpires, MaxExpires, DefaultExpires int
	// FarEnd is host:port of a static peer (sipp, baresip): INVITEs for
	// users that are not registered go there, and requests from it skip
	// authentication.
	FarEnd string
	// Port is the UDP port on 127.0.0.1; 0 picks a free one.
	Port int
	// Debug raises Kamailio's log level (the log is printed when the test fails).
	Debug bool
	// TCP adds a TCP listener on 127.0.0.1, on the UDP port (TCPAddr).
	TCP bool
	// TLS adds a TLS listener on 127.0.0.1 (TLSAddr), TLS 1.2 and up (the
	// kamailio-tls-modules package), with a server certificate for
	// TLSNames issued by a CA the harness makes (CAFile; see NewCA).
	TLS bool
	// TLSNames are the names (DNS names or IP addresses) the server
	// certificate is valid for (default "sip.test" and 127.0.0.1).
	TLSNames []string
	// CA issues the server certificate (default: a new one, NewCA).
	CA *CA
}

// Server is a running (or stopped) Kamailio.
type Server struct {
	t    testing.TB
	cfg  Config
	dir  string
	addr netip.AddrPort
	tcp  netip.AddrPort // zero without Config.TCP
	tls  netip.AddrPort // zero without Config.TLS
	ca   *CA

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  syncbuf.Buffer
}

// Start writes the configuration and starts Kamailio; it is stopped when
// the test ends. It fails the test when kamailio is not installed.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	if _, err := exec.LookPath("kamailio"); err != nil {
		t.Fatalf("install kamailio: apt-get install kamailio (%v)", err)
	}
	if cfg.MinExpires == 0 {
		cfg.MinExpires = 10
	}
	if cfg.MaxExpires == 0 {
		cfg.MaxExpires = 3600
	}
	if cfg.DefaultExpires == 0 {
		cfg.DefaultExpires = min(3600, cfg.MaxExpires)
	}
	for u, p := range cfg.Users {
		if !safe.MatchString(u) || !safe.MatchString(p) {
			t.Fatalf("kamailiotest: user %q or its password has characters the script cannot quote", u)
		}
	}
	// Kamailio's ctl socket path must fit sun_path (108 bytes); TempDir can be long.
	dir, err := os.MkdirTemp("", "kam")
	if err != nil {
		t.Fatalf("kamailiotest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	port := cfg.Port
	if port == 0 && cfg.TCP {
		port = freeBothPort(t) // TCP listens on the UDP port: a large request moves there (RFC 3261 §18.1.1)
	} else if port == 0 {
		port = freePort(t)
	}
	s := &Server{t: t, cfg: cfg, dir: dir, addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))}
	lo := netip.MustParseAddr("127.0.0.1")
	if cfg.TCP {
		s.tcp = netip.AddrPortFrom(lo, uint16(port))
	}
	if cfg.TLS {
		s.tls = netip.AddrPortFrom(lo, uint16(freeTCPPort(t)))
		if err := s.writeTLS(); err != nil {
			t.Fatalf("kamailiotest: %v", err)
		}
	}
	if err := s.writeConfig(); err != nil {
		t.Fatalf("kamailiotest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kamailio log:\n%s", s.Log())
		}
		s.Stop()
	})
	s.Start()
	return s
}

var safe = regexp.MustCompile(`^[A-Za-z0-9_.+\-]+$`)

// Addr is the UDP address Kamailio listens on.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Start starts Kamailio again after Stop (same port, empty location table).
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	cmd := exec.Command("kamailio", "-DD", "-E", "-f", s.path("kamailio.cfg"),
		"-m", "16", "-M", "4", "-w", s.dir, "-Y", s.dir, "-P", s.path("kamailio.pid"))
	cmd.Stdout, cmd.Stderr = &s.log, &s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // children die with the group
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("kamailiotest: start: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(5 * time.Second)
	for !s.ping(200 * time.Millisecond) {
		select {
		case <-done:
			s.cmd = nil
			s.t.Fatalf("kamailiotest: kamailio exited at start:\n%s", s.log.String())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("kamailiotest: kamailio does not answer OPTIONS on %s:\n%s", s.addr, s.log.String())
		}
	}
}

// Stop terminates Kamailio and waits until it has exited.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	pgid := s.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.done
	}
	syscall.Kill(-pgid, syscall.SIGKILL) // stragglers of the group
	s.cmd = nil
}

// Kill ends Kamailio with SIGKILL, as a crash or a power cut would: no
// goodbye to anyone, and the in-memory location table is lost. Start
// brings it back with an empty one.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
	s.cmd = nil
}

// Log is Kamailio's output so far.
func (s *Server) Log() string { return s.log.String() }

// Contacts lists the Contact URIs registered for user (usrloc, via kamcmd).
func (s *Server) Contacts(user string) ([]string, error) {
	out, err := s.kamcmd("ul.dump")
	if err != nil {
		return nil, err
	}
	var contacts []string
	inAoR := false
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "AoR:"); ok {
			inAoR = strings.TrimSpace(v) == user
		}
		if v, ok := strings.CutPrefix(line, "Address:"); ok && inAoR {
			contacts = append(contacts, strings.TrimSpace(v))
		}
	}
	sort.Strings(contacts)
	return contacts, nil
}

// Dump is the raw usrloc dump (Contact, Expires, Path, Received...).
func (s *Server) Dump() (string, error) { return s.kamcmd("ul.dump") }

func (s *Server) kamcmd(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "kamcmd", append([]string{"-s", "unix:" + s.path("ctl.sock")}, args...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("kamcmd %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// ping sends an OPTIONS to the server itself and waits for any answer.
func (s *Server) ping(wait time.Duration) bool {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(s.addr))
	if err != nil {
		return false
	}
	defer c.Close()
	la := c.LocalAddr().String()
	msg := "OPTIONS sip:" + s.addr.String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + la + ";branch=z9hG4bK-ping" + fmt.Sprint(time.Now().UnixNano()) + ";rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:ping@" + la + ">;tag=1\r\nTo: <sip:" + s.addr.String() + ">\r\n" +
		"Call-ID: ping-" + fmt.Sprint(time.Now().UnixNano()) + "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	if _, err := c.Write([]byte(msg)); err != nil {
		return false
	}
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	return err == nil && bytes.HasPrefix(buf[:n], []byte("SIP/2.0 200"))
}

func (s *Server) path(name string) string { return filepath.Join(s.dir, name) }

func (s *Server) writeConfig() error {
	var b bytes.Buffer
	users := make([]string, 0, len(s.cfg.Users))
	for u := range s.cfg.Users {
		users = append(users, u)
	}
	sort.Strings(users)
	farHost, farPort := "", ""
	if s.cfg.FarEnd != "" {
		var err error
		if farHost, farPort, err = net.SplitHostPort(s.cfg.FarEnd); err != nil {
			return fmt.Errorf("far end %q: %w", s.cfg.FarEnd, err)
		}
	}
	debug := 2
	if s.cfg.Debug {
		debug = 3
	}
	tcpAddr, tlsAddr := "", ""
	if s.tcp.IsValid() {
		tcpAddr = s.tcp.String()
	}
	if s.tls.IsValid() {
		tlsAddr = s.tls.String()
	}
	err := script.Execute(&b, map[string]any{
		"Addr": s.addr.String(), "Dir": s.dir, "Cfg": s.cfg, "Users": users,
		"TCPAddr": tcpAddr, "TLSAddr": tlsAddr, "Aliases": s.aliases(),
		"FarEnd": s.cfg.FarEnd, "FarHost": farHost, "FarPort": farPort, "Debug": debug,
		"Modules": modulesDir(),
	})
	if err != nil {
		return err
	}
	return os.WriteFile(s.path("kamailio.cfg"), b.Bytes(), 0o644)
}

// modulesDir finds Kamailio's module directory (Debian: multiarch path).
func modulesDir() string {
	matches, _ := filepath.Glob("/usr/lib/*/kamailio/modules")
	if len(matches) > 0 {
		return matches[0] + "/"
	}
	return "/usr/lib/kamailio/modules/"
}

func freePort(t testing.TB) int {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("kamailiotest: free port: %v", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// script is the routing logic. Requests whose Request-URI is not this
// server are relayed (the outbound-proxy role, adding a Path so the
// registrar routes calls back through it).
var script = template.Must(template.New("cfg").Parse(`#!KAMAILIO
debug={{.Debug}}
log_stderror=yes
fork=yes
children=1
auto_aliases=no
{{- if or .TCPAddr .TLSAddr}}
disable_tcp=no
tcp_children=1
{{- else}}
disable_tcp=yes
{{- end}}
listen=udp:{{.Addr}}
{{- range .Aliases}}
alias="{{.}}"
{{- end}}
{{- if .TCPAddr}}
listen=tcp:{{.TCPAddr}}
{{- end}}
{{- if .TLSAddr}}
enable_tls=yes
listen=tls:{{.TLSAddr}}
{{- end}}
mpath="{{.Modules}}"
{{- if .TLSAddr}}
loadmodule "tls.so"
modparam("tls", "config", "{{.Dir}}/tls.cfg")
{{- end}}
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "auth.so"
loadmodule "path.so"
loadmodule "ctl.so"
modparam("ctl", "binrpc", "unix:{{.Dir}}/ctl.sock")
modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", {{.Cfg.MinExpires}})
modparam("registrar", "max_expires", {{.Cfg.MaxExpires}})
modparam("registrar", "default_expires", {{.Cfg.DefaultExpires}})
modparam("registrar", "use_path", 1)
modparam("registrar", "path_mode", 0)
modparam("rr", "append_fromtag", 1)

request_route {
	xlog("L_INFO", "req $rm $ru from $si:$sp\n");
	if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
	if (has_totag()) {
		if (loose_route()) { t_relay(); exit; }
		if (is_method("ACK")) { if (t_check_trans()) { t_relay(); } exit; }
		sl_send_reply("404", "Not here"); exit;
	}
	if (is_method("CANCEL")) { if (t_check_trans()) { t_relay(); } exit; }
	if (t_check_trans()) { exit; }
	remove_hf("Route");
	if (!is_myself("$ru")) {
		if (is_method("REGISTER")) { add_path(); }
		if (is_method("INVITE")) { record_route(); }
		t_relay(); exit;
	}
	if (is_method("REGISTER")) {
		route(PASSWORD);
		if ($var(pw) == "" || !pv_www_authenticate("$td", "$var(pw)", "0")) {
			www_challenge("$td", "0"); exit;
		}
		consume_credentials();
		if (!save("location")) { sl_reply_error(); }
		exit;
	}
	if ($rU == $null) {
		if (is_method("OPTIONS")) { sl_send_reply("200", "OK"); exit; }
		sl_send_reply("484", "Address Incomplete"); exit;
	}
	$var(far) = 0;
{{- if .FarEnd}}
	if ($si == "{{.FarHost}}" && $sp == {{.FarPort}}) { $var(far) = 1; }
{{- end}}
	if (is_method("INVITE") && $var(far) == 0) {
		route(PASSWORD);
		if ($var(pw) == "" || !pv_proxy_authenticate("$fd", "$var(pw)", "0")) {
			proxy_challenge("$fd", "0"); exit;
		}
		consume_credentials();
	}
	if (is_method("INVITE")) { record_route(); }
	if (lookup("location")) { t_relay(); exit; }
{{- if .FarEnd}}
	if ($var(far) == 0) { $du = "sip:{{.FarEnd}}"; t_relay(); exit; }
{{- end}}
	sl_send_reply("404", "Not Found");
}

route[PASSWORD] {
	$var(pw) = "";
{{- range .Users}}
	if ($au == "{{.}}") { $var(pw) = "{{index $.Cfg.Users .}}"; }
{{- end}}
}
`))
