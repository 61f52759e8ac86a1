package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSyslogEnqueueNeverBlocks: with a TCP server that takes the
// connection and never reads, 50,000 records of 1 KB are handed over
// without waiting (the socket buffers fill, the queue fills), and every
// record is accounted for: sent, dropped (counted) or still queued.
func TestSyslogEnqueueNeverBlocks(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never read
		}
	}()
	s := newSyslogSender()
	defer s.close(0)
	s.set("tcp://" + l.Addr().String())
	line := "time=2026-12-03T12:00:00.000Z level=INFO msg=\"x\" pad=" + strings.Repeat("x", 1000)
	const n = 50_000
	start := time.Now()
	for range n {
		s.enqueue(line)
	}
	took := time.Since(start)
	if took > 2*time.Second {
		t.Fatalf("handing over %d records took %v: the logger waited for the network", n, took)
	}
	st := s.status()
	if st.Dropped == 0 || st.Sent+st.Dropped+uint64(len(s.q)) > n || st.Sent+st.Dropped+uint64(len(s.q))+1 < n {
		t.Fatalf("sent %d + dropped %d + queued %d, want %d (one may be in the sender's hands)", st.Sent, st.Dropped, len(s.q), n)
	}
	t.Logf("%d records handed over in %v: %d sent, %d dropped, %d queued", n, took, st.Sent, st.Dropped, len(s.q))
}

// readFrames reads octet-counted RFC 5424 frames from c into out.
func readFrames(c net.Conn, out chan<- string) {
	rd := bufio.NewReader(c)
	for {
		n, err := rd.ReadString(' ')
		if err != nil {
			return
		}
		size, err := strconv.Atoi(strings.TrimSpace(n))
		if err != nil {
			return
		}
		b := make([]byte, size)
		if _, err := io.ReadFull(rd, b); err != nil {
			return
		}
		out <- string(b)
	}
}

// TestSyslogTCPReconnects: when the TCP syslog server goes away and comes
// back on its address, the sender connects again by itself and the
// records logged after its return arrive.
func TestSyslogTCPReconnects(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	frames := make(chan string, 100)
	conns := make(chan net.Conn, 10)
	serve := func(l net.Listener) {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns <- c
			go readFrames(c, frames)
		}
	}
	go serve(l)
	s := newSyslogSender()
	defer s.close(0)
	s.set("tcp://" + addr)
	want := func(msg string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case f := <-frames:
				if strings.Contains(f, msg) {
					return
				}
			case <-deadline:
				t.Fatalf("%q never arrived (status %+v)", msg, s.status())
			}
		}
	}
	s.enqueue(`time=2026-12-03T12:00:00.000Z level=INFO msg="before"`)
	want(`msg="before"`)
	// The server goes away: its listener and its connection.
	l.Close()
	(<-conns).Close()
	time.Sleep(100 * time.Millisecond)
	l2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	go serve(l2)
	for i := range 20 { // the first writes may still go to the dead connection
		s.enqueue(fmt.Sprintf(`time=2026-12-03T12:00:01.000Z level=WARN msg="after %d"`, i))
		time.Sleep(50 * time.Millisecond)
	}
	want(`msg="after 19"`)
	if st := s.status(); st.LastError == "" {
		t.Errorf("the broken connection left no error in the status: %+v", st)
	}
}

func TestFormatRFC5424(t *testing.T) {
	got := string(formatRFC5424(`time=2026-12-03T23:05:12.345+05:45 level=WARN msg="ata: x" k=v`, "box", "42"))
	if want := `<28>1 2026-12-03T23:05:12.345+05:45 box ata 42 - - msg="ata: x" k=v`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	got = string(formatRFC5424(`no header at all`, "box", "42"))
	if want := `<30>1 - box ata 42 - - no header at all`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
