package sim

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// The port telling the board the lamp state it sent shows in GET /events
// as {"kind":"vmwi","on":...}.
func TestVMWIEvents(t *testing.T) {
	t.Parallel()
	b, c, rec := startBoard(t, 0)
	rec.waitFrames(t, 1)
	b.Port().IndicateVMWI(true)
	b.Port().IndicateVMWI(false)
	evs, err := c.Events(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Kind != KindVMWI || !evs[0].On || evs[1].Kind != KindVMWI || evs[1].On {
		t.Fatalf("events = %+v; want vmwi on, vmwi off", evs)
	}
	resp, err := http.Get(b.URL() + "/events?since=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"kind":"vmwi","on":false`) {
		t.Fatalf("GET /events?since=1 = %s; want the vmwi off event", body)
	}
}
