package fxs

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/openata/ata/board"
	"github.com/openata/ata/board/sim"
	"github.com/openata/ata/config"
	"github.com/openata/ata/fxs/callerid"
	"github.com/openata/ata/fxs/callerid/minimodemtest"
)

// lampHW is a fakeHW that also hears what the port says it sent.
type lampHW struct {
	*fakeHW
	lamp []edge
}

func (h *lampHW) IndicateVMWI(on bool) { h.lamp = append(h.lamp, edge{h.now, on}) }

func newLampRig(t *testing.T, regionCode string, refresh time.Duration, edit func(*config.Phone)) (*rig, *lampHW) {
	t.Helper()
	c := config.Default().Phone
	c.Region = regionCode
	if edit != nil {
		edit(&c)
	}
	opts, err := OptionsFromConfig(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts.VMWIRefresh = refresh
	hw := &lampHW{fakeHW: &fakeHW{}}
	p, err := New(hw, opts)
	if err != nil {
		t.Fatal(err)
	}
	p.HookEdge(board.HookEdge{At: 0, OffHook: false})
	return &rig{t: t, hw: hw.fakeHW, p: p}, hw
}

func TestBuildOptionsVMWIRefreshDefault(t *testing.T) {
	o, err := OptionsFromConfig(config.Default().Phone, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.VMWIRefresh != DefaultVMWIRefresh || DefaultVMWIRefresh != 15*time.Minute {
		t.Fatalf("VMWIRefresh = %v, want 15 min", o.VMWIRefresh)
	}
}

// Bell 202 (us): on hook the lamp's state goes out as FSK MDMF 0x82 without
// ringing or reversal, minimodem reads it, the board hears of it, and call
// control gets no event; the frame path allocates nothing while it plays.
func TestVMWIBell202OnHook(t *testing.T) {
	r, hw := newLampRig(t, "us", 0, nil)
	r.run(100 * time.Millisecond)
	r.events()
	for _, on := range []bool{true, false} {
		start := r.now
		r.p.SetMessageWaiting(on)
		if r.p.MessageWaiting() != on {
			t.Fatalf("MessageWaiting = %v, want %v", !on, on)
		}
		r.run(3 * time.Second)
		if got := minimodemtest.VMWI(t, r.earSince(start), false); got != on {
			t.Fatalf("minimodem decoded lamp %v, want %v", got, on)
		}
	}
	if len(hw.lamp) != 2 || !hw.lamp[0].on || hw.lamp[1].on {
		t.Fatalf("board told %v, want on then off", hw.lamp)
	}
	if len(r.hw.rings) != 0 || len(r.hw.reversal) != 0 {
		t.Fatalf("rings %v, reversals %v: want none for Bell VMWI", r.hw.rings, r.hw.reversal)
	}
	if evs := r.events(); len(evs) != 0 {
		t.Fatalf("call control got %s", kinds(evs))
	}

	r.p.SetMessageWaiting(true)
	r.run(200 * time.Millisecond) // the burst is playing (the line was quiet long enough)
	if r.p.vmwi.phase != vmwiPlaying {
		t.Fatalf("phase %v after 200 ms, want playing", r.p.vmwi.phase)
	}
	mic := make([]int16, board.FrameSamples20ms)
	ear := make([]int16, board.FrameSamples20ms)
	if n := testing.AllocsPerRun(10, func() { r.now += frame; r.p.Frame(r.now, mic, ear) }); n != 0 {
		t.Fatalf("Frame allocates %v times while sending VMWI", n)
	}
}

// ETSI (de, etsi-fsk): line reversal, DT-AS at least 100 ms later, V.23
// FSK, polarity restored; no ringing.
func TestVMWIETSIReversalDTAS(t *testing.T) {
	r, hw := newLampRig(t, "de", 0, nil)
	r.run(100 * time.Millisecond)
	start := r.now
	r.p.SetMessageWaiting(true)
	r.run(3 * time.Second)
	if len(r.hw.reversal) != 2 || !r.hw.reversal[0].on || r.hw.reversal[1].on {
		t.Fatalf("polarity edges %v, want reverse then restore", r.hw.reversal)
	}
	if len(r.hw.rings) != 0 {
		t.Fatalf("rings %v, want none", r.hw.rings)
	}
	ear := r.earSince(start)
	dtasAt := -1
	for i := 0; i+400 <= len(ear); i += 40 {
		if power(ear[i:i+400], callerid.AlertLow) > -30 && power(ear[i:i+400], callerid.AlertHigh) > -30 {
			dtasAt = i
			break
		}
	}
	if dtasAt < 0 {
		t.Fatal("no DT-AS before the VMWI FSK")
	}
	if at := start + time.Duration(dtasAt)*time.Second/board.SampleRate; at-r.hw.reversal[0].at < 100*time.Millisecond {
		t.Errorf("DT-AS %v after the reversal, want ≥ 100 ms", at-r.hw.reversal[0].at)
	}
	if !minimodemtest.VMWI(t, ear, true) {
		t.Fatal("minimodem decoded the lamp off, want on")
	}
	if len(hw.lamp) != 1 || !hw.lamp[0].on || hw.lamp[0].at < r.hw.reversal[0].at || hw.lamp[0].at > r.hw.reversal[1].at {
		t.Fatalf("board told %v, want on, within the reversal %v", hw.lamp, r.hw.reversal)
	}
}

// The state is sent again every VMWIRefresh while on hook; 0 sends it once.
func TestVMWIRefresh(t *testing.T) {
	r, hw := newLampRig(t, "us", time.Minute, nil)
	r.p.SetMessageWaiting(true)
	r.run(3 * time.Second)
	if len(hw.lamp) != 1 {
		t.Fatalf("lamp sent %d times in 3 s, want 1", len(hw.lamp))
	}
	r.run(50 * time.Second)
	if len(hw.lamp) != 1 {
		t.Fatalf("lamp sent %d times before the refresh, want 1", len(hw.lamp))
	}
	start := r.now
	r.run(15 * time.Second)
	if len(hw.lamp) != 2 || !hw.lamp[1].on || hw.lamp[1].at-hw.lamp[0].at < time.Minute {
		t.Fatalf("lamp %v, want a second 'on' a minute after the first", hw.lamp)
	}
	if !minimodemtest.VMWI(t, r.earSince(start), false) {
		t.Fatal("refresh decoded off, want on")
	}

	r.p.SetMessageWaiting(true) // unchanged: nothing new to send
	r.run(5 * time.Second)
	if len(hw.lamp) != 2 {
		t.Fatalf("setting the same state again sent it: %v", hw.lamp)
	}

	once, hw1 := newLampRig(t, "us", 0, nil)
	once.p.SetMessageWaiting(true)
	once.run(5 * time.Minute)
	if len(hw1.lamp) != 1 {
		t.Fatalf("without refresh the lamp was sent %d times, want once", len(hw1.lamp))
	}
}

// Off hook the state waits for the hang-up; a ring interrupts a burst and
// it is sent once ringing is over.
func TestVMWIWaitsForOnHookAndRinging(t *testing.T) {
	r, hw := newLampRig(t, "us", 0, nil)
	r.run(100 * time.Millisecond)
	r.hook(true, 0)
	r.run(500 * time.Millisecond)
	r.p.SetMessageWaiting(true)
	r.run(10 * time.Second)
	if len(hw.lamp) != 0 {
		t.Fatalf("lamp sent off hook: %v", hw.lamp)
	}
	r.hook(false, 0)
	start := r.now
	r.run(3 * time.Second)
	if len(hw.lamp) != 1 || !hw.lamp[0].on || hw.lamp[0].at < start+vmwiQuiet {
		t.Fatalf("lamp %v after hanging up at %v, want on after a second on hook", hw.lamp, start)
	}
	if !minimodemtest.VMWI(t, r.earSince(start), false) {
		t.Fatal("decoded off, want on")
	}

	r.p.SetMessageWaiting(false)
	r.run(200 * time.Millisecond)
	if r.p.vmwi.phase != vmwiPlaying {
		t.Fatalf("phase %v after 200 ms, want playing", r.p.vmwi.phase)
	}
	r.p.Ring(nil)
	r.run(3 * time.Second)
	if len(hw.lamp) != 1 {
		t.Fatalf("lamp %v: sent during ringing", hw.lamp)
	}
	r.p.StopRing()
	start = r.now
	r.run(3 * time.Second)
	if len(hw.lamp) != 2 || hw.lamp[1].on {
		t.Fatalf("lamp %v, want off once ringing stopped", hw.lamp)
	}
	if minimodemtest.VMWI(t, r.earSince(start), false) {
		t.Fatal("decoded on, want off")
	}
}

// On the sim board: the earpiece (what GET /listen serves) carries the
// burst while on hook, and GET /events gets {"kind":"vmwi","on":true}.
func TestVMWIOnSimBoard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := config.Default().Phone
		opts, err := OptionsFromConfig(c, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		b, err := sim.New(sim.Opts{Clock: bubbleClock{origin: time.Now()}, Logger: opts.Logger})
		if err != nil {
			t.Fatal(err)
		}
		p, err := New(b.Port(), opts)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- b.Port().Run(ctx, p) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}()
		sleep(100 * time.Millisecond)
		heard := make(chan []int16, 1)
		go func() {
			ear, err := b.Phone().Listen(ctx, 3*time.Second)
			if err != nil {
				t.Error(err)
			}
			heard <- ear
		}()
		synctest.Wait()
		p.SetMessageWaiting(true)
		sleep(3100 * time.Millisecond)
		if !minimodemtest.VMWI(t, <-heard, false) {
			t.Fatal("the earpiece carried lamp off, want on")
		}
		var vmwi []sim.Event
		for _, e := range b.Phone().Events(0) {
			if e.Kind == sim.KindVMWI {
				vmwi = append(vmwi, e)
			}
		}
		if len(vmwi) != 1 || !vmwi[0].On {
			t.Fatalf("vmwi events %+v, want one with on", vmwi)
		}
	})
}
