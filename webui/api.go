package webui

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/openata/ata/config"
	"github.com/pelletier/go-toml/v2"
)

// The JSON config of GET/PUT /api/config has the TOML file's shape and key
// names ({"phone": {"region": "de"}, "line": [{"number": "1001", ...}]}),
// so the README's key table documents both. GET leaves out each line's
// "password" and says "password_set" instead; in PUT a line without
// "password" keeps the password of the line at the same index, and
// "password_set" is ignored. PUT replaces the whole configuration: keys it
// leaves out take their defaults, as in a file.

// configToJSON converts cfg to the API's JSON shape, passwords redacted.
func configToJSON(cfg *config.Config) (map[string]any, error) {
	data, err := config.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := toml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("webui: config to JSON: %w", err)
	}
	if lines, ok := m["line"].([]any); ok {
		for _, l := range lines {
			if lm, ok := l.(map[string]any); ok {
				pw, _ := lm["password"].(string)
				delete(lm, "password")
				lm["password_set"] = pw != ""
			}
		}
	}
	return m, nil
}

// configFromJSON reads the API's JSON shape through config.Parse, so a PUT
// is checked exactly like a file (unknown keys, types, values).
func configFromJSON(body []byte, cur *config.Config) (*config.Config, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON object")
	}
	if raw, ok := m["line"]; ok {
		lines, ok := raw.([]any)
		if !ok {
			return nil, &config.KeyError{Key: "line", Msg: "want an array of line objects"}
		}
		for i, l := range lines {
			lm, ok := l.(map[string]any)
			if !ok {
				return nil, &config.KeyError{Key: fmt.Sprintf("line[%d]", i), Msg: "want an object"}
			}
			delete(lm, "password_set")
			if _, has := lm["password"]; !has && i < len(cur.Lines) && cur.Lines[i].Password != "" {
				lm["password"] = cur.Lines[i].Password
			}
		}
	}
	data, err := toml.Marshal(jsonNumbers(m))
	if err != nil {
		return nil, fmt.Errorf("cannot express as TOML: %w", err)
	}
	return config.Parse("request", data)
}

// jsonNumbers turns json.Number into int64 or float64 so that TOML gets
// integers where the config wants them.
func jsonNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = jsonNumbers(e)
		}
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

func (s *Server) apiConfigGet(w http.ResponseWriter, r *http.Request, ss *session) {
	m, err := configToJSON(s.b.Config())
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// apiConfigPut answers 204 when applied, 422 with {"error","fields"} when invalid.
func (s *Server) apiConfigPut(w http.ResponseWriter, r *http.Request, ss *session) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxConfigUpload))
	if err != nil {
		writeJSONError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %s, the limit: it is not a configuration", formatMB(MaxConfigUpload)), nil)
		return
	}
	cfg, err := configFromJSON(body, s.b.Config())
	if err == nil {
		err = s.b.Apply(r.Context(), cfg)
	}
	if err != nil {
		var fe *FieldErrors
		var ke *config.KeyError
		switch {
		case errors.As(err, &fe):
			writeJSONError(w, http.StatusUnprocessableEntity, "invalid configuration: nothing was saved", fe.Fields)
		case errors.As(err, &ke):
			writeJSONError(w, http.StatusUnprocessableEntity, "invalid configuration: nothing was saved", map[string]string{ke.Key: ke.Msg})
		default:
			writeJSONError(w, http.StatusUnprocessableEntity, err.Error(), nil)
		}
		return
	}
	s.logf(r, "configuration saved (API)")
	// 204: applied. 202: an address changed and rolls back unless
	// pending.confirm_url is fetched in time. 200: saved, and
	// restart_needed lists what waits for a restart.
	if st := s.statusFor(r); st.Pending != nil {
		writeJSON(w, http.StatusAccepted, map[string]any{"pending": st.Pending, "restart_needed": st.RestartNeeded})
	} else if len(st.RestartNeeded) > 0 {
		writeJSON(w, http.StatusOK, map[string]any{"restart_needed": st.RestartNeeded})
	} else {
		w.WriteHeader(http.StatusNoContent)
	}
}

// CallsJSON is the body of GET /api/calls.
type CallsJSON struct {
	Total  int          `json:"total"`
	Offset int          `json:"offset"`
	Calls  []CallRecord `json:"calls"`
}

// apiCalls answers GET /api/calls?offset=0&limit=50 (limit at most 500),
// newest first.
func (s *Server) apiCalls(w http.ResponseWriter, r *http.Request, ss *session) {
	q := r.URL.Query()
	offset, limit := 0, 50
	var err error
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			writeJSONError(w, http.StatusBadRequest, "offset: want a number ≥ 0", nil)
			return
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 500 {
			writeJSONError(w, http.StatusBadRequest, "limit: want 1 to 500", nil)
			return
		}
	}
	calls, total, err := s.b.CallLog(offset, limit)
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	if calls == nil {
		calls = []CallRecord{}
	}
	writeJSON(w, http.StatusOK, CallsJSON{Total: total, Offset: offset, Calls: calls})
}

// apiLog answers GET /api/log?n=200 with {"lines": [...]}.
func (s *Server) apiLog(w http.ResponseWriter, r *http.Request, ss *session) {
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil || n < 1 || n > 10000 {
		n = LogViewLines
	}
	lines := s.b.LogLines(n)
	if lines == nil {
		lines = []string{}
	}
	writeJSON(w, http.StatusOK, map[string][]string{"lines": lines})
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSONError(w, http.StatusBadRequest, "bad JSON body: "+err.Error(), nil)
		return false
	}
	return true
}

// apiPassword answers POST /api/password {"current","new"}: 204, or 401/429
// for a wrong current password, 422 for an unacceptable new one. Every
// session ends; the caller gets a new session cookie.
func (s *Server) apiPassword(w http.ResponseWriter, r *http.Request, ss *session) {
	var req struct {
		Current string `json:"current"`
		New     string `json:"new"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if errs, status := s.changePassword(w, r, req.Current, req.New, req.New); errs != nil {
		writeJSONError(w, status, "the password was not changed", errs)
		return
	}
	ns := s.startSession(w, r)
	w.Header().Set("X-CSRF-Token", ns.csrf)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiReboot(w http.ResponseWriter, r *http.Request, ss *session) {
	if err := s.b.Reboot(); err != nil {
		writeJSONError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	s.logf(r, "reboot (API)")
	w.WriteHeader(http.StatusAccepted)
}

// apiFactoryReset answers POST /api/factory-reset {"password"}.
func (s *Server) apiFactoryReset(w http.ResponseWriter, r *http.Request, ss *session) {
	var req struct {
		Password string `json:"password"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if msg, status := s.factoryReset(w, r, req.Password); msg != "" {
		writeJSONError(w, status, msg, nil)
		return
	}
	clearCookie(w, r, sessionCookie)
	w.WriteHeader(http.StatusNoContent)
}

// CaptureJSON is the body of GET /api/capture.
type CaptureJSON struct {
	Running   bool   `json:"running"`
	Bytes     int64  `json:"bytes"`
	Limit     int64  `json:"limit"`
	Started   string `json:"started,omitempty"`
	Available bool   `json:"available"`
}

func (s *Server) apiCaptureStatus(w http.ResponseWriter, r *http.Request, ss *session) {
	c := s.b.CaptureStatus()
	j := CaptureJSON{Running: c.Running, Bytes: c.Bytes, Limit: c.Limit, Available: c.Available}
	if !c.Started.IsZero() {
		j.Started = c.Started.UTC().Format("2006-01-02T15:04:05Z")
	}
	writeJSON(w, http.StatusOK, j)
}

func (s *Server) apiCaptureStart(w http.ResponseWriter, r *http.Request, ss *session) {
	if err := s.b.StartCapture(); err != nil {
		writeJSONError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	s.apiCaptureStatus(w, r, ss)
}

func (s *Server) apiCaptureStop(w http.ResponseWriter, r *http.Request, ss *session) {
	if err := s.b.StopCapture(); err != nil {
		writeJSONError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	s.apiCaptureStatus(w, r, ss)
}
