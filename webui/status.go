package webui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// StatusJSON is the body of GET /api/status and of each "status" event of
// GET /api/events. Times are RFC 3339; *_in_s fields count from "time".
type StatusJSON struct {
	Time       time.Time        `json:"time"`
	Version    string           `json:"version"`
	Board      string           `json:"board"`
	UptimeS    int64            `json:"uptime_s"`
	Addresses  []string         `json:"addresses"`
	Hook       string           `json:"hook"`
	Phone      string           `json:"phone"`
	Lines      []LineStatusJSON `json:"lines"`
	Call       *CallStatusJSON  `json:"call"`  // the current call (calls[0]) or null; kept for older clients
	Calls      []CallStatusJSON `json:"calls"` // every call of the port, the current one first; never null
	CallsTotal uint64           `json:"calls_total"`
	AudioXRuns uint64           `json:"audio_xruns"`
	// Problems: settings that could not be used as configured and what
	// runs instead (never null); RestartNeeded: saved keys that take
	// effect after a restart; ConfigFile: the file in force ("" for the
	// built-in default) and ConfigNote why; SavesTo: where saves go.
	Problems      []Problem    `json:"problems"`
	RestartNeeded []string     `json:"restart_needed"`
	ConfigFile    string       `json:"config_file"`
	ConfigNote    string       `json:"config_note,omitempty"`
	SavesTo       string       `json:"saves_to"`
	Pending       *PendingJSON `json:"pending"` // a change of address to confirm, or null
	// Router: router mode's users and calls; null when it is off.
	Router *RouterStatusJSON `json:"router"`
	// Provisioning: the last fetch of the provisioning document (null
	// without a URL); System: time zone and syslog (system.go).
	Provisioning *ProvisioningJSON `json:"provisioning"`
	System       *SystemJSON       `json:"system"`
	// Update: both firmware slots, the running one, an update on trial
	// and how the last ended (maintenance_update.go); null without an
	// A/B card.
	Update *UpdateStatus `json:"update"`
}

// PendingJSON is a change of address that rolls back at Deadline unless
// ConfirmURL is fetched (a browser following it confirms the change).
type PendingJSON struct {
	Keys         []string  `json:"keys"`
	Deadline     time.Time `json:"deadline"`
	RollsBackInS int64     `json:"rolls_back_in_s"`
	ConfirmURL   string    `json:"confirm_url"`
}

type LineStatusJSON struct {
	Number     string     `json:"number"`
	Domain     string     `json:"domain"`
	State      string     `json:"state"`
	LastError  string     `json:"last_error,omitempty"`
	NextRetry  *time.Time `json:"next_retry,omitempty"`
	RetryInS   int64      `json:"next_retry_in_s,omitempty"`
	Expires    *time.Time `json:"expires,omitempty"`
	ExpiresInS int64      `json:"expires_in_s,omitempty"`
	// NotAnsweringSince: the provider has not answered since then;
	// LastRegistered and LastKeepAliveAnswer, with their ages in seconds.
	NotAnsweringSince   *time.Time `json:"not_answering_since,omitempty"`
	LastRegistered      *time.Time `json:"last_registered,omitempty"`
	LastRegisteredAgoS  int64      `json:"last_registered_ago_s,omitempty"`
	LastKeepAliveAnswer *time.Time `json:"last_keepalive_answer,omitempty"`
	LastKeepAliveAgoS   int64      `json:"last_keepalive_answer_ago_s,omitempty"`
	notAnsweringForS    int64
	// Message waiting: the voicemail has messages (new_messages and
	// old_messages count them); mwi_subscribed: the subscription is
	// current; mwi_error: why the last SUBSCRIBE failed. Messages says the
	// counts in words ("2 new voice messages", "No messages"); Voicemail
	// the subscription ("voicemail: subscribed", "voicemail: 404 Not Found").
	MessagesWaiting bool   `json:"messages_waiting"`
	NewMessages     int    `json:"new_messages"`
	OldMessages     int    `json:"old_messages"`
	MWISubscribed   bool   `json:"mwi_subscribed"`
	MWIError        string `json:"mwi_error,omitempty"`
	Messages        string `json:"messages,omitempty"` // "" while nothing is known (not subscribed, no NOTIFY)
	Voicemail       string `json:"voicemail,omitempty"`
	// Label is the state in a word ("Registered", "Failing"); Detail says
	// why and when next ("403 Forbidden, next try in 16:57"); Text joins them.
	Label  string `json:"label"`
	Detail string `json:"detail,omitempty"`
	Text   string `json:"text"`

	// Transport is udp, tcp or tls; a TLS line adds the version and the
	// provider certificate's subject, and tls_unverified where its
	// certificate is not checked (tls_verify = false). Security says it
	// in words.
	Transport     string `json:"transport,omitempty"`
	TLSVersion    string `json:"tls_version,omitempty"`
	TLSPeer       string `json:"tls_peer,omitempty"`
	TLSUnverified bool   `json:"tls_unverified,omitempty"`
	Security      string `json:"security,omitempty"`
}

type CallStatusJSON struct {
	Number    string `json:"number"`
	Name      string `json:"name,omitempty"`
	Direction string `json:"direction"`
	// Role is what the call is to the port: "active", "held", "waiting",
	// "ringing", "dialing" or "conference"; Label says it in words ("On
	// hold"). FarHeld: the far end holds us.
	Role      string    `json:"role"`
	Label     string    `json:"label"`
	FarHeld   bool      `json:"far_held"`
	Since     time.Time `json:"since"`
	DurationS int64     `json:"duration_s"`
	Codec     string    `json:"codec"`
	Loss      float64   `json:"loss"`
	JitterMS  float64   `json:"jitter_ms"`
	RTTMS     float64   `json:"rtt_ms"` // round trip from RTCP; 0 until the far end reports one
	MOS       float64   `json:"mos"`
	// Echo: the line echo canceller in words; its ERL and ERLE in dB;
	// PassThrough: the call went to fax/modem pass-through.
	Echo        string  `json:"echo,omitempty"`
	EchoERL     float64 `json:"echo_erl_db"`
	EchoERLE    float64 `json:"echo_erle_db"`
	PassThrough bool    `json:"pass_through"`
	// SRTP: the call's media is encrypted.
	SRTP bool `json:"srtp"`
}

func (s *Server) statusJSON() StatusJSON {
	st := s.b.Status()
	now := s.now()
	out := StatusJSON{
		Time: now.UTC(), Version: s.opt.Version, Board: st.Board, UptimeS: int64(st.Uptime / time.Second),
		Addresses: st.Addresses, Hook: st.Hook, Phone: st.Phone, CallsTotal: st.CallsTotal,
		AudioXRuns: st.AudioXRuns,
		Lines:      make([]LineStatusJSON, 0, len(st.Lines)),
	}
	if out.Addresses == nil {
		out.Addresses = []string{}
	}
	for _, l := range st.Lines {
		j := LineStatusJSON{Number: l.Number, Domain: l.Domain, State: l.State, LastError: l.LastError,
			Transport: l.Transport, TLSVersion: l.TLSVersion, TLSPeer: l.TLSPeer, TLSUnverified: l.TLSUnverified,
			MessagesWaiting: l.MessagesWaiting, NewMessages: l.NewMessages, OldMessages: l.OldMessages,
			MWISubscribed: l.MWISubscribed, MWIError: l.MWIError}
		if !l.NextRetry.IsZero() {
			t := l.NextRetry.UTC()
			j.NextRetry, j.RetryInS = &t, max(0, int64(l.NextRetry.Sub(now).Round(time.Second)/time.Second))
		}
		if !l.Expires.IsZero() {
			t := l.Expires.UTC()
			j.Expires, j.ExpiresInS = &t, max(0, int64(l.Expires.Sub(now).Round(time.Second)/time.Second))
		}
		ago := func(at time.Time) (*time.Time, int64) {
			if at.IsZero() {
				return nil, 0
			}
			t := at.UTC()
			return &t, max(0, int64(now.Sub(at).Round(time.Second)/time.Second))
		}
		j.NotAnsweringSince, j.notAnsweringForS = ago(l.NotAnsweringSince)
		j.LastRegistered, j.LastRegisteredAgoS = ago(l.LastRegistered)
		j.LastKeepAliveAnswer, j.LastKeepAliveAgoS = ago(l.LastKeepAliveAnswer)
		lineText(&j)
		out.Lines = append(out.Lines, j)
	}
	calls := statusCalls(st)
	out.Calls = make([]CallStatusJSON, 0, len(calls))
	for _, c := range calls {
		out.Calls = append(out.Calls, CallStatusJSON{
			Number: c.Number, Name: c.Name, Direction: c.Direction, Role: c.Role, Label: roleLabel(c.Role), FarHeld: c.FarHeld,
			Since: c.Since.UTC(), DurationS: max(0, int64(now.Sub(c.Since)/time.Second)),
			Codec: c.Codec, Loss: c.Loss, JitterMS: c.JitterMS, RTTMS: c.RTTMS, MOS: c.MOS,
			Echo: c.Echo, EchoERL: c.EchoERL, EchoERLE: c.EchoERLE, PassThrough: c.PassThrough, SRTP: c.SRTP,
		})
	}
	if len(out.Calls) > 0 {
		c := out.Calls[0]
		out.Call = &c
	}
	out.Problems = append([]Problem{}, st.Problems...)
	out.RestartNeeded = append([]string{}, st.RestartNeeded...)
	out.ConfigFile, out.ConfigNote, out.SavesTo = st.ConfigFile, st.ConfigNote, st.SavesTo
	out.Router = routerJSON(st.Router, now)
	out.Provisioning, out.System = provisioningJSON(st.Provisioning), systemJSON(st.System)
	out.Update = s.updateStatusJSON()
	if p := st.Pending; p != nil {
		out.Pending = &PendingJSON{Keys: p.Keys, Deadline: p.Deadline.UTC(),
			RollsBackInS: max(0, int64(p.Deadline.Sub(now)/time.Second)), ConfirmURL: p.ConfirmURL("")}
	}
	return out
}

// statusCalls is every call of st, the current one first. A backend that
// sets only Status.Call (one call at a time) has that one call.
func statusCalls(st Status) []CallStatus {
	if len(st.Calls) == 0 && st.Call != nil {
		return []CallStatus{*st.Call}
	}
	return st.Calls
}

// callRoles are the roles a call can have, in the order /metrics lists them.
var callRoles = []string{"active", "held", "waiting", "ringing", "dialing", "conference"}

// roleLabel puts a call's role in words.
func roleLabel(role string) string {
	switch role {
	case "active":
		return "Active"
	case "held":
		return "On hold"
	case "waiting":
		return "Waiting"
	case "ringing":
		return "Ringing"
	case "dialing":
		return "Dialing"
	case "conference":
		return "Conference"
	case "":
		return "Call"
	}
	return role
}

// lineText puts a line's state in words.
func lineText(l *LineStatusJSON) {
	l.Label = map[string]string{LineRegistered: "Registered", LineRegistering: "Registering…",
		LineInactive: "Inactive", LineFailing: "Failing"}[l.State]
	if l.Label == "" {
		l.Label = l.State
	}
	var detail []string
	secs := func(s int64) string { return formatDuration(time.Duration(s) * time.Second) }
	if l.NotAnsweringSince != nil {
		detail = append(detail, "provider not answering since "+l.NotAnsweringSince.Format("15:04:05")+" UTC ("+secs(l.notAnsweringForS)+")")
	} else if l.LastError != "" {
		detail = append(detail, l.LastError)
	}
	if l.NextRetry != nil {
		detail = append(detail, "next try in "+secs(l.RetryInS))
	}
	if l.LastRegistered != nil {
		detail = append(detail, "registered "+secs(l.LastRegisteredAgoS)+" ago")
	}
	if l.LastKeepAliveAnswer != nil {
		detail = append(detail, "keep-alive answered "+secs(l.LastKeepAliveAgoS)+" ago")
	}
	if l.MWISubscribed || l.MessagesWaiting || l.NewMessages > 0 {
		l.Messages = messagesText(l.MessagesWaiting, l.NewMessages)
	}
	switch {
	case l.MWIError != "":
		l.Voicemail = "voicemail: " + l.MWIError
	case l.MWISubscribed:
		l.Voicemail = "voicemail: subscribed"
	}
	if l.Voicemail != "" {
		detail = append(detail, l.Voicemail)
	}
	l.Security = transportText(l)
	l.Detail = strings.Join(detail, ", ")
	l.Text = l.Label
	if l.Detail != "" {
		l.Text += ": " + l.Detail
	}
}

// messagesText puts a line's message waiting in words: the new voice
// messages, or that some wait when the voicemail gives no count.
func messagesText(waiting bool, n int) string {
	switch {
	case n == 1:
		return "1 new voice message"
	case n > 1:
		return fmt.Sprintf("%d new voice messages", n)
	case waiting:
		return "New voice messages"
	}
	return "No messages"
}

// statusPageData is the status and what only the page has: whether the
// restart's in-page confirmation is open.
type statusPageData struct {
	StatusJSON
	ConfirmRestart bool
}

func (s *Server) statusPage(w http.ResponseWriter, r *http.Request, ss *session) {
	d := statusPageData{StatusJSON: s.statusFor(r), ConfirmRestart: r.URL.Query().Get("confirm") == "restart"}
	s.renderPage(w, http.StatusOK, "status", ss, view{Title: "Status", Nav: "status", Page: d})
}

func (s *Server) apiStatus(w http.ResponseWriter, r *http.Request, ss *session) {
	writeJSON(w, http.StatusOK, s.statusFor(r))
}

// statusFor is the status with the confirm address as the browser that
// asked can reach it.
func (s *Server) statusFor(r *http.Request) StatusJSON {
	out := s.statusJSON()
	if out.Pending != nil {
		if p := s.b.Status().Pending; p != nil {
			out.Pending.ConfirmURL = p.ConfirmURL(r.Host)
		}
	}
	return out
}

// sseHeartbeat keeps proxies and NAT from dropping an idle event stream and
// notices a session that ended.
const sseHeartbeat = 20 * time.Second

// apiEvents streams the status as server-sent events: one "status" event at
// once and one after every tick of Backend.Changes (the backend ticks at
// least every 2 s while calls are up, for their figures). When the session ends
// it sends a "logout" event and closes.
func (s *Server) apiEvents(w http.ResponseWriter, r *http.Request, ss *session) {
	ch, unsubscribe := s.b.Changes()
	defer unsubscribe()
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{}) // a long-lived stream outlives the server's write timeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func() bool {
		if s.sessions.get(ss.id, s.now(), false) == nil {
			fmt.Fprint(w, "event: logout\ndata: {}\n\n")
			rc.Flush()
			return false
		}
		data, err := json.Marshal(s.statusJSON())
		if err != nil {
			return false
		}
		fmt.Fprintf(w, "event: status\ndata: %s\n\n", data)
		return rc.Flush() == nil
	}
	if !send() {
		return
	}
	heartbeat := time.NewTicker(sseHeartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case _, ok := <-ch:
			if !ok || !send() {
				return
			}
		case <-heartbeat.C:
			if s.sessions.get(ss.id, s.now(), false) == nil {
				send()
				return
			}
			fmt.Fprint(w, ": keep-alive\n\n")
			if rc.Flush() != nil {
				return
			}
		}
	}
}

// transportText says how a line reaches its provider: "TLS 1.3,
// certificate CN=sip.example.net" (and a warning where the certificate is
// not checked), "TCP"; "" for UDP, the default.
func transportText(l *LineStatusJSON) string {
	switch l.Transport {
	case "tls":
		t := "TLS"
		if l.TLSVersion != "" {
			t = l.TLSVersion
		}
		if l.TLSPeer != "" {
			t += ", certificate " + l.TLSPeer
		}
		if l.TLSUnverified {
			t += " — NOT VERIFIED (tls_verify = false): anyone on the path can read and change this line's calls"
		}
		return t
	case "tcp":
		return "TCP"
	}
	return ""
}
