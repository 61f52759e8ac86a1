package sip

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	siplib "github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/openata/ata/call"
	"github.com/openata/ata/media"
)

// vadCall places a call from a line with the given VAD setting to the
// peer, which answers with CN when cnAnswer; it returns the call and the
// INVITE's SDP.
func vadCall(t *testing.T, vad, cnAnswer bool) (*Call, *peer, string) {
	t.Helper()
	p := newPeer(t)
	l := testLine(t, p, func(a *Account) { a.VAD = vad })
	c, err := l.DialCall(context.Background(), "2000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Hangup(call.Normal) })
	inv := p.request(siplib.INVITE)
	tag := siplib.GenerateTagN(8)
	answer := p.sdp("", "")
	if cnAnswer {
		answer = []byte(fmt.Sprintf("v=0\r\no=far 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
			"m=audio %d RTP/AVP 0 13 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:13 CN/8000\r\n"+
			"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n", p.rtpPort()))
	}
	p.reply(inv, 200, tag, answer)
	p.request(siplib.ACK)
	waitEvent(t, c, call.Answered)
	return c, p, string(inv.Body())
}

// readRTP collects what the peer receives for d.
func readRTP(t *testing.T, p *peer, d time.Duration) []rtp.Packet {
	t.Helper()
	var pkts []rtp.Packet
	buf := make([]byte, 1500)
	deadline := time.Now().Add(d)
	for {
		p.rtp.SetReadDeadline(deadline)
		n, _, err := p.rtp.ReadFromUDP(buf)
		if err != nil {
			return pkts
		}
		var pk rtp.Packet
		if pk.Unmarshal(append([]byte(nil), buf[:n]...)) == nil {
			pkts = append(pkts, pk)
		}
	}
}

// A line with vad = true offers CN/8000; when the far end answers with CN,
// 400 ms of silence go out as speech for 200 ms and then one CN packet.
// With pass-through on (found on Media() as media.PassThrough) every frame
// goes out, and the call's report says pass-through.
func TestLineVADOffersAndSendsComfortNoise(t *testing.T) {
	c, p, offer := vadCall(t, true, true)
	if !strings.Contains(offer, "a=rtpmap:13 CN/8000\r\n") || !strings.Contains(offer, "m=audio ") {
		t.Fatalf("offer without CN:\n%s", offer)
	}
	silence := make([]int16, 160)
	speak := func(frames int) []rtp.Packet {
		done := make(chan []rtp.Packet)
		go func() { done <- readRTP(t, p, time.Duration(frames)*20*time.Millisecond+300*time.Millisecond) }()
		for range frames {
			c.Media().WriteFrame(silence)
			c.Media().ReadFrame(silence)
			time.Sleep(20 * time.Millisecond)
		}
		return <-done
	}
	pkts := speak(20)
	voice, cns := 0, 0
	for _, pk := range pkts {
		switch pk.PayloadType {
		case 13:
			cns++
		case 0:
			voice++
		}
	}
	if cns != 1 || voice != 9 {
		t.Fatalf("400 ms of silence sent as %d speech and %d CN packets, want 9 and 1", voice, cns)
	}
	if c.Report().PassThrough {
		t.Fatal("report says pass-through before it was used")
	}
	pt, ok := c.Media().(media.PassThrough)
	if !ok {
		t.Fatal("the call's media is not a media.PassThrough")
	}
	pt.SetPassThrough(true, 60*time.Millisecond)
	pkts = speak(20)
	if len(pkts) != 20 || pkts[0].PayloadType != 0 || !pkts[0].Marker {
		t.Fatalf("pass-through: %d packets (first %+v), want 20 speech packets starting a talk spurt", len(pkts), pkts[0].Header)
	}
	if !c.Report().PassThrough {
		t.Error("report does not say pass-through")
	}
}

// Without vad, or when the far end does not take CN, no CN is offered or
// sent.
func TestLineNoVAD(t *testing.T) {
	c, p, offer := vadCall(t, false, true)
	if strings.Contains(offer, "CN/8000") {
		t.Fatalf("offer with CN and vad off:\n%s", offer)
	}
	c2, p2, _ := vadCall(t, true, false)
	for _, cp := range []struct {
		c *Call
		p *peer
	}{{c, p}, {c2, p2}} {
		silence := make([]int16, 160)
		done := make(chan []rtp.Packet)
		go func() { done <- readRTP(t, cp.p, 700*time.Millisecond) }()
		for range 20 {
			cp.c.Media().WriteFrame(silence)
			time.Sleep(20 * time.Millisecond)
		}
		if pkts := <-done; len(pkts) != 20 {
			t.Errorf("%d packets for 20 frames of silence, want 20 (no suppression)", len(pkts))
		}
	}
}
