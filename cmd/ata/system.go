package main

import (
	"log/slog"
	"sync/atomic"
	"time"
	_ "time/tzdata" // [system] timezone needs no zone files on the image

	// HTTPS provisioning and SIP over TLS on the image, which has no CA
	// bundle: Mozilla's roots, used only where the system has none.
	_ "golang.org/x/crypto/x509roots/fallback"

	"github.com/openata/ata/config"
)

// zone is [system] timezone: the time of caller ID, the call log and the
// logs. It changes with a save, no restart.
var zone atomic.Pointer[time.Location]

func init() { zone.Store(time.UTC) }

// setZone applies [system] timezone ("" is UTC; config checked the name).
func setZone(name string) {
	loc := time.UTC
	if name != "" {
		if l, err := time.LoadLocation(name); err == nil {
			loc = l
		}
	}
	zone.Store(loc)
}

// zoneNow is the wall clock in [system] timezone.
func zoneNow() time.Time { return time.Now().In(zone.Load()) }

// zoneLogTime writes a log record's time in [system] timezone
// (slog.HandlerOptions.ReplaceAttr).
func zoneLogTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
		a.Value = slog.TimeValue(a.Value.Time().In(zone.Load()))
	}
	return a
}

// system holds what [system] sets beside the data directory: the time
// zone and where log records also go.
type system struct {
	syslog *syslogSender
}

// startSystem applies [system] timezone and syslog before anything logs,
// and tees the log records to syslog.
func startSystem(cfg *config.Config, logs *logRing) *system {
	setZone(cfg.System.Timezone)
	s := &system{syslog: newSyslogSender()}
	s.syslog.set(cfg.System.Syslog)
	if logs != nil {
		logs.setTee(s.syslog.enqueue)
	}
	return s
}

// apply takes a saved config's [system] timezone and syslog at once.
func (s *system) apply(cfg *config.Config) {
	setZone(cfg.System.Timezone)
	if s != nil {
		s.syslog.set(cfg.System.Syslog)
	}
}

// close lets queued records go (up to a second) and stops the sender.
func (s *system) close() {
	if s != nil {
		s.syslog.close(time.Second)
	}
}
