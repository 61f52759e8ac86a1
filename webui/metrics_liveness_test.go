package webui_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/openata/ata/webui"
)

// /metrics has the keep-alive misses, flow failures and re-registrations
// by cause of each line.
func TestMetricsKeepAliveAndReRegistrations(t *testing.T) {
	e := newEnv(t)
	c := e.client("192.0.2.2:1")
	c.setup(testPassword)
	e.b.Apply(t.Context(), withLine(e.b.Config()))
	e.b.SetLine(0, webui.LineStatus{Number: "7", Domain: "x.example", State: webui.LineFailing,
		KeepAliveMisses: 4, FlowFailures: 2, ReRegistrations: map[string]uint64{"flow_recovered": 1, "binding_gone": 3, "refresh": 0}})
	w := c.get("/metrics")
	wantCode(t, w, http.StatusOK, "metrics")
	body := w.Body.String()
	for _, want := range []string{
		"# TYPE ata_line_keepalive_misses_total counter",
		`ata_line_keepalive_misses_total{number="7",domain="x.example"} 4`,
		`ata_line_flow_failures_total{number="7",domain="x.example"} 2`,
		`ata_line_reregistrations_total{number="7",domain="x.example",cause="binding_gone"} 3`,
		`ata_line_reregistrations_total{number="7",domain="x.example",cause="flow_recovered"} 1`,
		`ata_line_reregistrations_total{number="7",domain="x.example",cause="refresh"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}
