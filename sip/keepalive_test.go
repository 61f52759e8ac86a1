package sip

import (
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	siplib "github.com/emiago/sipgo/sip"
)

// rawRegistrar answers every REGISTER with 200 (Expires 3600) and counts
// the CRLF keep-alives it receives, answering each with a CRLF pong
// (RFC 5626 §4.4.1) while pong is set.
func rawRegistrar(t *testing.T, pong *atomic.Bool) (*net.UDPConn, *atomic.Int32) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var crlf atomic.Int32
	go func() {
		buf := make([]byte, 4096)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if string(buf[:n]) == "\r\n\r\n" {
				crlf.Add(1)
				if pong != nil && pong.Load() {
					c.WriteToUDP([]byte("\r\n"), from)
				}
				continue
			}
			msg, err := siplib.ParseMessage(append([]byte(nil), buf[:n]...))
			req, ok := msg.(*siplib.Request)
			if err != nil || !ok {
				continue
			}
			req.SetSource(from.String())
			res := siplib.NewResponseFromRequest(req, 200, "OK", nil)
			res.AppendHeader(siplib.NewHeader("Expires", "3600"))
			c.WriteToUDP([]byte(res.String()), from)
		}
	}()
	return c, &crlf
}

func TestKeepAliveCRLF(t *testing.T) {
	var pong atomic.Bool
	pong.Store(true)
	reg, crlf := rawRegistrar(t, &pong)
	f := startReg(t, nil, func(s *StackConfig, l *Account, _ *RegOptions) {
		s.KeepAlive = 25 * time.Second
		l.Registrar = reg.LocalAddr().String()
	})
	waitState(t, f.r, StateRegistered, 5*time.Second)
	for i := 1; i <= 3; i++ {
		if p := f.clock.waitTimers(t, 2); p[0] != 25*time.Second || p[1] != 3240*time.Second {
			t.Fatalf("timers %v, want keep-alive 25s and refresh 3240s", p)
		}
		f.clock.advance(25 * time.Second)
		deadline := time.Now().Add(2 * time.Second)
		for crlf.Load() < int32(i) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if got := crlf.Load(); got != int32(i) {
			t.Fatalf("after %d keep-alive periods the registrar got %d CRLF keep-alives", i, got)
		}
	}
}

func TestKeepAliveOptions(t *testing.T) {
	var options atomic.Int32
	f := startReg(t, nil, func(s *StackConfig, _ *Account, _ *RegOptions) {
		s.KeepAlive = 20 * time.Second
		s.KeepAliveMethod = "options"
	})
	f.reg.st.Handle(siplib.OPTIONS, func(req *siplib.Request, tx siplib.ServerTransaction) {
		if !strings.Contains(req.Recipient.String(), f.reg.st.LocalAddr().String()) {
			t.Errorf("OPTIONS to %s, want the registrar", req.Recipient.String())
		}
		options.Add(1)
		tx.Respond(siplib.NewResponseFromRequest(req, 200, "OK", nil))
	})
	waitState(t, f.r, StateRegistered, 5*time.Second)
	f.clock.waitTimers(t, 2)
	f.clock.advance(20 * time.Second)
	f.clock.waitTimers(t, 2) // re-armed after the OPTIONS answer
	if options.Load() != 1 {
		t.Fatalf("registrar got %d OPTIONS keep-alives, want 1", options.Load())
	}
}
