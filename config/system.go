package config

import (
	"net/url"
	"strings"
	"time"
)

// Provisioning fetches the config (or a fragment of it) from a server, as
// fleets of ATAs are run.
type Provisioning struct {
	// URL is where the config document is fetched ({mac} and {model} are
	// substituted); empty: the URL DHCP option 66 or 160 gave, if any.
	URL string `toml:"url"`
	// Interval is how often it is fetched again (jittered); at boot too.
	Interval Duration `toml:"interval"`
	// FirmwareURL is where a newer signed update bundle is looked for;
	// empty: none.
	FirmwareURL string `toml:"firmware_url"`
	// FirmwareHour is the local hour (0-23) a bundle found there is
	// installed at.
	FirmwareHour int `toml:"firmware_hour"`
}

func (c *Config) checkSystem() error {
	s := c.System
	if d := s.UpdateHealthTimeout; d < Duration(30*time.Second) || d > Duration(time.Hour) {
		return keyErr("system.update_health_timeout", "want 30s to 1h, got %v (durations are strings such as \"5m\")", d)
	}
	if s.Syslog != "" {
		u, err := url.Parse(s.Syslog)
		if err != nil || (u.Scheme != "udp" && u.Scheme != "tcp") || u.Host == "" || u.Path != "" {
			return keyErr("system.syslog", "%q: want udp://host:port or tcp://host:port", s.Syslog)
		}
		if err := checkHostPort(u.Host); err != nil {
			return keyErr("system.syslog", "%v", err)
		}
	}
	if s.Timezone != "" {
		if _, err := time.LoadLocation(s.Timezone); err != nil || strings.EqualFold(s.Timezone, "local") {
			return keyErr("system.timezone", "%q is not an IANA time zone name (e.g. \"Europe/Berlin\", \"America/New_York\", \"UTC\")", s.Timezone)
		}
	}
	if err := checkOptionalHostPort("system.ntp_server", s.NTPServer); err != nil {
		return err
	}
	if err := checkOptionalHostPort("sip.stun_server", c.SIP.STUNServer); err != nil {
		return err
	}
	p := c.Provisioning
	for _, u := range []struct{ key, v string }{{"provisioning.url", p.URL}, {"provisioning.firmware_url", p.FirmwareURL}} {
		if u.v == "" {
			continue
		}
		pu, err := url.Parse(strings.NewReplacer("{mac}", "x", "{model}", "x").Replace(u.v))
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return keyErr(u.key, "%q: want an http:// or https:// URL ({mac} and {model} are filled in)", u.v)
		}
	}
	if d := p.Interval; d < Duration(time.Minute) || d > Duration(30*24*time.Hour) {
		return keyErr("provisioning.interval", "want 1m to 720h, got %v", d)
	}
	if h := p.FirmwareHour; h < 0 || h > 23 {
		return keyErr("provisioning.firmware_hour", "want an hour 0 to 23, got %d", h)
	}
	return nil
}
