package boards

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openata/ata/board"
	"github.com/openata/ata/board/sim"
)

// loud plays a square wave into the earpiece and keeps the mouthpiece.
type loud struct {
	mu     sync.Mutex
	mic    []int16
	frames int
}

func (l *loud) HookEdge(board.HookEdge) {}
func (l *loud) Frame(at time.Duration, mic, ear []int16) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mic = append(l.mic, mic...)
	l.frames++
	for i := range ear {
		ear[i] = 4000
		if i%8 < 4 {
			ear[i] = -4000
		}
	}
}

// micEnergy runs the sim board from o for 10 frames with the handset
// lifted and sums the mouthpiece's energy.
func micEnergy(t *testing.T, o Options) float64 {
	t.Helper()
	o.Name, o.Logger = "sim", slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.(*sim.Board).Phone().Hook(context.Background(), sim.HookOff); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &loud{}
	done := make(chan error, 1)
	go func() { done <- b.Ports()[0].Run(ctx, h) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.mu.Lock()
		n := h.frames
		h.mu.Unlock()
		if n >= 10 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	var e float64
	for _, v := range h.mic {
		e += float64(v) * float64(v)
	}
	return e
}

// The [board] sim_echo_* settings reach the sim board's line.
func TestSimEcho(t *testing.T) {
	if e := micEnergy(t, Options{}); e != 0 {
		t.Errorf("no echo path: mouthpiece energy %g", e)
	}
	if e := micEnergy(t, Options{SimEchoERL: 6, SimEchoModel: 3, SimEchoDelay: 5 * time.Millisecond}); e == 0 {
		t.Error("sim_echo_erl 6: the mouthpiece carries no echo")
	}
	_, err := Open(Options{Name: "sim", SimEchoERL: 6, SimEchoModel: 9})
	if err == nil || !strings.Contains(err.Error(), "model") {
		t.Errorf("model 9: %v", err)
	}
}
