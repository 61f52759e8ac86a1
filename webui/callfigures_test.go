package webui_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/webui"
)

// A call's round trip (from RTCP) is on the status API, the status page,
// /metrics and, after the call, the call log; a call whose far end never
// reported one shows "–", not "0 ms".
func TestRoundTripShown(t *testing.T) {
	e, c := ready(t)
	now := e.clock.Now()
	e.b.SetCalls([]webui.CallStatus{
		{Number: "5001", Direction: "out", Role: "active", Since: now.Add(-30 * time.Second), Codec: "PCMU", Loss: 0.05, JitterMS: 13, RTTMS: 42, MOS: 3.8},
		{Number: "5002", Direction: "in", Role: "held", Since: now.Add(-90 * time.Second), Codec: "PCMA", MOS: 4.3},
	}, "off", "talking")
	st, raw := statusOf(t, c)
	if len(st.Calls) != 2 || st.Calls[0].RTTMS != 42 || st.Calls[1].RTTMS != 0 || !strings.Contains(raw, `"rtt_ms":42`) {
		t.Fatalf("status: %s", raw)
	}
	w := c.get("/")
	wantCode(t, w, http.StatusOK, "status page")
	page := w.Body.String()
	if !strings.Contains(page, "<dt>Round trip</dt><dd>42 ms</dd>") || !strings.Contains(page, "<dt>Round trip</dt><dd>–</dd>") {
		t.Fatalf("status page lacks the round trips (42 ms, and – for the held call):\n%s", page)
	}
	w = c.get("/metrics")
	wantCode(t, w, http.StatusOK, "metrics")
	if body := w.Body.String(); !strings.Contains(body, "ata_call_rtt_seconds 0.042\n") {
		t.Fatalf("metrics lack ata_call_rtt_seconds 0.042:\n%s", body)
	}

	e.b.AddCalls(
		webui.CallRecord{Start: now.Add(-time.Hour), End: now.Add(-time.Hour + time.Minute), Direction: "out", Number: "600",
			Duration: 55, Cause: "normal", Codec: "PCMU", Loss: 0.05, JitterMS: 13, RTTMS: 41.6, MOS: 3.8},
		webui.CallRecord{Start: now.Add(-2 * time.Hour), End: now.Add(-2*time.Hour + time.Minute), Direction: "in", Number: "601",
			Duration: 50, Cause: "normal", Codec: "PCMA", Loss: 0, JitterMS: 2, MOS: 4.4})
	w = c.get("/calls")
	wantCode(t, w, http.StatusOK, "call log")
	page = w.Body.String()
	if !strings.Contains(page, `<th scope="col" class="num">Round trip</th>`) ||
		!strings.Contains(page, `<td class="num" data-label="Round trip">42 ms</td>`) ||
		!strings.Contains(page, `<td class="num" data-label="Round trip">–</td>`) {
		t.Fatalf("call log lacks the round trip column (42 ms, and – where none was reported):\n%s", page)
	}
}

// The line echo canceller's figures and a fax/modem pass-through show on
// the status page, in /metrics and in the call log.
func TestEchoAndPassThroughShown(t *testing.T) {
	e, c := ready(t)
	now := e.clock.Now()
	e.b.SetCalls([]webui.CallStatus{{Number: "5001", Direction: "out", Role: "active", Since: now.Add(-30 * time.Second),
		Codec: "PCMU", MOS: 4.2, Echo: "ERLE 31 dB, ERL 6 dB", EchoERL: 6.2, EchoERLE: 31.4, PassThrough: true}}, "off", "talking")
	st, raw := statusOf(t, c)
	if len(st.Calls) != 1 || !strings.Contains(raw, `"echo":"ERLE 31 dB, ERL 6 dB"`) || !strings.Contains(raw, `"echo_erle_db":31.4`) || !strings.Contains(raw, `"pass_through":true`) {
		t.Fatalf("status: %s", raw)
	}
	page := c.get("/").Body.String()
	if !strings.Contains(page, `<dd class="call-echo">ERLE 31 dB, ERL 6 dB</dd>`) || !strings.Contains(page, `<dd class="call-pass">pass-through</dd>`) {
		t.Fatalf("status page lacks the echo canceller and pass-through:\n%s", page)
	}
	if body := c.get("/metrics").Body.String(); !strings.Contains(body, "ata_echo_erle_db 31.4\n") || !strings.Contains(body, "ata_call_pass_through 1\n") {
		t.Fatalf("metrics:\n%s", body)
	}
	e.b.AddCalls(webui.CallRecord{Start: now.Add(-time.Hour), End: now.Add(-time.Hour + time.Minute), Direction: "in", Number: "700",
		Duration: 50, Cause: "normal", Codec: "PCMU", MOS: 4.3, EchoERL: 6, EchoERLE: 33},
		webui.CallRecord{Start: now.Add(-2 * time.Hour), End: now.Add(-2*time.Hour + time.Minute), Direction: "in", Number: "701",
			Duration: 50, Cause: "normal", Codec: "PCMA", MOS: 4.3, PassThrough: true, DataTone: "ANSam", EchoOff: true})
	page = c.get("/calls").Body.String()
	if !strings.Contains(page, `33 dB <span class="detail">ERL 6 dB</span>`) || !strings.Contains(page, "fax/modem pass-through (ANSam)") {
		t.Fatalf("call log lacks the echo figures or the pass-through:\n%s", page)
	}
}
