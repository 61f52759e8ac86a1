package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/openata/ata/config"
	"github.com/openata/ata/sip"
)

// problems are settings the firmware could not use as configured; the
// status page lists them until a save fixes them.
type problems struct {
	mu   sync.Mutex
	list []config.Problem
}

func (p *problems) set(l []config.Problem) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list = slices.Clone(l)
}

func (p *problems) add(x config.Problem) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list = append(p.list, x)
}

// keep drops every problem but those whose key is in keys.
func (p *problems) keep(keys ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list = slices.DeleteFunc(p.list, func(x config.Problem) bool { return !slices.Contains(keys, x.Key) })
}

func (p *problems) all() []config.Problem {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.list)
}

// sipErrKey is the config key a SIP start error is about.
func sipErrKey(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && (op.Op == "listen" || op.Op == "bind") || errors.Is(err, syscall.EADDRINUSE) {
		return "sip.listen"
	}
	return "sip"
}

// checkBind tries to bind addr the way the stack will (UDP) and says why
// it cannot, in a person's words.
func checkBind(network, addr string) error {
	var err error
	switch network {
	case "udp":
		var c net.PacketConn
		if c, err = net.ListenPacket("udp", addr); err == nil {
			c.Close()
		}
	default:
		var l net.Listener
		if l, err = net.Listen("tcp", addr); err == nil {
			l.Close()
		}
	}
	return bindError(addr, err)
}

// bindError turns a listen error into the sentence a person needs.
func bindError(addr string, err error) error {
	if err == nil {
		return nil
	}
	_, port, _ := net.SplitHostPort(addr)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("port %s is in use by another program", port)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("%s is not an address of this box", addr)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("port %s needs privileges this program does not have", port)
	}
	return fmt.Errorf("%s cannot be used: %v", addr, err)
}

// restartKeys are the changes between the config the firmware started
// on and cfg that take effect only after a restart.
func restartKeys(boot, cfg *config.Config) []string {
	var keys []string
	bt, ct := reflect.ValueOf(boot.Board), reflect.ValueOf(cfg.Board)
	for i := range bt.NumField() {
		if !reflect.DeepEqual(bt.Field(i).Interface(), ct.Field(i).Interface()) {
			tag, _, _ := strings.Cut(bt.Type().Field(i).Tag.Get("toml"), ",")
			keys = append(keys, "board."+tag)
		}
	}
	if boot.System.DataDir != cfg.System.DataDir {
		keys = append(keys, "system.data_dir")
	}
	if boot.Web.MetricsPublic != cfg.Web.MetricsPublic {
		keys = append(keys, "web.metrics_public")
	}
	return keys
}

// keepGood writes the last-known-good config once the start has gone
// well: no problem, and every active line registered (or none active).
// It gives up when ctx ends; a start that never gets there leaves the
// previous good config in place.
func (a *app) keepGood(ctx context.Context) {
	changes, stop := a.Changes()
	defer stop()
	tick := time.NewTicker(5 * time.Second) // registrations report, but a line may come up between ticks
	defer tick.Stop()
	for {
		if a.startedWell() {
			cfg := a.Config()
			if err := writeGood(a.files.Good, cfg); err != nil {
				a.log.Warn("ata: last known good config not written", "err", err)
			} else {
				a.log.Info("ata: config kept as the last known good", "file", a.files.Good)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-changes:
		case <-tick.C:
		}
	}
}

func (a *app) startedWell() bool {
	if len(a.problems.all()) > 0 || a.sip.Err() != nil {
		return false
	}
	for _, l := range a.Config().Lines {
		if !l.IsActive() {
			continue
		}
		reg := a.sip.Registration(l.Number)
		if reg == nil || reg.Status().State != sip.StateRegistered {
			return false
		}
	}
	return true
}
