package webui_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/webui"
	"github.com/openata/ata/webui/internal/fakebackend"
)

// threeCalls: active, held by us (the far end holds us too), waiting.
func threeCalls(now time.Time) []webui.CallStatus {
	return []webui.CallStatus{
		{Number: "5001", Name: "Alice", Direction: "in", Role: "active", Since: now.Add(-75 * time.Second), Codec: "PCMA", Loss: 0.01, JitterMS: 5, MOS: 4.2},
		{Number: "5002", Name: "<b>Bob</b>", Direction: "out", Role: "held", FarHeld: true, Since: now.Add(-200 * time.Second), Codec: "PCMU", MOS: 4.1},
		{Number: "5003", Direction: "in", Role: "waiting", Since: now.Add(-4 * time.Second)},
	}
}

func statusOf(t *testing.T, c *client) (webui.StatusJSON, string) {
	t.Helper()
	w := c.get("/api/status")
	wantCode(t, w, http.StatusOK, "status")
	var st webui.StatusJSON
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	json.Compact(&compact, w.Body.Bytes())
	return st, compact.String()
}

func TestStatusCallsJSON(t *testing.T) {
	e, c := ready(t)
	// No call: "calls" is an empty array, "call" null.
	if _, raw := statusOf(t, c); !strings.Contains(raw, `"calls":[]`) || !strings.Contains(raw, `"call":null`) {
		t.Fatalf("no call: %s", raw)
	}
	e.b.SetCalls(threeCalls(e.clock.Now()), "off", "talking")
	st, raw := statusOf(t, c)
	if len(st.Calls) != 3 {
		t.Fatalf("calls: %s", raw)
	}
	type row struct {
		Number, Role, Label string
		FarHeld             bool
		DurationS           int64
		Codec               string
	}
	want := []row{{"5001", "active", "Active", false, 75, "PCMA"}, {"5002", "held", "On hold", true, 200, "PCMU"}, {"5003", "waiting", "Waiting", false, 4, ""}}
	for i, w := range want {
		g := st.Calls[i]
		if got := (row{g.Number, g.Role, g.Label, g.FarHeld, g.DurationS, g.Codec}); got != w {
			t.Errorf("calls[%d] = %+v, want %+v", i, got, w)
		}
	}
	for _, key := range []string{`"role":"held"`, `"far_held":true`, `"far_held":false`, `"duration_s":200`, `"jitter_ms":5`, `"mos":4.1`, `"since":"2026-03-01T11:56:40Z"`} {
		if !strings.Contains(raw, key) {
			t.Errorf("status lacks %s: %s", key, raw)
		}
	}
	// "call" is still the current call, for older clients.
	if st.Call == nil || st.Call.Number != "5001" || st.Call.Role != "active" || st.Call.DurationS != 75 {
		t.Fatalf("call: %+v", st.Call)
	}
	e.clock.Advance(10 * time.Second)
	if st, _ := statusOf(t, c); st.Calls[1].DurationS != 210 {
		t.Fatalf("duration after 10 s: %d", st.Calls[1].DurationS)
	}
}

// onlyCall is a backend that fills Status.Call but not Status.Calls (one
// call at a time, as before calls had roles).
type onlyCall struct{ *fakebackend.Backend }

func (o onlyCall) Status() webui.Status {
	st := o.Backend.Status()
	st.Calls = nil
	return st
}

func TestStatusCallOnlyBackend(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	fb := fakebackend.New(nil)
	t.Cleanup(fb.Close)
	srv, err := webui.New(onlyCall{fb}, webui.Options{DataDir: t.TempDir(), Version: "t", Clock: clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, b: fb, clock: clock, srv: srv, h: srv.Handler()}
	c := e.client("192.0.2.1:1")
	c.setup(testPassword)
	fb.SetCall(&webui.CallStatus{Number: "42", Direction: "out", Since: clock.Now()}, "off", "talking")
	st, raw := statusOf(t, c)
	if len(st.Calls) != 1 || st.Calls[0].Number != "42" || st.Call == nil {
		t.Fatalf("status: %s", raw)
	}
	if m := c.get("/metrics").Body.String(); !strings.Contains(m, "ata_calls_active 1\n") || !strings.Contains(m, "ata_call_active 1\n") {
		t.Fatalf("metrics:\n%s", m)
	}
}

// callArticles splits the status page's #calls box into one string per call.
func callArticles(t *testing.T, page string) []string {
	t.Helper()
	i := strings.Index(page, `<div id="calls">`)
	j := strings.Index(page, `aria-labelledby="h-system"`)
	if i < 0 || j < i {
		t.Fatalf("no calls box:\n%s", page)
	}
	return regexp.MustCompile(`(?s)<article class="call".*?</article>`).FindAllString(page[i:j], -1)
}

func TestStatusPageCalls(t *testing.T) {
	e, c := ready(t)
	if page := c.get("/").Body.String(); len(callArticles(t, page)) != 0 || !strings.Contains(page, "No call.") {
		t.Fatal("idle status page shows a call")
	}
	e.b.SetCalls(threeCalls(e.clock.Now()), "off", "talking")
	page := c.get("/").Body.String()
	arts := callArticles(t, page)
	if len(arts) != 3 || strings.Contains(page, "No call.") {
		t.Fatalf("%d calls on the page:\n%s", len(arts), page)
	}
	for i, want := range [][]string{
		{`data-role="active"`, ">Active</span>", "5001 (Alice)", "1:15", "PCMA", "1.0 %", "4.20"},
		{`data-role="held"`, ">On hold</span>", "Far end holds", "5002 (&lt;b&gt;Bob&lt;/b&gt;)", "3:20", "PCMU"},
		{`data-role="waiting"`, ">Waiting</span>", "5003", "0:04", "Incoming"},
	} {
		for _, s := range want {
			if !strings.Contains(arts[i], s) {
				t.Errorf("call %d lacks %q:\n%s", i, s, arts[i])
			}
		}
	}
	if strings.Contains(arts[0], "Far end holds") || strings.Contains(arts[2], "Far end holds") {
		t.Error("far-end hold shown on a call the far end does not hold")
	}
	if strings.Contains(arts[2], "Codec") {
		t.Error("a call without media shows codec and quality")
	}
	if strings.Contains(page, "<b>Bob</b>") {
		t.Error("the caller's name is not escaped")
	}
}

func TestMetricsCalls(t *testing.T) {
	e, c := ready(t)
	m := c.get("/metrics").Body.String()
	for _, want := range []string{"ata_call_active 0\n", "# TYPE ata_calls_active gauge\n", "ata_calls_active 0\n", `ata_calls{role="held"} 0` + "\n"} {
		if !strings.Contains(m, want) {
			t.Errorf("idle metrics lack %q:\n%s", want, m)
		}
	}
	calls := append(threeCalls(e.clock.Now()), webui.CallStatus{Number: "5004", Role: "held", Since: e.clock.Now()})
	e.b.SetCalls(calls, "off", "talking")
	m = c.get("/metrics").Body.String()
	for _, want := range []string{
		"ata_call_active 1\n", "ata_calls_active 4\n", "# TYPE ata_calls gauge\n",
		`ata_calls{role="active"} 1` + "\n", `ata_calls{role="held"} 2` + "\n", `ata_calls{role="waiting"} 1` + "\n",
		`ata_calls{role="conference"} 0` + "\n", "ata_call_mos 4.2\n", // the current call's quality
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q:\n%s", want, m)
		}
	}
}

// The status event carries every call.
func TestSSECalls(t *testing.T) {
	e, c := ready(t)
	ts := httptest.NewServer(e.h)
	defer ts.Close()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", ts.URL+"/api/events", nil)
	req.AddCookie(&http.Cookie{Name: "ata_session", Value: c.session()})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				data <- d
			}
		}
		close(data)
	}()
	next := func() webui.StatusJSON {
		t.Helper()
		select {
		case d := <-data:
			var st webui.StatusJSON
			if err := json.Unmarshal([]byte(d), &st); err != nil {
				t.Fatalf("event %q: %v", d, err)
			}
			return st
		case <-time.After(3 * time.Second):
			t.Fatal("no event")
		}
		return webui.StatusJSON{}
	}
	if st := next(); st.Calls == nil || len(st.Calls) != 0 {
		t.Fatalf("initial calls: %#v", st.Calls)
	}
	e.b.SetCalls(threeCalls(e.clock.Now())[:2], "off", "talking")
	st := next()
	if len(st.Calls) != 2 || st.Calls[0].Role != "active" || st.Calls[1].Role != "held" || !st.Calls[1].FarHeld || st.Calls[1].Label != "On hold" {
		t.Fatalf("calls after the change: %+v", st.Calls)
	}
}

func TestCallLogCauses(t *testing.T) {
	e, c := ready(t)
	start := time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC)
	recs := []webui.CallRecord{
		{Number: "6001", Cause: "normal", Remote: true, Duration: 30, Codec: "PCMA"},
		{Number: "6002", Cause: "busy", Detail: "486 Busy Here", Remote: true},
		{Number: "6003", Cause: "transferred", Detail: "REFER", Duration: 12, Codec: "PCMU"},
		{Number: "6004", Cause: "cancelled"},
		{Number: "6005", Cause: "failed: dial: no route to <host>"},
		{Number: "6006", Cause: "<i>odd</i>"},
		{Number: "6007", Cause: "redirected", Detail: "302", ForwardedTo: "<b>5551234"},
	}
	for i := range recs {
		recs[i].Start, recs[i].Direction = start.Add(time.Duration(i)*time.Minute), "out"
	}
	e.b.AddCalls(recs...)
	page := c.get("/calls").Body.String()
	if !strings.Contains(page, ">Ended by</th>") {
		t.Error("no Ended by column")
	}
	rows := regexp.MustCompile(`(?s)<tr>\s*<td class="start".*?</tr>`).FindAllString(page, -1)
	if len(rows) != len(recs) {
		t.Fatalf("%d rows:\n%s", len(rows), page)
	}
	result := regexp.MustCompile(`(?s)<td class="result"[^>]*>(.*?)</td>\s*<td class="ended-by"[^>]*>(.*?)</td>`)
	// Newest first.
	for i, want := range []string{
		`Forwarded to &lt;b&gt;5551234<span class="detail">302</span> | This side`,
		"&lt;i&gt;odd&lt;/i&gt; | This side",
		`Failed<span class="detail">dial: no route to &lt;host&gt;</span> | This side`,
		"Cancelled | This side",
		`Transferred<span class="detail">REFER</span> | This side`,
		`Busy<span class="detail">486 Busy Here</span> | Far end`,
		"Completed | Far end",
	} {
		m := result.FindStringSubmatch(rows[i])
		if m == nil {
			t.Fatalf("row %d has no result:\n%s", i, rows[i])
		}
		if got := m[1] + " | " + m[2]; got != want {
			t.Errorf("row %d: %s, want %s", i, got, want)
		}
	}
	if strings.Contains(page, "<i>odd") || strings.Contains(page, "<host>") {
		t.Error("cause or detail not escaped")
	}
}
