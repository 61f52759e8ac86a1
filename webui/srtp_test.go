package webui_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/webui"
)

// Whether a call's media is encrypted (SRTP) shows on the status API and
// page, in /metrics and in the call log ("srtp": true or false).
func TestSRTPShown(t *testing.T) {
	e, c := ready(t)
	now := e.clock.Now()
	e.b.SetCalls([]webui.CallStatus{
		{Number: "5001", Direction: "out", Role: "active", Since: now.Add(-30 * time.Second), Codec: "PCMU", MOS: 4.2, SRTP: true},
		{Number: "5002", Direction: "in", Role: "held", Since: now.Add(-90 * time.Second), Codec: "PCMA", MOS: 4.3},
	}, "off", "talking")
	st, raw := statusOf(t, c)
	if len(st.Calls) != 2 || !strings.Contains(raw, `"srtp":true`) || !strings.Contains(raw, `"srtp":false`) {
		t.Fatalf("status: %s", raw)
	}
	w := c.get("/")
	wantCode(t, w, http.StatusOK, "status page")
	page := w.Body.String()
	if !strings.Contains(page, `<dt>Encryption</dt><dd class="call-srtp">SRTP</dd>`) || !strings.Contains(page, `<dt>Encryption</dt><dd class="call-srtp">none</dd>`) {
		t.Fatalf("status page lacks the calls' encryption (SRTP, none):\n%s", page)
	}
	if body := c.get("/metrics").Body.String(); !strings.Contains(body, "ata_call_srtp 1\n") {
		t.Fatalf("metrics lack ata_call_srtp 1:\n%s", body)
	}
	e.b.AddCalls(
		webui.CallRecord{Start: now.Add(-time.Hour), End: now.Add(-time.Hour + time.Minute), Direction: "out", Number: "600",
			Duration: 55, Cause: "normal", Codec: "PCMU", MOS: 4.3, SRTP: true},
		webui.CallRecord{Start: now.Add(-2 * time.Hour), End: now.Add(-2*time.Hour + time.Minute), Direction: "in", Number: "601",
			Duration: 50, Cause: "normal", Codec: "PCMA", MOS: 4.4})
	page = c.get("/calls").Body.String()
	if strings.Count(page, `<span class="badge srtp" title="encrypted (SRTP)">SRTP</span>`) != 1 {
		t.Fatalf("call log: want one call marked SRTP:\n%s", page)
	}
}
