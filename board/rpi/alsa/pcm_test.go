package alsa

import (
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestOpenNegotiates(t *testing.T) {
	for _, tc := range []struct {
		name                           string
		setup                          func(*fakeDev)
		cfg                            Config
		rate, channels, period, buffer int
	}{
		{"continuous rates: 8 kHz mono", func(*fakeDev) {}, Config{}, 8000, 1, 80, 480},
		{"USB stereo 44.1/48 kHz", func(d *fakeDev) { d.rates = []uint32{44100, 48000}; d.chMin = 2 }, Config{}, 48000, 2, 480, 2880},
		{"16 and 48 kHz", func(d *fakeDev) { d.rates = []uint32{16000, 48000} }, Config{}, 16000, 1, 160, 960},
		{"power-of-two periods", func(d *fakeDev) { d.periodMin = 256 }, Config{}, 8000, 1, 256, 1536},
		{"asked rate and periods", func(d *fakeDev) { d.rates = []uint32{44100, 48000} }, Config{Rate: 44100, Periods: 3}, 44100, 1, 441, 1323},
		{"few periods only", func(d *fakeDev) { d.periodsMax = 2 }, Config{}, 8000, 1, 80, 160},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newFakeDev()
			tc.setup(d)
			p, err := d.open(Playback, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if p.Rate() != tc.rate || p.Channels() != tc.channels || p.PeriodFrames() != tc.period || p.BufferFrames() != tc.buffer {
				t.Errorf("got %d Hz, %d ch, period %d, buffer %d; want %d Hz, %d ch, period %d, buffer %d",
					p.Rate(), p.Channels(), p.PeriodFrames(), p.BufferFrames(), tc.rate, tc.channels, tc.period, tc.buffer)
			}
			if d.sw.AvailMin != uint(tc.period) || d.sw.StopThreshold != uint(tc.buffer) || d.sw.StartThreshold != uint(min(2*tc.period, tc.buffer)) {
				t.Errorf("sw params avail_min %d start %d stop %d", d.sw.AvailMin, d.sw.StartThreshold, d.sw.StopThreshold)
			}
			if i := slices.Index(d.log, "HW_PARAMS"); i < 0 || !slices.Equal(d.log[i:], []string{"HW_PARAMS", "SW_PARAMS", "PREPARE"}) {
				t.Errorf("ioctl sequence %v, want ... HW_PARAMS SW_PARAMS PREPARE", d.log)
			}
		})
	}
}

func TestOpenCaptureStartsOnFirstRead(t *testing.T) {
	d := newFakeDev()
	if _, err := d.open(Capture, Config{}); err != nil {
		t.Fatal(err)
	}
	if d.sw.StartThreshold != 1 || d.sw.StopThreshold != 480 {
		t.Errorf("capture start threshold %d, stop %d; want 1 and the buffer (480)", d.sw.StartThreshold, d.sw.StopThreshold)
	}
}

func TestOpenRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*fakeDev)
		cfg   Config
		want  string
	}{
		{"no S16_LE", func(d *fakeDev) { d.formats = sndMask{}; d.formats.set(10) }, Config{}, "S16_LE"},
		{"only 44.1 kHz", func(d *fakeDev) { d.rates = []uint32{44100} }, Config{}, "rates [8000 16000 48000] not offered"},
		{"6 channels only", func(d *fakeDev) { d.chMin, d.chMax = 6, 6 }, Config{}, "channels [1 2] not offered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newFakeDev()
			tc.setup(d)
			_, err := d.open(Capture, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
}

func seq(n int, from int16) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = from + int16(i)
	}
	return s
}

func TestPlaybackUnderrunRefillsOnePeriod(t *testing.T) {
	d := newFakeDev()
	p, err := d.open(Playback, Config{})
	if err != nil {
		t.Fatal(err)
	}
	d.log = nil
	a, b := seq(80, 1), seq(80, 1000)
	d.errs = []error{nil, syscall.EPIPE}
	if err := p.WriteFrames(a); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteFrames(b); err != nil {
		t.Fatal(err)
	}
	want := slices.Concat(a, make([]int16, p.PeriodFrames()), b)
	if !slices.Equal(d.played, want) {
		t.Errorf("played %d samples, want frame, one period (%d) of silence, frame", len(d.played), p.PeriodFrames())
	}
	if p.XRuns() != 1 || !slices.Equal(d.log, []string{"PREPARE"}) {
		t.Errorf("xruns %d, ioctls %v; want 1 and a PREPARE", p.XRuns(), d.log)
	}
}

func TestCaptureOverrunPreparesAndReads(t *testing.T) {
	d := newFakeDev()
	d.rates, d.chMin = []uint32{48000}, 2
	p, err := d.open(Capture, Config{})
	if err != nil {
		t.Fatal(err)
	}
	var next int16
	d.source = func(b []int16) {
		for i := range b {
			b[i] = next
			next++
		}
	}
	d.log = nil
	d.errs = []error{syscall.EPIPE, syscall.EINTR}
	d.maxXfer = 100 // the driver hands over 100 frames per call
	buf := make([]int16, 2*480)
	if err := p.ReadFrames(buf); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(buf, seq(960, 0)) {
		t.Error("the frame was not read whole and in order")
	}
	if p.XRuns() != 1 || !slices.Equal(d.log, []string{"PREPARE"}) {
		t.Errorf("xruns %d, ioctls %v; want 1 and a PREPARE", p.XRuns(), d.log)
	}
}

func TestTransferErrors(t *testing.T) {
	d := newFakeDev()
	p, err := d.open(Capture, Config{})
	if err != nil {
		t.Fatal(err)
	}
	d.errs = []error{syscall.EIO}
	if err := p.ReadFrames(make([]int16, 80)); !errors.Is(err, syscall.EIO) {
		t.Errorf("err = %v, want EIO", err)
	}
	if err := p.WriteFrames(make([]int16, 80)); err == nil {
		t.Error("WriteFrames on a capture stream succeeded")
	}
	d.chMin = 2
	s, err := newFakeDev().open(Playback, Config{Channels: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteFrames(make([]int16, 3)); err == nil {
		t.Error("an odd number of samples on a stereo stream was accepted")
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
}

func TestTransferAllocatesNothing(t *testing.T) {
	d := newFakeDev()
	d.record = false
	play, err := d.open(Playback, Config{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := d.open(Capture, Config{})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]int16, 80)
	allocs := testing.AllocsPerRun(100, func() {
		if err := rec.ReadFrames(buf); err != nil {
			t.Fatal(err)
		}
		if err := play.WriteFrames(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := play.Delay(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per frame, want 0", allocs)
	}
}
