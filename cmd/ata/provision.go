package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"time"

	"github.com/openata/ata/config"
	"github.com/openata/ata/provision"
	"github.com/openata/ata/webui"
)

// provisioner is [provisioning] as run: the fetcher and what it needs.
type provisioner struct {
	f  *provision.Fetcher
	fw *firmwareFetcher
	// firmware_url and firmware_hour as last applied: a change moves the
	// next check.
	fwURL  string
	fwHour int
}

// dhcpProvisioningFile is where the image's udhcpc script leaves options
// 66, 67 and 160 (provision.DHCPFile); ATA_DHCP_PROVISIONING moves it
// (tests).
func dhcpProvisioningFile() string {
	if p := os.Getenv("ATA_DHCP_PROVISIONING"); p != "" {
		return p
	}
	return provision.DHCPFile
}

// startProvisioning fetches the provisioning document now and on the
// interval, from [provisioning] url or the DHCP lease's URL.
func (a *app) startProvisioning(ctx context.Context) {
	cfg := a.Config()
	f := provision.New(provision.Options{
		Settings: provisionSettings(cfg),
		MAC:      provision.MAC(), Model: cfg.Board.Name,
		DHCPFile:  dhcpProvisioningFile(),
		Apply:     a.applyProvisioned,
		UserAgent: "openata/" + version,
		OnStatus:  a.poke,
		Logger:    a.log,
	})
	fw := a.startFirmwareProvisioning(ctx)
	a.mu.Lock()
	a.prov = &provisioner{f: f, fw: fw, fwURL: cfg.Provisioning.FirmwareURL, fwHour: cfg.Provisioning.FirmwareHour}
	a.mu.Unlock()
	go f.Run(ctx)
}

func provisionSettings(cfg *config.Config) provision.Settings {
	s := provision.Settings{URL: cfg.Provisioning.URL, Interval: cfg.Provisioning.Interval.D()}
	// Tests fetch every few seconds; the config's shortest is a minute.
	if d, err := time.ParseDuration(os.Getenv("ATA_PROVISION_INTERVAL")); err == nil && d > 0 {
		s.Interval = d
	}
	return s
}

// systemChanged takes a saved config's time zone, syslog target and
// provisioning settings at once. a.mu is held.
func (a *app) systemChanged(cfg *config.Config) {
	a.sys.apply(cfg)
	if p := a.prov; p != nil {
		p.f.Set(provisionSettings(cfg))
		if c := cfg.Provisioning; c.FirmwareURL != p.fwURL || c.FirmwareHour != p.fwHour {
			p.fwURL, p.fwHour = c.FirmwareURL, c.FirmwareHour
			p.fw.changed()
		}
	}
}

// applyProvisioned lays a fetched document over the running config
// (provision.Merge: its tables' keys replace ours, its arrays of tables
// replace ours whole) and applies the result as a web UI save does: the
// same checks, saved atomically, without a restart where a save needs
// none. A document that is not a configuration changes nothing.
func (a *app) applyProvisioned(ctx context.Context, source string, doc []byte) (bool, error) {
	if len(bytes.TrimSpace(doc)) == 0 {
		return false, errors.New("the document is empty")
	}
	// The document on its own first: unknown keys and wrong types are
	// told in its own lines.
	if _, err := config.Decode(source, doc); err != nil {
		return false, err
	}
	cur := a.Config()
	base, err := config.Marshal(cur)
	if err != nil {
		return false, err
	}
	merged, err := provision.Merge(base, doc)
	if err != nil {
		return false, err
	}
	cfg, err := config.Decode(source, merged)
	if err != nil {
		return false, err
	}
	if err := cfg.Validate(); err != nil {
		return false, err // a *config.KeyError: "line[0].number: empty"
	}
	if now, err := config.Marshal(cfg); err == nil && bytes.Equal(now, base) {
		return false, nil
	}
	if err := a.apply(cfg, applyProvisioned); err != nil {
		return false, err
	}
	a.log.Info("ata: provisioned configuration saved and applied", "url", source)
	return true, nil
}

// provisioningStatus is the last fetch for the status page; nil when
// provisioning has no URL (off).
func (a *app) provisioningStatus() *webui.ProvisioningStatus {
	a.mu.Lock()
	p := a.prov
	a.mu.Unlock()
	if p == nil {
		return nil
	}
	st, fw := p.f.Status(), p.fw.status()
	if st.URL == "" && fw.URL == "" && fw.Next.IsZero() {
		return nil
	}
	return &webui.ProvisioningStatus{URL: st.URL, Source: st.Source, At: st.At, Result: st.Result, Error: st.Error,
		LastApplied: st.LastApplied, Next: st.Next, FirmwareURL: fw.URL, Firmware: fw.Text, FirmwareAt: fw.At, FirmwareNext: fw.Next}
}

// systemStatus is [system]'s time zone and syslog for the status page.
func (a *app) systemStatus() *webui.SystemStatus {
	ss := &webui.SystemStatus{TimeZone: zone.Load().String(), LocalTime: zoneNow()}
	if a.sys != nil {
		s := a.sys.syslog.status()
		ss.Syslog, ss.SyslogSent, ss.SyslogDropped, ss.SyslogError = s.Target, s.Sent, s.Dropped, s.LastError
	}
	return ss
}
