package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/fxs/callerid/minimodemtest"
	"github.com/openata/ata/internal/baresiptest"
	"github.com/openata/ata/internal/kamailiotest"
)

// rfc5424RE splits an RFC 5424 message: PRI, VERSION 1, TIMESTAMP,
// HOSTNAME, APP-NAME, PROCID, MSGID, STRUCTURED-DATA ("-") and MSG.
var rfc5424RE = regexp.MustCompile(`^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|\[.*?\]) (.*)$`)

type syslogRecord struct {
	pri                 int
	ts                  time.Time
	host, app, procid   string
	msgid, sd, msg, raw string
}

func parseRFC5424(t *testing.T, b []byte) syslogRecord {
	t.Helper()
	m := rfc5424RE.FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("not an RFC 5424 message: %q", b)
	}
	pri, _ := strconv.Atoi(m[1])
	ts, err := time.Parse(time.RFC3339Nano, m[2])
	if err != nil {
		t.Fatalf("TIMESTAMP %q: %v", m[2], err)
	}
	return syslogRecord{pri: pri, ts: ts, host: m[3], app: m[4], procid: m[5], msgid: m[6], sd: m[7], msg: m[8], raw: string(b)}
}

// TestSyslogRecordsOverUDPThenTCP: with [system] syslog a UDP listener gets
// the firmware's log records as RFC 5424 (severity from the level, the
// time in [system] timezone, app "ata", the firmware's pid), the same
// records as the web UI's log view; a save that names a TCP server moves
// them there (octet counting) without a restart.
func TestSyslogRecordsOverUDPThenTCP(t *testing.T) {
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	web := freePort(t)
	f := startFirmware(t, fmt.Sprintf(`
[system]
data_dir = "DATA_DIR"
syslog = "udp://%s"
timezone = "Asia/Kathmandu"

[web]
listen = %q

[board]
name = "sim"
sim_listen = "SIM_LISTEN"
`, udp.LocalAddr(), web))
	pid := strconv.Itoa(f.cmd.Process.Pid)
	var started, debug *syslogRecord
	buf := make([]byte, 4096)
	deadline := time.Now().Add(10 * time.Second)
	for started == nil || debug == nil {
		udp.SetReadDeadline(deadline)
		n, _, err := udp.ReadFrom(buf)
		if err != nil {
			t.Fatalf("syslog over UDP: %v (started %v, a debug record %v)", err, started != nil, debug != nil)
		}
		r := parseRFC5424(t, buf[:n])
		switch {
		case strings.Contains(r.msg, `msg="ata: started"`):
			started = &r
		case r.pri == 3*8+7:
			debug = &r
		}
	}
	if r := started; r.pri != 3*8+6 || r.app != "ata" || r.procid != pid || r.msgid != "-" || r.sd != "-" {
		t.Errorf("the start record: PRI %d (want 30: daemon, informational), app %q, procid %q (want %s), msgid %q, sd %q\n%s",
			r.pri, r.app, r.procid, pid, r.msgid, r.sd, r.raw)
	}
	if _, off := started.ts.Zone(); off != 5*3600+45*60 || time.Since(started.ts).Abs() > time.Minute {
		t.Errorf("TIMESTAMP %s: want now at +05:45 (Asia/Kathmandu)", started.ts.Format(time.RFC3339Nano))
	}
	if strings.Contains(started.msg, "time=") || strings.Contains(started.msg, "level=") {
		t.Errorf("MSG repeats the header's time or level: %q", started.msg)
	}
	// The same record is in the web UI's log view.
	w := admin(t, "http://"+web)
	_, logData := w.api("GET", "/api/log", nil)
	if !strings.Contains(string(logData), "+05:45") || !strings.Contains(string(logData), `ata: started`) {
		t.Fatalf("the web UI's log view lacks the start record at +05:45:\n%.2000s", logData)
	}

	// Moved to TCP by a save.
	cfg := w.config()
	section(cfg, "system")["syslog"] = "tcp://" + tcp.Addr().String()
	if res, data := w.api("PUT", "/api/config", cfg); res.StatusCode >= 300 {
		t.Fatalf("PUT /api/config: %d %s", res.StatusCode, data)
	}
	tcp.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	conn, err := tcp.Accept()
	if err != nil {
		t.Fatalf("no TCP connection to the syslog server after the save: %v", err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	rd := bufio.NewReader(conn)
	f.phone.Hook(context.Background(), "off") // something to log
	for {
		lenStr, err := rd.ReadString(' ')
		if err != nil {
			t.Fatalf("reading an octet-counted frame: %v", err)
		}
		n, err := strconv.Atoi(strings.TrimSpace(lenStr))
		if err != nil || n <= 0 || n > 1<<16 {
			t.Fatalf("frame length %q", lenStr)
		}
		frame := make([]byte, n)
		if _, err := io.ReadFull(rd, frame); err != nil {
			t.Fatal(err)
		}
		r := parseRFC5424(t, frame)
		if r.procid != pid || r.app != "ata" {
			t.Fatalf("TCP record %q", r.raw)
		}
		if strings.Contains(r.msg, "phone:") || strings.Contains(r.msg, "fxs:") {
			break // a record logged after the move
		}
	}
	if st := w.statusSyslog(); st.Syslog != "tcp://"+tcp.Addr().String() || st.SyslogSent == 0 {
		t.Fatalf("status: %+v", st)
	}
	if m := w.get("/metrics"); !regexp.MustCompile(`(?m)^ata_syslog_sent_total [1-9]`).MatchString(m) || !strings.Contains(m, "ata_syslog_dropped_total ") {
		t.Errorf("/metrics lacks the syslog counters:\n%s", m)
	}
}

type systemStatusView struct {
	TimeZone      string `json:"time_zone"`
	LocalTime     string `json:"local_time"`
	Syslog        string `json:"syslog"`
	SyslogSent    uint64 `json:"syslog_sent"`
	SyslogDropped uint64 `json:"syslog_dropped"`
}

func (w *webClient) statusSyslog() systemStatusView {
	w.t.Helper()
	_, data := w.api("GET", "/api/status", nil)
	var v struct {
		System systemStatusView `json:"system"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		w.t.Fatal(err)
	}
	return v.System
}

// TestTimeZoneForCallerIDAndCallLog: with [system] timezone the caller ID
// the phone gets carries the local time of that zone (minimodem decodes
// the FSK), and the call log entry's times carry its offset; a save that
// changes the zone applies to the next call without a restart.
func TestTimeZoneForCallerIDAndCallLog(t *testing.T) {
	kam := kamailiotest.Start(t, kamailiotest.Config{Users: map[string]string{"1001": "secret", "3000": "pw3000"}})
	web := freePort(t)
	cfg := strings.Replace(lineConfig(kam, ""), `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = %q", web), 1)
	cfg = strings.Replace(cfg, "[system]\n", "[system]\ntimezone = \"Asia/Kathmandu\"\n", 1)
	f := startFirmware(t, cfg)
	waitRegistered(t, kam, "1001")
	w := admin(t, "http://"+web)
	caller := baresiptest.Start(t, baresiptest.Opts{User: "3000", DisplayName: "ADA", Registrar: kam.Addr().String(), Password: "pw3000"})

	ring := func(zoneName string, n int) {
		t.Helper()
		loc, _ := time.LoadLocation(zoneName)
		caller.Dial(fmt.Sprintf("sip:1001@%s", kam.Addr()))
		before := time.Now().In(loc)
		ear, err := f.phone.Listen(context.Background(), 5*time.Second) // first ring, caller ID, into the second ring
		if err != nil {
			t.Fatal(err)
		}
		after := time.Now().In(loc)
		info := minimodemtest.MDMF(t, ear, false)
		ok := false
		for _, at := range []time.Time{before, after} {
			ok = ok || (info.Time.Month() == at.Month() && info.Time.Day() == at.Day() && info.Time.Hour() == at.Hour() && info.Time.Minute() == at.Minute())
		}
		if !ok {
			t.Errorf("caller ID time %s, want %s–%s (%s)", info.Time.Format("01-02 15:04"), before.Format("01-02 15:04"), after.Format("15:04"), zoneName)
		}
		caller.Hangup() // cancelled before the answer: a call log entry
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, data := w.api("GET", "/api/calls", nil)
			var calls struct {
				Total int `json:"total"`
				Calls []struct {
					Start, End string
					Cause      string `json:"end_cause"`
				} `json:"calls"`
			}
			json.Unmarshal(data, &calls)
			if calls.Total >= n {
				c := calls.Calls[0]
				start, err := time.Parse(time.RFC3339Nano, c.Start)
				_, off := start.Zone()
				_, want := before.Zone()
				if err != nil || off != want || !strings.HasSuffix(c.End, before.Format("-07:00")) {
					t.Errorf("call log entry %+v: times not at %s's offset %s", c, zoneName, before.Format("-07:00"))
				}
				if page := w.get("/calls"); !strings.Contains(page, start.Format("2006-01-02 15:04:05")) {
					t.Errorf("the Call Log page does not show the start at %s's time %s", zoneName, start.Format("2006-01-02 15:04:05"))
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no call log entry %d: %s", n, data)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	ring("Asia/Kathmandu", 1)

	c := w.config()
	section(c, "system")["timezone"] = "America/St_Johns" // −03:30 or −02:30
	if res, data := w.api("PUT", "/api/config", c); res.StatusCode >= 300 {
		t.Fatalf("PUT /api/config: %d %s", res.StatusCode, data)
	}
	time.Sleep(time.Second) // the caller's CANCEL settles
	ring("America/St_Johns", 2)
}
