package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openata/ata/update"
)

// fakeInstaller stands in for the A/B updater: a "bundle" is its version
// as text; "old" is refused as update.Stage refuses an older version.
type fakeInstaller struct {
	mu        sync.Mutex
	staged    []string
	installed []string
}

func (f *fakeInstaller) Stage(r io.Reader, force bool) (*update.Manifest, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	v := string(b)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.staged = append(f.staged, v)
	switch v {
	case "old":
		return nil, &update.Error{Kind: update.KindVersion, Msg: "version old is older than the running 1.0"}
	case "forged":
		return nil, &update.Error{Kind: update.KindSignature, Msg: "the bundle is not signed by this firmware's key"}
	}
	return &update.Manifest{Version: v}, nil
}

func (f *fakeInstaller) Install() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.installed = append(f.installed, f.staged[len(f.staged)-1])
	return nil
}

func (f *fakeInstaller) counts() (staged, installed []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.staged...), append([]string(nil), f.installed...)
}

// TestFirmwareURLInstallsANewerBundleWhenIdle: at the firmware hour the
// bundle at firmware_url goes through the updater; a newer one is
// installed once the phone is idle, an unchanged one (304) is not fetched
// again, an older one is "up to date", a forged one refused; each is told
// in the status.
func TestFirmwareURLInstallsANewerBundleWhenIdle(t *testing.T) {
	var mu sync.Mutex
	body, etag := "2.0", `"a"`
	var requests, notModified atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("If-None-Match") == etag {
			notModified.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		io.WriteString(w, body)
	}))
	defer srv.Close()
	inst := &fakeInstaller{}
	var idle atomic.Bool
	var hourAsked atomic.Int32
	f := newFirmwareFetcher(func() (string, int) { return srv.URL + "/ata.update", 3 },
		func() bundleInstaller { return inst }, idle.Load, slog.New(slog.DiscardHandler), nil)
	f.untilTime = func(hour int) time.Duration { hourAsked.Store(int32(hour)); return 30 * time.Millisecond }
	f.idleRetry = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.run(ctx)

	waitText := func(want string) firmwareStatus {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			st := f.status()
			if strings.Contains(st.Text, want) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("firmware status %+v, want %q", st, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitText("version 2.0 verified; waiting for the phone to be idle")
	time.Sleep(50 * time.Millisecond)
	if _, installed := inst.counts(); len(installed) != 0 {
		t.Fatal("installed while the phone was in use")
	}
	idle.Store(true)
	st := waitText("version 2.0 installed")
	if st.URL != srv.URL+"/ata.update" || hourAsked.Load() != 3 {
		t.Errorf("status %+v, hour %d", st, hourAsked.Load())
	}
	waitText("unchanged since the last check")
	if staged, installed := inst.counts(); len(staged) != 1 || len(installed) != 1 || notModified.Load() == 0 {
		t.Fatalf("after a 304: staged %v, installed %v, %d not modified", staged, installed, notModified.Load())
	}
	mu.Lock()
	body, etag = "old", `"b"`
	mu.Unlock()
	waitText("up to date: version old is older")
	mu.Lock()
	body, etag = "forged", `"c"`
	mu.Unlock()
	waitText("refused: the bundle is not signed")
	if _, installed := inst.counts(); len(installed) != 1 {
		t.Fatalf("installed %v: an older or forged bundle was installed", installed)
	}
}

// TestNextFirmwareCheckIsInTheHour: the check falls in firmware_hour of
// [system] timezone, within a day.
func TestNextFirmwareCheckIsInTheHour(t *testing.T) {
	setZone("Asia/Kathmandu")
	defer setZone("")
	for range 20 {
		d := nextCheck(3)
		at := zoneNow().Add(d)
		if d <= 0 || d > 25*time.Hour || at.Hour() != 3 {
			t.Fatalf("next check in %v, at %s: want hour 3 in Asia/Kathmandu within a day", d, at)
		}
	}
}
