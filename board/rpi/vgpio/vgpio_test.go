package vgpio_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openata/ata/board"
	"github.com/openata/ata/board/rpi"
	"github.com/openata/ata/board/rpi/vgpio"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// pacedAudio is a sound card stand-in paced by the wall clock.
type pacedAudio struct{ frame time.Duration }

func (a pacedAudio) Read(f []int16) error  { time.Sleep(a.frame); clear(f); return nil }
func (a pacedAudio) Write(f []int16) error { return nil }

// edges records the hook edges the board reports.
type edges struct {
	mu  sync.Mutex
	got []bool
}

func (e *edges) HookEdge(h board.HookEdge) {
	e.mu.Lock()
	e.got = append(e.got, h.OffHook)
	e.mu.Unlock()
}
func (e *edges) Frame(at time.Duration, mic, ear []int16) {}
func (e *edges) list() []bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]bool(nil), e.got...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startBoard runs the Pi board of profile on virtual lines served over HTTP.
func startBoard(t *testing.T, profile string) (*vgpio.Lines, *rpi.Board, *edges, string) {
	t.Helper()
	pins, err := rpi.Profile(profile)
	if err != nil {
		t.Fatal(err)
	}
	lines := vgpio.New(pins, quiet())
	addr, err := lines.Serve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lines.Close() })
	b, err := rpi.NewWithPins(rpi.Opts{Pins: pins, RingHz: 25, FrameSamples: board.FrameSamples20ms,
		Audio: pacedAudio{20 * time.Millisecond}, ModelPath: "/nonexistent", Logger: quiet()}, lines.PinSet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	e := &edges{}
	go func() { done <- b.Port().Run(ctx, e) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		b.Close()
	})
	waitFor(t, "the initial loop state", func() bool { return len(e.list()) == 1 })
	return lines, b, e, "http://" + addr
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func state(t *testing.T, base string) vgpio.State {
	t.Helper()
	resp, err := http.Get(base + "/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s vgpio.State
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHookOverHTTPReachesTheBoard(t *testing.T) {
	for _, profile := range rpi.ProfileNames() {
		t.Run(profile, func(t *testing.T) {
			_, _, e, base := startBoard(t, profile)
			if got := e.list(); got[0] {
				t.Fatalf("initial loop state off-hook, want on-hook")
			}
			if s := state(t, base); s.Hook != "on" || s.Ringing || s.Reversed || !s.Enabled {
				t.Fatalf("idle state %+v", s)
			}
			if code, body := post(t, base+"/hook", "off\n"); code != http.StatusNoContent {
				t.Fatalf("POST /hook off: %d %s", code, body)
			}
			waitFor(t, "the off-hook edge", func() bool { return len(e.list()) == 2 })
			if s := state(t, base); s.Hook != "off" {
				t.Fatalf("after off: %+v", s)
			}
			if code, _ := post(t, base+"/hook", "flash"); code != http.StatusNoContent {
				t.Fatalf("POST /hook flash: %d", code)
			}
			waitFor(t, "the flash's two edges", func() bool { return len(e.list()) == 4 })
			if got, want := e.list(), []bool{false, true, false, true}; !equal(got, want) {
				t.Fatalf("edges %v, want %v", got, want)
			}
			// Hanging up during a flash ends it on-hook.
			post(t, base+"/hook", "flash")
			post(t, base+"/hook", "ON")
			time.Sleep(vgpio.FlashDuration + 100*time.Millisecond)
			if got, want := e.list(), []bool{false, true, false, true, false}; !equal(got, want) {
				t.Fatalf("edges after flash + on %v, want %v", got, want)
			}
			if code, body := post(t, base+"/hook", "flash"); code != http.StatusConflict || !strings.Contains(body, "on-hook") {
				t.Fatalf("flash while on-hook: %d %q, want 409 naming on-hook", code, body)
			}
			if code, body := post(t, base+"/hook", "lift"); code != http.StatusBadRequest || !strings.Contains(body, `"lift"`) {
				t.Fatalf("bad action: %d %q, want 400 naming it", code, body)
			}
		})
	}
}

func TestRingAndPolarityShowInState(t *testing.T) {
	_, b, _, base := startBoard(t, "rpi-ag1171")
	if err := b.Port().SetRing(true); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(t, "F/R toggling", func() bool { return state(t, base).FRToggles >= 10 })
	// 25 Hz ring: a toggle every 20 ms, so 10 toggles take 200 ms.
	if el := time.Since(start); el < 180*time.Millisecond {
		t.Errorf("10 F/R toggles in %v: faster than 25 Hz", el)
	}
	if s := state(t, base); !s.Ringing {
		t.Fatalf("ringing: %+v", s)
	}
	if err := b.Port().SetRing(false); err != nil {
		t.Fatal(err)
	}
	burst := time.Since(start)
	s := state(t, base)
	if s.Ringing || s.Reversed {
		t.Fatalf("after ring off: %+v", s)
	}
	// The meter: 25 Hz from the median F/R interval, and the burst as long
	// as RM was high (between the two SetRing calls).
	if math.Abs(s.RingHz-25) > 1 || math.Abs(float64(s.LastBurst)-float64(burst.Milliseconds())) > 10 {
		t.Errorf("ring meter: %.1f Hz, burst %d ms; want 25 Hz and about %d ms", s.RingHz, s.LastBurst, burst.Milliseconds())
	}
	if err := b.Port().SetReversed(true); err != nil {
		t.Fatal(err)
	}
	if s := state(t, base); !s.Reversed {
		t.Fatalf("after SetReversed(true): %+v", s)
	}
}

func equal(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzHookBody posts any body to /hook: only the three actions (any case,
// surrounding space) succeed, anything else gets 400 (or 409 for a flash
// on-hook) and a hook state that is still one of the two.
func FuzzHookBody(f *testing.F) {
	for _, seed := range []string{"off", "on", "flash", " OFF\n", "", "lift", "\x00", strings.Repeat("o", 100)} {
		f.Add(seed)
	}
	pins, _ := rpi.Profile(rpi.DefaultProfile)
	lines := vgpio.New(pins, quiet())
	h := lines.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body)))
		action := strings.ToLower(strings.TrimSpace(body))
		valid := len(body) <= 64 && (action == "off" || action == "on" || action == "flash")
		switch {
		case valid && rec.Code != http.StatusNoContent && !(action == "flash" && rec.Code == http.StatusConflict):
			t.Fatalf("POST /hook %q: %d %s", body, rec.Code, rec.Body)
		case !valid && rec.Code != http.StatusBadRequest:
			t.Fatalf("POST /hook %q: %d, want 400", body, rec.Code)
		}
		if s := lines.State(); s.Hook != "on" && s.Hook != "off" {
			t.Fatalf("hook state %q", s.Hook)
		}
	})
}
