package webui

import (
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/openata/ata/update"
)

// Updater is what a backend that installs firmware updates implements
// (the image's firmware, on its A/B card); the web UI checks the backend
// for it. A nil manager, or none: the Maintenance page says updates are
// not available.
type Updater interface {
	UpdateManager() *update.Manager
}

// UpdateStatus is the firmware update state: GET /api/update, and the
// Maintenance and Status pages.
type UpdateStatus struct {
	// Available: the system runs from the image's A/B card; Why not.
	Available bool   `json:"available"`
	Why       string `json:"why,omitempty"`
	Board     string `json:"board"`
	Running   string `json:"running_version"`
	// KeyID names the public key bundles must be signed with; "" when the
	// firmware was built without one (it then accepts none).
	KeyID string `json:"key_id"`
	update.Status
	// Staged is a verified bundle waiting for Install; Installing: the
	// slot was written and the box restarts into it.
	Staged     *update.Manifest `json:"staged,omitempty"`
	Installing bool             `json:"installing"`
}

// updateRoutes are the firmware update's API (the Maintenance page's
// script uses it too).
func (s *Server) updateRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/update", s.api(s.apiUpdateStatus))
	mux.HandleFunc("POST /api/update", s.api(s.apiUpdatePost))
	mux.HandleFunc("POST /api/update/install", s.api(s.apiUpdateInstall))
	mux.HandleFunc("POST /api/update/discard", s.api(s.apiUpdateDiscard))
}

func (s *Server) updater() *update.Manager {
	if u, ok := s.b.(Updater); ok {
		return u.UpdateManager()
	}
	return nil
}

// updateView is the update state for a page.
func (s *Server) updateView() UpdateStatus {
	u := s.updater()
	if u == nil {
		return UpdateStatus{Why: "this firmware has no updater"}
	}
	sn := u.Snapshot()
	return UpdateStatus{Available: sn.Available, Why: sn.Why, Board: u.Board, Running: sn.Running, KeyID: sn.KeyID,
		Status: sn.Status, Staged: sn.Staged, Installing: sn.Installing}
}

// updateStatusJSON is the update state for /api/status and the Status
// page: nil without an A/B card.
func (s *Server) updateStatusJSON() *UpdateStatus {
	st := s.updateView()
	if !st.Available {
		return nil
	}
	return &st
}

func (s *Server) apiUpdateStatus(w http.ResponseWriter, r *http.Request, ss *session) {
	writeJSON(w, http.StatusOK, s.updateView())
}

// updateAnswer is the body of POST /api/update's answers.
type updateAnswer struct {
	Manifest  *update.Manifest `json:"manifest"`
	Signature string           `json:"signature"` // "ok": signed with the key KeyID names
	KeyID     string           `json:"key_id"`
	Staged    bool             `json:"staged,omitempty"`
	Rebooting bool             `json:"rebooting,omitempty"`
}

// updateError is a refused bundle: Kind is signature, hash, board,
// version, size, truncated or format (update.Kind*).
type updateError struct {
	Error string `json:"error"`
	Kind  string `json:"kind,omitempty"`
}

// refuseUpdate answers a refused bundle or a failed install.
func (s *Server) refuseUpdate(w http.ResponseWriter, r *http.Request, err error) {
	kind := update.KindOf(err)
	status := http.StatusUnprocessableEntity
	switch kind {
	case update.KindFormat, update.KindTruncated:
		status = http.StatusBadRequest
	case update.KindSize:
		status = http.StatusRequestEntityTooLarge
	case "":
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			status, kind = http.StatusRequestEntityTooLarge, update.KindSize
			err = errors.New("the upload is larger than any bundle (" + formatMB(mbe.Limit) + ")")
		case errors.Is(err, update.ErrBusy):
			status = http.StatusConflict
		default:
			status = http.StatusInternalServerError
		}
	}
	s.logf(r, "firmware update refused", "kind", kind, "err", err)
	writeJSON(w, status, updateError{Error: err.Error(), Kind: kind})
}

var (
	errNoBundle     = errors.New(`no bundle: send it as the request body (Content-Type: application/octet-stream) or as the multipart field "bundle"`)
	errNotAvailable = errors.New("updates are not available here")
)

// apiUpdatePost takes a bundle as the raw body (application/octet-stream)
// or as the multipart field "bundle", streamed. ?stage=1 only verifies
// and keeps it (the Maintenance page shows the manifest before Install);
// otherwise it is installed and the adapter restarts into it. ?force=1
// takes an older version.
func (s *Server) apiUpdatePost(w http.ResponseWriter, r *http.Request, ss *session) {
	u := s.updater()
	if st := s.updateView(); !st.Available {
		writeJSONError(w, http.StatusNotImplemented, errNotAvailable.Error()+": "+st.Why, nil)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, update.MaxCompressed+update.MaxManifest+1<<20)
	body, err := bundleBody(r)
	if err != nil {
		s.refuseUpdate(w, r, err)
		return
	}
	q := r.URL.Query()
	m, err := u.Stage(body, q.Get("force") == "1")
	if err != nil {
		// A bundle refused at its header is still being sent: read the
		// rest (up to the limit) so that the client gets the answer, not a
		// connection reset in the middle of its upload.
		io.Copy(io.Discard, r.Body)
		s.refuseUpdate(w, r, err)
		return
	}
	ans := updateAnswer{Manifest: m, Signature: "ok", KeyID: update.KeyID(u.Key)}
	if q.Get("stage") == "1" {
		s.logf(r, "firmware update verified", "version", m.Version)
		ans.Staged = true
		writeJSON(w, http.StatusOK, ans)
		return
	}
	s.installStaged(w, r, ans)
}

func (s *Server) installStaged(w http.ResponseWriter, r *http.Request, ans updateAnswer) {
	if err := s.updater().Install(); err != nil {
		s.refuseUpdate(w, r, err)
		return
	}
	s.logf(r, "firmware update installed; restarting into it", "version", ans.Manifest.Version)
	ans.Staged, ans.Rebooting = false, true
	writeJSON(w, http.StatusAccepted, ans)
}

// bundleBody is the bundle's stream in the request.
func bundleBody(r *http.Request) (io.Reader, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		return r.Body, nil
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, err
	}
	for {
		p, err := mr.NextPart()
		if err != nil {
			return nil, errNoBundle
		}
		if p.FormName() == "bundle" {
			return p, nil
		}
	}
}

// apiUpdateInstall installs the bundle kept by POST /api/update?stage=1.
func (s *Server) apiUpdateInstall(w http.ResponseWriter, r *http.Request, ss *session) {
	st := s.updateView()
	if !st.Available {
		writeJSONError(w, http.StatusNotImplemented, errNotAvailable.Error()+": "+st.Why, nil)
		return
	}
	if st.Staged == nil {
		writeJSONError(w, http.StatusConflict, "no verified bundle waits: upload one first", nil)
		return
	}
	s.installStaged(w, r, updateAnswer{Manifest: st.Staged, Signature: "ok", KeyID: st.KeyID})
}

func (s *Server) apiUpdateDiscard(w http.ResponseWriter, r *http.Request, ss *session) {
	if u := s.updater(); u != nil {
		u.Discard()
	}
	writeJSON(w, http.StatusOK, map[string]bool{"discarded": true})
}
