// Package switchboard is the SIP side as the firmware runs it: one stack
// and, per active account, a registration and a line; incoming legs from
// every line are routed to the analog port, and the port's calls go out on
// the first line. It also owns the restart policy for changed SIP
// settings: at once when the port is idle, else when its calls are over.
// It is the room the router mode (local users, trunks, routes) grows in.
package switchboard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openata/ata/call"
	"github.com/openata/ata/router"
	"github.com/openata/ata/sip"
	"github.com/openata/ata/sip/registrar"
)

// Settings are the SIP side's settings.
type Settings struct {
	Stack    sip.StackConfig
	Accounts []sip.Account // inactive ones are skipped
	// Trunks are IP trunks (accounts with TrunkFrom): no registration.
	Trunks []sip.Account
	// Router, when set, turns router mode on (router.go).
	Router *RouterSettings
	// RTPPortMin and RTPPortMax bound the calls' RTP ports.
	RTPPortMin, RTPPortMax int
}

// Port is where incoming legs ring and what places calls (phone.Phone).
type Port interface {
	Incoming(call.Leg)
	SetLine(ctx context.Context, d call.Dialer)
}

// Switchboard runs the SIP side and routes legs to the port.
type Switchboard struct {
	log     *slog.Logger
	port    Port
	idle    func() bool // the port has no call
	changed func()      // a registration's status changed
	mwi     atomic.Pointer[func(number string, st sip.MWIState)]

	mu      sync.Mutex
	ctx     context.Context
	cur     *lines
	pending *Settings
	err     error // why the current settings run no line, nil if they do
	users   users // router mode's registrar (users.go)
}

// startLines builds a generation of lines, with the registrar its
// settings ask for. sb.mu is held.
func (sb *Switchboard) startLines(s Settings) (*lines, error) {
	var regOpts *registrar.Options
	if s.Router != nil {
		regOpts = s.Router.Registrar
	}
	reg, err := sb.ensureRegistrar(regOpts, sb.log)
	if err != nil {
		return nil, err
	}
	return startLines(s, sb.log, sb.messageWaiting, reg)
}

// New builds a switchboard for port; idle reports whether the port is
// free (settings wait for it), changed is told of registration changes.
func New(port Port, idle func() bool, changed func(), log *slog.Logger) *Switchboard {
	if changed == nil {
		changed = func() {}
	}
	return &Switchboard{log: log, port: port, idle: idle, changed: changed, cur: &lines{log: log}, ctx: context.Background()}
}

// Build makes the SIP side from s without starting it (sockets bound,
// nothing sent): a bad setting fails here, before anything runs.
func (sb *Switchboard) Build(s Settings) error {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	l, err := sb.startLines(s)
	sb.err = err
	if err != nil {
		return err
	}
	sb.cur = l
	return nil
}

// Err is why the SIP side runs no line although settings have lines (a
// socket that could not be bound), or nil.
func (sb *Switchboard) Err() error {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.err
}

// Pending reports whether settings wait for the port's calls to end.
func (sb *Switchboard) Pending() bool {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.pending != nil
}

// Start registers the lines and routes their calls; ctx is the firmware's
// life (dials of transfers outlive single calls, not it).
func (sb *Switchboard) Start(ctx context.Context) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	sb.ctx = ctx
	sb.startLocked()
}

func (sb *Switchboard) startLocked() {
	l := sb.cur
	l.route(sb.ctx, sb.port)
	go sb.port.SetLine(sb.ctx, l.dialer())
	l.start(sb.changed)
}

// Apply takes new settings: now if the port is idle, else once it is
// (PortIdle). A failure leaves no line running and is logged.
func (sb *Switchboard) Apply(s Settings) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	sb.pending = &s
	if sb.idle() {
		sb.restartLocked()
	} else {
		sb.log.Info("ata: SIP settings apply when the phone is idle")
	}
}

// PortIdle applies settings that waited for the port's calls to end. It
// returns at once; the restart (which waits for the old lines to
// unregister) runs on its own goroutine.
func (sb *Switchboard) PortIdle() {
	go func() {
		sb.mu.Lock()
		defer sb.mu.Unlock()
		if sb.pending != nil && sb.idle() {
			sb.restartLocked()
		}
	}()
}

func (sb *Switchboard) restartLocked() {
	s := *sb.pending
	sb.pending = nil
	sb.cur.stop()
	l, err := sb.startLines(s)
	sb.err = err
	if err != nil {
		sb.log.Error("ata: new SIP settings failed; no line now", "err", err)
		l = &lines{log: sb.log}
	}
	sb.cur = l
	sb.startLocked()
	sb.log.Info("ata: SIP settings applied")
}

// Stop waits up to drain for calls to finish their BYE/CANCEL, then
// unregisters and releases the socket.
func (sb *Switchboard) Stop(drain time.Duration) {
	sb.mu.Lock()
	l := sb.cur
	sb.mu.Unlock()
	l.drain(drain)
	l.stop()
	sb.mu.Lock()
	if sb.users.reg != nil {
		sb.users.reg.Close()
		sb.users = users{}
	}
	sb.mu.Unlock()
}

// OnMessageWaiting sets the function told each change of a line's
// message-waiting state (its voicemail's message summary, and whether
// the subscription stands), e.g. to light the phone's lamp. It runs on a
// SIP goroutine and must not block.
func (sb *Switchboard) OnMessageWaiting(f func(number string, st sip.MWIState)) {
	sb.mwi.Store(&f)
}

func (sb *Switchboard) messageWaiting(number string, st sip.MWIState) {
	if f := sb.mwi.Load(); f != nil && *f != nil {
		(*f)(number, st)
	}
}

// MessageWaiting is the message-waiting state of the line with number.
func (sb *Switchboard) MessageWaiting(number string) (sip.MWIState, bool) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	for _, l := range sb.cur.lines {
		if l.number == number && l.mwi != nil {
			return l.mwi.State(), true
		}
	}
	return sip.MWIState{}, false
}

// Registration is the registration of the line with number, or nil.
func (sb *Switchboard) Registration(number string) *sip.Registration {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	for _, l := range sb.cur.lines {
		if l.number == number {
			return l.reg
		}
	}
	return nil
}

// SIPPort is the local SIP port, 0 without a stack.
func (sb *Switchboard) SIPPort() int {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.cur.stack == nil {
		return 0
	}
	return int(sb.cur.stack.LocalAddr().Port())
}

// lines is one generation of the SIP side.
type lines struct {
	stack   *sip.Stack
	router  *router.Router // router mode, else nil
	users   *sip.Line      // router mode's local users' line, or nil
	lines   []line
	log     *slog.Logger
	cancel  context.CancelFunc
	regDone chan struct{}
}

type line struct {
	number string
	link   string            // its name in router mode: "line:N", "trunk:NAME"
	reg    *sip.Registration // nil for a trunk
	line   *sip.Line
	mwi    *sip.MWI // nil for a trunk
}

// startLines builds the SIP side for the active accounts; with none there
// is no SIP at all (numbers dialled get reorder). Each line subscribes to
// its message summary; mwi hears the changes.
func startLines(s Settings, log *slog.Logger, mwi func(number string, st sip.MWIState), reg *registrar.Registrar) (*lines, error) {
	ls := &lines{log: log}
	for i, acct := range s.Accounts {
		if acct.Inactive {
			continue
		}
		if err := ls.ensureStack(s, log); err != nil {
			return nil, err
		}
		reg, err := sip.NewRegistration(ls.stack, acct, sip.RegOptions{Logger: log})
		if err != nil {
			ls.stack.Close()
			return nil, err
		}
		l, err := sip.NewLine(ls.stack, acct, sip.LineOptions{Logger: log, RTPPortMin: s.RTPPortMin, RTPPortMax: s.RTPPortMax,
			PublicAddr: reg.PublicAddr, ServiceRoute: reg.ServiceRoute})
		if err != nil {
			ls.stack.Close()
			return nil, err
		}
		number := acct.Number
		m, err := sip.NewMWI(ls.stack, acct, sip.MWIOptions{Logger: log, PublicAddr: reg.PublicAddr, ServiceRoute: reg.ServiceRoute,
			OnChange: func(st sip.MWIState) { mwi(number, st) }})
		if err != nil {
			ls.stack.Close()
			return nil, err
		}
		ls.lines = append(ls.lines, line{acct.Number, fmt.Sprintf("line:%d", i+1), reg, l, m})
		log.Info("ata: SIP line", "number", acct.Number, "domain", acct.ServiceDomain, "listen", ls.stack.LocalAddr())
	}
	for _, acct := range s.Trunks {
		if err := ls.ensureStack(s, log); err != nil {
			return nil, err
		}
		l, err := sip.NewLine(ls.stack, acct, sip.LineOptions{Logger: log, RTPPortMin: s.RTPPortMin, RTPPortMax: s.RTPPortMax})
		if err != nil {
			ls.stack.Close()
			return nil, err
		}
		ls.lines = append(ls.lines, line{number: acct.Number, link: "trunk:" + acct.Number, line: l})
		log.Info("ata: SIP trunk", "name", acct.Number, "dial", acct.ServiceDomain, "from", acct.TrunkFrom)
	}
	if len(ls.lines) == 0 {
		log.Info("ata: no active SIP line configured")
	}
	if s.Router != nil && reg != nil {
		var err error
		if ls.users, err = usersLine(reg, s, log); err != nil {
			if ls.stack != nil {
				ls.stack.Close()
			}
			return nil, err
		}
	}
	if s.Router != nil {
		var err error
		if ls.router, err = newRouter(s, ls, log); err != nil {
			if ls.stack != nil {
				ls.stack.Close()
			}
			return nil, err
		}
	}
	return ls, nil
}

func (ls *lines) ensureStack(s Settings, log *slog.Logger) error {
	if ls.stack != nil {
		return nil
	}
	var err error
	ls.stack, err = sip.NewStack(s.Stack, sip.WithLogger(log))
	return err
}

// dialer is what the port's calls go out on: the router in router
// mode, else the first active line; nil without either.
func (ls *lines) dialer() call.Dialer {
	if ls.router != nil {
		return ls.router
	}
	for _, l := range ls.lines {
		if l.reg != nil {
			return l.line
		}
	}
	return nil
}

// route hands incoming legs on every line to the port, or in router mode
// to the router (which rings the line's ring list).
func (ls *lines) route(ctx context.Context, p Port) {
	for _, l := range ls.lines {
		switch {
		case ls.router != nil:
			link := l.link
			l.line.OnIncoming(func(c *sip.Call) { ls.router.FromLink(ctx, link, c) })
		case l.reg != nil:
			l.line.OnIncoming(func(c *sip.Call) { p.Incoming(c) })
		default: // a trunk outside router mode has nothing to ring
			l.line.OnIncoming(func(c *sip.Call) { c.Reject(call.Unavailable) })
		}
	}
	if ls.users != nil && ls.router != nil {
		ls.users.OnIncoming(func(c *sip.Call) { ls.router.FromUser(ctx, c.AuthUser(), c.Dialled(), c) })
	}
}

// start runs the registrations and message-waiting subscriptions;
// changed is called on each registration status change.
func (ls *lines) start(changed func()) {
	ls.regDone = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	ls.cancel = cancel
	var wg sync.WaitGroup
	for _, l := range ls.lines {
		if l.reg == nil {
			continue // a trunk: nothing registers
		}
		sub, unsub := l.reg.Subscribe()
		go func() {
			for range sub {
				changed()
			}
		}()
		wg.Add(1)
		go func(reg *sip.Registration) {
			defer wg.Done()
			defer unsub()
			if err := reg.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				ls.log.Warn("ata: registration stopped", "err", err)
			}
		}(l.reg)
		wg.Add(1)
		go func(reg *sip.Registration, m *sip.MWI) { // unsubscribes before the socket closes (stop)
			defer wg.Done()
			// Subscribe once registered: a proxy routes a SUBSCRIBE for our
			// number like a call, to our binding or wherever unknown users go.
			if !registered(ctx, reg) {
				return
			}
			if err := m.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				ls.log.Warn("ata: message-waiting subscription stopped", "err", err)
			}
		}(l.reg, l.mwi)
	}
	go func() { wg.Wait(); close(ls.regDone) }()
}

// registered waits until reg is registered (true) or ctx ends (false).
func registered(ctx context.Context, reg *sip.Registration) bool {
	ch, stop := reg.Subscribe()
	defer stop()
	for reg.Status().State != sip.StateRegistered {
		select {
		case <-ctx.Done():
			return false
		case <-ch:
		}
	}
	return true
}

// drain waits a little for calls to finish their BYE/CANCEL.
func (ls *lines) drain(max time.Duration) {
	deadline := time.Now().Add(max)
	for _, l := range ls.lines {
		for l.line.Calls() > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// stop unregisters and releases the socket.
func (ls *lines) stop() {
	if ls.cancel != nil {
		ls.cancel()
	}
	if ls.regDone != nil {
		<-ls.regDone
	}
	if ls.stack != nil {
		ls.stack.Close()
	}
}
