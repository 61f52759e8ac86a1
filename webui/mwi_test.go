package webui_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/webui"
)

// mwiLines: 1001 has 2 new and 3 old messages, 1002's SUBSCRIBE failed,
// 1003 has an idle subscription.
func mwiLines(e *env) {
	e.b.SetLine(0, webui.LineStatus{Number: "1001", Domain: "example.net", State: webui.LineRegistered,
		MessagesWaiting: true, NewMessages: 2, OldMessages: 3, MWISubscribed: true})
	e.b.SetLine(1, webui.LineStatus{Number: "1002", Domain: "example.net", State: webui.LineRegistered,
		MWIError: "489 Bad Event"})
	e.b.SetLine(2, webui.LineStatus{Number: "1003", Domain: "example.net", State: webui.LineRegistered,
		MWISubscribed: true})
}

// /api/status and the SSE status events carry each line's message
// waiting; the Status page shows it as a badge and in the detail line.
func TestStatusMessageWaiting(t *testing.T) {
	e, c := ready(t)
	mwiLines(e)
	var st webui.StatusJSON
	w := c.get("/api/status")
	wantCode(t, w, http.StatusOK, "api status")
	var raw struct {
		Lines []map[string]any `json:"lines"`
	}
	json.Unmarshal(w.Body.Bytes(), &raw)
	if len(raw.Lines) != 3 {
		t.Fatalf("lines: %s", w.Body)
	}
	l := raw.Lines[0]
	if l["messages_waiting"] != true || l["new_messages"] != 2.0 || l["old_messages"] != 3.0 || l["mwi_subscribed"] != true {
		t.Errorf("line 1001 JSON: %v", l)
	}
	if raw.Lines[1]["mwi_error"] != "489 Bad Event" || raw.Lines[1]["mwi_subscribed"] != false || raw.Lines[1]["messages_waiting"] != false {
		t.Errorf("line 1002 JSON: %v", raw.Lines[1])
	}
	json.Unmarshal(w.Body.Bytes(), &st)
	for i, want := range []struct{ messages, detail string }{
		{"2 new voice messages", "voicemail: subscribed"},
		{"", "voicemail: 489 Bad Event"},
		{"No messages", "voicemail: subscribed"},
	} {
		if st.Lines[i].Messages != want.messages || st.Lines[i].Detail != want.detail {
			t.Errorf("line %d: messages %q detail %q, want %q %q", i, st.Lines[i].Messages, st.Lines[i].Detail, want.messages, want.detail)
		}
	}

	page := c.get("/").Body.String()
	for _, want := range []string{
		`<span class="badge mwi waiting">2 new voice messages</span>`,
		`<span class="badge mwi">No messages</span>`,
		"voicemail: subscribed", "voicemail: 489 Bad Event",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	if n := strings.Count(page, "badge mwi"); n != 2 {
		t.Errorf("%d message badges, want 2 (none for the failed subscription)", n)
	}

	ts := httptest.NewServer(e.h)
	defer ts.Close()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", ts.URL+"/api/events", nil)
	req.AddCookie(&http.Cookie{Name: "ata_session", Value: c.session()})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	done := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				done <- data
				return
			}
		}
		close(done)
	}()
	select {
	case data := <-done:
		var ev webui.StatusJSON
		if err := json.Unmarshal([]byte(data), &ev); err != nil || len(ev.Lines) != 3 ||
			!ev.Lines[0].MessagesWaiting || ev.Lines[0].NewMessages != 2 || ev.Lines[0].OldMessages != 3 ||
			!ev.Lines[0].MWISubscribed || ev.Lines[1].MWIError != "489 Bad Event" || !strings.Contains(data, `"new_messages":2`) {
			t.Errorf("status event: %s (%v)", data, err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no status event")
	}
}

// /metrics has each line's message waiting, new messages and subscription.
func TestMetricsMessageWaiting(t *testing.T) {
	e, c := ready(t)
	mwiLines(e)
	w := c.get("/metrics")
	wantCode(t, w, http.StatusOK, "metrics")
	body := w.Body.String()
	for _, want := range []string{
		"# TYPE ata_line_messages_waiting gauge", "# TYPE ata_line_new_messages gauge", "# TYPE ata_line_mwi_subscribed gauge",
		`ata_line_messages_waiting{line="1001"} 1`, `ata_line_new_messages{line="1001"} 2`, `ata_line_mwi_subscribed{line="1001"} 1`,
		`ata_line_messages_waiting{line="1002"} 0`, `ata_line_new_messages{line="1002"} 0`, `ata_line_mwi_subscribed{line="1002"} 0`,
		`ata_line_mwi_subscribed{line="1003"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}
