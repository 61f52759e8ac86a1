// Package sim is the simulated board: a virtual analog phone plugged into a
// virtual FXS port, paced in real time like hardware. It is the firmware's
// default board. People and acceptance tests drive the phone over a small
// HTTP API bound to loopback; Go tests can use Phone or Client directly.
//
// # HTTP API
//
//	POST /hook   body "off", "on" or "flash"                    → 204
//	POST /dial   {"digits":"5551234","method":"dtmf"|"pulse"}   → 204 once sent
//	POST /speak  WAV body, 8 kHz mono 16-bit PCM                 → 204 at once
//	GET  /listen?ms=N  (1 ≤ N ≤ 120000)  → WAV of the next N ms of earpiece audio
//	GET  /events?since=SEQ → [{"seq":n,"t_ms":ms,"kind":"hook"|"ring"|"polarity"|"vmwi","on":bool}, ...]
//	GET  /state  → {"hook":"on"|"off","ringing":bool,"cas_acks":n}
//
// Errors are plain text naming the problem: 400 for a malformed request,
// 409 when dialing or flashing while on-hook, 503 when too much is queued,
// 404 for an unknown path and 405 for a wrong method.
//
// # Meaning of "on"
//
// Everything about the hook reads literally as the position of a handset
// on its hook: POST /hook "on" hangs up, /state "hook":"on" means the loop
// is open, and a "hook" event with "on":true means the loop opened (hang-up,
// or the break of a dial pulse or flash); "on":false means the loop closed
// (handset lifted, or the make after a break). This is the inverse of
// board.HookEdge.OffHook. Every loop change is an event, pulses included.
// For "ring", on is true while ringing voltage is applied; for "polarity",
// on is true while the line is reversed; "vmwi" is the message-waiting
// lamp state the port sent (the port tells the board, fxs.VMWIIndicator:
// the virtual phone decodes no FSK, though GET /listen carries the burst). t_ms is board time in ms since the
// port's Run started; seq starts at 1; the last 10000 events are kept.
//
// # The virtual handset
//
// Speech, DTMF, pulse dialing and flashes are queued and happen one after
// the other, sample-exact, in the order requested. DTMF keys are 70 ms of
// tone (row −9 dBm0, column −7 dBm0) then 70 ms of silence. Pulse dialing is
// 10 pps, 60 ms break / 40 ms make, with 700 ms of closed loop before the
// first digit (winding the dial) and between digits. A flash opens the loop for 500 ms. The mouthpiece is silent
// whenever the loop is open. Hanging up aborts dialing and flashes that are
// queued or under way (their requests get 409).
//
// Off-hook, the phone acknowledges a call-waiting CAS (2130 + 2750 Hz for
// 60–120 ms, with little else in the earpiece) as a Type II phone does: when
// the CAS ends it sends DTMF 'D' for 60 ms over whatever it was saying
// (within 20 ms of the CAS's end), and /state's cas_acks counts it.
// Opts.NoCASAck turns this off.
//
// # The line's echo
//
// With Opts.EchoERL above 0 the line has a hybrid, as a SLIC's has: the
// mouthpiece signal the port gets carries the echo of what the earpiece
// played, through an ITU-T G.168 echo path model (board/echopath)
// after a bulk delay, so the port's echo canceller can be heard and
// measured without hardware. By default there is no echo path.
package sim

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/openata/ata/board"
)

// DefaultListen is the address the firmware's config uses unless told otherwise.
const DefaultListen = "127.0.0.1:8081"

// Opts configures New.
type Opts struct {
	// Listen is the loopback host:port of the HTTP control API, for example
	// DefaultListen or "127.0.0.1:0". Empty means no HTTP server.
	Listen string
	// FrameSamples is 160 (20 ms, the default when zero) or 80 (10 ms).
	FrameSamples int
	// Clock paces the port; nil means the system's monotonic clock.
	Clock Clock
	// Logger receives the board's logs; nil means slog.Default().
	Logger *slog.Logger
	// NoCASAck makes the virtual phone a plain one that ignores the
	// call-waiting CAS; by default it acknowledges it like a Type II
	// (call-waiting caller ID) phone.
	NoCASAck bool
	// FlashBreak is how long POST /hook "flash" opens the loop: the
	// firmware's configured flash window's middle (DefaultFlashBreak when
	// zero, the middle of the default 100–900 ms).
	FlashBreak time.Duration
	// EchoERL, when above 0, gives the line a hybrid: the mouthpiece
	// signal carries the echo of what the earpiece played, this many dB
	// down, as a SLIC's 2-wire/4-wire hybrid returns it (echopath.Hybrid).
	// 0 means no echo path.
	EchoERL float64
	// EchoModel is the ITU-T G.168 Annex D echo path model, 1..8 (0: 1).
	EchoModel int
	// EchoDelay is the bulk delay in front of the echo path (a sound
	// card's buffering), 0..echopath.MaxDelay, on top of the one frame
	// that separates what the port writes from what the mouthpiece
	// captures while it plays.
	EchoDelay time.Duration
}

// Board is the simulated board: one port with a virtual phone on it.
type Board struct {
	port  *Port
	phone *Phone
	log   *slog.Logger
	ln    net.Listener
	srv   *http.Server
	done  chan struct{} // closed when the HTTP server has stopped
}

var _ board.Board = (*Board)(nil)
var _ board.Port = (*Port)(nil)

// New makes the board and, if opts.Listen is set, starts serving the HTTP
// control API on it. The address must be loopback: the API has no
// authentication and must not be reachable from the network.
func New(opts Opts) (*Board, error) {
	switch opts.FrameSamples {
	case 0:
		opts.FrameSamples = board.FrameSamples20ms
	case board.FrameSamples10ms, board.FrameSamples20ms:
	default:
		return nil, fmt.Errorf("sim: frame of %d samples: want %d or %d",
			opts.FrameSamples, board.FrameSamples10ms, board.FrameSamples20ms)
	}
	if opts.Clock == nil {
		opts.Clock = newWallClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	p := newPort(opts.FrameSamples, opts.Clock, opts.Logger, !opts.NoCASAck)
	if err := p.setHybrid(opts.EchoERL, opts.EchoModel, opts.EchoDelay); err != nil {
		return nil, err
	}
	flash := opts.FlashBreak
	if flash <= 0 {
		flash = DefaultFlashBreak
	}
	b := &Board{port: p, phone: &Phone{p: p, flash: flash}, log: opts.Logger}
	if opts.Listen == "" {
		return b, nil
	}
	ln, err := listenLoopback(opts.Listen)
	if err != nil {
		return nil, err
	}
	b.ln = ln
	b.srv = &http.Server{
		Handler:           b.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
	}
	b.done = make(chan struct{})
	go func() {
		defer close(b.done)
		if err := b.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			b.log.Error("sim: http server stopped", "err", err)
		}
	}()
	b.log.Info("sim: phone control API listening", "url", b.URL())
	return b, nil
}

// listenLoopback listens on addr after checking it can only be a loopback
// address, and checks again what the name resolved to.
func listenLoopback(addr string) (net.Listener, error) {
	notLoopback := fmt.Errorf("sim: listen address %s is not loopback", addr)
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("sim: listen address %s: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, notLoopback
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sim: listen: %w", err)
	}
	if ta, ok := ln.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
		ln.Close()
		return nil, notLoopback
	}
	return ln, nil
}

// Name implements board.Board.
func (b *Board) Name() string { return "sim" }

// Ports implements board.Board: the sim has one port.
func (b *Board) Ports() []board.Port { return []board.Port{b.port} }

// Port returns the sim's port.
func (b *Board) Port() *Port { return b.port }

// Phone returns the virtual phone on the port.
func (b *Board) Phone() *Phone { return b.phone }

// Addr is the HTTP API's host:port ("" without a server).
func (b *Board) Addr() string {
	if b.ln == nil {
		return ""
	}
	return b.ln.Addr().String()
}

// URL is the HTTP API's base URL ("" without a server).
func (b *Board) URL() string {
	if b.ln == nil {
		return ""
	}
	return "http://" + b.Addr()
}

// Close implements board.Board: it stops the HTTP server, ending requests
// still waiting on the phone.
func (b *Board) Close() error {
	if b.srv == nil {
		return nil
	}
	err := b.srv.Close()
	<-b.done
	if err != nil {
		return fmt.Errorf("sim: close: %w", err)
	}
	return nil
}
