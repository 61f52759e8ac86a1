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
	"syscall"

	"github.com/openata/ata/board"
	"github.com/openata/ata/board/sim"
	"github.com/openata/ata/config"
	"github.com/openata/ata/fxs"
	"github.com/openata/ata/phone"
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

	ph := phone.New(port, phone.Opts{Logger: log})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- port.Run(ctx) }()
	go func() { errc <- ph.Run(ctx) }()
	err = <-errc
	cancel()
	<-errc
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("ata: stopped")
	return nil
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
