package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/openata/ata/update"
	"github.com/openata/ata/webui"
)

// updateKey is the public key update bundles must be signed with
// (base64), linked in by the build: -X main.updateKey=... from
// keys/update.pub (make keys). Empty: every bundle is refused.
var updateKey string

// updateRoot is where the image's card is looked for ("/"); the
// ATA_UPDATE_ROOT environment variable moves it, for tests.
func updateRoot() string {
	if r := os.Getenv("ATA_UPDATE_ROOT"); r != "" {
		return r
	}
	return "/"
}

// healthPoll is how often a trial boot checks itself.
const healthPoll = 2 * time.Second

// startUpdates makes the firmware updater: the image's A/B card, if the
// system runs from one. On an update's trial boot it checks the system's
// health until it is healthy and commits it; the deadline is ata-sys
// update-watch's (outside ata: a firmware that does not start is rolled
// back too).
func (a *app) startUpdates(ctx context.Context) {
	m := &update.Manager{SpoolDir: os.TempDir(), RestartDelay: time.Second,
		Restart: func() error { return update.Reboot(update.TrybootArg) }}
	if updateKey != "" {
		k, err := update.ParsePublicKey(updateKey)
		if err != nil {
			a.log.Error("ata: update key built in is not valid: every bundle is refused", "err", err)
		}
		m.Key = k
	}
	root := updateRoot()
	card, err := update.Discover(root)
	if err != nil {
		m.NoCard = err
		a.log.Debug("ata: no firmware updates", "why", err)
	} else {
		card.Log = a.log
		m.Card = card
		m.Board = boardName(root, card)
		a.log.Info("ata: firmware updates", "board", m.Board, "running_slot", card.Running, "key", keyID(m.Key))
	}
	a.mu.Lock()
	a.upd = m
	a.mu.Unlock()
	if card != nil && card.Trying() {
		go a.trialBoot(ctx, card)
	}
}

func keyID(k ed25519.PublicKey) string {
	if len(k) != ed25519.PublicKeySize {
		return "none (built without keys/update.pub)"
	}
	return update.KeyID(k)
}

// boardName is the running slot's board, else the image's /etc/ata/board.
func boardName(root string, c *update.Card) string {
	if m := c.RunningManifest(); m != nil && m.Board != "" {
		return m.Board
	}
	b, _ := os.ReadFile(strings.TrimSuffix(root, "/") + "/etc/ata/board")
	return strings.TrimSpace(string(b))
}

// UpdateManager implements webui.Updater.
func (a *app) UpdateManager() *update.Manager {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.upd
}

// trialBoot commits the update this system is on trial for as soon as it
// is healthy, recording what it waits for meanwhile (the rollback's reason
// should the deadline pass).
func (a *app) trialBoot(ctx context.Context, card *update.Card) {
	a.log.Info("ata: trial boot of an update: committing it when healthy")
	t := time.NewTicker(healthPoll)
	defer t.Stop()
	for {
		waiting := a.unhealthy(ctx)
		if waiting == "" {
			if err := card.Commit(); err != nil {
				a.log.Error("ata: update: commit", "err", err)
			} else {
				a.log.Info("ata: update healthy: committed", "version", version)
				a.poke()
			}
			return
		}
		if err := card.Waiting(waiting); err != nil {
			a.log.Warn("ata: update: recording its health", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// unhealthy is what the system still waits for to be healthy ("" when it
// is): the web UI answering, and every active line registered or its
// registrar unreachable for reasons outside the box (no answer, no route,
// no DNS). A registrar's refusal (403, 401) counts against the update: the
// same settings registered before it.
func (a *app) unhealthy(ctx context.Context) string {
	if err := a.webAnswers(ctx); err != nil {
		return "the web UI: " + err.Error()
	}
	var waiting []string
	for _, l := range a.Status().Lines {
		switch {
		case l.State == webui.LineRegistered || l.State == webui.LineInactive:
		case l.State == webui.LineFailing && outsideTheBox(l):
		case l.LastError != "":
			waiting = append(waiting, fmt.Sprintf("line %s: %s", l.Number, l.LastError))
		default:
			waiting = append(waiting, fmt.Sprintf("line %s: not registered yet", l.Number))
		}
	}
	return strings.Join(waiting, "; ")
}

// outsideTheBox: the line's registrar does not answer or cannot be
// reached (the network or the provider, not this firmware).
func outsideTheBox(l webui.LineStatus) bool {
	if !l.NotAnsweringSince.IsZero() {
		return true
	}
	e := strings.ToLower(l.LastError)
	for _, s := range []string{"no such host", "lookup ", "unreachable", "no route", "timeout", "not answering", "connection refused"} {
		if strings.Contains(e, s) {
			return true
		}
	}
	return false
}

// webAnswers asks the web UI for its login page on its own listener.
func (a *app) webAnswers(ctx context.Context) error {
	a.mu.Lock()
	w := a.web
	a.mu.Unlock()
	if w == nil {
		return fmt.Errorf("not listening yet")
	}
	w.mu.Lock()
	addr := w.cur.Addr().(*net.TCPAddr)
	w.mu.Unlock()
	host := "127.0.0.1"
	if !addr.IP.IsUnspecified() {
		host = addr.IP.String()
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+net.JoinHostPort(host, fmt.Sprint(addr.Port))+"/login", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return fmt.Errorf("GET /login: %s", resp.Status)
	}
	return nil
}
