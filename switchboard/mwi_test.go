package switchboard

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	siplib "github.com/emiago/sipgo/sip"

	"github.com/openata/ata/sip"
)

// rawProvider is a UDP socket standing for the provider: it grants every
// REGISTER, reads what the line sends and sends what the test writes.
type rawProvider struct {
	conn    *net.UDPConn
	in      chan string
	granted atomic.Bool // a REGISTER was answered
	early   atomic.Bool // a SUBSCRIBE came before that
}

func newRawProvider(t *testing.T) *rawProvider {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p := &rawProvider{conn: c, in: make(chan string, 100)}
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			text := string(buf[:n])
			if strings.HasPrefix(text, "REGISTER ") {
				if req, err := siplib.ParseMessage(buf[:n]); err == nil {
					res := siplib.NewResponseFromRequest(req.(*siplib.Request), 200, "OK", nil)
					res.AppendHeader(siplib.NewHeader("Expires", "3600"))
					time.AfterFunc(300*time.Millisecond, func() { // a registrar taking its time
						p.granted.Store(true)
						c.WriteToUDP([]byte(res.String()), from)
					})
				}
			}
			if strings.HasPrefix(text, "SUBSCRIBE ") && !p.granted.Load() {
				p.early.Store(true)
			}
			p.in <- text
		}
	}()
	return p
}

// waitRequest waits for a request starting with method.
func (p *rawProvider) waitRequest(t *testing.T, method string) string {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case m := <-p.in:
			if strings.HasPrefix(m, method+" ") {
				return m
			}
		case <-deadline:
			t.Fatalf("provider: no %s", method)
			return ""
		}
	}
}

// The switchboard subscribes each line to its message summary once it is
// registered and tells OnMessageWaiting what the provider's NOTIFY says.
func TestMessageWaitingPerLine(t *testing.T) {
	prov := newRawProvider(t)
	s := settings("1001")
	s.Accounts[0].ServiceDomain = prov.conn.LocalAddr().String()
	sb := New(&fakePort{}, func() bool { return true }, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	got := make(chan string, 10)
	sb.OnMessageWaiting(func(number string, st sip.MWIState) {
		got <- fmt.Sprintf("%s waiting=%v new=%d old=%d", number, st.Waiting, st.New, st.Old)
	})
	if err := sb.Build(s); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sb.Start(ctx)
	prov.waitRequest(t, "REGISTER")
	sub := prov.waitRequest(t, "SUBSCRIBE")
	if prov.early.Load() {
		t.Fatal("SUBSCRIBE sent before the line was registered")
	}
	if !strings.Contains(sub, "Event: message-summary") {
		t.Fatalf("SUBSCRIBE without the message-summary event:\n%s", sub)
	}
	body := "Messages-Waiting: yes\r\nVoice-Message: 3/1\r\n"
	notify := fmt.Sprintf("NOTIFY sip:1001@127.0.0.1:%d SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-sbmwi1\r\n"+
		"From: <sip:vm@127.0.0.1>;tag=vm1\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: sbmwi1\r\nCSeq: 1 NOTIFY\r\n"+
		"Max-Forwards: 70\r\nEvent: message-summary\r\nContent-Type: application/simple-message-summary\r\n"+
		"Content-Length: %d\r\n\r\n%s", sb.SIPPort(), prov.conn.LocalAddr(), len(body), body)
	ata := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sb.SIPPort()}
	if _, err := prov.conn.WriteToUDP([]byte(notify), ata); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	for want := "1001 waiting=true new=3 old=1"; ; {
		select {
		case g := <-got:
			if g == want {
				goto told
			}
		case <-deadline:
			t.Fatalf("OnMessageWaiting not told %q", want)
		}
	}
told:
	if st, ok := sb.MessageWaiting("1001"); !ok || !st.Waiting || st.New != 3 {
		t.Fatalf("MessageWaiting(1001) = %+v, %v", st, ok)
	}
	sb.Stop(0)
}
