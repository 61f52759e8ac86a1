package webui

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openata/ata/config"
	"github.com/openata/ata/fxs/dialplan"
)

// The SIP Account Setup page follows the ZyXEL V630 page's fields. How they
// map to the configuration:
//
//	Active                      line.active
//	SIP Number                  line.number
//	SIP Local Port              sip.listen's port (shared by all lines)
//	SIP Server Address, Port    line.registrar: calls and REGISTER go there
//	REGISTER Server Address, Port  line.registrar too: empty or equal to the SIP server
//	SIP Service Domain          line.service_domain
//	Authentication User Name    line.auth_user
//	Password                    line.password (never sent to the browser)
//	Outbound Proxy              line.outbound_proxy ("" when not active)
//	Expiration Duration         line.register_expires
//	Register Re-send timer      not configurable: shown as what the firmware does
//	Transport                   line.transport (Automatic: empty), TLS verify line.tls_verify,
//	                            SRTP line.srtp, CA file sip.tls_ca_file
//	Codecs, DTMF, packet time   line.codecs, line.dtmf_mode, line.ptime
//	Advanced                    phone.dial_plan, sip.keepalive(_method), sip.accept_proxy_only,
//	                            sip.stun_server, sip.rtp_latching

type sipData struct {
	Line     int
	Tabs     []lineTab
	Sections []section
	// Existing: the line is in the config (it can be deleted); Delete
	// asks to confirm deleting it, in the page (no script dialog).
	Existing bool
	Delete   *deleteLine
}

// deleteLine is the in-page confirmation of deleting a line.
type deleteLine struct {
	Line   int    // 1-based, as the tabs count
	Number string // posted back: a line deleted by index must still be this one
	Domain string
}

type lineTab struct {
	Index  int
	Label  string
	Active bool // the tab shown
}

// lineIndex reads ?line=N (or the form's "line"); N may be len(lines) for
// a new line.
func lineIndex(v string, n int) (int, bool) {
	if v == "" {
		return 0, true
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 || i > n {
		return 0, false
	}
	return i, true
}

func (s *Server) sipPage(w http.ResponseWriter, r *http.Request, ss *session) {
	cfg := s.b.Config()
	i, ok := lineIndex(r.URL.Query().Get("line"), len(cfg.Lines))
	if !ok {
		http.Redirect(w, r, "/sip", http.StatusSeeOther)
		return
	}
	d := s.sipView(cfg, i, sipValuesFromConfig(cfg, i), nil)
	if r.URL.Query().Get("delete") == "1" && d.Existing {
		d.Delete = &deleteLine{Line: i + 1, Number: cfg.Lines[i].Number, Domain: cfg.Lines[i].ServiceDomain}
	}
	s.renderPage(w, http.StatusOK, "sip", ss, view{Title: "SIP Account Setup", Nav: "sip", Page: d})
}

// sipDeletePost deletes the line the confirmation named: its index and
// number must still match, so a page loaded before another change never
// deletes a different line.
func (s *Server) sipDeletePost(w http.ResponseWriter, r *http.Request, ss *session) {
	cur := s.b.Config()
	i, err := strconv.Atoi(r.PostFormValue("line"))
	if err != nil || i < 0 || i >= len(cur.Lines) || cur.Lines[i].Number != r.PostFormValue("number") {
		s.renderError(w, http.StatusConflict, "The lines changed since this page was loaded: nothing was deleted. Open the SIP Account page again.")
		return
	}
	cfg := cloneConfig(cur)
	cfg.Lines = slices.Delete(cfg.Lines, i, i+1)
	errs := &formErrors{}
	s.applyConfig(r.Context(), cfg, errs, func(string, string) string { return "" })
	if !errs.ok() {
		s.renderPage(w, http.StatusUnprocessableEntity, "sip", ss, view{Title: "SIP Account Setup", Nav: "sip",
			Error: errs.summary(), Page: s.sipView(cur, i, sipValuesFromConfig(cur, i), nil)})
		return
	}
	s.logf(r, "SIP line deleted", "line", i, "number", cur.Lines[i].Number)
	s.sessions.setFlash(ss, fmt.Sprintf("Line %d (%s) deleted: it no longer registers.", i+1, cur.Lines[i].Number))
	http.Redirect(w, r, "/sip?line="+strconv.Itoa(max(0, min(i, len(cfg.Lines)-1))), http.StatusSeeOther)
}

func (s *Server) sipPost(w http.ResponseWriter, r *http.Request, ss *session) {
	cur := s.b.Config()
	i, ok := lineIndex(r.PostFormValue("line"), len(cur.Lines))
	if !ok {
		s.renderError(w, http.StatusBadRequest, "No such line.")
		return
	}
	cfg, errs := sipFormToConfig(cur, i, r.PostForm)
	s.applyConfig(r.Context(), cfg, errs, sipKeyMapper(i))
	if !errs.ok() {
		s.renderPage(w, http.StatusUnprocessableEntity, "sip", ss, view{Title: "SIP Account Setup", Nav: "sip",
			Error: errs.summary(), Page: s.sipView(cur, i, r.PostForm, errs.fields)})
		return
	}
	s.logf(r, "SIP account saved", "line", i)
	s.sessions.setFlash(ss, s.savedMessage(fmt.Sprintf("Saved and applied. Line %d registers with the new settings; watch it on the Status page.", i+1)))
	s.afterSave(w, r, "/sip?line="+strconv.Itoa(i))
}

// sipValuesFromConfig fills the form from the running config.
func sipValuesFromConfig(cfg *config.Config, i int) url.Values {
	v := url.Values{}
	l := config.Line{Codecs: []string{"PCMU", "PCMA"}, DTMFMode: "rfc4733", Ptime: 20, RegisterExpires: config.Duration(time.Hour)}
	if i < len(cfg.Lines) {
		l = cfg.Lines[i]
	}
	if l.IsActive() {
		v.Set("active", "on")
	}
	v.Set("number", l.Number)
	v.Set("display_name", l.DisplayName)
	v.Set("voicemail_number", l.VoicemailNumber)
	_, lport := splitHostPort(cfg.SIP.Listen)
	v.Set("local_port", lport)
	registrar, _, _ := config.SplitTransportParam(l.Registrar)
	h, p := splitHostPort(registrar)
	v.Set("server_host", h)
	v.Set("server_port", p)
	v.Set("service_domain", l.ServiceDomain)
	v.Set("auth_user", l.AuthUser)
	if l.OutboundProxy != "" {
		v.Set("proxy_active", "on")
		proxy, _, _ := config.SplitTransportParam(l.OutboundProxy)
		h, p := splitHostPort(proxy)
		v.Set("proxy_host", h)
		v.Set("proxy_port", p)
	}
	v.Set("expires", strconv.FormatInt(int64(l.RegisterExpires.D()/time.Second), 10))
	v.Set("transport", formTransport(l))
	if l.TLSVerifyOn() {
		v.Set("tls_verify", "on")
	}
	v.Set("srtp", l.SRTP)
	v.Set("tls_ca_file", cfg.SIP.TLSCAFile)
	if len(l.Codecs) > 0 {
		v.Set("codec1", l.Codecs[0])
	}
	if len(l.Codecs) > 1 {
		v.Set("codec2", l.Codecs[1])
	}
	v.Set("dtmf_mode", l.DTMFMode)
	v.Set("ptime", strconv.Itoa(l.Ptime))
	v.Set("dial_plan", cfg.Phone.DialPlan)
	v.Set("keepalive", strconv.FormatInt(int64(cfg.SIP.KeepAlive.D()/time.Second), 10))
	v.Set("keepalive_method", cfg.SIP.KeepAliveMethod)
	if cfg.SIP.AcceptProxyOnly {
		v.Set("accept_proxy_only", "on")
	}
	v.Set("stun_server", cfg.SIP.STUNServer)
	v.Set("rtp_latching", cfg.SIP.RTPLatching)
	return v
}

// sipFormToConfig builds the new configuration from the form over cur.
// Password fields left empty keep the stored password.
func sipFormToConfig(cur *config.Config, i int, f url.Values) (*config.Config, *formErrors) {
	errs := &formErrors{}
	cfg := cloneConfig(cur)
	if i == len(cfg.Lines) {
		cfg.Lines = append(cfg.Lines, config.Line{})
	}
	l := &cfg.Lines[i]
	get := func(k string) string { return strings.TrimSpace(f.Get(k)) }

	active := f.Get("active") == "on"
	l.Active = &active
	l.Number = get("number")
	l.DisplayName = get("display_name")
	l.VoicemailNumber = get("voicemail_number")
	l.ServiceDomain = get("service_domain")
	l.AuthUser = get("auth_user")
	switch {
	case f.Get("clear_password") == "on":
		l.Password = ""
	case f.Get("password") != "":
		l.Password = f.Get("password") // as typed: spaces may belong to it
	}

	if p := parsePort(errs, "local_port", f.Get("local_port")); p != "" {
		host, _ := splitHostPort(cfg.SIP.Listen)
		cfg.SIP.Listen = net.JoinHostPort(host, p)
	} else if _, ok := errs.fields["local_port"]; !ok {
		errs.add("local_port", "Enter the local SIP port, 5060 unless your provider says otherwise.")
	}

	server := hostPort(errs, "server_host", "server_port", f.Get("server_host"), f.Get("server_port"))
	register := hostPort(errs, "register_host", "register_port", f.Get("register_host"), f.Get("register_port"))
	switch {
	case register == "" || register == server:
	case server == "":
		server = register
	default:
		errs.add("register_host", "Calls and REGISTER go to one server in this firmware: leave the REGISTER Server empty or enter the SIP Server here.")
	}
	l.Registrar = server

	l.OutboundProxy = ""
	if f.Get("proxy_active") == "on" {
		l.OutboundProxy = hostPort(errs, "proxy_host", "proxy_port", f.Get("proxy_host"), f.Get("proxy_port"))
		if l.OutboundProxy == "" {
			errs.add("proxy_host", "Enter the outbound proxy's address, or turn the proxy off.")
		}
	} else if strings.TrimSpace(f.Get("proxy_host")) != "" {
		hostPort(errs, "proxy_host", "proxy_port", f.Get("proxy_host"), f.Get("proxy_port")) // checked even when off
	} else {
		parsePort(errs, "proxy_port", f.Get("proxy_port")) // a bad port is an error even when off
	}

	if d, ok := parseSeconds(errs, "expires", f.Get("expires"), time.Minute, 24*time.Hour); ok {
		l.RegisterExpires = config.Duration(d)
	}
	switch t := get("transport"); t {
	case "auto":
		l.Transport = ""
	case "udp", "tcp", "tls":
		l.Transport = t
	default:
		errs.add("transport", "Choose UDP, TCP, TLS or Automatic.")
	}
	// The box is read where the line may use TLS (TLS, or Automatic): a
	// form without it for a UDP or TCP line (a script's post) leaves the
	// setting alone.
	if t := get("transport"); t == "tls" || t == "auto" {
		if f.Get("tls_verify") == "on" {
			l.TLSVerify = nil // the default: the file says nothing
		} else {
			off := false
			l.TLSVerify = &off
		}
	}
	switch m := get("srtp"); m {
	case "", "off", "optional", "mandatory":
		l.SRTP = m
	default:
		errs.add("srtp", "Choose off, optional or mandatory.")
	}
	cfg.SIP.TLSCAFile = get("tls_ca_file")
	if cfg.SIP.TLSCAFile != "" {
		if err := checkCAFile(cfg.SIP.TLSCAFile); err != nil {
			errs.add("tls_ca_file", err.Error())
		}
	}
	c1, c2 := get("codec1"), get("codec2")
	for id, c := range map[string]string{"codec1": c1, "codec2": c2} {
		if c != "" && c != "PCMU" && c != "PCMA" {
			errs.add(id, "Choose a codec from the list.")
		}
	}
	switch {
	case c1 == "":
		errs.add("codec1", "Choose a codec.")
	case c2 == c1:
		errs.add("codec2", "Choose a different codec, or none.")
	case c2 == "":
		l.Codecs = []string{c1}
	default:
		l.Codecs = []string{c1, c2}
	}
	l.DTMFMode = get("dtmf_mode")
	if n, err := strconv.Atoi(get("ptime")); err == nil {
		l.Ptime = n
	} else {
		errs.add("ptime", "Choose 10 or 20 ms.")
	}

	cfg.Phone.DialPlan = get("dial_plan")
	checkDialPlan(errs, "dial_plan", cfg.Phone.DialPlan)
	if d, ok := parseSeconds(errs, "keepalive", f.Get("keepalive"), 0, time.Hour); ok {
		cfg.SIP.KeepAlive = config.Duration(d)
	}
	cfg.SIP.KeepAliveMethod = get("keepalive_method")
	cfg.SIP.AcceptProxyOnly = f.Get("accept_proxy_only") == "on"
	// A form (or script) without these fields keeps them as they are.
	if f.Has("stun_server") {
		cfg.SIP.STUNServer = get("stun_server")
	}
	if f.Has("rtp_latching") {
		cfg.SIP.RTPLatching = get("rtp_latching")
	}
	return cfg, errs
}

func checkDialPlan(errs *formErrors, id, plan string) {
	if plan == "" {
		errs.add(id, "Enter a dial plan, e.g. (*xx|xx.T).")
		return
	}
	if _, err := dialplan.Parse(plan); err != nil {
		errs.add(id, sentence(strings.TrimPrefix(err.Error(), "dialplan: ")))
	}
}

// sipKeyMapper shows config errors of line i next to the SIP page's fields.
func sipKeyMapper(i int) keyMapper {
	return func(key, msg string) string {
		switch key {
		case "sip.listen":
			return "local_port"
		case "sip.keepalive":
			return "keepalive"
		case "sip.keepalive_method":
			return "keepalive_method"
		case "phone.dial_plan":
			return "dial_plan"
		case "sip.tls_ca_file":
			return "tls_ca_file"
		case "sip.stun_server":
			return "stun_server"
		case "sip.rtp_latching":
			return "rtp_latching"
		}
		n, name, ok := lineKey(key)
		if !ok || n != i {
			return ""
		}
		switch name {
		case "registrar":
			if strings.Contains(msg, "port") {
				return "server_port"
			}
			return "server_host"
		case "outbound_proxy":
			if strings.Contains(msg, "port") {
				return "proxy_port"
			}
			return "proxy_host"
		case "register_expires":
			return "expires"
		case "codecs":
			return "codec1"
		case "number", "display_name", "voicemail_number", "service_domain", "auth_user", "password", "dtmf_mode", "ptime", "active",
			"transport", "tls_verify", "srtp":
			return name
		}
		return ""
	}
}

func (s *Server) sipView(cfg *config.Config, i int, v url.Values, errs map[string]string) sipData {
	d := sipData{Line: i}
	for n, l := range cfg.Lines {
		d.Tabs = append(d.Tabs, lineTab{Index: n, Label: fmt.Sprintf("Line %d: %s", n+1, l.Number), Active: n == i})
	}
	d.Tabs = append(d.Tabs, lineTab{Index: len(cfg.Lines), Label: "+ Add line", Active: i == len(cfg.Lines)})
	d.Existing = i < len(cfg.Lines)
	passwordSet := i < len(cfg.Lines) && cfg.Lines[i].Password != ""

	text := func(id, label, help string) field {
		return field{ID: id, Label: label, Kind: "text", Value: v.Get(id), Help: help, Err: errs[id]}
	}
	port := func(id, label, help string) field {
		f := text(id, label, help)
		f.Kind, f.InputMode, f.Narrow, f.Pattern, f.Placeholder = "text", "numeric", true, "[0-9]*", "5060"
		return f
	}
	check := func(id, label, help string) field {
		return field{ID: id, Label: label, Kind: "checkbox", Checked: v.Get(id) == "on", Help: help, Err: errs[id]}
	}
	sel := func(id, label, help string, opts ...string) field {
		f := field{ID: id, Label: label, Kind: "select", Help: help, Err: errs[id]}
		for k := 0; k+1 < len(opts); k += 2 {
			f.Options = append(f.Options, option{Value: opts[k], Label: opts[k+1], Selected: v.Get(id) == opts[k]})
		}
		return f
	}
	num := func(id, label, unit, help, lo, hi string) field {
		f := text(id, label, help)
		f.Kind, f.Unit, f.Min, f.Max, f.Narrow = "number", unit, lo, hi, true
		return f
	}

	number := text("number", "SIP Number", "Your telephone number or SIP user name, as your provider gave it: the part before the @ in your SIP address.")
	number.Required, number.AutoComp, number.MaxLen = true, "off", keyMax("line.number")
	domain := text("service_domain", "SIP Service Domain", "The domain of your SIP address, the part after the @ (e.g. voip.example.net). Add :port only if your provider says so.")
	domain.Required, domain.MaxLen = true, keyMax("line.service_domain")
	auth := text("auth_user", "Authentication User Name", "The user name for the password. Leave empty if it is the same as the SIP Number.")
	auth.AutoComp, auth.MaxLen = "off", keyMax("line.auth_user")
	display := text("display_name", "Display Name", "The name people you call see (if their phone and your provider show it). May be empty.")
	display.MaxLen = keyMax("line.display_name")
	voicemail := text("voicemail_number", "Voicemail Number", "Your provider's voicemail number, dialled when you press *98. May be empty.")
	voicemail.MaxLen = keyMax("line.voicemail_number")
	pw := field{ID: "password", Label: "Password", Kind: "password", AutoComp: "new-password", Err: errs["password"], MaxLen: keyMax("line.password"),
		Help: "The password of your SIP account. It is never shown again: leave the field empty to keep it."}
	if passwordSet {
		pw.Placeholder = "unchanged"
	} else {
		pw.Placeholder = "not set"
	}
	rows := []row{{check("active", "Active", "Use this account: it registers and makes and takes calls. Turn it off to keep the settings without using them.")},
		{number},
		{display},
		{auth}, {pw},
		{voicemail}}
	if passwordSet {
		rows = append(rows, row{check("clear_password", "Remove the stored password", "For accounts that need none.")})
	}

	server := text("server_host", "SIP Server Address", "Your provider's SIP server (registrar or proxy) as a name or IP address. Calls and registrations go here. Leave empty to use the SIP Service Domain.")
	server.Placeholder = "same as the service domain"
	register := text("register_host", "REGISTER Server Address", "Where registrations go if your provider names a separate REGISTER server. This firmware sends calls and REGISTER to one server, so leave it empty (it is then the SIP Server).")
	register.Placeholder = "same as the SIP Server"
	proxyHost := text("proxy_host", "Outbound Proxy Address", "A proxy every SIP request goes through first (for example your provider's session border controller). Only if your provider gives one.")
	// The three hosts are the host part of one key each; hostPort checks
	// them against the same limit.
	server.MaxLen, register.MaxLen, proxyHost.MaxLen = config.MaxHost, config.MaxHost, config.MaxHost
	servers := []row{
		{port("local_port", "SIP Local Port", "The UDP port this adapter receives SIP on (all lines share it). 5060 unless your provider or router needs another.")},
		{server, port("server_port", "Port", "Empty: found by DNS (SRV), else 5060.")},
		{register, port("register_port", "Port", "Empty: as for the SIP Server.")},
		{domain},
		{check("proxy_active", "Use an Outbound Proxy", "Send every request through the outbound proxy below.")},
		{proxyHost, port("proxy_port", "Port", "Empty: 5060.")},
	}

	resend := field{ID: "resend", Label: "Register Re-send timer", Kind: "static",
		Value: "Automatic: at 90 % of the expiry the registrar grants; after a failure, 5 s doubling while never registered, then 30 s doubling up to 30 min (20 min after a 403).",
		Help:  "Not adjustable: this is what the firmware does, and it never gives up."}
	registration := []row{
		{num("expires", "Expiration Duration", "s", "How long a registration lasts before it is renewed, in seconds (60 to 86400). The registrar may grant less; 3600 suits most providers.", "60", "86400")},
		{resend},
	}

	media := []row{
		{sel("transport", "Transport", "How SIP messages travel to your provider. UDP is the most common. TCP and TLS keep one connection open, and incoming calls come back over it; TLS encrypts it (your password digest and who you call cannot be read on the way) and checks the provider's certificate. Automatic: TLS where the service domain alone is given and its DNS offers SIP over TLS (_sips._tcp), else UDP. A ;transport= on the server address also chooses.",
			"auto", "Automatic", "udp", "UDP", "tcp", "TCP", "tls", "TLS (encrypted)")},
		{check("tls_verify", "Verify the provider's certificate", "TLS only: check that the server's certificate is valid for the server's name and signed by a trusted authority (the system's, or the CA file under Advanced). Turn it off only for a test server: anyone on the way could then read and change your calls, and the Status page warns about it."),
			sel("srtp", "SRTP (encrypted voice)", "Encrypt the voice (SRTP with SDES keys, which travel safely only over TLS). Optional: encrypt when the far end agrees, else plain RTP. Mandatory: refuse calls without encryption. Default: optional on a TLS line, off otherwise.",
				"", "Default", "off", "Off", "optional", "Optional", "mandatory", "Mandatory")},
		{sel("codec1", "Codec, first choice", "The voice codec offered first. G.711 µ-law (PCMU) is common in North America and Japan, A-law (PCMA) elsewhere.", "PCMU", "G.711 µ-law (PCMU)", "PCMA", "G.711 A-law (PCMA)"),
			sel("codec2", "Second choice", "Offered if the first is refused; none offers only the first.", "", "none", "PCMU", "G.711 µ-law (PCMU)", "PCMA", "G.711 A-law (PCMA)")},
		{sel("dtmf_mode", "DTMF Mode", "How keys you press during a call (voice menus) reach the far end. RFC 4733 (RFC 2833) events suit almost every provider; in-band sends the tones as audio; SIP INFO sends messages.",
			"rfc4733", "RFC 4733 / RFC 2833 events", "inband", "In-band audio", "info", "SIP INFO")},
		{sel("ptime", "Packet Time", "Audio per RTP packet. 20 ms is standard; 10 ms lowers delay a little and doubles the packet rate.", "20", "20 ms", "10", "10 ms")},
	}

	dial := text("dial_plan", "Dial Plan", "Which numbers are complete so the call starts without waiting, e.g. (911|1[2-9]xxxxxxxxx|[2-9]xxxxxxxxx|*xx|xx.T). x is any digit, . repeats, T waits the inter-digit timeout. Shared with the Phone page.")
	dial.AutoComp, dial.MaxLen = "off", keyMax("phone.dial_plan")
	tlsCA := text("tls_ca_file", "TLS CA File", "A file on this adapter (PEM) with the certificate authorities your provider's TLS certificate is signed by, trusted besides the system's. Needed only for a private or self-signed provider certificate. Shared by all lines.")
	tlsCA.MaxLen = 1024
	stun := text("stun_server", "STUN Server", "host or host:port (port 3478 if none) of a STUN server, e.g. stun.example.net. Behind a router that translates addresses (NAT), the adapter asks it for its public address and puts that into its registration and calls, for providers that do not see through the NAT themselves. Empty: none. Shared by all lines.")
	stun.MaxLen = keyMax("sip.stun_server")
	advanced := []row{
		{dial},
		{num("keepalive", "NAT Keep-alive Interval", "s", "How often a small packet goes to the server so your router keeps the way back open for incoming calls; 0 turns it off. 30 s suits most routers.", "0", "3600"),
			sel("keepalive_method", "Keep-alive Packet", "A double CRLF is smallest; OPTIONS is a full SIP request for servers that want one.", "crlf", "CRLF", "options", "SIP OPTIONS")},
		{tlsCA},
		{check("accept_proxy_only", "Accept SIP from proxy only", "Ignore SIP requests that do not come from your registrar or outbound proxy, so internet SIP scanners cannot ring your phone. Shared by all lines.")},
		{stun, sel("rtp_latching", "RTP Latching", "Where the call's voice is sent when the far end's packets come from another address than it announced. Automatic: to where they come from only when the announced address is a private (LAN) one, as a far end behind a NAT gives; Always: to where they come from; Never: always to the announced address. Either way only the far end's own stream is played, never another source's. Shared by all lines.",
			"auto", "Automatic", "always", "Always", "never", "Never")},
	}
	d.Sections = []section{
		{ID: "account", Legend: "Account", Rows: rows},
		{ID: "servers", Legend: "Servers", Rows: servers},
		{ID: "registration", Legend: "Registration", Rows: registration},
		{ID: "media", Legend: "Voice", Rows: media},
		{ID: "advanced", Legend: "Advanced", Rows: advanced, Advanced: true},
	}
	return d
}

// formTransport is the Transport choice of l: its transport key, else a
// ;transport= on its servers, else Automatic.
func formTransport(l config.Line) string {
	if l.Transport != "" {
		return l.Transport
	}
	for _, v := range []string{l.OutboundProxy, l.Registrar} {
		if _, t, err := config.SplitTransportParam(v); err == nil && t != "" {
			return t
		}
	}
	return "auto"
}

// checkCAFile reads a CA file as the SIP stack will: a PEM file with at
// least one certificate.
func checkCAFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("Cannot read %s: %v.", path, errors.Unwrap(err))
	}
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		return fmt.Errorf("%s holds no PEM certificate (-----BEGIN CERTIFICATE-----).", path)
	}
	return nil
}
