package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/openata/ata/board"
	"github.com/openata/ata/board/pcm"
)

// maxControlBody bounds the small text and JSON bodies of /hook and /dial.
const maxControlBody = 4096

// DialRequest is the JSON body of POST /dial.
type DialRequest struct {
	Digits string `json:"digits"`
	// Method is "dtmf" (the default when empty) or "pulse".
	Method string `json:"method,omitempty"`
}

// Handler returns the HTTP control API (see the package comment).
func (b *Board) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hook", b.handleHook)
	mux.HandleFunc("POST /dial", b.handleDial)
	mux.HandleFunc("POST /speak", b.handleSpeak)
	mux.HandleFunc("GET /listen", b.handleListen)
	mux.HandleFunc("GET /events", b.handleEvents)
	mux.HandleFunc("GET /state", b.handleState)
	return mux
}

func (b *Board) handleHook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxControlBody))
	if err != nil {
		http.Error(w, fmt.Sprintf("sim: hook: reading body: %v", err), http.StatusBadRequest)
		return
	}
	action := ParseHookAction(string(body))
	b.reply(w, r, "hook", b.phone.Hook(r.Context(), action), "action", action)
}

// ParseHookAction turns a POST /hook body into an action for Phone.Hook:
// surrounding white space and letter case are ignored.
func ParseHookAction(body string) string {
	return strings.ToLower(strings.TrimSpace(body))
}

func (b *Board) handleDial(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxControlBody))
	if err != nil {
		http.Error(w, fmt.Sprintf("sim: dial: reading body: %v", err), http.StatusBadRequest)
		return
	}
	req, err := ParseDialRequest(body)
	if err != nil {
		b.reply(w, r, "dial", err)
		return
	}
	b.reply(w, r, "dial", b.phone.Dial(r.Context(), req.Digits, req.Method), "digits", req.Digits, "method", req.Method)
}

// ParseDialRequest decodes and checks a POST /dial body. Unknown fields are
// refused so that a typo ("digit") is not silently ignored.
func ParseDialRequest(body []byte) (DialRequest, error) {
	var req DialRequest
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf(`sim: dial: %w: want JSON {"digits":"...","method":"dtmf"|"pulse"}: %v`, ErrInvalid, err)
	}
	if dec.More() {
		return req, fmt.Errorf("sim: dial: %w: trailing data after the JSON object", ErrInvalid)
	}
	if req.Method == "" {
		req.Method = MethodDTMF
	}
	return req, CheckDial(req.Digits, req.Method)
}

func (b *Board) handleSpeak(w http.ResponseWriter, r *http.Request) {
	samples, err := pcm.DecodeWAV(r.Body)
	if err != nil {
		b.reply(w, r, "speak", fmt.Errorf("sim: speak: %w: %w", ErrInvalid, err))
		return
	}
	b.reply(w, r, "speak", b.phone.Speak(samples), "samples", len(samples))
}

func (b *Board) handleListen(w http.ResponseWriter, r *http.Request) {
	d, err := ParseListenMS(r.URL.Query().Get("ms"))
	if err != nil {
		b.reply(w, r, "listen", err)
		return
	}
	samples, err := b.phone.Listen(r.Context(), d)
	if err != nil {
		b.reply(w, r, "listen", err)
		return
	}
	w.Header().Set("Content-Type", "audio/wav")
	w.Write(pcm.EncodeWAV(samples, board.SampleRate))
}

// ParseListenMS parses the ms parameter of GET /listen: 1 to 120000.
func ParseListenMS(s string) (time.Duration, error) {
	maxMS := int(MaxListen / time.Millisecond)
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxMS {
		return 0, fmt.Errorf("sim: listen: %w: ms must be an integer from 1 to %d, got %.20q", ErrInvalid, maxMS, s)
	}
	return time.Duration(n) * time.Millisecond, nil
}

func (b *Board) handleEvents(w http.ResponseWriter, r *http.Request) {
	since, err := ParseSince(r.URL.Query().Get("since"))
	if err != nil {
		b.reply(w, r, "events", err)
		return
	}
	writeJSON(w, b.phone.Events(since))
}

// ParseSince parses the since parameter of GET /events; empty means 0.
func ParseSince(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("sim: events: %w: since must be a non-negative integer, got %.20q", ErrInvalid, s)
	}
	return n, nil
}

func (b *Board) handleState(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, b.phone.State())
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// reply answers 204 on success, else the error as plain text with the
// status its kind calls for.
func (b *Board) reply(w http.ResponseWriter, r *http.Request, op string, err error, attrs ...any) {
	if err == nil {
		b.log.Debug("sim: "+op, attrs...)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, ErrOnHook):
		code = http.StatusConflict
	case errors.Is(err, ErrBusy):
		code = http.StatusServiceUnavailable
	case r.Context().Err() != nil:
		return // the client has gone
	}
	b.log.Debug("sim: "+op+" refused", "status", code, "err", err)
	http.Error(w, err.Error(), code)
}
