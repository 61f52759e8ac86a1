package main

import (
	"io"
	"strings"
	"sync"
	"sync/atomic"
)

// logRing passes log output through and keeps the last lines for the web
// UI's log view. slog's text handler writes one record per Write.
type logRing struct {
	out   io.Writer
	mu    sync.Mutex
	lines []string
	next  int
	full  bool
	tee   atomic.Pointer[func(line string)] // also gets each line (syslog); must not block
}

// setTee passes every line to f as well.
func (r *logRing) setTee(f func(line string)) { r.tee.Store(&f) }

func newLogRing(out io.Writer, n int) *logRing {
	return &logRing{out: out, lines: make([]string, n)}
}

func (r *logRing) Write(p []byte) (int, error) {
	lines := strings.Split(strings.TrimRight(string(p), "\n"), "\n")
	r.mu.Lock()
	for _, line := range lines {
		r.lines[r.next] = line
		r.next = (r.next + 1) % len(r.lines)
		r.full = r.full || r.next == 0
	}
	r.mu.Unlock()
	if tee := r.tee.Load(); tee != nil {
		for _, line := range lines {
			(*tee)(line)
		}
	}
	return r.out.Write(p)
}

// Last returns up to n lines, oldest first.
func (r *logRing) Last(n int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var all []string
	if r.full {
		all = append(all, r.lines[r.next:]...)
	}
	all = append(all, r.lines[:r.next]...)
	if n < len(all) {
		all = all[len(all)-n:]
	}
	return all
}
