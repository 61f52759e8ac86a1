package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/openata/ata/config"
	"github.com/openata/ata/webui"
)

// confirmWindow is how long a change of the web or SIP address waits for
// the web UI to be reached again before it rolls back (LuCI's apply and
// confirm). ATA_CONFIRM_TIMEOUT shortens it for tests.
func confirmWindow() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("ATA_CONFIRM_TIMEOUT")); err == nil && d > 0 {
		return d
	}
	return 90 * time.Second
}

// webServer serves the web UI on its address, and on a second one while
// a change of address waits to be confirmed.
type webServer struct {
	hs   *http.Server
	mu   sync.Mutex
	cur  net.Listener
	next net.Listener
}

func (w *webServer) serve(l net.Listener) {
	go w.hs.Serve(l) // returns when l closes
}

// open binds addr for a change of address and serves on it at once.
func (w *webServer) open(addr string) (string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", bindError(addr, err)
	}
	w.mu.Lock()
	if w.next != nil {
		w.next.Close()
	}
	w.next = l
	w.mu.Unlock()
	w.serve(l)
	return l.Addr().String(), nil
}

// commit makes the second address the only one (keep) or drops it.
func (w *webServer) commit(keep bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.next == nil {
		return
	}
	if keep {
		w.cur.Close()
		w.cur = w.next
	} else {
		w.next.Close()
	}
	w.next = nil
}

// pendingChange is a change of address applied but not yet confirmed.
type pendingChange struct {
	token    string
	keys     []string // "web.listen", "sip.listen"
	deadline time.Time
	oldWeb   string
	oldSIP   string
	webAddr  string // the new web address as bound ("" if unchanged)
	timer    *time.Timer
}

func newToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// startPending arms the rollback of a change of address. a.mu is held.
func (a *app) startPending(old, cfg *config.Config, webAddr string) {
	p := &pendingChange{token: newToken(), oldWeb: old.Web.Listen, oldSIP: old.SIP.Listen, webAddr: webAddr,
		deadline: time.Now().Add(confirmWindow())}
	if old.Web.Listen != cfg.Web.Listen {
		p.keys = append(p.keys, "web.listen")
	}
	if old.SIP.Listen != cfg.SIP.Listen {
		p.keys = append(p.keys, "sip.listen")
	}
	token := p.token
	p.timer = time.AfterFunc(time.Until(p.deadline), func() { a.rollback(token) })
	a.pending = p
	a.log.Warn("ata: address change applied; rolls back unless confirmed", "keys", p.keys, "until", p.deadline.Format(time.TimeOnly))
}

// Confirm implements webui.Backend: the web UI was reached again after a
// change of address, so the change stays.
func (a *app) Confirm(token string) bool {
	a.mu.Lock()
	p := a.pending
	if p == nil || token == "" || p.token != token {
		a.mu.Unlock()
		return false
	}
	a.pending = nil
	p.timer.Stop()
	w := a.web
	a.mu.Unlock()
	if p.webAddr != "" && w != nil {
		w.commit(true)
	}
	a.log.Info("ata: address change confirmed", "keys", p.keys)
	a.poke()
	return true
}

// rollback restores the addresses of an unconfirmed change.
func (a *app) rollback(token string) {
	a.mu.Lock()
	p := a.pending
	if p == nil || p.token != token {
		a.mu.Unlock()
		return
	}
	a.pending = nil
	cfg := cloneConfig(a.cfg)
	w := a.web
	a.mu.Unlock()
	cfg.Web.Listen, cfg.SIP.Listen = p.oldWeb, p.oldSIP
	if err := a.apply(cfg, applyRollback); err != nil {
		a.log.Error("ata: rollback of the address change failed", "err", err)
	}
	if p.webAddr != "" && w != nil {
		w.commit(false)
	}
	for _, k := range p.keys {
		a.problems.add(config.Problem{Key: k, Msg: "the change was not confirmed within " + confirmWindow().String(),
			Fix: "rolled back to " + map[string]string{"web.listen": p.oldWeb, "sip.listen": p.oldSIP}[k]})
	}
	a.log.Warn("ata: address change not confirmed; rolled back", "keys", p.keys)
	a.poke()
}

// pendingStatus is the change waiting for confirmation, for the web UI.
func (a *app) pendingStatus() *webui.PendingChange {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pending == nil {
		return nil
	}
	p := a.pending
	return &webui.PendingChange{Keys: slices.Clone(p.keys), Deadline: p.deadline, Token: p.token, WebAddr: p.webAddr}
}

// serveWeb runs the web UI until ctx ends: on web.listen, or on the
// default address when that cannot be bound (the status page says so),
// so that a bad address never locks the owner out.
func (a *app) serveWeb(ctx context.Context) error {
	cfg := a.Config()
	srv, err := webui.New(a, webui.Options{DataDir: cfg.System.DataDir, Version: version,
		MetricsPublic: cfg.Web.MetricsPublic, Logger: a.log})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", cfg.Web.Listen)
	if err != nil {
		def := config.Default().Web.Listen
		msg := bindError(cfg.Web.Listen, err).Error()
		a.log.Error("ata: web UI address cannot be used; serving on the default", "listen", cfg.Web.Listen, "err", msg, "default", def)
		if l, err = net.Listen("tcp", def); err != nil {
			return errors.New("web.listen: " + msg + "; the default " + def + ": " + bindError(def, err).Error())
		}
		a.problems.add(config.Problem{Key: "web.listen", Msg: msg, Fix: "the web UI answers on " + def})
	}
	a.log.Info("ata: web UI", "url", "http://"+l.Addr().String())
	w := &webServer{hs: newHTTPServer(srv.Handler()), cur: l}
	a.mu.Lock()
	a.web = w
	a.mu.Unlock()
	w.serve(l)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	w.hs.Shutdown(sctx)
	return nil
}

func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
}

// cloneConfig copies cfg deep enough to change it without touching the
// original (the running config is shared read-only).
func cloneConfig(c *config.Config) *config.Config {
	n := *c
	n.Lines = slices.Clone(c.Lines)
	for i := range n.Lines {
		n.Lines[i].Codecs = slices.Clone(n.Lines[i].Codecs)
	}
	return &n
}
