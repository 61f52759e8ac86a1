package webui

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/openata/ata/config"
)

// ProvisioningStatus is the last fetch of the provisioning document.
type ProvisioningStatus struct {
	URL    string // the URL fetched, {mac} and {model} filled in
	Source string // "[provisioning] url", "dhcp option 66", "dhcp option 160"
	At     time.Time
	// Result: "applied", "unchanged", "refused" (not a valid
	// configuration: nothing changed), "failed" (not fetched); Error why.
	Result, Error string
	LastApplied   time.Time // zero if no document changed anything yet
	Next          time.Time // the next fetch; zero if none is planned
	// [provisioning] firmware_url: the URL last checked, what came of it
	// in words ("up to date: …", "version 1.4 installed; restarting into
	// it", "refused: …"), when, and the next check.
	FirmwareURL, Firmware    string
	FirmwareAt, FirmwareNext time.Time
}

// SystemStatus is [system]'s time zone and remote syslog as they run.
type SystemStatus struct {
	TimeZone  string    // "Europe/Berlin", "UTC"
	LocalTime time.Time // now, in TimeZone
	// Syslog is the server records go to ("" none); sent and dropped
	// (the queue was full or the server could not be reached) since the
	// start; the last error sending.
	Syslog                    string
	SyslogSent, SyslogDropped uint64
	SyslogError               string
}

// ProvisioningJSON is the last provisioning fetch in GET /api/status.
type ProvisioningJSON struct {
	URL         string     `json:"url"`
	Source      string     `json:"source"`
	At          *time.Time `json:"at"` // null before the first fetch
	Result      string     `json:"result"`
	Error       string     `json:"error,omitempty"`
	LastApplied *time.Time `json:"last_applied,omitempty"`
	Next        *time.Time `json:"next,omitempty"`
	// Text says it in words: "refused at 14:02:11 UTC: line 1: number: empty".
	Text string `json:"text"`
	// The firmware_url check: the URL, what came of it, when, the next.
	FirmwareURL  string     `json:"firmware_url,omitempty"`
	Firmware     string     `json:"firmware,omitempty"`
	FirmwareAt   *time.Time `json:"firmware_at,omitempty"`
	FirmwareNext *time.Time `json:"firmware_next,omitempty"`
}

// SystemJSON is [system]'s time zone and syslog in GET /api/status.
type SystemJSON struct {
	TimeZone      string `json:"time_zone"`
	LocalTime     string `json:"local_time"` // RFC 3339 with the zone's offset
	Syslog        string `json:"syslog"`
	SyslogSent    uint64 `json:"syslog_sent"`
	SyslogDropped uint64 `json:"syslog_dropped"`
	SyslogError   string `json:"syslog_error,omitempty"`
}

func provisioningJSON(p *ProvisioningStatus) *ProvisioningJSON {
	if p == nil {
		return nil
	}
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		u := t.UTC()
		return &u
	}
	j := &ProvisioningJSON{URL: p.URL, Source: p.Source, At: opt(p.At), Result: p.Result, Error: p.Error,
		LastApplied: opt(p.LastApplied), Next: opt(p.Next),
		FirmwareURL: p.FirmwareURL, Firmware: p.Firmware, FirmwareAt: opt(p.FirmwareAt), FirmwareNext: opt(p.FirmwareNext)}
	switch {
	case p.URL == "":
		j.Text = "no provisioning URL"
	case j.At == nil:
		j.Text = "not fetched yet"
	default:
		j.Text = p.Result + " at " + j.At.Format("2006-01-02 15:04:05") + " UTC"
		if p.Error != "" {
			j.Text += ": " + p.Error
		}
	}
	return j
}

// systemMetrics writes, with a syslog server set, the records sent and
// dropped (ata_syslog_sent_total, ata_syslog_dropped_total), and with a
// provisioning URL the last fetch: ata_provisioning_result{result} 1 for
// the last result, ata_provisioning_last_fetch_timestamp_seconds and
// ata_provisioning_last_applied_timestamp_seconds (Unix time; 0 never).
func systemMetrics(b *strings.Builder, st Status) {
	metric := func(name, typ, help string) {
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	if s := st.System; s != nil && s.Syslog != "" {
		metric("ata_syslog_sent_total", "counter", "Log records sent to the syslog server.")
		fmt.Fprintf(b, "ata_syslog_sent_total %d\n", s.SyslogSent)
		metric("ata_syslog_dropped_total", "counter", "Log records dropped: the queue was full or the server unreachable.")
		fmt.Fprintf(b, "ata_syslog_dropped_total %d\n", s.SyslogDropped)
	}
	p := st.Provisioning
	if p == nil || p.URL == "" {
		return
	}
	metric("ata_provisioning_result", "gauge", "1 for the result of the last provisioning fetch.")
	for _, r := range []string{"applied", "unchanged", "refused", "failed"} {
		v := 0
		if p.Result == r {
			v = 1
		}
		fmt.Fprintf(b, "ata_provisioning_result{result=%q} %d\n", r, v)
	}
	unix := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.Unix()
	}
	metric("ata_provisioning_last_fetch_timestamp_seconds", "gauge", "When the provisioning document was last fetched (Unix time).")
	fmt.Fprintf(b, "ata_provisioning_last_fetch_timestamp_seconds %d\n", unix(p.At))
	metric("ata_provisioning_last_applied_timestamp_seconds", "gauge", "When a provisioning document last changed the configuration (Unix time).")
	fmt.Fprintf(b, "ata_provisioning_last_applied_timestamp_seconds %d\n", unix(p.LastApplied))
}

func systemJSON(s *SystemStatus) *SystemJSON {
	if s == nil {
		return nil
	}
	return &SystemJSON{TimeZone: s.TimeZone, LocalTime: s.LocalTime.Format(time.RFC3339), Syslog: s.Syslog,
		SyslogSent: s.SyslogSent, SyslogDropped: s.SyslogDropped, SyslogError: s.SyslogError}
}

type systemData struct {
	Sections []section
}

func (s *Server) systemPage(w http.ResponseWriter, r *http.Request, ss *session) {
	s.renderPage(w, http.StatusOK, "system", ss, view{Title: "System", Nav: "system",
		Page: systemView(systemValuesFromConfig(s.b.Config()), nil)})
}

func (s *Server) systemPost(w http.ResponseWriter, r *http.Request, ss *session) {
	cfg, errs := systemFormToConfig(s.b.Config(), r.PostForm)
	if errs.ok() {
		s.applyConfig(r.Context(), cfg, errs, systemKeyMapper)
	}
	if !errs.ok() {
		s.renderPage(w, http.StatusUnprocessableEntity, "system", ss, view{Title: "System", Nav: "system",
			Error: errs.summary(), Page: systemView(r.PostForm, errs.fields)})
		return
	}
	s.logf(r, "system settings saved")
	s.sessions.setFlash(ss, s.savedMessage("Saved and applied."))
	http.Redirect(w, r, "/system", http.StatusSeeOther)
}

func systemValuesFromConfig(cfg *config.Config) url.Values {
	v := url.Values{}
	v.Set("timezone", cfg.System.Timezone)
	v.Set("ntp_server", cfg.System.NTPServer)
	v.Set("syslog", cfg.System.Syslog)
	p := cfg.Provisioning
	v.Set("provisioning_url", p.URL)
	v.Set("provisioning_interval", strconv.FormatFloat(p.Interval.D().Hours(), 'f', -1, 64))
	v.Set("firmware_url", p.FirmwareURL)
	v.Set("firmware_hour", strconv.Itoa(p.FirmwareHour))
	return v
}

func systemFormToConfig(cur *config.Config, f url.Values) (*config.Config, *formErrors) {
	errs := &formErrors{}
	cfg := cloneConfig(cur)
	get := func(k string) string { return strings.TrimSpace(f.Get(k)) }
	cfg.System.Timezone = get("timezone")
	cfg.System.NTPServer = get("ntp_server")
	cfg.System.Syslog = get("syslog")
	p := &cfg.Provisioning
	p.URL = get("provisioning_url")
	p.FirmwareURL = get("firmware_url")
	if h, err := strconv.ParseFloat(get("provisioning_interval"), 64); err != nil || h < 1.0/60 || h > 720 {
		errs.add("provisioning_interval", "Enter a number of hours from 0.02 (1 minute) to 720.")
	} else {
		p.Interval = config.Duration(time.Duration(h * float64(time.Hour)).Round(time.Second))
	}
	if h, err := strconv.Atoi(get("firmware_hour")); err != nil || h < 0 || h > 23 {
		errs.add("firmware_hour", "Enter an hour from 0 to 23.")
	} else {
		p.FirmwareHour = h
	}
	return cfg, errs
}

func systemKeyMapper(key, msg string) string {
	switch key {
	case "system.timezone", "system.ntp_server", "system.syslog":
		return strings.TrimPrefix(key, "system.")
	case "provisioning.url":
		return "provisioning_url"
	case "provisioning.interval":
		return "provisioning_interval"
	case "provisioning.firmware_url", "provisioning.firmware_hour":
		return strings.TrimPrefix(key, "provisioning.")
	}
	return ""
}

func systemView(v url.Values, errs map[string]string) systemData {
	text := func(id, label, key, placeholder, help string) field {
		return field{ID: id, Label: label, Kind: "text", Value: v.Get(id), Err: errs[id], Placeholder: placeholder,
			AutoComp: "off", MaxLen: keyMax(key), Help: help}
	}
	return systemData{Sections: []section{
		{ID: "time", Legend: "Time", Rows: []row{
			{text("timezone", "Time zone", "system.timezone", "UTC",
				"An IANA time zone name such as Europe/Berlin or America/New_York: the time the phone's caller ID display shows, and the times of the call log and the logs. Empty: UTC. Applied at once.")},
			{text("ntp_server", "Time server (NTP)", "system.ntp_server", "from DHCP, else pool.ntp.org",
				"host or host:port of an SNTP server the adapter sets its clock from (it has no battery clock). Empty: the server the network's DHCP names, else pool.ntp.org.")},
		}},
		{ID: "logs", Legend: "Remote log", Rows: []row{
			{text("syslog", "Syslog server", "system.syslog", "udp://192.0.2.10:514",
				"udp://host:port or tcp://host:port: every log record (the same as Maintenance's log view) also goes there as RFC 5424 syslog. Empty: none. Records that cannot be sent in time are dropped and counted on the Status page.")},
		}},
		{ID: "provisioning", Legend: "Provisioning", Intro: "The adapter can fetch its settings from a provisioning server: at start and then every interval. The document is TOML, the whole configuration or only the keys to change; an invalid one changes nothing, and the Status page says why.",
			Rows: []row{
				{text("provisioning_url", "Provisioning URL", "provisioning.url", "from DHCP option 66 or 160",
					"http:// or https:// URL of the settings document; {mac} becomes this adapter's MAC address (lower-case hex, no separators) and {model} its board name. Empty: the URL the network's DHCP server gives (option 66 or 160), if any.")},
				{field{ID: "provisioning_interval", Label: "Fetch every", Kind: "number", Value: v.Get("provisioning_interval"), Unit: "h",
					Min: "0.02", Max: "720", Step: "any", Narrow: true, Err: errs["provisioning_interval"],
					Help: "Hours between fetches (spread by up to 10 % either way so that many adapters do not ask at once)."}},
				{text("firmware_url", "Firmware URL", "provisioning.firmware_url", "none",
					"http:// or https:// URL where a newer signed update bundle is looked for; empty: none."),
					field{ID: "firmware_hour", Label: "Install at", Kind: "number", Value: v.Get("firmware_hour"), Unit: "h",
						Min: "0", Max: "23", Step: "1", Narrow: true, Err: errs["firmware_hour"],
						Help: "The hour of the day (in the time zone above) a newer bundle found there is installed."}},
			}},
	}}
}
