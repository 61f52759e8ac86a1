package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// syslogQueue bounds the records waiting for the syslog server: a logger
// never waits for the network, and what does not fit is counted.
const syslogQueue = 512

// syslogFacility is daemon (3): RFC 5424 §6.2.1.
const syslogFacility = 3

// syslogMaxUDP bounds a datagram (RFC 5426 §3.2: receivers take at least
// 2048 octets); over TCP a record may be longer.
const syslogMaxUDP, syslogMaxTCP = 2048, 16 << 10

// syslogSender sends the log records the web UI's log view shows to
// [system] syslog as RFC 5424 messages, over UDP (RFC 5426) or TCP with
// octet counting (RFC 6587 §3.4.1), reconnecting after a failure. Enqueue
// never blocks.
type syslogSender struct {
	q        chan string
	change   chan struct{}
	target   atomic.Pointer[string] // "udp://host:port", "tcp://host:port" or ""
	sent     atomic.Uint64
	dropped  atomic.Uint64
	hostname string
	pid      string

	mu      sync.Mutex
	lastErr string
	stop    context.CancelFunc
	done    chan struct{}
}

func newSyslogSender() *syslogSender {
	s := &syslogSender{q: make(chan string, syslogQueue), change: make(chan struct{}, 1),
		hostname: "-", pid: strconv.Itoa(os.Getpid()), done: make(chan struct{})}
	if h, err := os.Hostname(); err == nil && h != "" {
		s.hostname = h
	}
	empty := ""
	s.target.Store(&empty)
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go s.run(ctx)
	return s
}

// set changes where records go ("" stops sending).
func (s *syslogSender) set(target string) {
	if *s.target.Load() == target {
		return
	}
	s.target.Store(&target)
	s.mu.Lock()
	s.lastErr = ""
	s.mu.Unlock()
	select {
	case s.change <- struct{}{}:
	default:
	}
}

// enqueue takes one log line (a slog text record) without waiting.
func (s *syslogSender) enqueue(line string) {
	if *s.target.Load() == "" {
		return
	}
	select {
	case s.q <- line:
	default:
		s.dropped.Add(1)
	}
}

// close sends what is queued for up to wait, then stops.
func (s *syslogSender) close(wait time.Duration) {
	deadline := time.Now().Add(wait)
	for len(s.q) > 0 && time.Now().Before(deadline) && *s.target.Load() != "" {
		time.Sleep(10 * time.Millisecond)
	}
	s.stop()
	<-s.done
}

// syslogStatus is the sender's state for the status page.
type syslogStatus struct {
	Target        string
	Sent, Dropped uint64
	LastError     string
}

func (s *syslogSender) status() syslogStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return syslogStatus{Target: *s.target.Load(), Sent: s.sent.Load(), Dropped: s.dropped.Load(), LastError: s.lastErr}
}

func (s *syslogSender) fail(err error) {
	s.mu.Lock()
	s.lastErr = err.Error()
	s.mu.Unlock()
}

// run sends queued records on one connection, dialled again after a
// failure (1 s, doubling to 30 s; records wait in the queue meanwhile).
func (s *syslogSender) run(ctx context.Context) {
	defer close(s.done)
	var conn net.Conn
	var connTarget string
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	backoff := time.Second
	for {
		var line string
		select {
		case <-ctx.Done():
			return
		case <-s.change:
			continue
		case line = <-s.q:
		}
		for {
			target := *s.target.Load()
			if target == "" {
				break // sending stopped: the record goes nowhere
			}
			if conn != nil && connTarget != target {
				conn.Close()
				conn = nil
			}
			if conn == nil {
				c, err := dialSyslog(target)
				if err != nil {
					s.fail(err)
					select {
					case <-ctx.Done():
						return
					case <-s.change:
					case <-time.After(backoff):
					}
					backoff = min(2*backoff, 30*time.Second)
					continue
				}
				conn, connTarget, backoff = c, target, time.Second
			}
			msg := formatRFC5424(line, s.hostname, s.pid)
			var err error
			if strings.HasPrefix(target, "tcp://") {
				if len(msg) > syslogMaxTCP {
					msg = msg[:syslogMaxTCP]
				}
				conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
				_, err = conn.Write(append(strconv.AppendInt(nil, int64(len(msg)), 10), append([]byte{' '}, msg...)...))
				if err != nil {
					// The stream broke: this record goes again on a new connection.
					s.fail(err)
					conn.Close()
					conn = nil
					continue
				}
			} else {
				if len(msg) > syslogMaxUDP {
					msg = msg[:syslogMaxUDP]
				}
				if _, err = conn.Write(msg); err != nil { // e.g. refused: nobody listens (yet)
					s.fail(err)
					s.dropped.Add(1)
					break
				}
			}
			s.sent.Add(1)
			break
		}
	}
}

func dialSyslog(target string) (net.Conn, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	c, err := net.DialTimeout(u.Scheme, u.Host, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("syslog %s: %w", target, err)
	}
	return c, nil
}

// formatRFC5424 makes an RFC 5424 message of a slog text record
// ("time=… level=INFO msg=… key=value…"): PRI from the level, TIMESTAMP
// from time= (the firmware's time zone, milliseconds), HOSTNAME, APP-NAME
// "ata", PROCID, no MSGID, no structured data, and the record without its
// time and level as MSG.
func formatRFC5424(line, hostname, pid string) []byte {
	rest := line
	ts := "-"
	if v, r, ok := cutField(rest, "time="); ok {
		if _, err := time.Parse(time.RFC3339Nano, v); err == nil {
			ts = v
		}
		rest = r
	}
	sev := 6 // informational
	if v, r, ok := cutField(rest, "level="); ok {
		switch {
		case strings.HasPrefix(v, "DEBUG"):
			sev = 7
		case strings.HasPrefix(v, "INFO"):
			sev = 6
		case strings.HasPrefix(v, "WARN"):
			sev = 4
		case strings.HasPrefix(v, "ERROR"):
			sev = 3
		}
		rest = r
	}
	b := make([]byte, 0, len(rest)+len(hostname)+64)
	b = append(b, '<')
	b = strconv.AppendInt(b, syslogFacility*8+int64(sev), 10)
	b = append(b, ">1 "...)
	b = append(b, ts...)
	b = append(b, ' ')
	b = append(b, hostname...)
	b = append(b, " ata "...)
	b = append(b, pid...)
	b = append(b, " - - "...)
	return append(b, rest...)
}

// cutField takes a leading "key=value " off a record.
func cutField(s, key string) (value, rest string, ok bool) {
	if !strings.HasPrefix(s, key) {
		return "", s, false
	}
	s = s[len(key):]
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", true
}
