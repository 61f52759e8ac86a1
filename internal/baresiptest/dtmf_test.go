package baresiptest

import (
	"testing"
	"time"
)

// In-band DTMF played by one phone, decoded by multimon-ng from what the
// other heard; and keys sent with SendDTMF ("sndcode") travel as RFC 4733
// events (payload type 101), not in-band, and come out as CALL_DTMF_START
// and CALL_DTMF_END events.
func TestDTMFInBandAndRFC4733(t *testing.T) {
	t.Parallel()
	const keys = "159#*0D"
	caller := Start(t, Opts{User: "1001"})
	callee := Start(t, Opts{User: "2002", Incoming: AutoAnswer,
		Audio: DTMFTones(keys, -10, 80*time.Millisecond, 80*time.Millisecond), PlayOnce: true})
	caller.Dial(callee.URI())
	up := caller.WaitEvent(Established, 5*time.Second)
	callee.WaitEvent(Established, 5*time.Second)
	heard := caller.Heard(up.Time, up.Time.Add(1500*time.Millisecond))
	if got := DecodeDTMF(t, heard); got != keys {
		t.Errorf("multimon-ng decoded %q from what the caller heard, want %q", got, keys)
	}
	if got := DecodeDTMF(t, make([]int16, 8000)); got != "" {
		t.Errorf("multimon-ng decoded %q from silence", got)
	}

	sent := time.Now()
	caller.SendDTMF("47")
	var starts string
	for range 2 {
		starts += callee.WaitEvent(DTMF, 3*time.Second).Param
		if end := callee.WaitEvent(DTMFEnd, 3*time.Second); end.Param != "" {
			t.Errorf("CALL_DTMF_END with param %q (1.0.0 sends none)", end.Param)
		}
	}
	if starts != "47" {
		t.Errorf("callee's DTMF events %q, want 47", starts)
	}
	var wire []byte
	var lastTS uint32
	for _, e := range callee.HeardTelephoneEvents() {
		if e.At.After(sent) && (len(wire) == 0 || e.TS != lastTS) {
			wire, lastTS = append(wire, e.Key), e.TS
		}
	}
	if string(wire) != "47" {
		t.Errorf("RFC 4733 keys on the wire %q, want 47", wire)
	}
	inband := callee.Heard(sent, time.Now())
	if got := DecodeDTMF(t, inband); got != "" {
		t.Errorf("SendDTMF was also in-band: %q", got)
	}
	t.Logf("RFC 4733 packets: %d; CALL_DTMF_START after %v", len(callee.HeardTelephoneEvents()),
		callee.WaitEventAfter(DTMF, sent, time.Second).Time.Sub(sent))
}
