package webui

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// metrics serves Prometheus text format 0.0.4. It needs a session unless
// Options.MetricsPublic or the config's web.metrics_public opens it.
//
//	ata_build_info{version}              1
//	ata_uptime_seconds                   gauge
//	ata_line_registered{number,domain}   1 when registered
//	ata_line_state{number,domain,state}  1 for the line's current state
//	ata_line_keepalive_misses_total{number,domain}         counter
//	ata_line_flow_failures_total{number,domain}            counter: provider stopped answering
//	ata_line_reregistrations_total{number,domain,cause}    counter
//	ata_line_messages_waiting{line}      1 while the line's voicemail has messages
//	ata_line_new_messages{line}          gauge: new voice messages
//	ata_line_mwi_subscribed{line}        1 while the message-waiting subscription is current
//	ata_hook_off                         1 while the handset is lifted
//	ata_calls_total                      counter: calls ended since start
//	ata_call_active                      1 during a call
//	ata_calls_active                     gauge: calls of the port (active, held, waiting, ...)
//	ata_calls{role}                      gauge: calls of the port in each role
//	ata_call_rtp_loss_ratio              current call, 0..1
//	ata_call_rtp_jitter_seconds          current call
//	ata_call_rtt_seconds                 current call, round trip from RTCP (once reported)
//	ata_call_mos                         current call, E-model estimate
//	ata_router_*                         router mode (see routerMetrics)
//	ata_syslog_*, ata_provisioning_*     remote syslog and provisioning (see systemMetrics)
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if !s.metricsPublic() {
		if !s.admin.isSet() {
			http.Error(w, "set the admin password first", http.StatusForbidden)
			return
		}
		if s.session(r, false) == nil {
			w.Header().Set("WWW-Authenticate", `Cookie realm="openata"`)
			http.Error(w, "log in first (or set web.metrics_public)", http.StatusUnauthorized)
			return
		}
	}
	st := s.b.Status()
	var b strings.Builder
	metric := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	bool01 := func(v bool) int {
		if v {
			return 1
		}
		return 0
	}
	metric("ata_build_info", "gauge", "Firmware version.")
	fmt.Fprintf(&b, "ata_build_info{version=\"%s\"} 1\n", labelValue(s.opt.Version))
	metric("ata_uptime_seconds", "gauge", "Seconds since the firmware started.")
	fmt.Fprintf(&b, "ata_uptime_seconds %g\n", st.Uptime.Seconds())
	metric("ata_line_registered", "gauge", "1 when the SIP line is registered.")
	for _, l := range st.Lines {
		fmt.Fprintf(&b, "ata_line_registered{number=\"%s\",domain=\"%s\"} %d\n", labelValue(l.Number), labelValue(l.Domain), bool01(l.State == LineRegistered))
	}
	metric("ata_line_state", "gauge", "1 for the SIP line's current registration state.")
	for _, l := range st.Lines {
		for _, state := range []string{LineRegistered, LineRegistering, LineFailing, LineInactive} {
			fmt.Fprintf(&b, "ata_line_state{number=\"%s\",domain=\"%s\",state=\"%s\"} %d\n", labelValue(l.Number), labelValue(l.Domain), state, bool01(l.State == state))
		}
	}
	metric("ata_line_keepalive_misses_total", "counter", "Keep-alives the provider did not answer.")
	for _, l := range st.Lines {
		fmt.Fprintf(&b, "ata_line_keepalive_misses_total{number=\"%s\",domain=\"%s\"} %d\n", labelValue(l.Number), labelValue(l.Domain), l.KeepAliveMisses)
	}
	metric("ata_line_flow_failures_total", "counter", "Times the provider stopped answering (keepalive_misses reached or REGISTER unanswered).")
	for _, l := range st.Lines {
		fmt.Fprintf(&b, "ata_line_flow_failures_total{number=\"%s\",domain=\"%s\"} %d\n", labelValue(l.Number), labelValue(l.Domain), l.FlowFailures)
	}
	metric("ata_line_reregistrations_total", "counter", "REGISTERs sent again, by cause.")
	for _, l := range st.Lines {
		causes := slices.Sorted(maps.Keys(l.ReRegistrations))
		for _, cause := range causes {
			fmt.Fprintf(&b, "ata_line_reregistrations_total{number=\"%s\",domain=\"%s\",cause=\"%s\"} %d\n", labelValue(l.Number), labelValue(l.Domain), labelValue(cause), l.ReRegistrations[cause])
		}
	}
	metric("ata_line_messages_waiting", "gauge", "1 while the SIP line's voicemail has messages waiting.")
	for _, l := range st.Lines {
		fmt.Fprintf(&b, "ata_line_messages_waiting{line=\"%s\"} %d\n", labelValue(l.Number), bool01(l.MessagesWaiting))
	}
	metric("ata_line_new_messages", "gauge", "New voice messages on the SIP line's voicemail.")
	for _, l := range st.Lines {
		fmt.Fprintf(&b, "ata_line_new_messages{line=\"%s\"} %d\n", labelValue(l.Number), l.NewMessages)
	}
	metric("ata_line_mwi_subscribed", "gauge", "1 while the SIP line's message-waiting subscription is current.")
	for _, l := range st.Lines {
		fmt.Fprintf(&b, "ata_line_mwi_subscribed{line=\"%s\"} %d\n", labelValue(l.Number), bool01(l.MWISubscribed))
	}
	metric("ata_hook_off", "gauge", "1 while the handset is off hook.")
	fmt.Fprintf(&b, "ata_hook_off %d\n", bool01(st.Hook == "off"))
	metric("ata_calls_total", "counter", "Calls ended since the firmware started.")
	fmt.Fprintf(&b, "ata_calls_total %d\n", st.CallsTotal)
	metric("ata_audio_xruns_total", "counter", "Sound card overruns and underruns since the firmware started.")
	fmt.Fprintf(&b, "ata_audio_xruns_total %d\n", st.AudioXRuns)
	metric("ata_call_active", "gauge", "1 during a call.")
	calls := statusCalls(st)
	fmt.Fprintf(&b, "ata_call_active %d\n", bool01(len(calls) > 0))
	metric("ata_calls_active", "gauge", "Calls of the port: active, held, waiting, ringing, dialing or in conference.")
	fmt.Fprintf(&b, "ata_calls_active %d\n", len(calls))
	metric("ata_calls", "gauge", "Calls of the port in each role.")
	roles := slices.Clone(callRoles)
	for _, c := range calls {
		if c.Role != "" && !slices.Contains(roles, c.Role) {
			roles = append(roles, c.Role)
		}
	}
	for _, role := range roles {
		n := 0
		for _, c := range calls {
			if c.Role == role {
				n++
			}
		}
		fmt.Fprintf(&b, "ata_calls{role=\"%s\"} %d\n", labelValue(role), n)
	}
	if len(calls) > 0 {
		c := calls[0]
		metric("ata_call_rtp_loss_ratio", "gauge", "Fraction of the far end's RTP packets lost in the current call.")
		fmt.Fprintf(&b, "ata_call_rtp_loss_ratio %g\n", c.Loss)
		metric("ata_call_rtp_jitter_seconds", "gauge", "RTP interarrival jitter of the current call.")
		fmt.Fprintf(&b, "ata_call_rtp_jitter_seconds %g\n", c.JitterMS/1000)
		if c.RTTMS > 0 { // none until the far end's RTCP reports on our stream
			metric("ata_call_rtt_seconds", "gauge", "Round trip time of the current call, from RTCP.")
			fmt.Fprintf(&b, "ata_call_rtt_seconds %g\n", c.RTTMS/1000)
		}
		metric("ata_call_mos", "gauge", "E-model MOS estimate of the current call.")
		fmt.Fprintf(&b, "ata_call_mos %g\n", c.MOS)
		if c.Echo != "" {
			metric("ata_echo_erl_db", "gauge", "Echo return loss of the line (earpiece to mouthpiece) in the current call, dB.")
			fmt.Fprintf(&b, "ata_echo_erl_db %g\n", c.EchoERL)
			metric("ata_echo_erle_db", "gauge", "What the line echo canceller takes off the echo in the current call, dB.")
			fmt.Fprintf(&b, "ata_echo_erle_db %g\n", c.EchoERLE)
		}
		metric("ata_call_pass_through", "gauge", "1 when the current call went to fax/modem pass-through.")
		fmt.Fprintf(&b, "ata_call_pass_through %d\n", map[bool]int{true: 1}[c.PassThrough])
		metric("ata_call_srtp", "gauge", "1 when the current call's media is encrypted (SRTP).")
		fmt.Fprintf(&b, "ata_call_srtp %d\n", map[bool]int{true: 1}[c.SRTP])
	}
	routerMetrics(&b, st.Router)
	systemMetrics(&b, st) // system.go: syslog and provisioning
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write([]byte(b.String()))
}

func (s *Server) metricsPublic() bool {
	if s.opt.MetricsPublic {
		return true
	}
	cfg := s.b.Config()
	return cfg != nil && cfg.Web.MetricsPublic
}

// labelValue escapes a Prometheus label value.
func labelValue(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

// apiSession answers GET /api/session with the CSRF token a script sends
// in X-CSRF-Token, and when the session ends at the latest. Same-origin
// policy keeps other sites from reading it.
func (s *Server) apiSession(w http.ResponseWriter, r *http.Request, ss *session) {
	writeJSON(w, http.StatusOK, map[string]any{
		"csrf_token": ss.csrf,
		"expires":    ss.created.Add(SessionAbsolute).UTC().Format(time.RFC3339),
		"idle_s":     int(SessionIdle / time.Second),
	})
}
