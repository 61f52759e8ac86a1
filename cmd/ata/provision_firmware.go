package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/openata/ata/provision"
	"github.com/openata/ata/update"
)

// bundleInstaller is what firmware provisioning needs of the updater
// (*update.Manager): the same path as an upload in the web UI.
type bundleInstaller interface {
	Stage(r io.Reader, force bool) (*update.Manifest, error)
	Install() error
}

// firmwareFetcher looks at [provisioning] firmware_url once a day, at
// firmware_hour (local time, [system] timezone) plus a random part of
// the hour so that a fleet does not ask at once, and installs a newer
// signed bundle found there through the A/B updater, once the phone is
// idle. A bundle that is not newer is no error ("up to date"); anything
// else the updater refuses is written nowhere and shown on the Status
// page. Conditional requests (ETag, Last-Modified) skip a bundle already
// looked at.
type firmwareFetcher struct {
	settings  func() (url string, hour int) // url with {mac} and {model} filled in; "" off
	installer func() bundleInstaller        // nil: no updater (not on the image's card)
	idle      func() bool
	untilTime func(hour int) time.Duration // until the next check (default: nextCheck)
	idleRetry time.Duration                // while the phone is in use (1 min)
	client    *http.Client
	log       *slog.Logger
	poke      func()
	wake      chan struct{}

	mu       sync.Mutex
	st       firmwareStatus
	etag     string
	modified string
	lastURL  string
}

// firmwareStatus is the last check of firmware_url.
type firmwareStatus struct {
	URL  string
	At   time.Time // the last check; zero before the first
	Next time.Time
	Text string // what came of it, in words
}

func newFirmwareFetcher(settings func() (string, int), installer func() bundleInstaller, idle func() bool, log *slog.Logger, poke func()) *firmwareFetcher {
	return &firmwareFetcher{settings: settings, installer: installer, idle: idle, untilTime: nextCheck,
		idleRetry: time.Minute, client: &http.Client{Timeout: 10 * time.Minute}, log: log, poke: poke,
		wake: make(chan struct{}, 1)}
}

// nextCheck is the time until the next firmware_hour in [system]
// timezone, plus up to 59 minutes at random.
func nextCheck(hour int) time.Duration {
	now := zoneNow()
	at := time.Date(now.Year(), now.Month(), now.Day(), hour, 0, 0, 0, now.Location())
	if !at.After(now) {
		at = at.AddDate(0, 0, 1)
	}
	at = at.Add(time.Duration(rand.Int64N(int64(59 * time.Minute))))
	return at.Sub(now)
}

// changed wakes the loop to take new settings.
func (f *firmwareFetcher) changed() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *firmwareFetcher) status() firmwareStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func (f *firmwareFetcher) setStatus(url, text string) {
	f.mu.Lock()
	f.st.URL, f.st.At, f.st.Text = url, time.Now(), text
	f.mu.Unlock()
	if f.poke != nil {
		f.poke()
	}
}

// run checks at each firmware hour until ctx ends.
func (f *firmwareFetcher) run(ctx context.Context) {
	for {
		url, hour := f.settings()
		wait := 24 * time.Hour
		if url != "" {
			wait = f.untilTime(hour)
		}
		f.mu.Lock()
		f.st.Next = time.Time{}
		if url != "" {
			f.st.Next = time.Now().Add(wait)
		}
		f.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-f.wake:
			t.Stop()
			continue // new settings: a new time
		case <-t.C:
		}
		if url, _ = f.settings(); url != "" {
			f.check(ctx, url)
		}
	}
}

// check fetches url and installs what it holds if it is newer.
func (f *firmwareFetcher) check(ctx context.Context, url string) {
	var inst bundleInstaller
	if f.installer != nil {
		inst = f.installer()
	}
	if inst == nil {
		f.setStatus(url, "not checked: this system has no A/B update card")
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		f.setStatus(url, "failed: "+err.Error())
		return
	}
	f.mu.Lock()
	if f.lastURL == url {
		if f.etag != "" {
			req.Header.Set("If-None-Match", f.etag)
		}
		if f.modified != "" {
			req.Header.Set("If-Modified-Since", f.modified)
		}
	}
	f.mu.Unlock()
	req.Header.Set("User-Agent", "openata/"+version)
	res, err := f.client.Do(req)
	if err != nil {
		f.log.Warn("provision: firmware check failed", "url", url, "err", err)
		f.setStatus(url, "failed: "+err.Error())
		return
	}
	defer res.Body.Close()
	switch res.StatusCode {
	case http.StatusNotModified:
		f.setStatus(url, "unchanged since the last check")
		return
	case http.StatusOK:
	default:
		f.setStatus(url, "failed: the server answered "+res.Status)
		return
	}
	m, err := inst.Stage(res.Body, false)
	remember := func() {
		f.mu.Lock()
		f.lastURL, f.etag, f.modified = url, res.Header.Get("ETag"), res.Header.Get("Last-Modified")
		f.mu.Unlock()
	}
	if err != nil {
		if update.KindOf(err) == update.KindVersion {
			remember()
			f.setStatus(url, "up to date: "+err.Error())
			return
		}
		f.log.Error("provision: firmware bundle refused", "url", url, "err", err)
		f.setStatus(url, "refused: "+err.Error())
		return
	}
	remember()
	f.setStatus(url, fmt.Sprintf("version %s verified; waiting for the phone to be idle", m.Version))
	for !f.idle() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(f.idleRetry):
		}
	}
	f.log.Warn("provision: installing a newer firmware", "url", url, "version", m.Version)
	if err := inst.Install(); err != nil {
		f.setStatus(url, "install failed: "+err.Error())
		return
	}
	f.setStatus(url, fmt.Sprintf("version %s installed; restarting into it", m.Version))
}

// startFirmwareProvisioning runs firmware_url's daily check.
func (a *app) startFirmwareProvisioning(ctx context.Context) *firmwareFetcher {
	f := newFirmwareFetcher(func() (string, int) {
		p := a.Config().Provisioning
		if p.FirmwareURL == "" {
			return "", p.FirmwareHour
		}
		return provision.Expand(p.FirmwareURL, provision.MAC(), a.Config().Board.Name), p.FirmwareHour
	}, func() bundleInstaller {
		if m := a.UpdateManager(); m != nil && m.Card != nil {
			return m
		}
		return nil
	}, a.phoneIdle, a.log, a.poke)
	go f.run(ctx)
	return f
}
