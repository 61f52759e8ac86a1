package main

import (
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openata/ata/internal/kamailiotest"
	"github.com/openata/ata/provision"
)

// provServer is a provisioning server for the firmware: it serves one
// document at one path, with an ETag, and counts what it answered.
type provServer struct {
	mu                  sync.Mutex
	path                string
	doc, etag           string
	served, notModified int
	wrongPaths          []string
	srv                 *httptest.Server
}

func newProvServer(t *testing.T, path string) *provServer {
	p := &provServer{path: path}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if r.URL.Path != p.path {
			p.wrongPaths = append(p.wrongPaths, r.URL.Path)
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("If-None-Match") == p.etag {
			p.notModified++
			w.WriteHeader(http.StatusNotModified)
			return
		}
		p.served++
		w.Header().Set("ETag", p.etag)
		w.Header().Set("Content-Type", "application/toml")
		io.WriteString(w, p.doc)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provServer) set(doc, etag string) {
	p.mu.Lock()
	p.doc, p.etag = doc, etag
	p.mu.Unlock()
}

func (p *provServer) counts() (served, notModified int, wrong []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.served, p.notModified, append([]string(nil), p.wrongPaths...)
}

// provStatusView is the provisioning part of GET /api/status.
type provStatusView struct {
	Provisioning *struct {
		URL, Source, Result, Error, Text string
	} `json:"provisioning"`
}

func (w *webClient) provisioning() provStatusView {
	w.t.Helper()
	_, data := w.api("GET", "/api/status", nil)
	var v provStatusView
	if err := json.Unmarshal(data, &v); err != nil {
		w.t.Fatal(err)
	}
	return v
}

// waitProvisioning waits until the last fetch has the result.
func (w *webClient) waitProvisioning(result string, d time.Duration) provStatusView {
	w.t.Helper()
	deadline := time.Now().Add(d)
	for {
		v := w.provisioning()
		if v.Provisioning != nil && v.Provisioning.Result == result {
			return v
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("provisioning never %s: %+v", result, v.Provisioning)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestProvisioningRegistersThenRefusesABrokenDocument: a firmware with no
// line and a [provisioning] url ({model}, {mac}) fetches a document with
// a line at Kamailio and registers; the document, unchanged, is answered
// 304 and not applied again; a broken document later is refused: the
// line stays registered and in the saved config, and the Status page
// shows the error with the URL.
func TestProvisioningRegistersThenRefusesABrokenDocument(t *testing.T) {
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "secret"}})
	mac := provision.MAC()
	srv := newProvServer(t, "/ata/sim/"+mac+".toml")
	srv.set(fmt.Sprintf("# provisioned\n[[line]]\nnumber = \"1001\"\nservice_domain = %q\npassword = \"secret\"\n", kam.Addr()), `"v1"`)
	web := freePort(t)
	f := launchFirmwareEnv(t, fmt.Sprintf(`
[system]
data_dir = "DATA_DIR"

[web]
listen = %q

[board]
name = "sim"
sim_listen = "SIM_LISTEN"

[sip]
listen = "127.0.0.1:0"

[provisioning]
url = "%s/ata/{model}/{mac}.toml"
`, web, srv.srv.URL), "debug", nil, []string{"ATA_PROVISION_INTERVAL=1s", "ATA_DHCP_PROVISIONING=" + filepath.Join(t.TempDir(), "none")})
	waitRegistered(t, kam, "1001")
	w := admin(t, "http://"+web)
	st := w.waitProvisioning("applied", 5*time.Second)
	if p := st.Provisioning; p.URL != srv.srv.URL+"/ata/sim/"+mac+".toml" || p.Source != "[provisioning] url" {
		t.Fatalf("provisioning status %+v", p)
	}
	// Unchanged: conditional fetches, answered 304, nothing applied again.
	deadline := time.Now().Add(10 * time.Second)
	for _, nm, _ := srv.counts(); nm < 2; _, nm, _ = srv.counts() {
		if time.Now().After(deadline) {
			t.Fatal("no conditional fetch answered 304 within 10 s (interval 1 s)")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if served, _, wrong := srv.counts(); served != 1 || len(wrong) > 0 || strings.Count(f.log(), "provisioned configuration saved and applied") != 1 {
		t.Fatalf("document served %d times (want 1), wrong paths %v, applied %d times", served, wrong,
			strings.Count(f.log(), "provisioned configuration saved and applied"))
	}
	if st := w.status(); st.SavesTo == "" {
		t.Fatal("no saves_to")
	} else if saved, err := os.ReadFile(st.SavesTo); err != nil || !strings.Contains(string(saved), `number = '1001'`) && !strings.Contains(string(saved), `number = "1001"`) {
		t.Fatalf("the provisioned line is not in the saved config %s (%v):\n%s", st.SavesTo, err, saved)
	}

	// A broken document: a line without a number.
	srv.set(fmt.Sprintf("[[line]]\nnumber = \"\"\nservice_domain = %q\n", kam.Addr()), `"v2"`)
	st = w.waitProvisioning("refused", 10*time.Second)
	if p := st.Provisioning; !strings.Contains(p.Error, "number") || !strings.Contains(p.Text, "refused at") {
		t.Fatalf("refused without naming the key: %+v", p)
	}
	page := w.get("/")
	if !strings.Contains(page, srv.srv.URL+"/ata/sim/"+mac+".toml") || !strings.Contains(page, "refused at") || !strings.Contains(page, "number") {
		t.Fatalf("the Status page does not show the refused fetch:\n%s", page)
	}
	if m := w.get("/metrics"); !strings.Contains(m, `ata_provisioning_result{result="refused"} 1`) || !strings.Contains(m, `ata_provisioning_result{result="applied"} 0`) {
		t.Errorf("/metrics lacks the refused fetch:\n%s", m)
	}
	time.Sleep(1500 * time.Millisecond) // a few more fetches of the broken document
	lines := w.status().Lines
	if len(lines) != 1 || lines[0].Number != "1001" || lines[0].State != "registered" {
		t.Fatalf("after the broken document the lines are %+v, want 1001 registered", lines)
	}
	if c, err := kam.Contacts("1001"); err != nil || len(c) == 0 {
		t.Fatalf("1001 no longer registered at Kamailio: %v %v", c, err)
	}
	// A document that is not TOML at all is refused as well.
	srv.set("<html>502 Bad Gateway</html>\n", `"v3"`)
	st = w.waitProvisioning("refused", 10*time.Second)
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(st.Provisioning.Error, ".toml:1: ") {
		if time.Now().After(deadline) {
			t.Fatalf("an HTML page refused without saying where: %+v", st.Provisioning)
		}
		time.Sleep(100 * time.Millisecond)
		st = w.waitProvisioning("refused", 10*time.Second)
	}
	if lines := w.status().Lines; len(lines) != 1 || lines[0].State != "registered" {
		t.Fatalf("lines %+v", lines)
	}
}

// TestProvisioningFromDHCPOption160: without [provisioning] url, the URL
// the DHCP client script left (option 160, in udhcpc's hex) is fetched,
// and its fragment changes only the keys it names.
func TestProvisioningFromDHCPOption160(t *testing.T) {
	srv := newProvServer(t, "/prov/"+provision.MAC())
	srv.set("[phone]\nregion = \"de\"\n", `"a"`)
	dhcp := filepath.Join(t.TempDir(), "dhcp-provisioning")
	opt160 := hex.EncodeToString([]byte(srv.srv.URL + "/prov/{mac}"))
	if err := os.WriteFile(dhcp, []byte("interface=eth0\nopt160="+opt160+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	web := freePort(t)
	launchFirmwareEnv(t, fmt.Sprintf(`
[system]
data_dir = "DATA_DIR"

[web]
listen = %q

[board]
name = "sim"
sim_listen = "SIM_LISTEN"

[phone]
dial_plan = "(xxxx)"
`, web), "debug", nil, []string{"ATA_DHCP_PROVISIONING=" + dhcp})
	w := admin(t, "http://"+web)
	st := w.waitProvisioning("applied", 10*time.Second)
	if p := st.Provisioning; p.Source != "dhcp option 160" || p.URL != srv.srv.URL+"/prov/"+provision.MAC() {
		t.Fatalf("%+v", p)
	}
	phone := section(w.config(), "phone")
	if phone["region"] != "de" || phone["dial_plan"] != "(xxxx)" {
		t.Fatalf("[phone] after the fragment: region %v (want de), dial_plan %v (want the file's (xxxx))", phone["region"], phone["dial_plan"])
	}
}

// TestProvisioningOverHTTPS: an https:// URL is fetched with the server's
// certificate checked against the system's roots (here SSL_CERT_FILE
// holds the test server's CA); a server the roots do not vouch for is a
// failed fetch that names the certificate, and changes nothing.
func TestProvisioningOverHTTPS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "[phone]\nregion = \"uk\"\n")
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, certFile, result, err string
	}{
		{"trusted", ca, "applied", ""},
		{"not trusted", filepath.Join(t.TempDir(), "none.pem"), "failed", "certificate"},
	} {
		web := freePort(t)
		launchFirmwareEnv(t, fmt.Sprintf(`
[system]
data_dir = "DATA_DIR"

[web]
listen = %q

[board]
name = "sim"
sim_listen = "SIM_LISTEN"

[provisioning]
url = "%s/{mac}.toml"
`, web, srv.URL), "debug", nil, []string{"SSL_CERT_FILE=" + c.certFile, "SSL_CERT_DIR=" + t.TempDir(),
			"ATA_DHCP_PROVISIONING=" + filepath.Join(t.TempDir(), "none")})
		w := admin(t, "http://"+web)
		st := w.waitProvisioning(c.result, 10*time.Second)
		region := section(w.config(), "phone")["region"]
		if !strings.Contains(st.Provisioning.Error, c.err) || (c.result == "applied") != (region == "uk") {
			t.Errorf("%s: %+v, region %v", c.name, st.Provisioning, region)
		}
	}
}
