package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openata/ata/board"
	"github.com/openata/ata/board/boards"
	"github.com/openata/ata/call"
	"github.com/openata/ata/config"
	"github.com/openata/ata/fxs"
	"github.com/openata/ata/fxs/dialplan"
	"github.com/openata/ata/media"
	"github.com/openata/ata/media/bridge"
	"github.com/openata/ata/phone"
	"github.com/openata/ata/router"
	"github.com/openata/ata/sip"
	"github.com/openata/ata/sip/capture"
	"github.com/openata/ata/sip/registrar"
	"github.com/openata/ata/sip/sipconfig"
	"github.com/openata/ata/switchboard"
	"github.com/openata/ata/update"
)

// app is the running firmware: the board, the analog port, call control
// and the SIP side, and the config they run on. Apply changes the config
// while everything runs.
type app struct {
	log      *slog.Logger
	path     string      // where the config is saved
	files    configFiles // where the config came from
	started  time.Time
	problems problems // what could not be used as configured

	board board.Board
	port  *fxs.Port
	phone *phone.Phone

	mu  sync.Mutex // guards cfg
	cfg *config.Config
	sip *switchboard.Switchboard

	ctx     context.Context // the app's life; set by run
	stop    context.CancelFunc
	restart atomic.Bool // run returned for a restart (web UI reboot)
	watch   watchers
	logs    *logRing // recent log lines, nil if not kept
	sys     *system  // [system] time zone and syslog (system.go); nil in some tests
	prov    *provisioner
	calls   *phone.CallLog

	mwiMu sync.Mutex
	mwi   map[string]bool // message waiting, by line number

	capMu      sync.Mutex
	cap        *capture.Capture
	mediaPorts []uint16             // the calls' RTP and RTCP ports, for the capture
	portsGone  map[uint16]time.Time // ended calls' ports the capture keeps until then

	boot        *config.Config  // the config the firmware started on
	web         *webServer      // guarded by mu
	pending     *pendingChange  // guarded by mu: an address change waiting for confirmation
	needRestart []string        // guarded by mu: changed keys that wait for a restart
	upd         *update.Manager // guarded by mu: firmware updates (update.go)
}

func newApp(cfg *config.Config, files configFiles, probs []config.Problem, log *slog.Logger) (*app, error) {
	for _, p := range probs {
		log.Error("ata: config problem", "key", p.Key, "err", p.Msg, "instead", p.Fix)
	}
	portOpts, err := portOptions(cfg.Phone, log)
	if err != nil { // MakeUsable checked it: only a bug gets here
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := os.MkdirAll(cfg.System.DataDir, 0o755); err != nil {
		probs = append(probs, config.Problem{Key: "system.data_dir", Msg: err.Error(), Fix: "the call log and saves fail until it is fixed"})
	}
	b, err := openBoard(cfg, portOpts, log)
	if err != nil {
		// The web UI must come up all the same: the port runs on a sim
		// board nobody can reach, and the status page says why.
		probs = append(probs, config.Problem{Key: "board.name", Msg: err.Error(), Fix: "the analog port is not running"})
		log.Error("ata: board failed; running without the analog port", "err", err)
		if b, err = boards.Open(boards.Options{Name: "sim", RingHz: portOpts.Region.RingHz, Logger: log}); err != nil {
			return nil, err
		}
	}
	port, err := fxs.New(b.Ports()[0], portOpts)
	if err != nil {
		b.Close()
		return nil, err
	}
	a := &app{log: log, path: files.Save, files: files, started: time.Now(), board: b, port: port, cfg: cfg, boot: cfg,
		calls: phone.OpenCallLog(filepath.Join(cfg.System.DataDir, "calls.jsonl")), stop: func() {}}
	a.problems.set(probs)
	popts := phoneOpts(cfg)
	popts.Logger, popts.Log, popts.Mixer = log, a.calls, phone.BridgeMixer{Mixer: &bridge.Mixer{}}
	popts.Now = zoneNow // [system] timezone: caller ID time and the call log
	popts.OnFeatures = a.saveFeatures
	a.phone = phone.New(port, popts)
	a.sip = switchboard.New(a.phone, a.phoneIdle, a.poke, log)
	a.sip.OnMessageWaiting(a.messageWaiting)
	if err := a.sip.Build(a.sipSettings(cfg)); err != nil {
		// Keep going without SIP: the web UI is how this gets fixed (the
		// status page shows the switchboard's error).
		log.Error("ata: SIP failed; running without lines", "err", err)
	}
	a.phone.OnTransition(func(s phone.State) {
		a.poke()
		if s == phone.Idle {
			a.sip.PortIdle()
		}
	})
	log.Info("ata: started", "version", version, "board", b.Name(), "region", portOpts.Region.Code,
		"caller_id", portOpts.CallerID, "config", files.InForce, "saves", files.Save)
	return a, nil
}

// openBoard opens the board [board] names.
func openBoard(cfg *config.Config, portOpts fxs.Options, log *slog.Logger) (board.Board, error) {
	c := cfg.Board
	return boards.Open(boards.Options{Name: c.Name, SimListen: c.SimListen,
		GPIOSHK: c.GPIOSHK, GPIORM: c.GPIORM, GPIOFR: c.GPIOFR, GPIOEnable: c.GPIOEnable,
		AudioCapture: c.AudioCapture, AudioPlayback: c.AudioPlayback, VirtualGPIOListen: c.VirtualGPIOListen,
		FlashBreak: (cfg.Phone.FlashMin.D() + cfg.Phone.FlashMax.D()) / 2,
		SimEchoERL: c.SimEchoERL, SimEchoModel: c.SimEchoModel, SimEchoDelay: c.SimEchoDelay.D(),
		RingHz: portOpts.Region.RingHz, Logger: log})
}

// run drives everything until ctx ends, then ends calls with BYE and
// unregisters.
func (a *app) run(ctx context.Context) error {
	defer a.board.Close()
	ctx, a.stop = context.WithCancel(ctx)
	a.ctx = ctx
	webErr := make(chan error, 1)
	go func() { webErr <- a.serveWeb(ctx) }()
	// Registration outlives call control so that, on shutdown, calls end
	// with BYE before the line unregisters.
	a.sip.Start(ctx)
	go a.keepGood(ctx)
	a.startProvisioning(ctx)
	a.startUpdates(ctx)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- a.port.Run(ctx) }()
	go func() { errc <- a.phone.Run(ctx) }()
	var err error
	running := 2
	select {
	case err = <-errc:
		running--
	case werr := <-webErr: // the web UI could not listen, or stopped
		if werr != nil {
			err = fmt.Errorf("web UI: %w", werr)
		}
	}
	cancel()
	a.stop()
	for ; running > 0; running-- {
		if e := <-errc; err == nil {
			err = e
		}
	}
	a.sip.Stop(2 * time.Second)
	a.capMu.Lock()
	if a.cap != nil {
		a.cap.Stop()
	}
	a.capMu.Unlock()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	a.log.Info("ata: stopped")
	return nil
}

// poke tells status watchers something changed.
func (a *app) poke() { a.watch.notify() }

// Apply validates cfg, saves it atomically and applies it without a
// restart: phone settings at once; SIP settings by re-registering (after
// the current call, if there is one). On an invalid cfg nothing changes
// and the error is a *config.KeyError. A new SIP or web address is bound
// before anything is saved (a port in use is refused, naming it) and
// rolls back by itself unless the web UI confirms it (Confirm). Board,
// data directory and metrics changes are saved and wait for a restart
// (Status says so).
func (a *app) Apply(ctx context.Context, cfg *config.Config) error {
	return a.apply(cfg, applyChecked)
}

type applyMode int

const (
	applyChecked     applyMode = iota // a save from the web UI or a feature code
	applyRollback                     // restoring the addresses of an unconfirmed change
	applyProvisioned                  // a provisioning document: checked like a save, an address change kept at once
)

func (a *app) apply(cfg *config.Config, mode applyMode) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	portOpts, err := portOptions(cfg.Phone, a.log)
	if err != nil {
		return err
	}
	if err := checkRoutes(cfg); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.cfg
	webChanged, sipChanged := old.Web.Listen != cfg.Web.Listen, old.SIP.Listen != cfg.SIP.Listen
	var webAddr string
	if mode != applyRollback && (webChanged || sipChanged) {
		if p := a.pending; p != nil {
			return &config.KeyError{Key: p.keys[0], Msg: "the last change of address waits to be confirmed until " +
				p.deadline.Format(time.TimeOnly) + "; confirm it or let it roll back first"}
		}
		if sipChanged && hasActiveLine(cfg) && !a.ownsSIPPort(cfg.SIP.Listen) {
			if err := checkBind("udp", cfg.SIP.Listen); err != nil {
				return &config.KeyError{Key: "sip.listen", Msg: err.Error()}
			}
		}
		if webChanged && a.web != nil {
			if webAddr, err = a.web.open(cfg.Web.Listen); err != nil {
				return &config.KeyError{Key: "web.listen", Msg: err.Error()}
			}
		}
	}
	if err := config.Save(a.path, cfg); err != nil {
		if webAddr != "" {
			a.web.commit(false)
		}
		return err
	}
	a.cfg = cfg
	a.systemChanged(cfg) // time zone, syslog, provisioning (provision.go)
	a.needRestart = restartKeys(a.boot, cfg)
	a.clearFixed(old, cfg)
	if !reflect.DeepEqual(old.Phone, cfg.Phone) {
		if err := a.port.SetOptions(portOpts); err != nil {
			return err
		}
	}
	if !reflect.DeepEqual(old.Phone, cfg.Phone) || !reflect.DeepEqual(old.Lines, cfg.Lines) {
		go a.phone.SetFeatures(a.ctxOrBackground(), phoneOpts(cfg).Features)
	}
	if len(a.needRestart) > 0 {
		a.log.Warn("ata: saved; these settings apply after a restart", "keys", a.needRestart)
	}
	// Router mode's tables are SIP settings too (sipSettings reads them
	// only in router mode): a user added in the web UI must reach the
	// registrar without a restart.
	routerChanged := (old.Router.Enabled || cfg.Router.Enabled) && (!reflect.DeepEqual(old.Router, cfg.Router) ||
		!reflect.DeepEqual(old.Users, cfg.Users) || !reflect.DeepEqual(old.Trunks, cfg.Trunks) || !reflect.DeepEqual(old.Routes, cfg.Routes))
	if !reflect.DeepEqual(old.SIP, cfg.SIP) || !reflect.DeepEqual(old.Lines, cfg.Lines) || routerChanged {
		a.sip.Apply(a.sipSettings(cfg))
	}
	if mode == applyChecked && (webChanged || sipChanged) {
		a.startPending(old, cfg, webAddr)
	} else if mode == applyProvisioned && webAddr != "" {
		a.web.commit(true) // nobody is at a browser to confirm it
	}
	a.poke()
	return nil
}

// clearFixed drops the problems a save has dealt with: the setting (or
// the line) changed, or the file that did not read was replaced.
func (a *app) clearFixed(old, cfg *config.Config) {
	var keep []string
	for _, p := range a.problems.all() {
		key := p.Key
		if line, ok := strings.CutPrefix(key, "line["); ok {
			key = "line[" + strings.SplitN(line, "]", 2)[0] + "]"
		}
		switch {
		case p.Key == "config":
		case p.Key == "board.name" || p.Key == "system.data_dir": // only a restart tells
			keep = append(keep, p.Key)
		default:
			ov, _ := config.Lookup(old, key)
			nv, _ := config.Lookup(cfg, key)
			if reflect.DeepEqual(ov, nv) {
				keep = append(keep, p.Key)
			}
		}
	}
	a.problems.keep(keep...)
}

func hasActiveLine(cfg *config.Config) bool {
	for _, l := range cfg.Lines {
		if l.IsActive() {
			return true
		}
	}
	return false
}

// ownsSIPPort reports whether the running stack holds the port of addr
// (then a bind test would fail on our own socket).
func (a *app) ownsSIPPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	return err == nil && port == strconv.Itoa(a.sip.SIPPort()) && a.sip.SIPPort() != 0
}

func (a *app) ctxOrBackground() context.Context {
	if a.ctx != nil {
		return a.ctx
	}
	return context.Background()
}

// messageWaiting lights the phone's lamp (VMWI) and stutters its dial tone
// while any line has a message waiting.
func (a *app) messageWaiting(number string, st sip.MWIState) {
	a.mwiMu.Lock()
	if a.mwi == nil {
		a.mwi = map[string]bool{}
	}
	a.mwi[number] = st.Waiting
	on := false
	for _, w := range a.mwi {
		on = on || w
	}
	a.mwiMu.Unlock()
	a.log.Info("ata: message waiting", "line", number, "waiting", st.Waiting, "new", st.New, "old", st.Old)
	a.port.SetMessageWaiting(on)
	a.poke()
}

// phoneIdle reports whether the port has no call (SIP settings wait for it).
func (a *app) phoneIdle() bool { return a.phone.Snapshot().State == phone.Idle }

// phoneOpts are call control's feature settings from [phone].
func phoneOpts(cfg *config.Config) phone.Opts {
	c := cfg.Phone
	o := phone.DefaultOpts()
	o.Features = phone.Features{CallWaiting: c.CallWaiting, CallWaitingCallerID: c.CallWaitingCallerID,
		ThreeWay: c.ThreeWay, TransferOnHangup: c.TransferOnHangup, RingTimeout: c.RingTimeout.D(),
		DND: c.DND, DNDCause: dndCause(c.DNDStatus), RejectAnonymous: c.RejectAnonymous,
		ForwardAlways: c.ForwardAlways, ForwardBusy: c.ForwardBusy, ForwardNoAnswer: c.ForwardNoAnswer,
		ForwardNoAnswerAfter: c.ForwardNoAnswerAfter.D(), ForwardBridge: c.ForwardMethod == "bridge",
		Hotline: c.Hotline, WarmlineAfter: c.WarmlineAfter.D(), CLIR: c.CLIR}
	for _, l := range cfg.Lines {
		if l.IsActive() {
			o.VoicemailNumber = l.VoicemailNumber // calls go out on the first active line
			break
		}
	}
	o.Codes = featureCodes(c.FeatureCodes)
	o.FaxJitter = c.FaxJitter.D()
	o.NewRelay = startRelay
	return o
}

// withFeatureCodes puts the feature codes ahead of the dial plan, each
// dialled at once (S0), so a code is taken whatever the plan allows.
func withFeatureCodes(plan string, c config.FeatureCodes) string {
	var alts []string
	for _, fc := range c.All() {
		if fc.Code != "" {
			alts = append(alts, fc.Code+"S0")
		}
	}
	if len(alts) == 0 {
		return plan
	}
	inner := strings.TrimSpace(plan)
	if strings.HasPrefix(inner, "(") && strings.HasSuffix(inner, ")") {
		inner = inner[1 : len(inner)-1]
	}
	return "(" + strings.Join(alts, "|") + "|" + inner + ")"
}

// featureCodes maps [phone.feature_codes] to call control's table.
func featureCodes(c config.FeatureCodes) map[string]phone.Action {
	m := map[string]phone.Action{}
	for code, a := range map[string]phone.Action{
		c.ForwardAlwaysOn: phone.ForwardAlwaysOn, c.ForwardAlwaysOff: phone.ForwardAlwaysOff,
		c.ForwardBusyOn: phone.ForwardBusyOn, c.ForwardBusyOff: phone.ForwardBusyOff,
		c.ForwardNoAnswerOn: phone.ForwardNoAnswerOn, c.ForwardNoAnswerOff: phone.ForwardNoAnswerOff,
		c.DNDOn: phone.DNDOn, c.DNDOff: phone.DNDOff,
		c.RejectAnonymousOn: phone.RejectAnonymousOn, c.RejectAnonymousOff: phone.RejectAnonymousOff,
		c.CallWaitingOffNext: phone.CallWaitingOffNext, c.CallWaitingOn: phone.CallWaitingOn,
		c.CallWaitingOff: phone.CallWaitingOff, c.ClirOnce: phone.ClirOnce, c.ClidOnce: phone.ClidOnce,
		c.Voicemail: phone.Voicemail,
	} {
		if code != "" {
			m[code] = a
		}
	}
	return m
}

// saveFeatures saves what a feature code changed, as a web UI save would
// (atomic, applied, survives a restart). It runs on its own goroutine:
// Apply hands the features back to call control, which is waiting here.
func (a *app) saveFeatures(f phone.Features) {
	go func() {
		a.mu.Lock()
		cfg := *a.cfg
		a.mu.Unlock()
		cfg.Lines = append([]config.Line(nil), cfg.Lines...)
		p := &cfg.Phone
		p.DND, p.RejectAnonymous, p.CallWaiting = f.DND, f.RejectAnonymous, f.CallWaiting
		p.ForwardAlways, p.ForwardBusy, p.ForwardNoAnswer = f.ForwardAlways, f.ForwardBusy, f.ForwardNoAnswer
		if err := a.Apply(a.ctxOrBackground(), &cfg); err != nil {
			a.log.Error("ata: feature code not saved", "err", err)
			return
		}
		a.log.Info("ata: feature code saved", "dnd", f.DND, "forward_always", f.ForwardAlways)
	}()
}

// dndCause is the end cause for [phone] dnd_status (validated: 486, 480, 603).
func dndCause(status int) call.Cause {
	switch status {
	case 480:
		return call.Unavailable
	case 603:
		return call.Declined
	}
	return call.Busy
}

// startRelay joins two legs' media in a mixer paced by its own clock (a
// call forwarded by bridge: the port is not in it) until stop.
func startRelay(a, b media.Endpoint) (stop func()) { return bridge.Relay(a, b, 20*time.Millisecond) }

// sipSettings maps [sip] and [[line]] to the SIP side's settings; the
// calls' media ports go to the packet capture.
func (a *app) sipSettings(cfg *config.Config) switchboard.Settings {
	s := switchboard.Settings{Stack: sipconfig.StackConfig(cfg.SIP)}
	s.Stack.OnMediaPorts = a.mediaPortsChanged
	for _, l := range cfg.Lines {
		s.Accounts = append(s.Accounts, sipconfig.AccountFromConfig(l))
	}
	if !cfg.Router.Enabled {
		return s
	}
	// Router mode: trunks take calls, routes and ring lists decide.
	rs := &switchboard.RouterSettings{PortExtension: cfg.Router.PortExtension, Port: a.phone, Record: a.recordRouted}
	reg := &registrar.Options{Listen: cfg.Router.Listen, Realm: config.DigestRealm, FailLimit: cfg.Router.AuthFailures,
		BlockFor: cfg.Router.BlockFor.D(), KeepAlive: registrar.DefaultKeepAlive, UserAgent: cfg.SIP.UserAgent, Logger: a.log}
	for _, n := range cfg.Router.AllowNetworks {
		if p, err := config.ParseNetwork(n); err == nil { // checked by config
			reg.AllowNetworks = append(reg.AllowNetworks, p)
		}
	}
	for _, u := range cfg.Users {
		rs.Users = append(rs.Users, router.User{Name: u.Name, External: u.External, DND: u.DND,
			ForwardAlways: u.ForwardAlways, ForwardBusy: u.ForwardBusy, ForwardNoAnswer: u.ForwardNoAnswer,
			ForwardNoAnswerAfter: u.ForwardNoAnswerAfter.D()})
		reg.Users = append(reg.Users, registrar.User{Name: u.Name, Password: u.Password, HA1: u.HA1MD5, HA1SHA256: u.HA1SHA256,
			DisplayName: u.DisplayName, External: u.External})
	}
	rs.Registrar = reg
	for _, r := range cfg.Routes {
		rs.Routes = append(rs.Routes, router.Route{Pattern: r.Pattern, Via: r.Via})
	}
	for _, l := range cfg.Lines {
		rs.LineRing = append(rs.LineRing, l.Ring)
	}
	for _, t := range cfg.Trunks {
		s.Trunks = append(s.Trunks, sipconfig.TrunkAccount(t))
		rs.TrunkRing = append(rs.TrunkRing, t.Ring)
	}
	s.Router = rs
	return s
}

// recordRouted writes a call the router joined to the call log. A call
// the analog port took is the port's own entry (call control logs it).
func (a *app) recordRouted(rec router.Record) {
	port := a.Config().Router.PortExtension
	if rec.AnsweredBy == port || rec.To == port {
		return
	}
	e := phone.Entry{Start: rec.Start.In(zone.Load()), End: rec.End.In(zone.Load()), Number: rec.Caller, Cause: rec.Cause, Detail: rec.Detail,
		From: rec.From, Route: rec.Route, AnsweredBy: rec.AnsweredBy, EndedBy: rec.EndedBy, Remote: rec.EndedBy == "caller"}
	e.Direction = "in"
	if strings.HasPrefix(rec.From, "user:") {
		e.Direction, e.Number, e.Name = "out", rec.To, rec.Caller
	}
	if !rec.Answered.IsZero() {
		e.Duration = rec.End.Sub(rec.Answered).Seconds()
	}
	for _, l := range rec.Legs {
		m := l.Media
		if l.Side == "caller" {
			e.Leg, e.Codec, e.Loss, e.MOS = l.ID, m.Codec, m.Loss, m.MOS
			e.JitterMS = float64(m.Jitter) / float64(time.Millisecond)
		} else {
			e.PeerLeg, e.PeerCodec, e.PeerLoss, e.PeerMOS = l.ID, m.Codec, m.Loss, m.MOS
			e.PeerJitterMS = float64(m.Jitter) / float64(time.Millisecond)
		}
	}
	if err := a.calls.Append(e); err != nil {
		a.log.Warn("ata: call log", "err", err)
	}
	a.poke()
}

// checkRoutes checks what config cannot: each route's digit map.
func checkRoutes(c *config.Config) error {
	for i, r := range c.Routes {
		if _, err := dialplan.Parse(r.Pattern); err != nil {
			return &config.KeyError{Key: fmt.Sprintf("route[%d].pattern", i), Msg: err.Error()}
		}
	}
	return nil
}

// Config is the running configuration.
func (a *app) Config() *config.Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

// portOptions checks [phone] and builds the analog port's options; a bad
// setting is a *config.KeyError naming its key.
func portOptions(c config.Phone, log *slog.Logger) (fxs.Options, error) {
	o, err := fxs.BuildOptions(fxs.Settings{Region: c.Region, CallerID: c.CallerID, RingCadence: c.RingCadence,
		FlashMin: c.FlashMin.D(), FlashMax: c.FlashMax.D(), DialPlan: withFeatureCodes(c.DialPlan, c.FeatureCodes),
		InterDigitTimeout: c.InterDigitTimeout.D(), FirstDigitTimeout: c.FirstDigitTimeout.D(),
		EchoCanceller: c.EchoCanceller, EchoTail: c.EchoTail.D(), FaxMode: c.FaxMode,
		TxGainDB: c.TxGainDB, RxGainDB: c.RxGainDB}, log)
	o.VMWIRefresh = c.VMWIRefresh.D()
	var se *fxs.SettingError
	if errors.As(err, &se) {
		return o, &config.KeyError{Key: se.Key, Msg: se.Msg}
	}
	return o, err
}
