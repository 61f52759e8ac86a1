package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/openata/ata/config"
	"github.com/openata/ata/fxs"
	"github.com/openata/ata/sip"
	"github.com/openata/ata/sip/capture"
	"github.com/openata/ata/webui"
)

// The app is the web UI's backend.
var _ webui.Backend = (*app)(nil)

// watchers fan status changes out to the web UI's live views.
type watchers struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
	stop chan struct{} // ends tickCalls when the last watcher leaves
}

func (w *watchers) notify() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for c := range w.subs {
		select {
		case c <- struct{}{}:
		default: // a tick is already pending: they coalesce
		}
	}
}

// Changes implements webui.Backend.
func (a *app) Changes() (<-chan struct{}, func()) {
	c := make(chan struct{}, 1)
	a.watch.mu.Lock()
	if a.watch.subs == nil {
		a.watch.subs = map[chan struct{}]struct{}{}
	}
	a.watch.subs[c] = struct{}{}
	if a.watch.stop == nil {
		a.watch.stop = make(chan struct{})
		go a.tickCalls(a.watch.stop)
	}
	a.watch.mu.Unlock()
	return c, func() {
		a.watch.mu.Lock()
		defer a.watch.mu.Unlock()
		delete(a.watch.subs, c)
		if len(a.watch.subs) == 0 && a.watch.stop != nil {
			close(a.watch.stop)
			a.watch.stop = nil
		}
	}
}

// Status implements webui.Backend.
func (a *app) Status() webui.Status {
	a.mu.Lock()
	cfg := a.cfg
	a.mu.Unlock()
	snap := a.phone.Snapshot()
	st := webui.Status{
		Hook: "on", Phone: snap.State.String(), Uptime: time.Since(a.started),
		Board: a.board.Name(), Addresses: addresses(), CallsTotal: snap.CallsEnded,
	}
	if a.port.IsOffHook() {
		st.Hook = "off"
	}
	if x, ok := a.board.(interface{ XRuns() uint64 }); ok {
		st.AudioXRuns = x.XRuns()
	}
	if m, ok := a.board.(interface{ Model() string }); ok && m.Model() != "" {
		st.Board += " on " + m.Model() // the Pi model from the device tree
	}
	for i := range cfg.Lines {
		l := cfg.Lines[i]
		ls := webui.LineStatus{Number: l.Number, Domain: l.ServiceDomain, State: webui.LineInactive}
		if reg := a.sip.Registration(l.Number); reg != nil && l.IsActive() {
			rs := reg.Status()
			ls.State, ls.LastError, ls.NextRetry, ls.Expires = string(rs.State), rs.LastError, rs.NextRetry, rs.Expires
			fi := reg.Flow()
			ls.Transport, ls.TLSVersion, ls.TLSPeer, ls.TLSUnverified = fi.Transport, fi.TLSVersion, fi.PeerSubject, fi.Transport == "tls" && !fi.Verify
			ls.NotAnsweringSince, ls.LastRegistered, ls.LastKeepAliveAnswer = rs.NotAnsweringSince, rs.LastRegistered, rs.LastKeepAliveAnswer
			rc := reg.Counters()
			ls.KeepAliveMisses, ls.FlowFailures = rc.KeepAliveMisses, rc.FlowFailures
			ls.ReRegistrations = make(map[string]uint64, len(sip.ReRegCauses))
			for _, cause := range sip.ReRegCauses { // every cause, 0 included: counters appear from the start
				ls.ReRegistrations[string(cause)] = rc.ReRegistrations[cause]
			}
		}
		if mwi, ok := a.sip.MessageWaiting(l.Number); ok && l.IsActive() {
			ls.MessagesWaiting, ls.NewMessages, ls.OldMessages = mwi.Waiting, mwi.New, mwi.Old
			ls.MWISubscribed, ls.MWIError = mwi.Subscribed, mwi.LastError
		}
		st.Lines = append(st.Lines, ls)
	}
	for _, c := range snap.Calls {
		since := c.Start
		if !c.Answered.IsZero() {
			since = c.Answered
		}
		st.Calls = append(st.Calls, webui.CallStatus{Number: c.Number, Name: c.Name, Direction: c.Direction,
			Role: c.Role, FarHeld: c.FarHeld, Since: since,
			Codec: c.Media.Codec, Loss: c.Media.Loss, JitterMS: float64(c.Media.Jitter) / float64(time.Millisecond),
			RTTMS: float64(c.Media.RTT) / float64(time.Millisecond), MOS: c.Media.MOS, PassThrough: c.Media.PassThrough,
			SRTP: c.Media.SRTP})
		if cs := &st.Calls[len(st.Calls)-1]; c.Role == "active" || c.Role == "conference" {
			es := a.port.EchoStats() // the handset talks on this call: the port's canceller is on its audio
			cs.Echo, cs.EchoERL, cs.EchoERLE = echoText(es), es.ERL, es.ERLE
		}
	}
	if len(st.Calls) > 0 {
		st.Call = &st.Calls[0]
	}
	a.health(&st)
	return st
}

// echoText puts the line echo canceller's state in words.
func echoText(es fxs.EchoStats) string {
	switch {
	case !es.On:
		return "off ([phone] echo_canceller)"
	case es.Bypassed:
		return "off: a modem's answer tone"
	case es.ERL == 0 && es.ERLE == 0:
		return "on, waiting for the far end to talk"
	}
	s := fmt.Sprintf("ERLE %.0f dB, ERL %.0f dB", es.ERLE, es.ERL)
	if es.NLPOff {
		s += ", NLP off: a fax answer tone"
	}
	return s
}

// health fills what the status page says about the config: problems,
// keys waiting for a restart, the file in force, a change to confirm.
func (a *app) health(st *webui.Status) {
	for _, p := range a.problems.all() {
		st.Problems = append(st.Problems, webui.Problem{Key: p.Key, Msg: p.Msg, Fix: p.Fix})
	}
	if err := a.sip.Err(); err != nil {
		msg := err.Error()
		if key := sipErrKey(err); key == "sip.listen" {
			msg = bindError(a.Config().SIP.Listen, err).Error()
		}
		st.Problems = append(st.Problems, webui.Problem{Key: sipErrKey(err), Msg: msg, Fix: "no line is running"})
	}
	a.mu.Lock()
	st.RestartNeeded = slices.Clone(a.needRestart)
	a.mu.Unlock()
	st.ConfigFile, st.ConfigNote, st.SavesTo = a.files.InForce, a.files.Note, a.files.Save
	st.Pending = a.pendingStatus()
	st.Router = a.routerStatus()
	st.Provisioning, st.System = a.provisioningStatus(), a.systemStatus()
}

// routerStatus is router mode's users, calls and counters, nil when off.
func (a *app) routerStatus() *webui.RouterStatus {
	reg, r := a.sip.Users(), a.sip.Router()
	if reg == nil && r == nil {
		return nil
	}
	rs := &webui.RouterStatus{}
	if reg != nil {
		for _, u := range reg.Users() {
			us := webui.UserStatus{Name: u.Name, DisplayName: u.DisplayName, External: u.External}
			for _, b := range u.Bindings {
				us.Contacts = append(us.Contacts, webui.UserContact{URI: b.Contact, Source: b.Source.String(),
					Transport: b.Transport, UserAgent: b.UserAgent, Expires: b.Expires})
			}
			rs.Users = append(rs.Users, us)
		}
		s := reg.Stats()
		rs.AuthFailures, rs.BlockedSources, rs.DroppedOutside, rs.Registrations = s.AuthFailures, s.BlockedSources, s.DroppedOutside, s.Registrations
	}
	if r != nil {
		for _, c := range r.Calls() {
			rc := webui.RoutedCall{From: c.From, Caller: c.Caller, To: c.To, Route: c.Route, AnsweredBy: c.AnsweredBy,
				Start: c.Start, Answered: c.Answered}
			for _, l := range c.Legs {
				rc.Legs = append(rc.Legs, webui.RoutedLeg{ID: l.ID, Side: l.Side, Codec: l.Media.Codec, Loss: l.Media.Loss,
					JitterMS: float64(l.Media.Jitter) / float64(time.Millisecond), MOS: l.Media.MOS})
			}
			rs.Calls = append(rs.Calls, rc)
		}
	}
	return rs
}

func addresses() []string {
	var out []string
	ifs, _ := net.InterfaceAddrs()
	for _, a := range ifs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
			out = append(out, ipn.IP.String())
		}
	}
	return out
}

// CallLog implements webui.Backend.
func (a *app) CallLog(offset, limit int) ([]webui.CallRecord, int, error) {
	entries, total, err := a.calls.Read(offset, limit)
	out := make([]webui.CallRecord, len(entries))
	for i, e := range entries {
		out[i] = webui.CallRecord(e)
	}
	return out, total, err
}

// LogLines implements webui.Backend.
func (a *app) LogLines(n int) []string {
	if a.logs == nil {
		return nil
	}
	return a.logs.Last(n)
}

// Reboot implements webui.Backend: the firmware stops cleanly (calls end,
// the line unregisters) and starts again.
func (a *app) Reboot() error {
	a.log.Warn("ata: restart requested from the web UI")
	a.restart.Store(true)
	a.stop()
	return nil
}

// FactoryReset implements webui.Backend: the default settings, keeping
// the board, web and data-directory settings (they describe the device,
// not the user's account), then a restart.
func (a *app) FactoryReset() error {
	a.mu.Lock()
	cur := a.cfg
	a.mu.Unlock()
	def := config.Default()
	def.Board, def.Web, def.System = cur.Board, cur.Web, cur.System
	if err := config.Save(a.path, def); err != nil {
		return fmt.Errorf("factory reset: %w", err)
	}
	if err := a.calls.Clear(); err != nil {
		a.log.Warn("ata: factory reset: call log", "err", err)
	}
	a.log.Warn("ata: factory reset")
	return a.Reboot()
}

// StartCapture implements webui.Backend.
func (a *app) StartCapture() error {
	a.capMu.Lock()
	defer a.capMu.Unlock()
	if a.cap != nil {
		a.cap.Stop()
	}
	a.mu.Lock()
	port := 5060
	if p := a.sip.SIPPort(); p != 0 {
		port = p
	}
	a.mu.Unlock()
	// Only the ATA's own packets: its SIP socket and its calls' media
	// ports (mediaPortsChanged keeps them current), not every datagram in
	// the RTP range (other programs' RTP, DNS).
	c, err := capture.Start(capture.Options{SIPPort: port, MediaPorts: a.capturePortsLocked(time.Now())})
	if err != nil {
		return err
	}
	a.cap = c
	return nil
}

// StopCapture implements webui.Backend.
func (a *app) StopCapture() error {
	a.capMu.Lock()
	defer a.capMu.Unlock()
	if a.cap == nil {
		return errors.New("no capture is running")
	}
	return a.cap.Stop()
}

// CaptureStatus implements webui.Backend.
func (a *app) CaptureStatus() webui.CaptureStatus {
	a.capMu.Lock()
	defer a.capMu.Unlock()
	if a.cap == nil {
		return webui.CaptureStatus{Limit: capture.DefaultLimit}
	}
	s := a.cap.Status()
	return webui.CaptureStatus{Running: s.Running, Bytes: s.Bytes, Limit: s.Limit, Started: s.Started, Available: true}
}

// WritePcap implements webui.Backend.
func (a *app) WritePcap(w io.Writer) error {
	a.capMu.Lock()
	c := a.cap
	a.capMu.Unlock()
	if c == nil {
		return errors.New("no capture to download")
	}
	_, err := c.WriteTo(w)
	return err
}
