package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/openata/ata/config"
)

// ntpEpochOffset is the number of seconds from 1900 (NTP era 0) to 1970.
const ntpEpochOffset = 2208988800

// sntpRequest is a client request (RFC 4330: LI 0, version 4, mode 3)
// carrying t1 as its transmit timestamp; the server echoes it back as the
// originate timestamp, which ties the reply to this request.
func sntpRequest(t1 time.Time) []byte {
	b := make([]byte, 48)
	b[0] = 0<<6 | 4<<3 | 3
	binary.BigEndian.PutUint64(b[40:], toNTP(t1))
	return b
}

// sntpOffset checks a server reply to a request sent at t1 and received
// at t4 (both on the local clock) and returns the local clock's offset:
// add it to the local time to get the server's.
func sntpOffset(reply []byte, t1, t4 time.Time) (time.Duration, error) {
	if len(reply) < 48 {
		return 0, fmt.Errorf("reply of %d bytes, want 48", len(reply))
	}
	if mode := reply[0] & 7; mode != 4 && mode != 5 {
		return 0, fmt.Errorf("reply mode %d, want 4 (server)", mode)
	}
	if li := reply[0] >> 6; li == 3 {
		return 0, errors.New("server clock not synchronized")
	}
	if stratum := reply[1]; stratum == 0 || stratum > 15 {
		return 0, fmt.Errorf("stratum %d (kiss-o'-death or unsynchronized)", stratum)
	}
	if binary.BigEndian.Uint64(reply[24:]) != toNTP(t1) {
		return 0, errors.New("originate timestamp does not match the request")
	}
	t2 := fromNTP(binary.BigEndian.Uint64(reply[32:]))
	t3 := fromNTP(binary.BigEndian.Uint64(reply[40:]))
	if binary.BigEndian.Uint64(reply[40:]) == 0 {
		return 0, errors.New("zero transmit timestamp")
	}
	return (t2.Sub(t1) + t3.Sub(t4)) / 2, nil
}

// toNTP is t as a 64-bit NTP timestamp (32.32 fixed point seconds).
func toNTP(t time.Time) uint64 {
	secs := uint64(t.Unix()+ntpEpochOffset) & 0xffffffff
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}

// fromNTP reads a timestamp. Era: a set top bit means 1968-2036, a clear
// one 2036-2104 (RFC 4330 section 3); the local clock cannot decide, as a
// board without an RTC starts in 1970.
func fromNTP(ts uint64) time.Time {
	secs := int64(ts >> 32)
	if secs&0x80000000 == 0 {
		secs += 1 << 32
	}
	nanos := int64((ts & 0xffffffff) * 1e9 >> 32)
	return time.Unix(secs-ntpEpochOffset, nanos).UTC()
}

// setClock asks each server in turn and sets the system clock from the
// first good answer.
func setClock(servers []string, timeout time.Duration) error {
	var errs []error
	for _, s := range servers {
		offset, err := query(s, timeout)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s, err))
			continue
		}
		now := time.Now().Add(offset)
		tv := syscall.NsecToTimeval(now.UnixNano())
		if err := syscall.Settimeofday(&tv); err != nil {
			return fmt.Errorf("ntp: set clock: %w", err)
		}
		fmt.Printf("ntp: clock set from %s to %s (offset %v)\n", s, now.UTC().Format(time.RFC3339), offset.Round(time.Millisecond))
		return nil
	}
	return fmt.Errorf("ntp: no server answered: %w", errors.Join(errs...))
}

func query(server string, timeout time.Duration) (time.Duration, error) {
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(server, "123")
	}
	conn, err := net.DialTimeout("udp", server, timeout)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return 0, err
	}
	t1 := time.Now()
	if _, err := conn.Write(sntpRequest(t1)); err != nil {
		return 0, err
	}
	buf := make([]byte, 128)
	n, err := conn.Read(buf)
	t4 := time.Now()
	if err != nil {
		return 0, err
	}
	return sntpOffset(buf[:n], t1, t4)
}

// ntpLoop keeps the clock set: at once, again every `every` after a
// success, every `retry` until the first success (the network may come
// up late), and at once when the config's [system] ntp_server changes.
// The configured server is asked first, then the fallbacks (network.conf,
// DHCP, pool.ntp.org). It returns when stop closes.
type ntpLoop struct {
	configured func() string // [system] ntp_server, read again each check ("" none)
	fallback   []string
	set        func(servers []string) error // setClock
	every      time.Duration
	retry      time.Duration // after a failure (10 s)
	check      time.Duration // how often configured is read (15 s)
	logf       func(format string, args ...any)
}

func (l ntpLoop) run(stop <-chan struct{}) {
	last := l.configured()
	next := time.Now()
	failures := 0
	for {
		if now := time.Now(); !now.Before(next) {
			servers := l.fallback
			if last != "" {
				servers = append([]string{last}, l.fallback...)
			}
			if err := l.set(servers); err != nil {
				// Told the first time and every 30th (a board without a
				// network would fill the console).
				if failures++; failures%30 == 1 {
					l.logf("ntp: %v; trying again every %v", err, l.retry)
				}
				next = now.Add(l.retry)
			} else {
				failures = 0
				next = now.Add(l.every)
			}
		}
		wait := min(time.Until(next), l.check)
		select {
		case <-stop:
			return
		case <-time.After(wait):
		}
		if c := l.configured(); c != last {
			l.logf("ntp: [system] ntp_server is now %q", c)
			last, next = c, time.Now()
		}
	}
}

// configuredNTP reads [system] ntp_server from the firmware's config file
// ("" when the file is missing, does not read, or sets none).
func configuredNTP(path string) string {
	if path == "" {
		return ""
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	cfg, err := config.Decode(path, data)
	if err != nil {
		return ""
	}
	return cfg.System.NTPServer
}
