package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/openata/ata/board"
	"github.com/openata/ata/board/pcm"
)

// Client drives a sim board's phone over its HTTP API, for integration tests.
type Client struct {
	// BaseURL is the board's URL, for example "http://127.0.0.1:8081".
	BaseURL string
	// HTTP is the client to use; nil means http.DefaultClient.
	HTTP *http.Client
}

// StatusError is an answer other than 2xx.
type StatusError struct {
	Code    int    // HTTP status
	Message string // the body: the board's explanation
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("sim client: %d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
}

// Hook posts "off", "on" or "flash" to /hook.
func (c *Client) Hook(ctx context.Context, action string) error {
	_, err := c.do(ctx, http.MethodPost, "/hook", "text/plain", strings.NewReader(action))
	return err
}

// Dial posts digits to /dial and returns once they are sent. method is
// "dtmf", "pulse" or "" (dtmf).
func (c *Client) Dial(ctx context.Context, digits, method string) error {
	body, err := json.Marshal(DialRequest{Digits: digits, Method: method})
	if err != nil {
		return fmt.Errorf("sim client: dial: %w", err)
	}
	_, err = c.do(ctx, http.MethodPost, "/dial", "application/json", bytes.NewReader(body))
	return err
}

// Speak queues 8 kHz samples for the mouthpiece.
func (c *Client) Speak(ctx context.Context, samples []int16) error {
	return c.SpeakWAV(ctx, pcm.EncodeWAV(samples, board.SampleRate))
}

// SpeakWAV posts a WAV file as is to /speak.
func (c *Client) SpeakWAV(ctx context.Context, wav []byte) error {
	_, err := c.do(ctx, http.MethodPost, "/speak", "audio/wav", bytes.NewReader(wav))
	return err
}

// Listen returns the next d (whole milliseconds) of earpiece audio.
func (c *Client) Listen(ctx context.Context, d time.Duration) ([]int16, error) {
	ms := strconv.FormatInt(d.Milliseconds(), 10)
	body, err := c.do(ctx, http.MethodGet, "/listen?ms="+ms, "", nil)
	if err != nil {
		return nil, err
	}
	samples, err := pcm.DecodeWAV(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("sim client: listen: %w", err)
	}
	return samples, nil
}

// Events returns the events with seq > since.
func (c *Client) Events(ctx context.Context, since uint64) ([]Event, error) {
	var evs []Event
	err := c.getJSON(ctx, "/events?since="+url.QueryEscape(strconv.FormatUint(since, 10)), &evs)
	return evs, err
}

// State returns the phone's hook and ringing state.
func (c *Client) State(ctx context.Context) (State, error) {
	var s State
	err := c.getJSON(ctx, "/state", &s)
	return s, err
}

func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	body, err := c.do(ctx, http.MethodGet, path, "", nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("sim client: GET %s: %w", path, err)
	}
	return nil
}

func (c *Client) do(ctx context.Context, method, path, contentType string, body io.Reader) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, body)
	if err != nil {
		return nil, fmt.Errorf("sim client: %w", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sim client: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("sim client: %s %s: reading answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, &StatusError{Code: resp.StatusCode, Message: strings.TrimSpace(string(data))}
	}
	return data, nil
}
