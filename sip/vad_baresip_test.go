package sip

import (
	"testing"
	"time"

	"github.com/openata/ata/call"
	"github.com/openata/ata/internal/baresiptest"
)

// Against a real phone: baresip takes our offer with CN/8000 (vad = true)
// and hears our speech after a silence. baresip 1.0 answers without CN
// (it has no CN codec), so RFC 3389 §5 has us send it none: the silence
// goes out as speech packets. Should a later baresip take CN, the test
// wants CN packets instead.
func TestBaresipAcceptsComfortNoiseOffer(t *testing.T) {
	far := baresiptest.Start(t, baresiptest.Opts{User: "2000", Incoming: baresiptest.AutoAnswer})
	p := newPeer(t) // unused registrar: the line calls baresip directly
	l := testLine(t, p, func(a *Account) {
		a.ServiceDomain, a.Registrar, a.VAD = far.Addr().String(), far.Addr().String(), true
	})
	c, err := l.DialCall(t.Context(), "2000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Hangup(call.Normal) })
	waitEvent(t, c, call.Answered)
	far.WaitEvent(baresiptest.Established, 5*time.Second)
	c.mu.Lock()
	cnPT := c.media.CNPayloadType
	c.mu.Unlock()
	t.Logf("baresip's answer: CN payload type %d", cnPT)

	tone := baresiptest.Tone(1000, -20, 3*time.Second)
	silence := make([]int16, 160)
	ear := make([]int16, 160)
	start := time.Now()
	for n := range 150 { // 1 s of silence, then 2 s of tone
		f := silence
		if n >= 50 {
			f = tone[n*160 : n*160+160]
		}
		c.Media().WriteFrame(f)
		c.Media().ReadFrame(ear)
		time.Sleep(time.Until(start.Add(time.Duration(n+1) * 20 * time.Millisecond)))
	}
	if lvl := far.HeardLevel(1000, start.Add(1300*time.Millisecond), start.Add(2800*time.Millisecond)); lvl < -21 || lvl > -19 {
		t.Errorf("baresip heard our tone after the silence at %.1f dBm0, want −20", lvl)
	}
	st := c.stream.Load().Stats()
	t.Logf("sent %d packets, %d CN, %d suppressed", st.PacketsSent, st.CNSent, st.Suppressed)
	if cnPT != 0 && st.CNSent == 0 {
		t.Error("CN negotiated but none sent in 1 s of silence")
	}
	if cnPT == 0 && (st.CNSent != 0 || st.Suppressed != 0) {
		t.Error("CN sent to a peer that did not take it")
	}
}
