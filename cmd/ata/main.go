// Command ata is the analog telephone adapter firmware: it drives the
// board's FXS port, and (in later versions) registers the SIP account and
// serves the web UI.
//
//	ata [-config FILE] [-log-level debug|info|warn|error]
//
// Without -config it runs on the embedded default: the simulated board.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/openata/ata/board"
	"github.com/openata/ata/board/sim"
	"github.com/openata/ata/config"
	"github.com/openata/ata/fxs"
	"github.com/openata/ata/phone"
	"github.com/openata/ata/sip"
)

// version is set by the build (-ldflags -X main.version=...).
var version = "dev"

func main() {
	configPath := flag.String("config", "", "TOML configuration file (default: the embedded default, sim board)")
	logLevel := flag.String("log-level", "info", "log level: debug, info, warn or error")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version)
		return
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "ata: -log-level: %v\n", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *configPath, log); err != nil {
		// Plain text, not a log record: a person fixing their config reads this.
		fmt.Fprintf(os.Stderr, "ata: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, configPath string, log *slog.Logger) error {
	cfg, err := config.Load(configPath)
	if err != nil {
		return err
	}
	// Check every setting before touching hardware: never start half-configured.
	portOpts, err := fxs.OptionsFromConfig(cfg.Phone, log)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	b, err := openBoard(cfg, log)
	if err != nil {
		return err
	}
	defer b.Close()
	port, err := fxs.New(b.Ports()[0], portOpts)
	if err != nil {
		return err
	}
	log.Info("ata: started", "version", version, "board", b.Name(), "region", portOpts.Region.Code,
		"caller_id", portOpts.CallerID)

	lines, err := startSIP(cfg, log)
	if err != nil {
		return err
	}
	defer lines.close()
	popts := phone.Opts{Logger: log, Log: phone.OpenCallLog(filepath.Join(cfg.System.DataDir, "calls.jsonl"))}
	if err := os.MkdirAll(cfg.System.DataDir, 0o755); err != nil {
		return fmt.Errorf("system.data_dir: %w", err)
	}
	if lines.line != nil {
		popts.Line = sipDialer{lines.line}
	}
	ph := phone.New(port, popts)
	if lines.line != nil {
		lines.line.OnIncoming(func(c *sip.Call) { ph.Incoming(c) })
	}

	// Registration outlives call control so that, on shutdown, calls end
	// with BYE before the line unregisters.
	regCtx, stopReg := context.WithCancel(context.Background())
	regDone := lines.run(regCtx)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- port.Run(ctx) }()
	go func() { errc <- ph.Run(ctx) }()
	err = <-errc
	cancel()
	<-errc
	lines.drain(2 * time.Second)
	stopReg()
	<-regDone
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("ata: stopped")
	return nil
}

// sipDialer lets call control place calls on a SIP line.
type sipDialer struct{ l *sip.Line }

func (d sipDialer) Dial(ctx context.Context, number string) (phone.Call, error) {
	c, err := d.l.Dial(ctx, number)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// sipLines is the SIP side: the stack, the line's registration and calls.
type sipLines struct {
	stack *sip.Stack
	reg   *sip.Registration
	line  *sip.Line
	log   *slog.Logger
}

// startSIP builds the SIP stack for the first active [[line]]; with no
// active line there is no SIP at all (numbers dialled get reorder).
func startSIP(cfg *config.Config, log *slog.Logger) (*sipLines, error) {
	s := &sipLines{log: log}
	var lc *config.Line
	for i := range cfg.Lines {
		if cfg.Lines[i].IsActive() {
			lc = &cfg.Lines[i]
			break
		}
	}
	if lc == nil {
		log.Info("ata: no active SIP line configured")
		return s, nil
	}
	var err error
	if s.stack, err = sip.NewStack(cfg.SIP, sip.WithLogger(log)); err != nil {
		return nil, err
	}
	if s.reg, err = sip.NewRegistration(s.stack, *lc, sip.RegOptions{Logger: log}); err != nil {
		s.stack.Close()
		return nil, err
	}
	if s.line, err = sip.NewLine(s.stack, *lc, sip.LineOptions{Logger: log}); err != nil {
		s.stack.Close()
		return nil, err
	}
	log.Info("ata: SIP line", "number", lc.Number, "domain", lc.ServiceDomain, "listen", s.stack.LocalAddr())
	return s, nil
}

func (s *sipLines) run(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	if s.reg == nil {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		if err := s.reg.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Warn("ata: registration stopped", "err", err)
		}
	}()
	return done
}

// drain waits a little for calls to finish their BYE/CANCEL.
func (s *sipLines) drain(max time.Duration) {
	if s.line == nil {
		return
	}
	deadline := time.Now().Add(max)
	for s.line.Calls() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *sipLines) close() {
	if s.stack != nil {
		s.stack.Close()
	}
}

func openBoard(cfg *config.Config, log *slog.Logger) (board.Board, error) {
	switch cfg.Board.Name {
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
