// Command smoketest checks the rpi board's GPIO side on a real Raspberry Pi,
// in the style of periph.io's smoke tests: with the SLIC module unplugged
// and three jumper wires on the header it drives the hook input, rings a
// burst and reverses the line, and checks what arrives on the jumpers.
//
// Jumpers (default pins, BCM numbering; see board/rpi/README.md):
//
//	GPIO23 (pin 16) → GPIO17 (pin 11)  drives SHK: fake hook changes
//	GPIO22 (pin 15) → GPIO24 (pin 18)  reads F/R: counts ring toggles
//	GPIO27 (pin 13) → GPIO25 (pin 22)  reads RM: ring mode on and off
//
// Usage:
//
//	smoketest [-profile rpi-ag1171] [-ring-hz 20] [-burst 2s] [-edges 10]
//	          [-drive 23] [-fr-in 24] [-rm-in 25]
//
// It exits 0 when every check passes and 1 otherwise.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sync"
	"time"

	"github.com/openata/ata/board"
	"github.com/openata/ata/board/rpi"
	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
)

func main() {
	profile := flag.String("profile", rpi.DefaultProfile, "board profile")
	ringHz := flag.Float64("ring-hz", rpi.DefaultRingHz, "ring frequency, Hz")
	burst := flag.Duration("burst", 2*time.Second, "ring burst length")
	edges := flag.Int("edges", 10, "hook changes to drive")
	drive := flag.Int("drive", 23, "GPIO jumpered to SHK, driven by the test")
	frIn := flag.Int("fr-in", 24, "GPIO jumpered to F/R, read by the test")
	rmIn := flag.Int("rm-in", 25, "GPIO jumpered to RM, read by the test")
	verbose := flag.Bool("v", false, "show the board's logs")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if *verbose {
		log = slog.Default()
	}
	if err := run(log, *profile, *ringHz, *burst, *edges, *drive, *frIn, *rmIn); err != nil {
		fmt.Fprintln(os.Stderr, "smoketest: FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("smoketest: PASS")
}

func run(log *slog.Logger, profile string, ringHz float64, burst time.Duration, nEdges, drive, frIn, rmIn int) error {
	pins, err := rpi.Profile(profile)
	if err != nil {
		return err
	}
	if _, err := driverreg.Init(); err != nil {
		return fmt.Errorf("gpio drivers: %w", err)
	}
	driveP, err := openGPIO("drive", drive)
	if err != nil {
		return err
	}
	frP, err := openGPIO("fr-in", frIn)
	if err != nil {
		return err
	}
	rmP, err := openGPIO("rm-in", rmIn)
	if err != nil {
		return err
	}
	// Start on-hook before the board reads its initial state.
	onHook := gpio.Level(!pins.SHKActiveHigh)
	if err := driveP.Out(onHook); err != nil {
		return fmt.Errorf("drive GPIO%d: %w", drive, err)
	}
	b, err := rpi.New(rpi.Opts{Pins: pins, RingHz: ringHz, Audio: newTickAudio(board.FrameSamples10ms), Logger: log})
	if err != nil {
		return err
	}
	defer b.Close()
	fmt.Printf("smoketest: %s on %q, SHK GPIO%d RM GPIO%d F/R GPIO%d, ring %g Hz\n",
		b.Name(), b.Model(), pins.SHK, pins.RM, pins.FR, ringHz)

	return errors.Join(
		checkHook(b.Port(), driveP, onHook, nEdges),
		checkRing(b.Port(), frP, rmP, ringHz, burst),
		checkPolarity(b.Port(), pins, frP),
	)
}

func openGPIO(what string, n int) (gpio.PinIO, error) {
	p, err := rpi.OpenGPIO(n)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return p, nil
}

// checkHook runs the port and drives nEdges hook changes 100 ms apart: each
// must arrive as a HookEdge with the right state, 100 ms after the last.
func checkHook(port *rpi.Port, drive gpio.PinOut, onHook gpio.Level, nEdges int) error {
	const gap = 100 * time.Millisecond
	h := &edgeHandler{edges: make(chan board.HookEdge, 2*nEdges+8)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- port.Run(ctx, h) }()
	defer func() { cancel(); <-done }()

	first, err := h.next(time.Second)
	if err != nil {
		return fmt.Errorf("hook: initial edge: %w", err)
	}
	if first.OffHook {
		return errors.New("hook: initial state off-hook with SHK driven on-hook: check the jumper")
	}
	level, prev := onHook, first.At
	var worst time.Duration
	for i := range nEdges {
		time.Sleep(gap)
		level = !level
		if err := drive.Out(level); err != nil {
			return fmt.Errorf("hook: drive: %w", err)
		}
		e, err := h.next(time.Second)
		if err != nil {
			return fmt.Errorf("hook: change %d: %w", i+1, err)
		}
		if want := level != onHook; e.OffHook != want {
			return fmt.Errorf("hook: change %d reported off-hook=%t, want %t", i+1, e.OffHook, want)
		}
		if i > 0 {
			worst = max(worst, (e.At - prev - gap).Abs())
		}
		prev = e.At
	}
	if worst > 10*time.Millisecond {
		return fmt.Errorf("hook: edge times off by up to %v from the %v spacing", worst, gap)
	}
	fmt.Printf("smoketest: hook: ok, %d changes, timing within %v\n", nEdges, worst)
	return nil
}

type edgeHandler struct{ edges chan board.HookEdge }

func (h *edgeHandler) HookEdge(e board.HookEdge) {
	select {
	case h.edges <- e:
	default:
	}
}

func (h *edgeHandler) Frame(time.Duration, []int16, []int16) {}

func (h *edgeHandler) next(timeout time.Duration) (board.HookEdge, error) {
	select {
	case e := <-h.edges:
		return e, nil
	case <-time.After(timeout):
		return board.HookEdge{}, fmt.Errorf("no edge within %v", timeout)
	}
}

// checkRing rings one burst and counts the F/R edges on the jumper: 2·hz
// per second, evenly spaced, RM high during the burst and low after, F/R
// forward (high) after.
func checkRing(port *rpi.Port, fr, rm gpio.PinIn, hz float64, burst time.Duration) error {
	if err := fr.In(gpio.PullDown, gpio.BothEdges); err != nil {
		return fmt.Errorf("ring: fr-in: %w", err)
	}
	if err := rm.In(gpio.PullDown, gpio.NoEdge); err != nil {
		return fmt.Errorf("ring: rm-in: %w", err)
	}
	var (
		mu    sync.Mutex
		times []time.Time
		stop  = make(chan struct{})
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if fr.WaitForEdge(50 * time.Millisecond) {
				mu.Lock()
				times = append(times, time.Now())
				mu.Unlock()
			}
		}
	}()
	if err := port.SetRing(true); err != nil {
		return fmt.Errorf("ring: %w", err)
	}
	time.Sleep(burst / 2)
	rmDuring := rm.Read()
	time.Sleep(burst - burst/2)
	if err := port.SetRing(false); err != nil {
		return fmt.Errorf("ring: %w", err)
	}
	time.Sleep(20 * time.Millisecond)
	close(stop)
	<-done
	var errs []error
	if rmDuring != gpio.High {
		errs = append(errs, errors.New("ring: RM low during the burst"))
	}
	if rm.Read() != gpio.Low {
		errs = append(errs, errors.New("ring: RM high after the burst"))
	}
	if fr.Read() != gpio.High {
		errs = append(errs, errors.New("ring: F/R not forward after the burst"))
	}
	want := int(math.Round(2 * hz * burst.Seconds()))
	n := len(times)
	if n < want-2 || n > want+2 {
		errs = append(errs, fmt.Errorf("ring: %d F/R edges in %v, want %d ± 2 (the port made %d)", n, burst, want, port.Toggles()))
	}
	half := time.Duration(float64(time.Second) / (2 * hz))
	var worst time.Duration
	for i := 1; i < n; i++ {
		worst = max(worst, (times[i].Sub(times[i-1]) - half).Abs())
	}
	if worst > half/5 {
		errs = append(errs, fmt.Errorf("ring: a half-period was off by %v (half-period %v)", worst, half))
	}
	if len(errs) == 0 {
		fmt.Printf("smoketest: ring: ok, %d F/R edges in %v, half-periods within %v of %v\n", n, burst, worst, half)
	}
	return errors.Join(errs...)
}

// checkPolarity reverses the line and back where the profile allows it.
func checkPolarity(port *rpi.Port, pins rpi.Pins, fr gpio.PinIn) error {
	err := port.SetReversed(true)
	if !pins.CanReverse {
		if !errors.Is(err, board.ErrNotSupported) {
			return fmt.Errorf("polarity: %s cannot reverse, but SetReversed said %v", pins.Name, err)
		}
		fmt.Println("smoketest: polarity: ok, not supported by", pins.Name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("polarity: %w", err)
	}
	time.Sleep(5 * time.Millisecond)
	reversed := fr.Read()
	if err := port.SetReversed(false); err != nil {
		return fmt.Errorf("polarity: %w", err)
	}
	time.Sleep(5 * time.Millisecond)
	if reversed != gpio.Low || fr.Read() != gpio.High {
		return errors.New("polarity: F/R did not go low and back high")
	}
	fmt.Println("smoketest: polarity: ok")
	return nil
}

// tickAudio stands in for the sound card: silent frames paced by a ticker,
// so the port runs without one.
type tickAudio struct{ t *time.Ticker }

func newTickAudio(frameSamples int) *tickAudio {
	return &tickAudio{t: time.NewTicker(time.Duration(frameSamples) * time.Second / board.SampleRate)}
}

func (a *tickAudio) Read(frame []int16) error {
	<-a.t.C
	clear(frame)
	return nil
}

func (a *tickAudio) Write([]int16) error { return nil }
