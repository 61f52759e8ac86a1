package webui_test

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/update"
	"github.com/openata/ata/webui"
	"github.com/openata/ata/webui/internal/fakebackend"
)

var updateKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))

// updBackend is the fake backend with a firmware updater on a card in a
// temporary directory.
type updBackend struct {
	*fakebackend.Backend
	m *update.Manager
}

func (b *updBackend) UpdateManager() *update.Manager { return b.m }

// updateEnv is a logged-in client of a web UI whose backend updates a
// fake card: slot A (p2, v1) runs; restarts are counted.
func updateEnv(t *testing.T) (*env, *client, *update.Card, chan struct{}) {
	dir := t.TempDir()
	card := &update.Card{BootDir: filepath.Join(dir, "boot"), StateDir: filepath.Join(dir, "state"),
		Slots: map[int]string{2: filepath.Join(dir, "p2"), 3: filepath.Join(dir, "p3")}, Running: 2,
		Log: slog.New(slog.DiscardHandler)}
	os.MkdirAll(card.BootDir, 0o755)
	os.WriteFile(filepath.Join(card.BootDir, update.AutobootFile), update.Autoboot{Committed: 2, Try: 3}.Format(), 0o644)
	os.WriteFile(filepath.Join(card.BootDir, "slot-2.json"), []byte(`{"format":1,"board":"rpi3","version":"v1","built":1000}`), 0o644)
	for _, p := range card.Slots {
		os.WriteFile(p, bytes.Repeat([]byte{0xaa}, 32<<10), 0o644)
	}
	restarts := make(chan struct{}, 4)
	m := &update.Manager{Card: card, Key: updateKey.Public().(ed25519.PublicKey), Board: "rpi3", SpoolDir: t.TempDir(),
		Restart: func() error { restarts <- struct{}{}; return nil }}
	e := &env{t: t, dir: t.TempDir(), clock: &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}}
	e.b = fakebackend.New(nil)
	t.Cleanup(e.b.Close)
	srv, err := webui.New(&updBackend{Backend: e.b, m: m}, webui.Options{DataDir: e.dir, Version: "v1", Clock: e.clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e.srv, e.h = srv, srv.Handler()
	c := e.client("192.0.2.1:40000")
	if w := c.setup(testPassword); w.Code != http.StatusSeeOther {
		t.Fatalf("setup: %d", w.Code)
	}
	return e, c, card, restarts
}

// testBundle is a signed bundle of img for board and version.
func testBundle(t *testing.T, img []byte, key ed25519.PrivateKey, board, version string, built int64) []byte {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(img)
	zw.Close()
	sum := sha256.Sum256(img)
	m := &update.Manifest{Format: 1, Board: board, Version: version, Built: built,
		Image: update.Image{Size: int64(len(img)), SHA256: hex.EncodeToString(sum[:]), Compressed: int64(z.Len())}}
	var b bytes.Buffer
	if err := update.WriteHeader(&b, m, key); err != nil {
		t.Fatal(err)
	}
	b.Write(z.Bytes())
	return b.Bytes()
}

// apiToken is the session's CSRF token as the pages' scripts read it.
func (c *client) apiToken() string {
	c.e.t.Helper()
	w := c.get("/maintenance")
	i := strings.Index(w.Body.String(), `name="csrf-token" content="`)
	if i < 0 {
		c.e.t.Fatalf("no csrf-token meta on /maintenance")
	}
	rest := w.Body.String()[i+len(`name="csrf-token" content="`):]
	return rest[:strings.IndexByte(rest, '"')]
}

func fileHash(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestUpdateAPIInstall(t *testing.T) {
	_, c, card, restarts := updateEnv(t)
	img := bytes.Repeat([]byte("new slot image "), 1000)
	b := testBundle(t, img, updateKey, "rpi3", "v2", 2000)
	tok := c.apiToken()
	w := c.do("POST", "/api/update", bytes.NewReader(b), "X-CSRF-Token", tok, "Content-Type", "application/octet-stream")
	wantCode(t, w, http.StatusAccepted, "POST /api/update (raw body)")
	var ans struct {
		Manifest  update.Manifest `json:"manifest"`
		Signature string          `json:"signature"`
		Rebooting bool            `json:"rebooting"`
	}
	json.Unmarshal(w.Body.Bytes(), &ans)
	if ans.Manifest.Version != "v2" || ans.Signature != "ok" || !ans.Rebooting {
		t.Errorf("answer %s", w.Body)
	}
	select {
	case <-restarts:
	case <-time.After(5 * time.Second):
		t.Fatal("no restart after the install")
	}
	slot, _ := os.ReadFile(card.Slots[3])
	if !bytes.Equal(slot[:len(img)], img) {
		t.Error("slot B does not hold the new image")
	}
	w = c.get("/api/update")
	var st webui.UpdateStatus
	json.Unmarshal(w.Body.Bytes(), &st)
	if !st.Available || st.Pending == nil || st.Pending.Version != "v2" || st.Pending.To != 3 || !st.Installing ||
		len(st.Slots) != 2 || st.Slots[1].Manifest == nil || st.Slots[1].Manifest.Version != "v2" || !st.Slots[0].Running {
		t.Errorf("GET /api/update after the install: %s", w.Body)
	}
	// The page shows both slots.
	page := c.get("/maintenance").Body.String()
	for _, want := range []string{`id="update-slots"`, "v1", "v2", "running"} {
		if !strings.Contains(page, want) {
			t.Errorf("maintenance page lacks %q", want)
		}
	}
}

func TestUpdateAPIStageMultipart(t *testing.T) {
	_, c, card, restarts := updateEnv(t)
	img := bytes.Repeat([]byte("staged image "), 1000)
	b := testBundle(t, img, updateKey, "rpi3", "v3", 3000)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("bundle", "ata-rpi3-v3.update")
	fw.Write(b)
	mw.Close()
	before := fileHash(t, card.Slots[3])
	tok := c.apiToken()
	w := c.do("POST", "/api/update?stage=1", &body, "X-CSRF-Token", tok, "Content-Type", mw.FormDataContentType())
	wantCode(t, w, http.StatusOK, "POST /api/update?stage=1 (multipart)")
	if !strings.Contains(w.Body.String(), `"staged": true`) || !strings.Contains(w.Body.String(), `"version": "v3"`) {
		t.Errorf("stage answer %s", w.Body)
	}
	if fileHash(t, card.Slots[3]) != before {
		t.Error("staging wrote to the slot")
	}
	if !strings.Contains(c.get("/api/update").Body.String(), `"staged"`) {
		t.Error("GET /api/update does not show the staged bundle")
	}
	w = c.do("POST", "/api/update/install", nil, "X-CSRF-Token", tok)
	wantCode(t, w, http.StatusAccepted, "POST /api/update/install")
	<-restarts
	if fileHash(t, card.Slots[3]) == before {
		t.Error("install did not write slot B")
	}
}

func TestUpdateAPIRefused(t *testing.T) {
	img := bytes.Repeat([]byte("image "), 1000)
	good := testBundle(t, img, updateKey, "rpi3", "v2", 2000)
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{6}, 32))
	for _, tc := range []struct {
		name   string
		b      []byte
		status int
		kind   string
		words  string
	}{
		{"bad signature", testBundle(t, img, other, "rpi3", "v2", 2000), 422, "signature", "signature"},
		{"other board", testBundle(t, img, updateKey, "rpi4", "v2", 2000), 422, "board", "rpi4"},
		{"older", testBundle(t, img, updateKey, "rpi3", "v0", 500), 422, "version", "older"},
		{"truncated", good[:len(good)-100], 400, "truncated", "truncated"},
		{"larger than the slot", testBundle(t, bytes.Repeat([]byte("x"), 64<<10), updateKey, "rpi3", "v2", 2000), 413, "size", "slot"},
		{"not a bundle", []byte("hello"), 400, "format", "not an update bundle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c, card, restarts := updateEnv(t)
			before := fileHash(t, card.Slots[3]) + fileHash(t, filepath.Join(card.BootDir, update.AutobootFile))
			w := c.do("POST", "/api/update", bytes.NewReader(tc.b), "X-CSRF-Token", c.apiToken(), "Content-Type", "application/octet-stream")
			var e struct{ Error, Kind string }
			json.Unmarshal(w.Body.Bytes(), &e)
			if w.Code != tc.status || e.Kind != tc.kind || !strings.Contains(e.Error, tc.words) {
				t.Errorf("%d %s, want %d kind %s mentioning %q", w.Code, w.Body, tc.status, tc.kind, tc.words)
			}
			if after := fileHash(t, card.Slots[3]) + fileHash(t, filepath.Join(card.BootDir, update.AutobootFile)); after != before {
				t.Error("a refused bundle changed the card")
			}
			if _, err := os.Stat(filepath.Join(card.StateDir, "pending.json")); err == nil {
				t.Error("a refused bundle left a pending update")
			}
			select {
			case <-restarts:
				t.Error("restarted after a refused bundle")
			default:
			}
		})
	}
	t.Run("no csrf token", func(t *testing.T) {
		_, c, _, _ := updateEnv(t)
		w := c.do("POST", "/api/update", bytes.NewReader(good), "Content-Type", "application/octet-stream")
		wantCode(t, w, http.StatusForbidden, "POST /api/update without X-CSRF-Token")
	})
	t.Run("not logged in", func(t *testing.T) {
		e, _, _, _ := updateEnv(t)
		w := e.client("192.0.2.9:1").do("POST", "/api/update", bytes.NewReader(good), "Content-Type", "application/octet-stream")
		wantCode(t, w, http.StatusUnauthorized, "POST /api/update without a session")
	})
}

// A rolled-back update is reported on the Maintenance page with its reason.
func TestUpdateRolledBackShown(t *testing.T) {
	_, c, card, _ := updateEnv(t)
	os.MkdirAll(card.StateDir, 0o755)
	os.WriteFile(filepath.Join(card.StateDir, "pending.json"), []byte(`{"version":"v2","from":2,"to":3,"failed":true,"waiting":"line 1001: 403 Forbidden"}`), 0o644)
	if trying, err := card.Settle(); trying || err != nil {
		t.Fatal(trying, err)
	}
	page := c.get("/maintenance").Body.String()
	if !strings.Contains(page, "Rolled back") || !strings.Contains(page, "line 1001: 403 Forbidden") {
		t.Errorf("maintenance page does not say the update was rolled back and why:\n%s", page[strings.Index(page, `id="update"`):][:1200])
	}
	status := c.get("/").Body.String()
	if !strings.Contains(status, `id="firmware-card"`) || !strings.Contains(status, "was rolled back: not healthy within the update health timeout: line 1001: 403 Forbidden") {
		t.Errorf("status page does not say the update was rolled back and why")
	}
	var st struct {
		Update *webui.UpdateStatus `json:"update"`
	}
	json.Unmarshal(c.get("/api/status").Body.Bytes(), &st)
	if st.Update == nil || st.Update.Last == nil || st.Update.Last.Outcome != update.OutcomeRolledBack || len(st.Update.Slots) != 2 || !st.Update.Slots[0].Running {
		t.Errorf("/api/status update: %+v", st.Update)
	}
}
