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
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"
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
	// One P unless the environment says otherwise. The firmware's work is
	// a few per cent of a core in periodic bursts (20 ms frames, RTP), and
	// with more Ps the Go scheduler spins idle threads at every wake-up:
	// in a 60 s G.711 call that doubled the CPU time (4.6 % of a core
	// against 2.3 %) with no gain in RTP timing or call-setup latency.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	startProfile()
	logs := newLogRing(os.Stderr, 500)
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level, ReplaceAttr: zoneLogTime}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	restart, err := run(ctx, *configPath, log, logs)
	stop()
	if err != nil {
		// Plain text, not a log record: a person fixing their config reads this.
		fmt.Fprintf(os.Stderr, "ata: %v\n", err)
		os.Exit(1)
	}
	if restart {
		// The web UI's reboot: start over as the same program, same arguments.
		exe, err := os.Executable()
		if err == nil {
			err = syscall.Exec(exe, os.Args, os.Environ())
		}
		fmt.Fprintf(os.Stderr, "ata: restart: %v\n", err)
		os.Exit(1)
	}
}

// run runs the firmware until ctx ends; restart says the web UI asked
// for a restart.
func run(ctx context.Context, configPath string, log *slog.Logger, logs *logRing) (restart bool, err error) {
	cfg, files, probs, err := loadConfig(configPath, log)
	if err != nil {
		return false, err
	}
	sys := startSystem(cfg, logs) // time zone and syslog, before the firmware logs its start
	defer sys.close()
	a, err := newApp(cfg, files, probs, log)
	if err != nil {
		return false, err
	}
	a.logs, a.sys = logs, sys
	err = a.run(ctx)
	return a.restart.Load(), err
}

// startProfile writes a CPU profile of the first ATA_CPUPROFILE_SECS
// seconds (default 20) to the file ATA_CPUPROFILE names, for developers
// measuring where the firmware spends its time (go tool pprof).
func startProfile() {
	path := os.Getenv("ATA_CPUPROFILE")
	if path == "" {
		return
	}
	secs, err := strconv.Atoi(os.Getenv("ATA_CPUPROFILE_SECS"))
	if err != nil || secs <= 0 {
		secs = 20
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ata: cpu profile: %v\n", err)
		return
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "ata: cpu profile: %v\n", err)
		return
	}
	time.AfterFunc(time.Duration(secs)*time.Second, func() {
		pprof.StopCPUProfile()
		f.Close()
	})
}
