// Command webui-demo serves the web UI on an in-memory fake backend: for
// the browser tests (webui/e2e) and for looking at the pages without a
// board. Lines "register" by themselves a moment after a save.
//
//	go run ./webui/cmd/webui-demo -listen 127.0.0.1:8080 -demo
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/openata/ata/webui"
	"github.com/openata/ata/webui/internal/fakebackend"
)

// routerMode: a package variable, so run's signature (shared with other
// flags' changes) stays as it is.
var routerMode = flag.Bool("router", false, "router mode: with -demo, users with registered phones, a trunk, routes and a routed call; saved users register a demo phone after -register-delay")

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on (port 0: any free port)")
	data := flag.String("data", "", "directory for admin.json (default: a new temporary directory)")
	demo := flag.Bool("demo", false, "start with a registered line, two calls (active and on hold) and a call log")
	delay := flag.Duration("register-delay", 800*time.Millisecond, "how long a line stays registering after a save")
	waiting := flag.Duration("call-waiting-after", 0, "with -demo: a third call arrives (waiting) this long after a status page goes live; 0: never")
	restart := flag.String("restart-needed", "", "comma-separated keys saved and waiting for a restart (the Status page offers Restart)")
	flag.Parse()
	if err := run(*listen, *data, *demo, *delay, *waiting, *restart); err != nil {
		fmt.Fprintln(os.Stderr, "webui-demo:", err)
		os.Exit(1)
	}
}

func run(listen, data string, demo bool, delay, waiting time.Duration, restart string) error {
	if data == "" {
		dir, err := os.MkdirTemp("", "webui-demo-")
		if err != nil {
			return err
		}
		data = dir
	}
	b := fakebackend.New(nil)
	b.RegisterDelay = delay
	if demo {
		b.Demo()
		if waiting > 0 {
			b.DemoCallWaiting(waiting)
		}
	}
	if *routerMode {
		if demo {
			b.DemoRouter()
		}
		b.AutoRegister = true
	}
	if restart != "" {
		b.RestartNeeded = strings.Split(restart, ",")
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	backend, err := withUpdater(b, logger) // update.go
	if err != nil {
		return err
	}
	srv, err := webui.New(backend, webui.Options{DataDir: data, Version: "demo", Logger: logger})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	// The e2e runner reads this line to find the port.
	fmt.Printf("webui-demo: listening on http://%s\n", ln.Addr())
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	return hs.Serve(ln)
}
