package webui_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openata/ata/webui"
)

// heldVerify makes srv's password checks wait until release is called,
// counting how many started; the check itself is the real one. The test
// waits as long as it needs to for a hashing slot (restored at its end).
func heldVerify(t *testing.T, srv *webui.Server) (started *atomic.Int32, release func()) {
	started, gate := &atomic.Int32{}, make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	t.Cleanup(webui.SetHashWait(30 * time.Second))
	webui.SetVerify(srv, func(encoded, pw string) (bool, error) {
		started.Add(1)
		<-gate
		return webui.VerifyPassword(encoded, pw)
	})
	return started, release
}

// waitGate waits until the hash gate has running hashes and waiting requests.
func waitGate(t *testing.T, running, waiting int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, w, _ := webui.HashGate()
		if r == running && w == waiting {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("hash gate: %d running, %d waiting; want %d and %d", r, w, running, waiting)
		}
		time.Sleep(time.Millisecond)
	}
}

// loginAsync logs in from remote on its own goroutine; the response
// arrives on the channel.
func loginAsync(e *env, remote, pw string) (*client, <-chan *httptest.ResponseRecorder) {
	c := e.client(remote)
	tok := c.csrf("/login") // fetched here: only the POST runs in parallel
	out := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		out <- c.post("/login", map[string][]string{"username": {"admin"}, "password": {pw}, "csrf": {tok}})
	}()
	return c, out
}

// Wrong passwords sent in parallel from one address, then the right one
// while they are still being checked: each attempt is counted before its
// hash runs, so only ThrottleFailures of them are ever hashed and the
// right password, arriving behind them, is refused by the lockout they
// started (the bug: 29 parallel guesses, then the right one, logged in).
func TestParallelGuessesCannotPassTheThrottle(t *testing.T) {
	e, _ := ready(t)
	started, release := heldVerify(t, e.srv)
	const guesses = 8 // the gate's 2 running and 6 waiting: all inside the throttle's window
	var wrong []<-chan *httptest.ResponseRecorder
	for i := range guesses {
		_, out := loginAsync(e, fmt.Sprintf("198.51.100.60:%d", 1000+i), fmt.Sprintf("guess number %d", i))
		wrong = append(wrong, out)
		waitGate(t, min(i+1, webui.MaxHashes), max(i+1-webui.MaxHashes, 0))
	}
	right, rightOut := loginAsync(e, "198.51.100.60:2000", testPassword)
	waitGate(t, webui.MaxHashes, guesses-webui.MaxHashes+1)
	release()

	codes := map[int]int{}
	for _, out := range wrong {
		codes[(<-out).Code]++
	}
	w := <-rightOut
	if w.Code != http.StatusTooManyRequests || right.session() != "" {
		t.Fatalf("the right password behind %d parallel guesses: %d (session %q), want 429 and no session", guesses, w.Code, right.session())
	}
	if n := int(started.Load()); n != webui.ThrottleFailures {
		t.Errorf("%d of %d parallel guesses were hashed, want %d (ThrottleFailures)", n, guesses, webui.ThrottleFailures)
	}
	if want := map[int]int{401: webui.ThrottleFailures - 1, 429: guesses - webui.ThrottleFailures + 1}; codes[401] != want[401] || codes[429] != want[429] {
		t.Errorf("answers to the guesses %v, want %v", codes, want)
	}
	// The lockout is the ordinary one: over when it says.
	e.clock.Advance(webui.ThrottleBase + time.Second)
	wantRedirect(t, e.client("198.51.100.60:3000").login("admin", testPassword), "/", "right password after the lockout")
}

// At most MaxHashes password hashes run at once, whatever the number of
// addresses logging in; the rest wait their turn (all answered), and
// when none comes in time, or too many wait already, the answer is 429
// with Retry-After and a message that says why, and the address is not
// charged a wrong password for it.
func TestHashGateBoundsConcurrentHashes(t *testing.T) {
	e, _ := ready(t)
	webui.ResetHashPeak()

	// Many addresses at once: 2 hash, the others queue, all get their 401.
	started, release := heldVerify(t, e.srv)
	const n = webui.MaxHashes + webui.MaxHashWaiters
	var outs []<-chan *httptest.ResponseRecorder
	for i := range n {
		_, out := loginAsync(e, fmt.Sprintf("203.0.113.%d:1", 10+i), "not the password")
		outs = append(outs, out)
	}
	waitGate(t, webui.MaxHashes, webui.MaxHashWaiters)
	// One more than may wait: turned away at once.
	c, extra := loginAsync(e, "203.0.113.200:1", testPassword)
	select {
	case w := <-extra:
		wantBusy(t, w, "a login beyond the waiting room")
		if c.session() != "" {
			t.Fatal("a busy answer came with a session")
		}
	case <-time.After(time.Second):
		t.Fatal("a login beyond the waiting room was not answered at once")
	}
	release()
	for i, out := range outs {
		if w := <-out; w.Code != http.StatusUnauthorized {
			t.Fatalf("queued login %d: %d, want 401", i, w.Code)
		}
	}
	if _, _, peak := webui.HashGate(); peak != webui.MaxHashes {
		t.Fatalf("%d hashes ran at once, want at most %d", peak, webui.MaxHashes)
	}
	if got := int(started.Load()); got != n {
		t.Fatalf("%d hashes for %d queued logins", got, n)
	}

	// A slot that never comes free in time: 429 after the wait.
	_, release = heldVerify(t, e.srv)
	t.Cleanup(webui.SetHashWait(50 * time.Millisecond))
	var holders []<-chan *httptest.ResponseRecorder
	for i := range webui.MaxHashes {
		_, out := loginAsync(e, fmt.Sprintf("203.0.113.%d:2", 100+i), "not the password")
		holders = append(holders, out)
	}
	waitGate(t, webui.MaxHashes, 0)
	start := time.Now()
	_, late := loginAsync(e, "203.0.113.201:1", testPassword)
	wantBusy(t, <-late, "a login that waited in vain")
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Fatalf("turned away after %v: it did not wait for a slot", d)
	}
	release()
	for _, out := range holders {
		<-out
	}
	// Being turned away cost nothing: the same address logs in now.
	webui.SetVerify(e.srv, webui.VerifyPassword)
	for range webui.ThrottleFailures - 1 {
		wantCode(t, e.client("203.0.113.201:2").login("admin", "still not it"), http.StatusUnauthorized, "wrong password after busy answers")
	}
	wantRedirect(t, e.client("203.0.113.201:3").login("admin", testPassword), "/", "right password after busy answers")
}

func wantBusy(t *testing.T, w *httptest.ResponseRecorder, what string) {
	t.Helper()
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" ||
		!strings.Contains(w.Body.String(), "busy checking other passwords") {
		t.Fatalf("%s: %d, Retry-After %q, body %.300s; want 429 saying the adapter is busy",
			what, w.Code, w.Header().Get("Retry-After"), w.Body.String())
	}
}

// A hash of an earlier release (19 MiB, t=2) still verifies; the first
// successful login stores the password again with today's parameters;
// a wrong password changes nothing.
func TestOldHashVerifiesAndIsUpgraded(t *testing.T) {
	e := newEnv(t)
	old, err := webui.HashPasswordWith(testPassword, 2, 19*1024)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(e.dir, webui.AdminFile)
	setAt := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	data, _ := json.Marshal(map[string]any{"password_hash": old, "secret": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=", "set_at": setAt})
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	e = reopen(t, e)
	stored := func() (hash string, at time.Time) {
		var f struct {
			Hash  string    `json:"password_hash"`
			SetAt time.Time `json:"set_at"`
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatal(err)
		}
		return f.Hash, f.SetAt
	}

	wantCode(t, e.client("192.0.2.30:1").login("admin", "not the password"), http.StatusUnauthorized, "wrong password")
	if h, _ := stored(); h != old {
		t.Fatalf("a wrong password rewrote the hash: %s", h)
	}
	wantRedirect(t, e.client("192.0.2.31:1").login("admin", testPassword), "/", "login on the old hash")
	h, at := stored()
	if !strings.HasPrefix(h, "$argon2id$v=19$m=7168,t=5,p=1$") || !at.Equal(setAt) {
		t.Fatalf("after the login the file holds %s set at %v, want the m=7168,t=5 hash and the old date %v", h, at, setAt)
	}
	e = reopen(t, e)
	wantRedirect(t, e.client("192.0.2.32:1").login("admin", testPassword), "/", "login on the new hash after a restart")
	wantCode(t, e.client("192.0.2.33:1").login("admin", "not the password"), http.StatusUnauthorized, "wrong password on the new hash")
}

// reopen is a restart: a new server on e's data directory.
func reopen(t *testing.T, e *env) *env {
	t.Helper()
	srv, err := webui.New(e.b, webui.Options{DataDir: e.dir, Clock: e.clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e.srv, e.h = srv, srv.Handler()
	return e
}
