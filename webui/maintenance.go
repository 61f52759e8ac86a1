package webui

import (
	"bytes"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/openata/ata/config"
)

// CallsPerPage is the call log page size.
const CallsPerPage = 25

type callsData struct {
	Calls      []callRow
	Page, Last int
	Total      int
	From, To   int
	Err        string
}

func (s *Server) callsPage(w http.ResponseWriter, r *http.Request, ss *session) {
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	page = max(page, 1)
	d := callsData{Page: page}
	calls, total, err := s.b.CallLog((page-1)*CallsPerPage, CallsPerPage)
	if err != nil {
		d.Err = "The call log could not be read: " + err.Error()
	}
	d.Total = total
	for _, c := range calls {
		d.Calls = append(d.Calls, newCallRow(c))
	}
	d.Last = max(1, (total+CallsPerPage-1)/CallsPerPage)
	if len(calls) > 0 {
		d.From, d.To = (page-1)*CallsPerPage+1, (page-1)*CallsPerPage+len(calls)
	}
	s.renderPage(w, http.StatusOK, "calls", ss, view{Title: "Call Log", Nav: "calls", Page: d})
}

// LogViewLines is how many firmware log lines the maintenance page shows.
const LogViewLines = 200

type maintenanceData struct {
	Capture   CaptureStatus
	Log       []string
	MinLen    int
	Errs      map[string]string // field id → message
	UploadErr string
	// UploadLimit is MaxConfigUpload in words ("1 MB").
	UploadLimit string
	PasswordOK  bool
	// Confirm is the in-page confirmation shown open: "restart", "reset"
	// or "" (see confirmStep).
	Confirm string
	// Update is the firmware update state (maintenance_update.go).
	Update UpdateStatus
}

func (s *Server) maintenanceView(errs map[string]string, uploadErr string) maintenanceData {
	// LogLines gives the oldest first; the page shows the newest on top,
	// where a look after something went wrong starts.
	log := slices.Clone(s.b.LogLines(LogViewLines))
	slices.Reverse(log)
	d := maintenanceData{Capture: s.b.CaptureStatus(), Log: log, MinLen: MinPasswordLen,
		Errs: errs, UploadErr: uploadErr, UploadLimit: formatMB(MaxConfigUpload), Update: s.updateView()}
	if errs["reset_password"] != "" {
		d.Confirm = "reset" // the password is asked in the confirmation
	}
	return d
}

func (s *Server) maintenancePage(w http.ResponseWriter, r *http.Request, ss *session) {
	d := s.maintenanceView(nil, "")
	if c := r.URL.Query().Get("confirm"); c == "restart" || c == "reset" {
		d.Confirm = c
	}
	s.renderPage(w, http.StatusOK, "maintenance", ss, view{Title: "Maintenance", Nav: "maintenance", Page: d})
}

// confirmStep is the first step of a restart or a factory reset: a post
// without confirm=1 (the first button, or a crafted single request) acts
// not, and leads to the page with the in-page confirmation open. It
// reports whether it answered.
func confirmStep(w http.ResponseWriter, r *http.Request, which string) bool {
	if r.PostFormValue("confirm") == "1" {
		return false
	}
	to := "/maintenance?confirm=" + which + "#confirm-" + which
	if which == "restart" && r.PostFormValue("from") == "status" {
		to = "/?confirm=restart#confirm-restart"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return true
}

func (s *Server) maintenanceError(w http.ResponseWriter, ss *session, status int, msg string, errs map[string]string, uploadErr string) {
	s.renderPage(w, status, "maintenance", ss, view{Title: "Maintenance", Nav: "maintenance", Error: msg,
		Page: s.maintenanceView(errs, uploadErr)})
}

func (s *Server) done(w http.ResponseWriter, r *http.Request, ss *session, msg string) {
	s.sessions.setFlash(ss, msg)
	http.Redirect(w, r, "/maintenance", http.StatusSeeOther)
}

// changePassword checks the current password (under the login throttle)
// and the new one; on success every session ends and ss is replaced.
// It returns field errors by id: current, new, confirm.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, current, next, confirm string) (map[string]string, int) {
	if ok, msg := s.checkPassword(w, r, current, true); !ok {
		status := http.StatusUnauthorized
		if w.Header().Get("Retry-After") != "" {
			status = http.StatusTooManyRequests
		}
		return map[string]string{"current": strings.Replace(msg, "Wrong user name or password.", "Wrong password.", 1)}, status
	}
	if msg := checkNewPassword(next); msg != "" {
		return map[string]string{"new": msg}, http.StatusUnprocessableEntity
	}
	if next != confirm {
		return map[string]string{"confirm": "The two passwords differ."}, http.StatusUnprocessableEntity
	}
	if err := s.admin.set(next, s.now(), false); err != nil {
		s.log.Error("webui: change password", "err", err)
		return map[string]string{"new": "The password could not be saved: " + err.Error()}, http.StatusInternalServerError
	}
	s.logf(r, "admin password changed")
	s.sessions.deleteAll() // other browsers logged in with the old password are out
	return nil, http.StatusOK
}

func (s *Server) passwordPost(w http.ResponseWriter, r *http.Request, ss *session) {
	errs, status := s.changePassword(w, r, r.PostFormValue("current"), r.PostFormValue("new"), r.PostFormValue("confirm"))
	if errs != nil {
		s.maintenanceError(w, ss, status, "The password was not changed.", errs, "")
		return
	}
	ns := s.startSession(w, r)
	s.sessions.setFlash(ns, "Password changed. Other sessions were logged out.")
	http.Redirect(w, r, "/maintenance", http.StatusSeeOther)
}

// configDownload sends the running configuration as TOML, passwords
// included: it is a backup that restores the device.
func (s *Server) configDownload(w http.ResponseWriter, r *http.Request, ss *session) {
	data, err := config.Marshal(s.b.Config())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/toml; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="ata-config.toml"`)
	w.Write(data)
}

// configUpload replaces the configuration with an uploaded file after
// config.Parse accepts it and the backend's Apply validates it. readBody
// has read the file (or measured one over MaxConfigUpload).
func (s *Server) configUpload(w http.ResponseWriter, r *http.Request, ss *session) {
	up := uploaded(r, "config")
	if up == nil || (up.Name == "" && up.Size == 0) {
		s.maintenanceError(w, ss, http.StatusBadRequest, "Choose a configuration file to upload.", nil, "Choose a file.")
		return
	}
	if up.TooBig {
		s.maintenanceError(w, ss, http.StatusRequestEntityTooLarge, "Nothing was replaced.", nil, tooBigMessage(up.Size))
		return
	}
	name := up.Name
	if name == "" {
		name = "the file"
	}
	if msg := s.replaceConfig(r, name, up.Data); msg != "" {
		s.maintenanceError(w, ss, http.StatusUnprocessableEntity, "Nothing was replaced: the uploaded configuration is invalid.", nil, msg)
		return
	}
	s.logf(r, "configuration uploaded", "file", up.Name)
	s.sessions.setFlash(ss, s.savedMessage("Configuration uploaded, saved and applied."))
	s.afterSave(w, r, "/maintenance")
}

// replaceConfig parses and applies an uploaded file; it returns what was
// wrong, or "".
func (s *Server) replaceConfig(r *http.Request, name string, data []byte) string {
	if len(bytes.TrimSpace(data)) == 0 {
		return "The file is empty."
	}
	cfg, err := config.Parse(name, data)
	if err != nil {
		return uploadMessage(err)
	}
	if err := s.b.Apply(r.Context(), cfg); err != nil {
		var fe *FieldErrors
		if errors.As(err, &fe) {
			var msgs []string
			for _, k := range slices.Sorted(maps.Keys(fe.Fields)) {
				msgs = append(msgs, keyWords(k)+": "+fe.Fields[k])
			}
			return sentence(strings.Join(msgs, "; ") + " (" + name + ")")
		}
		return uploadMessage(err)
	}
	return ""
}

func (s *Server) rebootPost(w http.ResponseWriter, r *http.Request, ss *session) {
	if confirmStep(w, r, "restart") {
		return
	}
	if err := s.b.Reboot(); err != nil {
		s.maintenanceError(w, ss, http.StatusInternalServerError, "Reboot failed: "+err.Error(), nil, "")
		return
	}
	s.logf(r, "reboot")
	s.render(w, http.StatusOK, "error", view{Title: "Rebooting", Flash: "The adapter is restarting. Reload this page in a minute."})
}

// factoryReset checks the password, resets the backend and removes the
// admin password: the next visit is a first boot again.
func (s *Server) factoryReset(w http.ResponseWriter, r *http.Request, password string) (string, int) {
	if ok, msg := s.checkPassword(w, r, password, true); !ok {
		status := http.StatusUnauthorized
		if w.Header().Get("Retry-After") != "" {
			status = http.StatusTooManyRequests
		}
		return strings.Replace(msg, "Wrong user name or password.", "Wrong password.", 1), status
	}
	if err := s.b.FactoryReset(); err != nil {
		return "Factory reset failed: " + err.Error(), http.StatusInternalServerError
	}
	if err := s.admin.reset(); err != nil {
		return "Factory reset failed: " + err.Error(), http.StatusInternalServerError
	}
	s.sessions.deleteAll()
	s.logf(r, "factory reset")
	return "", http.StatusOK
}

func (s *Server) factoryResetPost(w http.ResponseWriter, r *http.Request, ss *session) {
	if confirmStep(w, r, "reset") {
		return
	}
	if msg, status := s.factoryReset(w, r, r.PostFormValue("password")); msg != "" {
		s.maintenanceError(w, ss, status, "Nothing was reset.", map[string]string{"reset_password": msg}, "")
		return
	}
	clearCookie(w, r, sessionCookie)
	http.Redirect(w, r, "/setup", http.StatusSeeOther)
}

func (s *Server) captureStartPost(w http.ResponseWriter, r *http.Request, ss *session) {
	if err := s.b.StartCapture(); err != nil {
		s.maintenanceError(w, ss, http.StatusInternalServerError, "The capture did not start: "+err.Error(), nil, "")
		return
	}
	s.logf(r, "packet capture started")
	s.done(w, r, ss, "Packet capture started.")
}

func (s *Server) captureStopPost(w http.ResponseWriter, r *http.Request, ss *session) {
	if err := s.b.StopCapture(); err != nil {
		s.maintenanceError(w, ss, http.StatusInternalServerError, "The capture did not stop: "+err.Error(), nil, "")
		return
	}
	s.done(w, r, ss, "Packet capture stopped. Download it below.")
}

func (s *Server) pcapDownload(w http.ResponseWriter, r *http.Request, ss *session) {
	if !s.b.CaptureStatus().Available {
		http.Error(w, "no capture: start one first", http.StatusNotFound)
		return
	}
	name := "ata-" + s.now().UTC().Format("20060102-150405") + ".pcap"
	w.Header().Set("Content-Type", "application/vnd.tcpdump.pcap")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	if err := s.b.WritePcap(w); err != nil {
		s.log.Error("webui: pcap download", "err", err)
	}
}
