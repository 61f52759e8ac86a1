package sip

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	siplib "github.com/emiago/sipgo/sip"

	"github.com/openata/ata/call"
)

// capLine is a line on its own stack whose pending-INVITE cap is max.
func capLine(t *testing.T, p *peer, max int) (*Stack, *Line) {
	t.Helper()
	cfg := testStackConfig()
	cfg.Listen, cfg.KeepAlive, cfg.AcceptProxyOnly, cfg.MaxPendingInvites = "127.0.0.1:0", 0, false, max
	st, err := NewStack(cfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l, err := NewLine(st, Account{Number: "1001", ServiceDomain: "voip.test", Registrar: p.addr(), Codecs: []string{"PCMU"}},
		LineOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	p.ata = st.LocalAddr()
	return st, l
}

// finalFor waits for the final answer to the INVITE with Call-ID id.
func (p *peer) finalFor(id string) *siplib.Response {
	p.t.Helper()
	return p.next("final answer to INVITE "+id, func(m siplib.Message) bool {
		r, ok := m.(*siplib.Response)
		return ok && r.StatusCode >= 200 && r.CSeq().MethodName == siplib.INVITE && r.CallID().Value() == id
	}).(*siplib.Response)
}

// INVITEs beyond the pending cap are answered 486 Busy Here with
// Retry-After at once and leave nothing behind: no call, no media ports,
// no pending slot. A slot comes back when a pending call is answered or
// refused, and the next INVITE rings again.
func TestInviteCapRefusesBeyondItStatelessly(t *testing.T) {
	p := newPeer(t)
	st, l := capLine(t, p, 2)
	calls := make(chan *Call, 8)
	l.OnIncoming(func(c *Call) { calls <- c })

	var ringing []*Call
	for range 2 {
		p.invite(l)
		c := nextCall(t, calls)
		t.Cleanup(func() { c.Hangup(call.Normal) })
		ringing = append(ringing, c)
	}
	req, _ := p.invite(l)
	res := p.finalFor(req.CallID().Value())
	if res.StatusCode != siplib.StatusBusyHere || hdr(res, "Retry-After") != "5" {
		t.Fatalf("INVITE over the cap: %d, Retry-After %q; want 486 with Retry-After 5", res.StatusCode, hdr(res, "Retry-After"))
	}
	select {
	case c := <-calls:
		t.Fatalf("the INVITE over the cap became a call: %s", c.ID())
	case <-time.After(100 * time.Millisecond):
	}
	if n := l.Calls(); n != 2 {
		t.Fatalf("%d calls, want the 2 admitted ones", n)
	}
	if ports := st.MediaPorts(); len(ports) != 0 {
		t.Fatalf("media ports %v with two calls ringing and one refused, want none", ports)
	}
	if ld := st.InviteLoad(); ld.Pending != 2 || ld.Refused != 1 || ld.Lingering != 0 {
		t.Fatalf("load %+v, want 2 pending, 1 refused, none lingering", ld)
	}

	// Refusing a ringing call gives its slot back: the next INVITE rings.
	ringing[0].Reject(call.Busy)
	if res := p.finalFor(ringing[0].ID()); res.StatusCode != siplib.StatusBusyHere {
		t.Fatalf("refused call: %d", res.StatusCode)
	}
	p.invite(l)
	c := nextCall(t, calls)
	t.Cleanup(func() { c.Hangup(call.Normal) })
	if ld := st.InviteLoad(); ld.Pending != 2 || ld.Lingering != 1 {
		t.Fatalf("load %+v, want 2 pending and the refused call's transaction lingering for its ACK", ld)
	}
}

// A caller that never ACKs our refusals (a flood) leaves at most
// lingerPerPending × cap answered transactions waiting for the ACK; the
// calls themselves, their goroutines and the INVITE handlers are gone as
// soon as the answer is sent, not when the transaction gives up (32 s).
func TestRefusedInvitesDoNotLinger(t *testing.T) {
	p := newPeer(t)
	st, l := capLine(t, p, 2)
	l.OnIncoming(func(c *Call) { c.Reject(call.Busy) })
	// Warm up: the first call starts the stack's long-lived goroutines.
	req, _ := p.invite(l)
	p.finalFor(req.CallID().Value())
	time.Sleep(100 * time.Millisecond)
	before := runtime.NumGoroutine()

	const n = 20
	for range n {
		req, _ := p.invite(l)
		if res := p.finalFor(req.CallID().Value()); res.StatusCode != siplib.StatusBusyHere {
			t.Fatalf("INVITE answered %d, want 486", res.StatusCode)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		g := runtime.NumGoroutine()
		ld := st.InviteLoad()
		if g <= before+4 && l.Calls() == 0 && ld.Pending == 0 && ld.Lingering+int(ld.Dropped) == n+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d refused INVITEs: %d goroutines (%d before), %d calls, load %+v", n, g, before, l.Calls(), ld)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ld := st.InviteLoad()
	if max := lingerPerPending * 2; ld.Lingering != max || ld.Dropped != uint64(n+1-max) {
		t.Fatalf("load %+v, want %d lingering and %d dropped", ld, max, n+1-max)
	}
}

// An incoming call binds no RTP or RTCP socket while it rings or when it
// is refused: the sockets come with the answer, and its audio flows.
func TestRingingCallHoldsNoMediaSockets(t *testing.T) {
	p := newPeer(t)
	st, l := capLine(t, p, 4)
	calls := make(chan *Call, 2)
	l.OnIncoming(func(c *Call) { calls <- c })
	_, d := p.invite(l)
	c := nextCall(t, calls)
	t.Cleanup(func() { c.Hangup(call.Normal) })
	if err := c.Alert(); err != nil {
		t.Fatal(err)
	}
	if ports := st.MediaPorts(); len(ports) != 0 {
		t.Fatalf("a ringing call holds media ports %v", ports)
	}
	if err := c.Answer(); err != nil {
		t.Fatal(err)
	}
	ok := p.finalFor(d.callID)
	if ok.StatusCode != 200 {
		t.Fatalf("answer: %d", ok.StatusCode)
	}
	d.toTag, _ = ok.To().Params.Get("tag")
	d.target = ok.Contact().Address
	p.ack(d, 1)
	if ports := st.MediaPorts(); len(ports) != 2 || !strings.Contains(string(ok.Body()), fmt.Sprintf("m=audio %d ", ports[0])) {
		t.Fatalf("answered call: media ports %v, answer SDP:\n%s", ports, ok.Body())
	}
	go sendFrames(c, time.Second)
	if n := rtpReceived(p, 500*time.Millisecond); n < 10 {
		t.Fatalf("%d RTP packets from the answered call in 500 ms", n)
	}

	// A second call, waiting to be taken or refused, has none either.
	p.invite(l)
	c2 := nextCall(t, calls)
	if ports := st.MediaPorts(); len(ports) != 2 {
		t.Fatalf("media ports %v with a second call offered, want only the first call's 2", ports)
	}
	c2.Reject(call.Busy)
}

// Answered non-INVITE transactions (an OPTIONS flood from the proxy's
// address) linger for retransmissions only up to lingerOther; the rest
// end as soon as they are answered, every request is still answered, and
// the heap does not keep them (2,000 kept for 32 s held about 8 MB).
func TestAnsweredRequestsLingerBounded(t *testing.T) {
	p := newPeer(t)
	st, _ := capLine(t, p, 2)
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	before := heap()
	const n = 2000
	for i := range n {
		req := siplib.NewRequest(siplib.OPTIONS, siplib.Uri{Scheme: "sip", User: "1001", Host: p.ata.Addr().String(), Port: int(p.ata.Port())})
		req.AppendHeader(&siplib.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
			Host: "127.0.0.1", Port: p.uri("").Port, Params: siplib.HeaderParams{{K: "branch", V: siplib.GenerateBranch()}}})
		req.AppendHeader(&siplib.FromHeader{Address: p.uri("2000"), Params: siplib.HeaderParams{{K: "tag", V: siplib.GenerateTagN(8)}}})
		req.AppendHeader(&siplib.ToHeader{Address: siplib.Uri{Scheme: "sip", User: "1001", Host: "voip.test"}})
		cid := siplib.CallIDHeader(fmt.Sprintf("opt-%d@peer", i))
		req.AppendHeader(&cid)
		req.AppendHeader(&siplib.CSeqHeader{SeqNo: 1, MethodName: siplib.OPTIONS})
		req.SetBody(nil)
		p.send(req)
		if res := p.response(siplib.OPTIONS); res.StatusCode != 200 {
			t.Fatalf("OPTIONS %d answered %d", i, res.StatusCode)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		ld := st.InviteLoad()
		if ld.OthersLingering == lingerOther && ld.OthersDropped == n-lingerOther {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d OPTIONS: load %+v, want %d lingering and %d dropped", n, ld, lingerOther, n-lingerOther)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if grown := int64(heap()) - int64(before); grown > 2<<20 {
		t.Fatalf("the heap grew %d KB over %d answered OPTIONS", grown>>10, n)
	}
}
