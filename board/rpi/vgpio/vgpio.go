// Package vgpio stands in for a SLIC module's control lines: virtual GPIOs
// that the Raspberry Pi board (board/rpi) drives exactly as it drives real
// ones, with the hook switch set and the ring and polarity lines watched
// over a small HTTP API. It lets a sound card be tried before a SLIC module
// is wired ("lift the handset" with curl, hear the dial tone on the
// card), and it is how the QEMU image test runs the Pi board, ALSA audio
// included, on a machine that has no SLIC.
//
// # HTTP API (the sim board's /hook and /state, plus the line's outputs)
//
//	POST /hook   body "off", "on" or "flash"   → 204
//	GET  /state  → {"hook":"on"|"off","ringing":bool,"reversed":bool,"enabled":bool,
//	                "fr_toggles":n,"ring_hz":f,"last_burst_ms":n}
//
// "ringing" is the RM line (high while the board rings), "fr_toggles" counts
// F/R changes (the ring signal: 2 per ring cycle), "ring_hz" is the ring
// frequency in the current or last burst (from the median time between F/R
// changes, so a late toggle does not skew it; 0 before any burst),
// "last_burst_ms" how long RM stayed high in the last finished burst,
// "reversed" is F/R held in reverse while not ringing, "enabled" is the
// enable line (true when the profile has none). A flash opens the loop for
// FlashDuration.
package vgpio

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/openata/ata/board/rpi"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"
)

// FlashDuration is how long POST /hook "flash" opens the loop.
const FlashDuration = 500 * time.Millisecond

// Lines is a set of virtual SLIC control lines for one port.
type Lines struct {
	pins          rpi.Pins
	shk           *Line
	rm, fr, en    *Line
	meter         ringMeter
	hookMu        sync.Mutex
	hookGen       uint64 // bumped by every action: a flash's end applies only if none came after
	log           *slog.Logger
	ln            net.Listener
	srv           *http.Server
	serveFinished chan struct{}
}

// New makes the lines for the wiring p (the profile says which SHK level
// means off-hook and whether an enable line exists). The hook starts on.
func New(p rpi.Pins, log *slog.Logger) *Lines {
	if log == nil {
		log = slog.Default()
	}
	l := &Lines{
		pins: p,
		shk:  newLine("SHK", p.SHK),
		rm:   newLine("RM", p.RM),
		fr:   newLine("FR", p.FR),
		log:  log,
	}
	if p.Enable != 0 {
		l.en = newLine("Enable", p.Enable)
	}
	l.shk.set(l.level(false))
	l.rm.onChange = l.meter.rm
	l.fr.onChange = l.meter.fr
	return l
}

// PinSet is what rpi.NewWithPins takes.
func (l *Lines) PinSet() rpi.PinSet {
	ps := rpi.PinSet{SHK: l.shk, RM: l.rm, FR: l.fr}
	if l.en != nil {
		ps.Enable = l.en
	}
	return ps
}

// level is the SHK level for a loop state.
func (l *Lines) level(offHook bool) gpio.Level {
	return gpio.Level(offHook == l.pins.SHKActiveHigh)
}

// setHook lifts (off = true) or replaces the virtual handset.
func (l *Lines) setHook(off bool) { l.shk.drive(l.level(off)) }

// Hook performs a /hook action: "off", "on" or "flash". A flash ends
// (the loop closes again) after FlashDuration unless another action came
// in the meantime.
func (l *Lines) Hook(action string) error {
	l.hookMu.Lock()
	defer l.hookMu.Unlock()
	switch action {
	case "off", "on":
		l.hookGen++
		l.setHook(action == "off")
	case "flash":
		if !l.OffHook() {
			return errors.New("vgpio: flash while on-hook")
		}
		l.hookGen++
		gen := l.hookGen
		l.setHook(false)
		time.AfterFunc(FlashDuration, func() {
			l.hookMu.Lock()
			defer l.hookMu.Unlock()
			if l.hookGen == gen {
				l.setHook(true)
			}
		})
	default:
		return fmt.Errorf("vgpio: hook action %q: want off, on or flash", action)
	}
	return nil
}

// OffHook reports the virtual handset's position.
func (l *Lines) OffHook() bool { return l.shk.Read() == l.level(true) }

// State is the body of GET /state.
type State struct {
	Hook      string  `json:"hook"`
	Ringing   bool    `json:"ringing"`
	Reversed  bool    `json:"reversed"`
	Enabled   bool    `json:"enabled"`
	FRToggles uint64  `json:"fr_toggles"`
	RingHz    float64 `json:"ring_hz"`
	LastBurst int64   `json:"last_burst_ms"`
}

// State reads the lines.
func (l *Lines) State() State {
	s := State{Hook: "on", Enabled: true}
	if l.OffHook() {
		s.Hook = "off"
	}
	s.Ringing = l.rm.Read() == gpio.High
	fr, toggles := l.fr.levelAndChanges()
	s.FRToggles = toggles
	// F/R high is forward (both built-in profiles).
	s.Reversed = !s.Ringing && fr == gpio.Low
	if l.en != nil {
		s.Enabled = l.en.Read() == gpio.Level(!l.pins.EnableActiveLow)
	}
	s.RingHz, s.LastBurst = l.meter.read()
	return s
}

// maxBody bounds a /hook body.
const maxBody = 64

// Handler is the HTTP API (see the package comment).
func (l *Lines) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hook", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			http.Error(w, fmt.Sprintf("vgpio: hook: reading body: %v", err), http.StatusBadRequest)
			return
		}
		action := strings.ToLower(strings.TrimSpace(string(body)))
		if err := l.Hook(action); err != nil {
			code := http.StatusBadRequest
			if action == "flash" {
				code = http.StatusConflict
			}
			http.Error(w, err.Error(), code)
			return
		}
		l.log.Info("vgpio: hook", "action", action)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /state", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(l.State())
	})
	return mux
}

// Serve starts the HTTP API on addr ("127.0.0.1:8081"); Close stops it.
// It returns the address listened on.
func (l *Lines) Serve(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("vgpio: listen %s: %w", addr, err)
	}
	l.ln = ln
	l.srv = &http.Server{Handler: l.Handler(), ReadHeaderTimeout: 5 * time.Second}
	l.serveFinished = make(chan struct{})
	go func() {
		defer close(l.serveFinished)
		l.srv.Serve(ln)
	}()
	return ln.Addr().String(), nil
}

// Close stops the HTTP API.
func (l *Lines) Close() error {
	if l.srv == nil {
		return nil
	}
	err := l.srv.Close()
	<-l.serveFinished
	l.srv = nil
	return err
}

// Line is one virtual GPIO. It implements gpio.PinIO: the board configures
// and drives it like a /dev/gpiochip line; WaitForEdge wakes on drive.
type Line struct {
	name  string
	num   int
	edges chan struct{}

	mu       sync.Mutex
	level    gpio.Level
	pull     gpio.Pull
	changes  uint64
	onChange func(gpio.Level, time.Time) // outputs the meter watches; set before use
}

var _ gpio.PinIO = (*Line)(nil)

func newLine(name string, num int) *Line {
	return &Line{name: name, num: num, edges: make(chan struct{}, 1)}
}

func (p *Line) set(l gpio.Level) {
	p.mu.Lock()
	changed := l != p.level
	if changed {
		p.level = l
		p.changes++
	}
	p.mu.Unlock()
	if changed && p.onChange != nil {
		p.onChange(l, time.Now())
	}
}

// ringMeter times the ring signal as the board drives it: RM's bursts and
// the intervals between F/R changes within a burst.
type ringMeter struct {
	mu         sync.Mutex
	ringing    bool
	burstStart time.Time
	lastBurst  time.Duration
	lastFR     time.Time
	halves     [128]time.Duration // F/R intervals of the current or last burst
	n          int
}

func (m *ringMeter) rm(l gpio.Level, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch on := l == gpio.High; {
	case on && !m.ringing:
		m.ringing, m.burstStart, m.lastFR, m.n = true, at, at, 0
	case !on && m.ringing:
		m.ringing, m.lastBurst = false, at.Sub(m.burstStart)
	}
}

func (m *ringMeter) fr(_ gpio.Level, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.ringing {
		return // polarity, not ringing
	}
	if m.n < len(m.halves) {
		m.halves[m.n] = at.Sub(m.lastFR)
		m.n++
	}
	m.lastFR = at
}

// read returns the ring frequency (from the median half-period) and the
// last finished burst's length in ms.
func (m *ringMeter) read() (hz float64, burstMS int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n > 0 {
		h := append([]time.Duration(nil), m.halves[:m.n]...)
		slices.Sort(h)
		if med := h[len(h)/2]; med > 0 {
			hz = 1 / (2 * med.Seconds())
		}
	}
	return hz, m.lastBurst.Milliseconds()
}

// drive sets an input's level from outside, as the SLIC would, and wakes
// WaitForEdge when it changed.
func (p *Line) drive(l gpio.Level) {
	p.mu.Lock()
	changed := l != p.level
	p.level = l
	if changed {
		p.changes++
	}
	p.mu.Unlock()
	if changed {
		select {
		case p.edges <- struct{}{}:
		default: // an edge is already pending; Read gives the latest level
		}
	}
}

func (p *Line) levelAndChanges() (gpio.Level, uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.level, p.changes
}

func (p *Line) String() string                        { return fmt.Sprintf("vgpio %s (GPIO%d)", p.name, p.num) }
func (p *Line) Name() string                          { return fmt.Sprintf("GPIO%d", p.num) }
func (p *Line) Number() int                           { return p.num }
func (p *Line) Function() string                      { return string(p.Func()) }
func (p *Line) Func() pin.Func                        { return gpio.IN }
func (p *Line) SupportedFuncs() []pin.Func            { return []pin.Func{gpio.IN, gpio.OUT} }
func (p *Line) SetFunc(f pin.Func) error              { return errors.New("vgpio: SetFunc not supported") }
func (p *Line) Halt() error                           { return nil }
func (p *Line) DefaultPull() gpio.Pull                { return gpio.Float }
func (p *Line) PWM(gpio.Duty, physic.Frequency) error { return errors.New("vgpio: PWM not supported") }

// In keeps the level: the virtual SLIC drives it, whatever the pull.
func (p *Line) In(pull gpio.Pull, edge gpio.Edge) error {
	p.mu.Lock()
	p.pull = pull
	p.mu.Unlock()
	return nil
}

func (p *Line) Pull() gpio.Pull {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pull
}

func (p *Line) Read() gpio.Level {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.level
}

func (p *Line) Out(l gpio.Level) error {
	p.set(l)
	return nil
}

// WaitForEdge waits for a drive that changed the level; timeout -1 waits
// for ever.
func (p *Line) WaitForEdge(timeout time.Duration) bool {
	if timeout < 0 {
		<-p.edges
		return true
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.edges:
		return true
	case <-t.C:
		return false
	}
}
