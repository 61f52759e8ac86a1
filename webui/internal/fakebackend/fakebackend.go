// Package fakebackend is an in-memory webui.Backend for the web UI's tests
// and its demo server: Apply validates like the firmware, then the lines
// "register" by themselves after a delay, so a browser test can watch the
// status page change.
package fakebackend

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/openata/ata/config"
	"github.com/openata/ata/fxs/dialplan"
	"github.com/openata/ata/fxs/region"
	"github.com/openata/ata/webui"
)

// WrongPassword is the SIP password the fake registrar refuses with 403.
const WrongPassword = "wrong"

// Backend is the fake. Exported fields may be read under Lock/Unlock.
type Backend struct {
	// RegisterDelay is how long a line stays "registering" after Apply.
	RegisterDelay time.Duration
	Clock         func() time.Time

	mu     sync.Mutex
	xruns  uint64
	cfg    *config.Config
	lines  []webui.LineStatus
	hook   string
	phone  string
	active []webui.CallStatus // the port's calls, the current one first
	calls  []webui.CallRecord // oldest first
	log    []string
	start  time.Time
	subs   map[chan struct{}]bool
	// waitingAfter > 0: DemoCallWaiting is armed.
	waitingAfter time.Duration
	capture      webui.CaptureStatus
	pcap         bytes.Buffer
	timers       []*time.Timer
	Applies      int // successful Apply calls
	Reboots      int
	Resets       int
	ApplyErr     error // returned by Apply when set (a backend failure)
	// Problems, RestartNeeded and Pending are what Status reports of the
	// config's health; tests set them. Confirm clears Pending when its
	// token matches and counts in Confirms.
	Problems      []webui.Problem
	RestartNeeded []string
	Pending       *webui.PendingChange
	Confirms      int
	// Router mode (reported while [router] enabled): the users' registered
	// phones by name, the routed calls and the registrar's counters.
	// AutoRegister: after a save, each user it added gets a phone after
	// RegisterDelay (a softphone registering, for the demo).
	contacts     map[string][]webui.UserContact
	routed       []webui.RoutedCall
	routerCount  webui.RouterStatus
	AutoRegister bool
}

// New returns a fake running cfg (nil: the default configuration).
func New(cfg *config.Config) *Backend {
	if cfg == nil {
		cfg = config.Default()
	}
	b := &Backend{
		RegisterDelay: 800 * time.Millisecond, Clock: time.Now,
		cfg: cfg, hook: "on", phone: "idle", subs: map[chan struct{}]bool{},
		capture: webui.CaptureStatus{Limit: 10 << 20},
	}
	b.start = b.Clock()
	b.lines = b.lineStates(cfg, webui.LineRegistered)
	b.logf("ata: started on board %s", cfg.Board.Name)
	return b
}

func (b *Backend) logf(format string, args ...any) {
	b.log = append(b.log, b.Clock().UTC().Format("2006-01-02T15:04:05.000Z ")+fmt.Sprintf(format, args...))
	if len(b.log) > 1000 {
		b.log = b.log[len(b.log)-1000:]
	}
}

func (b *Backend) lineStates(cfg *config.Config, state string) []webui.LineStatus {
	out := make([]webui.LineStatus, len(cfg.Lines))
	for i, l := range cfg.Lines {
		out[i] = webui.LineStatus{Number: l.Number, Domain: l.ServiceDomain, State: state, Transport: l.TransportName()}
		if !l.IsActive() {
			out[i].State = webui.LineInactive
		} else if state == webui.LineRegistered {
			out[i].Expires = b.Clock().Add(l.RegisterExpires.D())
			tlsStatus(&out[i], l)
		}
	}
	return out
}

// tlsStatus fills in what a registered TLS line's connection shows.
func tlsStatus(ls *webui.LineStatus, l config.Line) {
	if ls.Transport == "tls" {
		ls.TLSVersion, ls.TLSPeer, ls.TLSUnverified = "TLS 1.3", "CN="+l.ServiceDomain, !l.TLSVerifyOn()
	}
}

// Lock and Unlock guard the exported counters.
func (b *Backend) Lock()   { b.mu.Lock() }
func (b *Backend) Unlock() { b.mu.Unlock() }

// notify ticks every subscriber without blocking (ticks coalesce).
func (b *Backend) notify() {
	for ch := range b.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Subscribers counts open Changes subscriptions.
func (b *Backend) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

func (b *Backend) Status() webui.Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := webui.Status{
		Lines: append([]webui.LineStatus(nil), b.lines...), Hook: b.hook, Phone: b.phone,
		Uptime: b.Clock().Sub(b.start), Addresses: []string{"192.0.2.10", "2001:db8::10"}, Board: b.cfg.Board.Name,
		CallsTotal: uint64(len(b.calls)), AudioXRuns: b.xruns,
		Problems: append([]webui.Problem(nil), b.Problems...), RestartNeeded: append([]string(nil), b.RestartNeeded...),
		Pending: b.Pending, SavesTo: "data/ata.toml",
	}
	// [system] time zone and syslog as cmd/ata reports them.
	if loc, err := time.LoadLocation(b.cfg.System.Timezone); err == nil {
		st.System = &webui.SystemStatus{TimeZone: loc.String(), LocalTime: b.Clock().In(loc), Syslog: b.cfg.System.Syslog}
	}
	if b.cfg.Router.Enabled {
		rs := b.routerCount
		rs.Calls = append([]webui.RoutedCall(nil), b.routed...)
		for _, u := range b.cfg.Users {
			rs.Users = append(rs.Users, webui.UserStatus{Name: u.Name, DisplayName: u.DisplayName, External: u.External,
				Contacts: append([]webui.UserContact(nil), b.contacts[u.Name]...)})
		}
		st.Router = &rs
	}
	if len(b.active) > 0 {
		st.Calls = append([]webui.CallStatus(nil), b.active...)
		st.Call = &st.Calls[0]
	}
	return st
}

func (b *Backend) Changes() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	b.subs[ch] = true
	if b.waitingAfter > 0 {
		b.startCallWaiting()
	}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}

func (b *Backend) Config() *config.Config {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cfg
}

// Validate checks cfg as the firmware does: the config package's checks
// and the meaning of region, caller ID, cadence and dial plan.
// Like config.Validate it fills the lines' defaults in cfg.
func Validate(cfg *config.Config) error {
	if err := cfg.Validate(); err != nil {
		var ke *config.KeyError
		if errors.As(err, &ke) {
			return &webui.FieldErrors{Fields: map[string]string{ke.Key: ke.Msg}}
		}
		return err
	}
	fe := &webui.FieldErrors{Fields: map[string]string{}}
	if _, err := region.Lookup(cfg.Phone.Region); err != nil {
		fe.Fields["phone.region"] = err.Error()
	}
	if _, err := dialplan.Parse(cfg.Phone.DialPlan); err != nil {
		fe.Fields["phone.dial_plan"] = err.Error()
	}
	for i, r := range cfg.Routes { // as cmd/ata's checkRoutes
		if _, err := dialplan.Parse(r.Pattern); err != nil {
			fe.Fields[fmt.Sprintf("route[%d].pattern", i)] = err.Error()
		}
	}
	if cfg.Phone.RingCadence != "" {
		if _, err := region.ParseCadence(cfg.Phone.RingCadence); err != nil {
			fe.Fields["phone.ring_cadence"] = err.Error()
		}
	}
	if len(fe.Fields) > 0 {
		return fe
	}
	return nil
}

// Apply validates, "saves" and re-registers every active line: registering
// now, registered (or failing, for WrongPassword) after RegisterDelay.
func (b *Backend) Apply(ctx context.Context, cfg *config.Config) error {
	if err := Validate(cfg); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ApplyErr != nil {
		return b.ApplyErr
	}
	known := map[string]bool{}
	for _, u := range b.cfg.Users {
		known[u.Name] = true
	}
	b.cfg = cfg
	b.Applies++
	b.lines = b.lineStates(cfg, webui.LineRegistering)
	b.logf("config: saved and applied (%d lines)", len(cfg.Lines))
	b.notify()
	gen := b.Applies
	b.timers = append(b.timers, time.AfterFunc(b.RegisterDelay, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.Applies != gen {
			return // a newer Apply owns the lines
		}
		for i, l := range b.cfg.Lines {
			if !l.IsActive() {
				continue
			}
			if l.Password == WrongPassword {
				b.lines[i].State, b.lines[i].LastError = webui.LineFailing, "403 Forbidden"
				b.lines[i].NextRetry = b.Clock().Add(20 * time.Minute)
				b.logf("sip: line %s: REGISTER: 403 Forbidden", l.Number)
				continue
			}
			b.lines[i].State, b.lines[i].LastError = webui.LineRegistered, ""
			b.lines[i].Expires = b.Clock().Add(l.RegisterExpires.D())
			tlsStatus(&b.lines[i], l)
			b.logf("sip: line %s@%s: registered", l.Number, l.ServiceDomain)
		}
		if b.AutoRegister && b.cfg.Router.Enabled {
			for i, u := range b.cfg.Users {
				if !known[u.Name] && len(b.contacts[u.Name]) == 0 {
					b.setContactsLocked(u.Name, webui.UserContact{URI: fmt.Sprintf("sip:%s@192.0.2.%d:5060;transport=udp", u.Name, 60+i),
						Source: fmt.Sprintf("192.0.2.%d:5060", 60+i), Transport: "udp", UserAgent: "Linphone 5.2 (demo)",
						Expires: b.Clock().Add(time.Hour)})
					b.logf("registrar: %s registered from 192.0.2.%d:5060", u.Name, 60+i)
				}
			}
		}
		b.notify()
	}))
	return nil
}

// Close stops pending registration timers.
func (b *Backend) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, t := range b.timers {
		t.Stop()
	}
}

// SetLine changes a line's state and ticks Changes (tests drive SSE with it).
func (b *Backend) SetLine(i int, st webui.LineStatus) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.lines) <= i {
		b.lines = append(b.lines, webui.LineStatus{})
	}
	b.lines[i] = st
	b.notify()
}

// SetXRuns sets the sound card xrun count Status reports.
func (b *Backend) SetXRuns(n uint64) {
	b.mu.Lock()
	b.xruns = n
	b.mu.Unlock()
}

// SetCall sets (or with nil ends) the port's only call, the hook and the
// call-control state, and ticks Changes.
func (b *Backend) SetCall(c *webui.CallStatus, hook, phone string) {
	var calls []webui.CallStatus
	if c != nil {
		calls = []webui.CallStatus{*c}
	}
	b.SetCalls(calls, hook, phone)
}

// SetCalls sets every call of the port (the current one first; none: no
// call), the hook and the call-control state, and ticks Changes.
func (b *Backend) SetCalls(calls []webui.CallStatus, hook, phone string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.active, b.hook, b.phone = append([]webui.CallStatus(nil), calls...), hook, phone
	b.notify()
}

// SetContacts sets a user's registered phones (none: not registered) and
// ticks Changes.
func (b *Backend) SetContacts(user string, cs ...webui.UserContact) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.setContactsLocked(user, cs...)
	b.notify()
}

func (b *Backend) setContactsLocked(user string, cs ...webui.UserContact) {
	if b.contacts == nil {
		b.contacts = map[string][]webui.UserContact{}
	}
	b.contacts[user] = append([]webui.UserContact(nil), cs...)
}

// SetRoutedCalls sets the calls the router joins now and ticks Changes.
func (b *Backend) SetRoutedCalls(calls ...webui.RoutedCall) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.routed = append([]webui.RoutedCall(nil), calls...)
	b.notify()
}

// SetRouterCounters sets the registrar's counters Status reports.
func (b *Backend) SetRouterCounters(authFailures uint64, blocked int, dropped, registrations uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.routerCount = webui.RouterStatus{AuthFailures: authFailures, BlockedSources: blocked, DroppedOutside: dropped, Registrations: registrations}
	b.notify()
}

// AddCalls appends records to the call log (oldest first).
func (b *Backend) AddCalls(recs ...webui.CallRecord) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, recs...)
}

func (b *Backend) CallLog(offset, limit int) ([]webui.CallRecord, int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	total := len(b.calls)
	var out []webui.CallRecord
	for i := total - 1 - offset; i >= 0 && len(out) < limit; i-- {
		out = append(out, b.calls[i])
	}
	return out, total, nil
}

func (b *Backend) LogLines(n int) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n > len(b.log) {
		n = len(b.log)
	}
	return append([]string(nil), b.log[len(b.log)-n:]...)
}

func (b *Backend) Confirm(token string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Pending == nil || b.Pending.Token != token {
		return false
	}
	b.Pending = nil
	b.Confirms++
	b.notify()
	return true
}

func (b *Backend) Reboot() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.Reboots++
	b.logf("ata: reboot requested")
	return nil
}

func (b *Backend) FactoryReset() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.Resets++
	b.cfg = config.Default()
	b.lines = nil
	b.logf("ata: factory reset")
	b.notify()
	return nil
}

func (b *Backend) StartCapture() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pcap.Reset()
	// pcap global header: magic, v2.4, UTC, accuracy 0, snaplen, Ethernet.
	binary.Write(&b.pcap, binary.LittleEndian, []uint32{0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1})
	b.capture = webui.CaptureStatus{Running: true, Bytes: int64(b.pcap.Len()), Limit: b.capture.Limit, Started: b.Clock(), Available: true}
	b.logf("capture: started")
	return nil
}

func (b *Backend) StopCapture() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.capture.Running {
		return errors.New("no capture is running")
	}
	b.capture.Running = false
	b.logf("capture: stopped, %d bytes", b.pcap.Len())
	return nil
}

func (b *Backend) CaptureStatus() webui.CaptureStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.capture
}

func (b *Backend) WritePcap(w io.Writer) error {
	b.mu.Lock()
	data := bytes.Clone(b.pcap.Bytes())
	b.mu.Unlock()
	_, err := w.Write(data)
	return err
}

// Demo fills the fake with a registered line (2 new voice messages), a
// failing one, two calls (one active, one
// on hold) and a call log, for screenshots.
func (b *Backend) Demo() {
	t := true
	cfg := config.Default()
	cfg.Lines = []config.Line{{Active: &t, Number: "4930123456", DisplayName: "Kitchen", ServiceDomain: "sip.example.net",
		AuthUser: "4930123456", Password: "s3cret-sip-pw", Registrar: "sip.example.net:5060",
		RegisterExpires: config.Duration(time.Hour), Codecs: []string{"PCMA", "PCMU"}, DTMFMode: "rfc4733", Ptime: 20}}
	cfg.Phone.Region = "de"
	b.mu.Lock()
	b.cfg = cfg
	b.lines = b.lineStates(cfg, webui.LineRegistered)
	b.lines[0].MessagesWaiting, b.lines[0].NewMessages, b.lines[0].OldMessages, b.lines[0].MWISubscribed = true, 2, 5, true
	b.lines = append(b.lines, webui.LineStatus{Number: "1002", Domain: "voip.example.org", State: webui.LineFailing,
		LastError: "403 Forbidden", NextRetry: b.Clock().Add(17 * time.Minute)})
	b.mu.Unlock()
	b.SetCalls(demoCalls(b.Clock()), "off", "talking")
	base := b.Clock().Add(-48 * time.Hour)
	names := []string{"Erika Muster", "", "Pizza Roma", "", "Dr. Weber", "", "Erika Muster"}
	// Each call-log entry is one leg: cause, the signalling's words, who ended it.
	ends := []struct {
		cause, detail string
		remote        bool
	}{
		{"normal", "", false}, {"normal", "BYE", true}, {"busy", "486 Busy Here", true},
		{"unavailable", "480 Temporarily Unavailable", true}, {"transferred", "REFER 202 Accepted", false},
		{"cancelled", "CANCEL", true}, {"no-response", "408 Request Timeout", false},
	}
	for i := range 40 {
		start := base.Add(time.Duration(i) * 70 * time.Minute)
		dur := float64((i*37)%600 + 5)
		end := ends[i%len(ends)]
		r := webui.CallRecord{Start: start, End: start.Add(time.Duration(dur) * time.Second), Direction: []string{"in", "out"}[i%2],
			Number: fmt.Sprintf("+49301234%04d", i*7), Name: names[i%len(names)], Duration: dur, Cause: end.cause,
			Detail: end.detail, Remote: end.remote, Leg: fmt.Sprintf("leg-%d", i+1),
			Codec: "PCMA", Loss: float64(i%4) * 0.006, JitterMS: 2 + float64(i%7), MOS: 4.4 - float64(i%5)*0.25}
		switch end.cause {
		case "busy", "unavailable", "cancelled", "no-response": // never answered
			r.Duration, r.Codec, r.Loss, r.JitterMS, r.MOS = 0, "", 0, 0, 0
			r.End = start.Add(time.Duration(i%30+3) * time.Second)
		}
		b.AddCalls(r)
	}
	b.mu.Lock()
	for _, l := range strings.Split(demoLog, "\n") {
		b.logf("%s", l)
	}
	b.mu.Unlock()
}

// demoCalls are the demo's calls at now: one active, one on hold.
func demoCalls(now time.Time) []webui.CallStatus {
	return []webui.CallStatus{
		{Number: "+4930987654", Name: "Erika Muster", Direction: "in", Role: "active", Since: now.Add(-83 * time.Second),
			Codec: "PCMA", Loss: 0.004, JitterMS: 3.2, MOS: 4.31},
		{Number: "+4940555123", Name: "Pizza Roma", Direction: "out", Role: "held", Since: now.Add(-251 * time.Second),
			Codec: "PCMU", Loss: 0.012, JitterMS: 7.9, MOS: 4.05},
	}
}

// DemoCallWaiting arms the demo's call waiting: d after the first Changes
// subscription (a status page going live), a third call arrives (waiting)
// and the held party puts us on hold too, so a browser test can watch the
// status page show it without a reload.
func (b *Backend) DemoCallWaiting(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.waitingAfter = d
}

// startCallWaiting runs under b.mu.
func (b *Backend) startCallWaiting() {
	d := b.waitingAfter
	b.waitingAfter = 0
	b.timers = append(b.timers, time.AfterFunc(d, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for i := range b.active {
			if b.active[i].Role == "held" {
				b.active[i].FarHeld = true
			}
		}
		b.active = append(b.active, webui.CallStatus{Number: "+4989111222", Name: "Dr. Weber", Direction: "in",
			Role: "waiting", Since: b.Clock()})
		b.logf("phone: call waiting: +4989111222 \"Dr. Weber\"")
		b.notify()
	}))
}

const demoLog = `sip: listening on 0.0.0.0:5060 (udp)
sip: line 4930123456@sip.example.net: REGISTER -> 401 Unauthorized, retrying with credentials
sip: line 4930123456@sip.example.net: registered, expires 3600s
sip: line 1002@voip.example.org: REGISTER -> 403 Forbidden, next try in 20m0s
phone: incoming call from +4930987654 "Erika Muster"
fxs: ringing, cadence 1s on 4s off, caller ID etsi-fsk
phone: answered, codec PCMA, ptime 20
phone: call waiting answered: +4930987654 active, +4940555123 on hold`

// DemoPassword is the SIP password of the demo's users.
const DemoPassword = "kitchen-phone-42"

// DemoRouter turns the demo into router mode: users 201 (two phones), 202
// (one) and 203 (internal only, not registered), a trunk, two routes, a
// routed call in progress and routed calls in the call log. Call it after
// Demo.
func (b *Backend) DemoRouter() {
	now := b.Clock()
	b.mu.Lock()
	cfg := *b.cfg
	cfg.Router.Enabled = true
	user := func(name, display string, external bool) config.User {
		md5hex, shahex := config.UserHA1(name, DemoPassword)
		return config.User{Name: name, DisplayName: display, External: external, HA1MD5: md5hex, HA1SHA256: shahex}
	}
	cfg.Users = []config.User{user("201", "Kitchen", true), user("202", "Office", true), user("203", "Kids", false)}
	cfg.Trunks = []config.Trunk{{Name: "carrier", Addresses: []string{"203.0.113.5", "198.51.100.0/28"}, Dial: "carrier.example.net:5060", Ring: []string{"100", "202"}}}
	cfg.Routes = []config.Route{{Pattern: "<9:>xx.", Via: "trunk:carrier"}, {Pattern: "0xx.", Via: "line:1"}}
	cfg.Lines = append([]config.Line(nil), cfg.Lines...)
	for i := range cfg.Lines {
		cfg.Lines[i].Ring = []string{"100", "201"}
	}
	b.cfg = &cfg
	b.setContactsLocked("201",
		webui.UserContact{URI: "sip:201@192.168.1.23:5060", Source: "192.168.1.23:5060", Transport: "udp", UserAgent: "Yealink SIP-T46U 108.86.0.20", Expires: now.Add(52 * time.Minute)},
		webui.UserContact{URI: "sip:201@192.168.1.77:49152;transport=tcp;ob", Source: "192.168.1.77:49152", Transport: "tcp", UserAgent: "Linphone-Android/5.2.5", Expires: now.Add(9 * time.Minute)})
	b.setContactsLocked("202", webui.UserContact{URI: "sip:202@192.168.1.40:5062", Source: "192.168.1.40:5062", Transport: "udp", UserAgent: "baresip v3.16.0", Expires: now.Add(47 * time.Minute)})
	b.routed = []webui.RoutedCall{{From: "user:202", Caller: "202", To: "030123456", Route: "line:1", AnsweredBy: "030123456",
		Start: now.Add(-131 * time.Second), Answered: now.Add(-125 * time.Second), Legs: []webui.RoutedLeg{
			{ID: "u-202-1", Side: "caller", Codec: "PCMU", Loss: 0.001, JitterMS: 1.4, MOS: 4.38},
			{ID: "l-1-9", Side: "callee", Codec: "PCMA", Loss: 0.008, JitterMS: 6.2, MOS: 4.21}}}}
	b.routerCount = webui.RouterStatus{AuthFailures: 23, BlockedSources: 1, DroppedOutside: 412, Registrations: 57}
	b.mu.Unlock()
	start := now.Add(-3 * time.Hour)
	b.AddCalls(
		webui.CallRecord{Start: start, End: start.Add(4 * time.Minute), Direction: "out", Number: "030987654", Name: "201", Duration: 231,
			Cause: "normal", From: "user:201", Route: "line:1", AnsweredBy: "030987654", EndedBy: "callee", Remote: false,
			Leg: "u-201-4", Codec: "PCMU", Loss: 0.002, JitterMS: 1.8, MOS: 4.36,
			PeerLeg: "l-1-4", PeerCodec: "PCMA", PeerLoss: 0.011, PeerJitterMS: 7.5, PeerMOS: 4.12},
		webui.CallRecord{Start: start.Add(time.Hour), End: start.Add(time.Hour + 2*time.Minute), Direction: "in", Number: "+4930555777",
			Name: "Erika Muster", Duration: 104, Cause: "normal", From: "trunk:carrier", Route: "trunk:carrier", AnsweredBy: "202",
			EndedBy: "caller", Remote: true, Leg: "t-carrier-2", Codec: "PCMA", Loss: 0.004, JitterMS: 4.1, MOS: 4.27,
			PeerLeg: "u-202-7", PeerCodec: "PCMU", PeerLoss: 0, PeerJitterMS: 0.9, PeerMOS: 4.41},
	)
}
