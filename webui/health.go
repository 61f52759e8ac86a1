package webui

import (
	"net"
	"net/http"
	"strings"
	"time"
)

// Problem is a setting the firmware could not use as configured, and
// what runs instead; the status page lists them.
type Problem struct {
	Key string `json:"key"` // config key: "sip.listen", "line[1].codecs", "config" for a whole file
	Msg string `json:"message"`
	Fix string `json:"instead,omitempty"`
}

// PendingChange is a change of the web or SIP address that was applied
// and rolls back at Deadline unless the web UI is reached again through
// the confirm address (LuCI's apply, check and roll back).
type PendingChange struct {
	Keys     []string  // "web.listen", "sip.listen"
	Deadline time.Time // when it rolls back
	Token    string    // the secret part of the confirm address
	WebAddr  string    // the new web address as bound; "" when the web address did not change
}

// ConfirmURL is where a browser (or script) that reached the page at
// host confirms the change: the new web address when it moved, this one
// otherwise. An unspecified new host (":80", "0.0.0.0:80") keeps the host
// name the browser used. Without a host (a live update) the address is
// relative when the web address did not move.
func (p *PendingChange) ConfirmURL(host string) string {
	if host == "" && p.WebAddr == "" {
		return "/confirm/" + p.Token
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if p.WebAddr != "" {
		h, port, err := net.SplitHostPort(p.WebAddr)
		if err == nil {
			if ip := net.ParseIP(h); h == "" || ip != nil && ip.IsUnspecified() {
				if bh, _, err := net.SplitHostPort(host); err == nil {
					h = bh
				} else {
					h = host
				}
			}
			host = net.JoinHostPort(strings.Trim(h, "[]"), port)
		}
	}
	return "http://" + host + "/confirm/" + p.Token
}

// confirm is GET /confirm/{token}: the first request that reaches the
// firmware at its new address after a change. The token (128 random
// bits, shown only to the logged-in admin) is the credential, so no
// session is needed: cookies may not follow a change of host.
func (s *Server) confirm(w http.ResponseWriter, r *http.Request) {
	if !s.b.Confirm(r.PathValue("token")) {
		s.renderError(w, http.StatusNotFound, "Nothing waits to be confirmed here: the change was already confirmed or has rolled back.")
		return
	}
	s.log.Info("webui: address change confirmed", "remote", r.RemoteAddr)
	http.Redirect(w, r, "/?confirmed=1", http.StatusSeeOther)
}

// savedMessage is what a page says after a save: applied, waiting for a
// restart, or applied until confirmed.
func (s *Server) savedMessage(applied string) string {
	st := s.b.Status()
	msg := applied
	if len(st.RestartNeeded) > 0 {
		msg = "Saved. " + strings.Join(st.RestartNeeded, ", ") + " take effect after a restart (Restart on the Status page)."
	}
	return msg
}

// afterSave redirects a page's save to the confirm address when the save
// changed an address (the browser reaching it confirms the change), else
// to next.
func (s *Server) afterSave(w http.ResponseWriter, r *http.Request, next string) {
	if p := s.b.Status().Pending; p != nil {
		http.Redirect(w, r, p.ConfirmURL(r.Host), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}
