// Package rtpenginetest runs rtpengine (Debian's rtpengine-daemon) as a
// media relay to compare the firmware with: userspace only (no kernel
// forwarding table), on loopback, driven over its ng control protocol
// (bencoded dictionaries over UDP). Proxy puts it between two SIP peers
// the way a SIP proxy with rtpengine_manage does.
package rtpenginetest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Opts say how rtpengine runs.
type Opts struct {
	// PortMin and PortMax bound its media ports (default 41000-41999), so
	// that a capture can tell its packets from the peers'.
	PortMin, PortMax int
	// Threads is --num-threads (default 2: this machine's cores).
	Threads int
	// Prefix runs it behind a command that execs it (chrt -f 10: the
	// same real-time footing as a firmware that raises itself), so PID
	// is still rtpengine's.
	Prefix []string
}

// Engine is a running rtpengine.
type Engine struct {
	cmd  *exec.Cmd
	ng   *net.UDPConn
	log  *strings.Builder
	mu   sync.Mutex // one ng request at a time: replies are matched by cookie anyway
	seq  atomic.Uint64
	opts Opts
}

// Start runs rtpengine in the foreground until the test ends.
func Start(t testing.TB, o Opts) *Engine {
	t.Helper()
	bin, err := exec.LookPath("rtpengine")
	if err != nil {
		t.Fatal("install rtpengine: apt-get install rtpengine-daemon")
	}
	if o.PortMin == 0 {
		o.PortMin, o.PortMax = 41000, 41999
	}
	if o.Threads == 0 {
		o.Threads = 2
	}
	ngAddr := freeUDP(t)
	e := &Engine{log: &strings.Builder{}, opts: o}
	// --config-file=none: the package's /etc/rtpengine/rtpengine.conf
	// (kernel table 0, its own interface) must not apply.
	args := append(append([]string(nil), o.Prefix...), bin, "--config-file=none", "--table=-1", "--foreground", "--log-stderr", "--log-level=4",
		"--interface=127.0.0.1", "--listen-ng="+ngAddr,
		"--port-min="+strconv.Itoa(o.PortMin), "--port-max="+strconv.Itoa(o.PortMax),
		"--num-threads="+strconv.Itoa(o.Threads), "--delete-delay=0")
	e.cmd = exec.Command(args[0], args[1:]...)
	e.cmd.Stdout, e.cmd.Stderr = e.log, e.log
	if err := e.cmd.Start(); err != nil {
		t.Fatalf("rtpengine: %v", err)
	}
	t.Cleanup(func() {
		e.cmd.Process.Kill()
		e.cmd.Wait()
		if t.Failed() {
			t.Logf("rtpengine log:\n%s", e.log.String())
		}
	})
	ra, err := net.ResolveUDPAddr("udp", ngAddr)
	if err != nil {
		t.Fatal(err)
	}
	if e.ng, err = net.DialUDP("udp", nil, ra); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ng.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if r, err := e.Do(map[string]any{"command": "ping"}); err == nil && r["result"] == "pong" {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("rtpengine did not answer ping:\n%s", e.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// PID is the daemon's process ID (for its CPU time).
func (e *Engine) PID() int { return e.cmd.Process.Pid }

// Ports are its media port range.
func (e *Engine) Ports() (min, max int) { return e.opts.PortMin, e.opts.PortMax }

// Do sends one ng command and returns the reply's dictionary.
func (e *Engine) Do(cmd map[string]any) (map[string]any, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cookie := fmt.Sprintf("c%d", e.seq.Add(1))
	msg := append([]byte(cookie+" "), Encode(cmd)...)
	buf := make([]byte, 65536)
	for try := 0; try < 3; try++ {
		if _, err := e.ng.Write(msg); err != nil {
			return nil, err
		}
		e.ng.SetReadDeadline(time.Now().Add(2 * time.Second))
		for {
			n, err := e.ng.Read(buf)
			if err != nil {
				break // timeout: send again
			}
			c, body, ok := bytes.Cut(buf[:n], []byte(" "))
			if !ok || string(c) != cookie {
				continue // a late answer to an earlier try
			}
			v, rest, err := Decode(body)
			if err != nil || len(rest) != 0 {
				return nil, fmt.Errorf("rtpengine: bad reply %q: %v", body, err)
			}
			d, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("rtpengine: reply is not a dictionary: %q", body)
			}
			if d["result"] == "error" {
				return d, fmt.Errorf("rtpengine: %s: %v", cmd["command"], d["error-reason"])
			}
			return d, nil
		}
	}
	return nil, fmt.Errorf("rtpengine: no answer to %s", cmd["command"])
}

// Offer passes an offer's SDP through rtpengine and returns the SDP to
// send on (its own address and ports in place of the caller's).
func (e *Engine) Offer(callID, fromTag, sdp string) (string, error) {
	return e.sdp(map[string]any{"command": "offer", "call-id": callID, "from-tag": fromTag, "sdp": sdp})
}

// Answer does the same for the answer's SDP.
func (e *Engine) Answer(callID, fromTag, toTag, sdp string) (string, error) {
	return e.sdp(map[string]any{"command": "answer", "call-id": callID, "from-tag": fromTag, "to-tag": toTag, "sdp": sdp})
}

// Delete ends the call's media.
func (e *Engine) Delete(callID, fromTag string) error {
	_, err := e.Do(map[string]any{"command": "delete", "call-id": callID, "from-tag": fromTag})
	return err
}

func (e *Engine) sdp(cmd map[string]any) (string, error) {
	r, err := e.Do(cmd)
	if err != nil {
		return "", err
	}
	s, ok := r["sdp"].(string)
	if !ok {
		return "", fmt.Errorf("rtpengine: %s: no SDP in %v", cmd["command"], r)
	}
	return s, nil
}

// Encode bencodes v: strings, ints, lists of those and dictionaries with
// string keys (written in sorted order, as bencode requires).
func Encode(v any) []byte {
	var b bytes.Buffer
	encode(&b, v)
	return b.Bytes()
}

func encode(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case string:
		fmt.Fprintf(b, "%d:%s", len(v), v)
	case []byte:
		fmt.Fprintf(b, "%d:%s", len(v), v)
	case int:
		fmt.Fprintf(b, "i%de", v)
	case []string:
		b.WriteByte('l')
		for _, x := range v {
			encode(b, x)
		}
		b.WriteByte('e')
	case []any:
		b.WriteByte('l')
		for _, x := range v {
			encode(b, x)
		}
		b.WriteByte('e')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteByte('d')
		for _, k := range keys {
			encode(b, k)
			encode(b, v[k])
		}
		b.WriteByte('e')
	default:
		panic(fmt.Sprintf("rtpenginetest: cannot bencode %T", v))
	}
}

// Decode reads one bencoded value (strings come back as string, integers
// as int64) and returns the bytes after it.
func Decode(b []byte) (any, []byte, error) {
	if len(b) == 0 {
		return nil, nil, errors.New("bencode: empty")
	}
	switch c := b[0]; {
	case c == 'i':
		end := bytes.IndexByte(b, 'e')
		if end < 0 {
			return nil, nil, errors.New("bencode: unterminated integer")
		}
		n, err := strconv.ParseInt(string(b[1:end]), 10, 64)
		return n, b[end+1:], err
	case c == 'l':
		var out []any
		b = b[1:]
		for len(b) > 0 && b[0] != 'e' {
			v, rest, err := Decode(b)
			if err != nil {
				return nil, nil, err
			}
			out, b = append(out, v), rest
		}
		if len(b) == 0 {
			return nil, nil, errors.New("bencode: unterminated list")
		}
		return out, b[1:], nil
	case c == 'd':
		out := map[string]any{}
		b = b[1:]
		for len(b) > 0 && b[0] != 'e' {
			k, rest, err := Decode(b)
			if err != nil {
				return nil, nil, err
			}
			ks, ok := k.(string)
			if !ok {
				return nil, nil, errors.New("bencode: dictionary key is not a string")
			}
			v, rest, err := Decode(rest)
			if err != nil {
				return nil, nil, err
			}
			out[ks], b = v, rest
		}
		if len(b) == 0 {
			return nil, nil, errors.New("bencode: unterminated dictionary")
		}
		return out, b[1:], nil
	case c >= '0' && c <= '9':
		colon := bytes.IndexByte(b, ':')
		if colon < 0 {
			return nil, nil, errors.New("bencode: string without a length")
		}
		n, err := strconv.Atoi(string(b[:colon]))
		if err != nil || n < 0 || colon+1+n > len(b) {
			return nil, nil, fmt.Errorf("bencode: bad string length %q", b[:colon])
		}
		return string(b[colon+1 : colon+1+n]), b[colon+1+n:], nil
	}
	return nil, nil, fmt.Errorf("bencode: unexpected %q", b[0])
}

func freeUDP(t testing.TB) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}
