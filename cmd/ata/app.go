package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openata/ata/board"
	"github.com/openata/ata/board/rpi"
	"github.com/openata/ata/board/rpi/alsa"
	"github.com/openata/ata/board/rpi/vgpio"
	"github.com/openata/ata/board/sim"
	"github.com/openata/ata/config"
	"github.com/openata/ata/fxs"
	"github.com/openata/ata/phone"
	"github.com/openata/ata/sip/capture"
)

// app is the running firmware: the board, the analog port, call control
// and the SIP side, and the config they run on. Apply changes the config
// while everything runs.
type app struct {
	log     *slog.Logger
	path    string // where the config is saved
	started time.Time

	board board.Board
	port  *fxs.Port
	phone *phone.Phone

	mu      sync.Mutex // guards cfg, sip and pending
	cfg     *config.Config
	sip     *sipLines
	pending *config.Config // SIP settings waiting for the call to end

	ctx     context.Context // the app's life; set by run
	stop    context.CancelFunc
	restart atomic.Bool // run returned for a restart (web UI reboot)
	watch   watchers
	logs    *logRing // recent log lines, nil if not kept
	calls   *phone.CallLog

	capMu sync.Mutex
	cap   *capture.Capture
}

// The RTP ports calls use (RTCP on the odd port above each).
const rtpPortMin, rtpPortMax = 10000, 20000

func newApp(cfg *config.Config, path string, log *slog.Logger) (*app, error) {
	// Check every setting before touching hardware: never start half-configured.
	portOpts, err := fxs.OptionsFromConfig(cfg.Phone, log)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := os.MkdirAll(cfg.System.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("system.data_dir: %w", err)
	}
	b, err := openBoard(cfg, portOpts.Region.RingHz, log)
	if err != nil {
		return nil, err
	}
	port, err := fxs.New(b.Ports()[0], portOpts)
	if err != nil {
		b.Close()
		return nil, err
	}
	a := &app{log: log, path: path, started: time.Now(), board: b, port: port, cfg: cfg,
		calls: phone.OpenCallLog(filepath.Join(cfg.System.DataDir, "calls.jsonl")), stop: func() {}}
	a.sip, err = startSIP(cfg, log)
	if err != nil {
		b.Close()
		return nil, err
	}
	popts := phone.Opts{Logger: log, Log: a.calls}
	if d := a.sip.dialer(); d != nil {
		popts.Line = d
	}
	a.phone = phone.New(port, popts)
	a.phone.OnTransition(func(phone.State) { a.poke(); a.applyPending() })
	a.sip.connect(a.phone)
	log.Info("ata: started", "version", version, "board", b.Name(), "region", portOpts.Region.Code,
		"caller_id", portOpts.CallerID, "config", path)
	return a, nil
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
	a.mu.Lock()
	a.sip.start(a.poke)
	a.mu.Unlock()
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
	a.mu.Lock()
	s := a.sip
	a.mu.Unlock()
	s.drain(2 * time.Second)
	s.stop()
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
// and the error is a *config.KeyError.
func (a *app) Apply(ctx context.Context, cfg *config.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	portOpts, err := fxs.OptionsFromConfig(cfg.Phone, a.log)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.cfg
	if err := config.Save(a.path, cfg); err != nil {
		return err
	}
	a.cfg = cfg
	if !reflect.DeepEqual(old.Phone, cfg.Phone) {
		if err := a.port.SetOptions(portOpts); err != nil {
			return err
		}
	}
	if !reflect.DeepEqual(old.Board, cfg.Board) || old.Web != cfg.Web || old.System != cfg.System {
		a.log.Warn("ata: board, web and system settings apply after a restart")
	}
	if !reflect.DeepEqual(old.SIP, cfg.SIP) || !reflect.DeepEqual(old.Lines, cfg.Lines) {
		a.pending = cfg
		if a.phone.Snapshot().State == phone.Idle {
			a.restartSIPLocked()
		} else {
			a.log.Info("ata: SIP settings apply when the phone is idle")
		}
	}
	a.poke()
	return nil
}

// applyPending applies SIP settings saved during a call once it is over.
// It runs on call control's goroutine, so the restart (which waits for the
// old line to unregister) goes on its own.
func (a *app) applyPending() {
	if a.phone.Snapshot().State != phone.Idle {
		return
	}
	go func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.pending != nil && a.phone.Snapshot().State == phone.Idle {
			a.restartSIPLocked()
		}
	}()
}

// restartSIPLocked replaces the SIP side with one built from a.pending:
// the old line unregisters and releases the socket, the new one registers.
func (a *app) restartSIPLocked() {
	cfg := a.pending
	a.pending = nil
	a.sip.stop()
	s, err := startSIP(cfg, a.log)
	if err != nil {
		a.log.Error("ata: new SIP settings failed; no line now", "err", err)
		s = &sipLines{log: a.log}
	}
	a.sip = s
	ctx := a.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	go a.phone.SetLine(ctx, s.dialer())
	s.connect(a.phone)
	s.start(a.poke)
	a.log.Info("ata: SIP settings applied")
}

// Config is the running configuration.
func (a *app) Config() *config.Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

func openBoard(cfg *config.Config, ringHz float64, log *slog.Logger) (board.Board, error) {
	switch cfg.Board.Name {
	case "rpi-ag1171", "rpi-ks0835":
		return openPi(cfg.Board, ringHz, log)
	case "sim":
		b, err := sim.New(sim.Opts{Listen: cfg.Board.SimListen, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("board sim: %w", err)
		}
		log.Info("ata: sim board control API", "url", "http://"+b.Addr())
		return b, nil
	}
	return nil, fmt.Errorf("board %q: unknown (known: %v)", cfg.Board.Name, config.Boards)
}

// openPi opens a Raspberry Pi with a SLIC module: the profile's pins (with
// the config's overrides) and the sound card, in 20 ms frames to match
// the RTP packet time.
func openPi(c config.Board, ringHz float64, log *slog.Logger) (board.Board, error) {
	pins, err := rpi.Profile(c.Name)
	if err != nil {
		return nil, err
	}
	for _, o := range []struct {
		dst *int
		v   int
	}{{&pins.SHK, c.GPIOSHK}, {&pins.RM, c.GPIORM}, {&pins.FR, c.GPIOFR}, {&pins.Enable, c.GPIOEnable}} {
		if o.v != 0 {
			*o.dst = o.v
		}
	}
	if err := pins.Validate(); err != nil {
		return nil, fmt.Errorf("board.gpio_*: %w", err)
	}
	const frame = board.FrameSamples20ms
	audio, err := alsa.OpenDuplex(c.AudioCapture, c.AudioPlayback, alsa.Config{}, frame)
	if err != nil {
		return nil, fmt.Errorf("board %s: audio: %w", c.Name, err)
	}
	opts := rpi.Opts{Pins: pins, RingHz: ringHz, FrameSamples: frame, Audio: audio, Logger: log}
	var b *rpi.Board
	var lines *vgpio.Lines
	if c.VirtualGPIOListen != "" {
		// No SLIC: virtual control lines over HTTP, the sound card for real.
		lines = vgpio.New(pins, log)
		addr, lerr := lines.Serve(c.VirtualGPIOListen)
		if lerr != nil {
			audio.Close()
			return nil, fmt.Errorf("board %s: board.virtual_gpio_listen: %w", c.Name, lerr)
		}
		log.Warn("ata: virtual GPIOs instead of the SLIC's (board.virtual_gpio_listen)", "url", "http://"+addr)
		b, err = rpi.NewWithPins(opts, lines.PinSet())
	} else {
		b, err = rpi.New(opts)
	}
	if err != nil {
		audio.Close()
		if lines != nil {
			lines.Close()
		}
		return nil, fmt.Errorf("board %s: %w", c.Name, err)
	}
	log.Info("ata: board", "name", b.Name(), "model", b.Model(), "capture", c.AudioCapture, "playback", c.AudioPlayback)
	return piBoard{b, audio, lines}, nil
}

// piBoard closes the sound card (and the virtual GPIOs' API) with the board.
type piBoard struct {
	*rpi.Board
	audio *alsa.Duplex
	lines *vgpio.Lines // nil on real GPIOs
}

// XRuns counts the sound card's overruns and underruns.
func (b piBoard) XRuns() uint64 {
	st := b.audio.Stats()
	return st.CaptureXRuns + st.PlaybackXRuns
}

func (b piBoard) Close() error {
	err := b.Board.Close()
	if aerr := b.audio.Close(); err == nil {
		err = aerr
	}
	if b.lines != nil {
		b.lines.Close()
	}
	return err
}
