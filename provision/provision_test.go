package provision

import (
	"context"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
)

func TestMergeTablesMergeArraysReplace(t *testing.T) {
	base := []byte(`
[phone]
region = "us"
dnd = true

[sip]
listen = "0.0.0.0:5060"

[[line]]
number = "1001"
password = "old"

[[line]]
number = "1002"
`)
	doc := []byte(`
[phone]
region = "de"

[[line]]
number = "2001"
service_domain = "sip.example.net"

[system]
timezone = "Europe/Berlin"
`)
	out, err := Merge(base, doc)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := toml.Unmarshal(out, &got); err != nil {
		t.Fatalf("merged document does not read back: %v\n%s", err, out)
	}
	phone := got["phone"].(map[string]any)
	if phone["region"] != "de" || phone["dnd"] != true {
		t.Errorf("[phone]: got %v, want region de (from the document) and dnd true (kept)", phone)
	}
	if got["sip"].(map[string]any)["listen"] != "0.0.0.0:5060" {
		t.Errorf("[sip] not kept: %v", got["sip"])
	}
	lines := got["line"].([]any)
	if len(lines) != 1 || lines[0].(map[string]any)["number"] != "2001" || lines[0].(map[string]any)["password"] != nil {
		t.Errorf("[[line]] should be the document's whole array, got %v", lines)
	}
	if got["system"].(map[string]any)["timezone"] != "Europe/Berlin" {
		t.Errorf("[system] from the document missing: %v", got["system"])
	}
}

func TestMergeRefusesNonTOML(t *testing.T) {
	_, err := Merge([]byte("[phone]\n"), []byte("<html>not found</html>"))
	if err == nil || !strings.Contains(err.Error(), "not TOML") || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("got %v, want a 'not TOML' error with its line", err)
	}
}

func TestDHCPURL(t *testing.T) {
	hexOf := func(s string) string { return hex.EncodeToString([]byte(s)) }
	for _, c := range []struct {
		name, file, url, source, err string
	}{
		{"none", "interface=eth0\n", "", "", ""},
		{"empty file", "", "", "", ""},
		{"option 66 URL (a client that passes one)", "tftp=https://prov.example.net/ata/{mac}.toml\n", "https://prov.example.net/ata/{mac}.toml", "dhcp option 66", ""},
		{"option 66 host", "tftp=10.0.0.5\n", "http://10.0.0.5/", "dhcp option 66", ""},
		{"option 66 host, 67 file", "tftp=prov.example.net\nbootfile=/ata/{mac}.toml\n", "http://prov.example.net/ata/{mac}.toml", "dhcp option 66", ""},
		{"option 66 refused by udhcpc", "tftp=bad\n", "", "dhcp option 66", "takes a host name only"},
		{"option 160 over 66", "tftp=10.0.0.5\nopt160=" + hexOf("http://p.example/c.toml") + "\n", "http://p.example/c.toml", "dhcp option 160", ""},
		{"option 160 NUL-terminated", "opt160=" + hexOf("http://p.example/c.toml\x00") + "\n", "http://p.example/c.toml", "dhcp option 160", ""},
		{"tftp scheme", "tftp=tftp://10.0.0.5/x\n", "", "dhcp option 66", "only http:// and https://"},
		{"bad hex", "opt160=zz\n", "", "dhcp option 160", "not hex"},
		{"control characters", "opt160=" + hexOf("http://a\nb") + "\n", "", "dhcp option 160", "control characters"},
	} {
		u, src, err := DHCPURL([]byte(c.file))
		if u != c.url || src != c.source || (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: got (%q, %q, %v), want (%q, %q, error containing %q)", c.name, u, src, err, c.url, c.source, c.err)
		}
	}
}

func TestExpandAndMAC(t *testing.T) {
	got := Expand("https://p.example/{model}/{mac}.toml", FormatMAC(net.HardwareAddr{0xB8, 0x27, 0xEB, 0x01, 0x02, 0xAB}), "rpi-ag1171")
	if want := "https://p.example/rpi-ag1171/b827eb0102ab.toml"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// provServer is a provisioning server: it serves doc with an ETag and
// counts requests, conditional ones and 304s.
type provServer struct {
	mu                    sync.Mutex
	doc                   string
	etag                  string
	status                int
	requests, notModified int
	paths                 []string
	srv                   *httptest.Server
}

func newProvServer(t *testing.T, doc string) *provServer {
	p := &provServer{doc: doc, etag: `"1"`, status: 200}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.requests++
		p.paths = append(p.paths, r.URL.Path)
		if p.status != 200 {
			w.WriteHeader(p.status)
			return
		}
		if r.Header.Get("If-None-Match") == p.etag {
			p.notModified++
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", p.etag)
		w.Write([]byte(p.doc))
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provServer) set(doc, etag string, status int) {
	p.mu.Lock()
	p.doc, p.etag, p.status = doc, etag, status
	p.mu.Unlock()
}

func (p *provServer) counts() (requests, notModified int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests, p.notModified
}

// applier records the documents Apply gets and refuses any with "bad".
type applier struct {
	mu   sync.Mutex
	docs []string
}

func (a *applier) apply(_ context.Context, _ string, doc []byte) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if strings.Contains(string(doc), "bad") {
		return false, errors.New("line 1: number: empty")
	}
	a.docs = append(a.docs, string(doc))
	return true, nil
}

func (a *applier) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.docs)
}

// waitStatus waits for a fetch after the one at since.
func waitStatus(t *testing.T, f *Fetcher, since time.Time) Status {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if st := f.Status(); st.At.After(since) {
			return st
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no fetch")
	return Status{}
}

func TestFetcherAppliesOnceThenNotModifiedThenRefuses(t *testing.T) {
	srv := newProvServer(t, "[phone]\nregion = \"de\"\n")
	ap := &applier{}
	f := New(Options{Settings: Settings{URL: srv.srv.URL + "/cfg/{mac}.toml", Interval: time.Hour}, MAC: "b827eb0102ab",
		Apply: ap.apply})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx)

	st := waitStatus(t, f, time.Time{})
	if st.Result != ResultApplied || st.URL != srv.srv.URL+"/cfg/b827eb0102ab.toml" || st.Source != "[provisioning] url" || st.LastApplied.IsZero() {
		t.Fatalf("first fetch: %+v", st)
	}
	if d := time.Until(st.Next); d < 50*time.Minute || d > 70*time.Minute {
		t.Errorf("next fetch in %v, want the hour ±10 %%", d)
	}
	f.Poke()
	st2 := waitStatus(t, f, st.At)
	if req, nm := srv.counts(); st2.Result != ResultUnchanged || nm != 1 || req != 2 || ap.count() != 1 {
		t.Fatalf("second fetch: %+v; %d requests, %d not modified, %d applied; want a 304 and no second apply", st2, req, nm, ap.count())
	}
	// The same bytes under a new ETag (a server that makes them up) are
	// not applied again either.
	srv.set("[phone]\nregion = \"de\"\n", `"2"`, 200)
	f.Poke()
	st3 := waitStatus(t, f, st2.At)
	if st3.Result != ResultUnchanged || ap.count() != 1 {
		t.Fatalf("same document, new ETag: %+v, %d applied", st3, ap.count())
	}
	srv.set("[[line]]\nnumber = \"bad\"\n", `"3"`, 200)
	f.Poke()
	st4 := waitStatus(t, f, st3.At)
	if st4.Result != ResultRefused || !strings.Contains(st4.Error, "number: empty") || st4.LastApplied != st.LastApplied {
		t.Fatalf("bad document: %+v", st4)
	}
	srv.set("", `"4"`, 404)
	f.Poke()
	st5 := waitStatus(t, f, st4.At)
	if st5.Result != ResultFailed || !strings.Contains(st5.Error, "404") {
		t.Fatalf("404: %+v", st5)
	}
	if d := time.Until(st5.Next); d > 40*time.Second {
		t.Errorf("after a failure the next try is in %v, want about RetryMin (30 s)", d)
	}
}

func TestFetcherTakesTheDHCPURLWhenNoneIsConfigured(t *testing.T) {
	srv := newProvServer(t, "[phone]\nregion = \"uk\"\n")
	dir := t.TempDir()
	file := filepath.Join(dir, "dhcp-provisioning")
	ap := &applier{}
	f := New(Options{Settings: Settings{Interval: time.Hour}, MAC: "020000000001", Model: "sim", DHCPFile: file,
		Apply: ap.apply, WaitForURL: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx)
	time.Sleep(100 * time.Millisecond)
	if st := f.Status(); !st.At.IsZero() || st.URL != "" {
		t.Fatalf("fetched without a URL: %+v", st)
	}
	// What udhcpc's script writes for option 160 = "http://127.0.0.1:PORT/{model}/{mac}".
	opt160 := strings.ToUpper(hex.EncodeToString([]byte(srv.srv.URL + "/{model}/{mac}")))
	if err := os.WriteFile(file, []byte("interface=eth0\nopt160="+opt160+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st := waitStatus(t, f, time.Time{})
	if st.Result != ResultApplied || st.Source != "dhcp option 160" || st.URL != srv.srv.URL+"/sim/020000000001" {
		t.Fatalf("%+v", st)
	}
}

func TestFetcherSetFetchesANewURLAtOnce(t *testing.T) {
	a, b := newProvServer(t, "[phone]\nregion = \"us\"\n"), newProvServer(t, "[phone]\nregion = \"de\"\n")
	var applied atomic.Int32
	f := New(Options{Settings: Settings{URL: a.srv.URL, Interval: time.Hour},
		Apply: func(context.Context, string, []byte) (bool, error) { applied.Add(1); return true, nil }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx)
	st := waitStatus(t, f, time.Time{})
	f.Set(Settings{URL: a.srv.URL, Interval: time.Hour}) // unchanged: no fetch
	time.Sleep(50 * time.Millisecond)
	if req, _ := a.counts(); req != 1 {
		t.Fatalf("the same settings fetched again (%d requests)", req)
	}
	f.Set(Settings{URL: b.srv.URL, Interval: time.Hour})
	st2 := waitStatus(t, f, st.At)
	if st2.URL != b.srv.URL || st2.Result != ResultApplied || applied.Load() != 2 {
		t.Fatalf("%+v, %d applied", st2, applied.Load())
	}
}

func FuzzDHCPURL(f *testing.F) {
	f.Add([]byte("tftp=10.0.0.5\n"))
	f.Add([]byte("opt160=" + hex.EncodeToString([]byte("https://p.example/{mac}")) + "\n"))
	f.Add([]byte("tftp=tftp://x\nopt160=zz"))
	f.Fuzz(func(t *testing.T, file []byte) {
		u, _, err := DHCPURL(file)
		if err == nil && u != "" {
			if cerr := CheckURL(u); cerr != nil {
				t.Fatalf("DHCPURL gave %q, which CheckURL refuses: %v", u, cerr)
			}
		}
	})
}

func FuzzMerge(f *testing.F) {
	f.Add([]byte("[phone]\nregion = \"us\"\n[[line]]\nnumber = \"1\"\n"), []byte("[phone]\ndnd = true\n"))
	f.Add([]byte("a = 1\n"), []byte("a = {b = 2}\n"))
	f.Fuzz(func(t *testing.T, base, doc []byte) {
		var b map[string]any
		if toml.Unmarshal(base, &b) != nil {
			return
		}
		out, err := Merge(base, doc)
		if err != nil {
			return
		}
		var m map[string]any
		if err := toml.Unmarshal(out, &m); err != nil {
			t.Fatalf("merged document does not read back: %v\n%s", err, out)
		}
	})
}
