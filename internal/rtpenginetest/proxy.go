package rtpenginetest

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"testing"
)

// Proxy is a minimal SIP proxy over UDP that sends every request it gets
// to one callee address and anchors the calls' media in an Engine: the
// INVITE's SDP goes through offer, the 200's through answer, a BYE
// deletes the call. It is what Kamailio with rtpengine_manage() does for
// a plain call, without Kamailio's CPU in the way: enough for sipp pairs
// (the caller hangs up; the callee answers OPTIONS and BYE) and nothing
// more (no forking, no authentication, no re-INVITEs).
type Proxy struct {
	t      testing.TB
	e      *Engine
	conn   *net.UDPConn
	callee *net.UDPAddr
	// The requests sent on, by Call-ID and CSeq: the caller's Via lines
	// and address. A sipp callee's [last_Via:] echoes only one Via, so
	// the response is rebuilt from these.
	sent map[string]sentRequest
}

type sentRequest struct {
	vias []string
	from *net.UDPAddr
}

// NewProxy listens on 127.0.0.1 and relays to callee (host:port) until
// the test ends.
func NewProxy(t testing.TB, e *Engine, callee string) *Proxy {
	t.Helper()
	ca, err := net.ResolveUDPAddr("udp", callee)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{t: t, e: e, conn: c, callee: ca, sent: map[string]sentRequest{}}
	done := make(chan struct{})
	go p.run(done)
	t.Cleanup(func() { c.Close(); <-done })
	return p
}

// Addr is where callers send their requests.
func (p *Proxy) Addr() string { return p.conn.LocalAddr().String() }

func (p *Proxy) run(done chan struct{}) {
	defer close(done)
	buf := make([]byte, 65536)
	for {
		n, src, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		out, to, err := p.handle(string(buf[:n]), src)
		if err != nil {
			p.t.Logf("rtpenginetest proxy: %v", err)
			continue
		}
		if to != nil {
			p.conn.WriteToUDP([]byte(out), to)
		}
	}
}

// handle turns one message into the one to send on and where to.
func (p *Proxy) handle(msg string, src *net.UDPAddr) (string, *net.UDPAddr, error) {
	head, body, ok := strings.Cut(msg, "\r\n\r\n")
	if !ok {
		return "", nil, fmt.Errorf("no end of headers from %s", src)
	}
	lines := strings.Split(head, "\r\n")
	callID := header(lines, "Call-ID", "i")
	fromTag := tagOf(header(lines, "From", "f"))
	if strings.HasPrefix(lines[0], "SIP/2.0 ") {
		// A response: it goes back with the Via lines of the request it
		// answers.
		req, ok := p.sent[callID+" "+header(lines, "CSeq", "")]
		if !ok {
			return "", nil, fmt.Errorf("response to no request of ours: %s", lines[0])
		}
		var rest []string
		for k, l := range lines {
			if k == 0 || !isVia(l) {
				rest = append(rest, l)
			}
			if k == 0 {
				rest = append(rest, req.vias...)
			}
		}
		lines = rest
		to := req.from
		if strings.HasPrefix(lines[0], "SIP/2.0 200") && strings.HasSuffix(header(lines, "CSeq", ""), "INVITE") && body != "" {
			sdp, err := p.e.Answer(callID, fromTag, tagOf(header(lines, "To", "t")), body)
			if err != nil {
				return "", nil, err
			}
			body = sdp
		}
		return assemble(lines, body), to, nil
	}
	if src.String() == p.callee.String() {
		return "", nil, fmt.Errorf("request from the callee not supported: %s", lines[0])
	}
	method, _, _ := strings.Cut(lines[0], " ")
	switch {
	case method == "INVITE" && body != "":
		sdp, err := p.e.Offer(callID, fromTag, body)
		if err != nil {
			return "", nil, err
		}
		body = sdp
	case method == "BYE":
		p.e.Delete(callID, fromTag) // a retransmitted BYE finds it gone
	}
	// The branch is derived from the caller's so that a retransmission is
	// the same transaction to the callee.
	i := viaIndex(lines)
	if i < 0 {
		return "", nil, fmt.Errorf("request without Via")
	}
	sum := sha1.Sum([]byte(lines[i] + method))
	branch := "z9hG4bK-rtpe-" + hex.EncodeToString(sum[:8])
	var vias []string
	for _, l := range lines[1:] {
		if isVia(l) {
			vias = append(vias, l)
		}
	}
	if method != "ACK" {
		p.sent[callID+" "+header(lines, "CSeq", "")] = sentRequest{vias: vias, from: src}
	}
	via := fmt.Sprintf("Via: SIP/2.0/UDP %s;branch=%s", p.Addr(), branch)
	lines = append(lines[:i:i], append([]string{via}, lines[i:]...)...)
	return assemble(lines, body), p.callee, nil
}

func assemble(lines []string, body string) string {
	for i, l := range lines {
		if k, _, ok := strings.Cut(l, ":"); ok && (strings.EqualFold(strings.TrimSpace(k), "Content-Length") || strings.TrimSpace(k) == "l") {
			lines[i] = fmt.Sprintf("Content-Length: %d", len(body))
		}
	}
	return strings.Join(lines, "\r\n") + "\r\n\r\n" + body
}

func viaIndex(lines []string) int {
	for i, l := range lines[1:] {
		if isVia(l) {
			return i + 1
		}
	}
	return -1
}

func isVia(line string) bool {
	k, _, ok := strings.Cut(line, ":")
	return ok && (strings.EqualFold(strings.TrimSpace(k), "Via") || strings.TrimSpace(k) == "v")
}

func header(lines []string, name, short string) string {
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		k = strings.TrimSpace(k)
		if ok && (strings.EqualFold(k, name) || (short != "" && k == short)) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func tagOf(h string) string {
	_, t, ok := strings.Cut(h, ";tag=")
	if !ok {
		return ""
	}
	t, _, _ = strings.Cut(t, ";")
	return strings.TrimSpace(t)
}
