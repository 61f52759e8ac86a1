package alsa

import (
	"errors"
	"fmt"

	"github.com/openata/ata/board/rpi/resample"
)

// boardRate is the port's sample rate.
const boardRate = 8000

// Device is what Duplex needs of a stream; *PCM is one.
type Device interface {
	Rate() int
	Channels() int
	PeriodFrames() int
	ReadFrames(buf []int16) error
	WriteFrames(buf []int16) error
	// Delay is the playback queue in frames.
	Delay() (int, error)
	XRuns() uint64
	Close() error
}

// Duplex is the board's voice path (board/rpi's Audio) on a capture and a
// playback stream: 8 kHz mono frames in and out, resampled, down-mixed
// (channel average) and up-mixed (copied) to what the card runs at.
//
// Capture is the clock: Read blocks on it, and Write follows each Read.
// If playback runs on another crystal (a second card, or a USB card with
// separate clocks per direction) its queue slowly fills or drains. Duplex
// watches the queue at each Write (smoothed over about 32 frames) and,
// once it strays more than half a period from where it settled in the
// first second, drops or repeats one device-rate sample in that frame — at the
// flattest point of the waveform (smallest |x[i+1] − x[i−1]|: silence or
// a peak), where a one-sample time shift is least audible. One sample per
// 10 ms frame corrects up to 2000 ppm at 48 kHz. After an underrun the
// queue is rebuilt, so the reference is taken again. The band is half a
// period because many drivers move their pointer in steps (snd-aloop by
// jiffies, 4 ms at HZ=250; others by period): a read taken a step earlier
// or later is not drift, and correcting it would put a phase jump into
// steady tones for nothing (seen in the QEMU image test with a 1 ms band).
//
// Drift between the card and the far end's RTP clock is not visible here:
// the port consumes and produces exactly one frame per device frame, and
// the jitter buffer in front of it absorbs the difference.
type Duplex struct {
	capture, playback Device
	frameSamples      int

	down, up *resample.Resampler // nil at 8 kHz

	capFrames int     // device frames per board frame, capture side
	capBuf    []int16 // interleaved
	capMono   []int16

	playFrames int // device frames per board frame, playback side
	playMono   []int16
	playBuf    []int16 // interleaved, room for one extra frame

	primed bool
	drift  driftAbsorber
}

// Stats counts the voice path's irregularities since Open.
type Stats struct {
	CaptureXRuns, PlaybackXRuns uint64
	Dropped, Repeated           uint64 // samples, by the drift absorber
}

// OpenDuplex opens the capture and playback devices (see Open) with cfg
// and joins them for frames of frameSamples samples at 8 kHz.
func OpenDuplex(captureDevice, playbackDevice string, cfg Config, frameSamples int) (*Duplex, error) {
	c, err := Open(captureDevice, Capture, cfg)
	if err != nil {
		return nil, err
	}
	p, err := Open(playbackDevice, Playback, cfg)
	if err != nil {
		c.Close()
		return nil, err
	}
	d, err := NewDuplex(c, p, frameSamples)
	if err != nil {
		c.Close()
		p.Close()
		return nil, err
	}
	return d, nil
}

// NewDuplex joins a capture and a playback device for frames of
// frameSamples samples at 8 kHz. It closes neither on error.
func NewDuplex(capture, playback Device, frameSamples int) (*Duplex, error) {
	if frameSamples <= 0 {
		return nil, fmt.Errorf("alsa: duplex: frame of %d samples", frameSamples)
	}
	d := &Duplex{capture: capture, playback: playback, frameSamples: frameSamples}
	var err error
	if d.capFrames, d.down, err = side(capture.Rate(), frameSamples, false); err != nil {
		return nil, err
	}
	if d.playFrames, d.up, err = side(playback.Rate(), frameSamples, true); err != nil {
		return nil, err
	}
	d.capBuf = make([]int16, d.capFrames*capture.Channels())
	d.capMono = make([]int16, d.capFrames)
	d.playMono = make([]int16, d.playFrames+1)
	d.playBuf = make([]int16, (d.playFrames+1)*playback.Channels())
	// After an underrun the PCM refills the lead (one period by default).
	if f, ok := playback.(interface{ SetUnderrunFill(frames int) error }); ok {
		if err := f.SetUnderrunFill(d.lead()); err != nil {
			return nil, fmt.Errorf("alsa: duplex: %w", err)
		}
	}
	d.drift = driftAbsorber{
		threshold: max(2, float64(playback.Rate())/1000, float64(playback.PeriodFrames())/2),
		warmup:    50,
	}
	return d, nil
}

// side returns the device frames per board frame and the resampler
// between the device rate and 8 kHz.
func side(rate, frameSamples int, toDevice bool) (int, *resample.Resampler, error) {
	if rate*frameSamples%boardRate != 0 {
		return 0, nil, fmt.Errorf("alsa: duplex: %d Hz does not make whole frames of %d samples at 8 kHz", rate, frameSamples)
	}
	frames := rate * frameSamples / boardRate
	if rate == boardRate {
		return frames, nil, nil
	}
	in, out := rate, boardRate
	if toDevice {
		in, out = boardRate, rate
	}
	r, err := resample.New(in, out)
	if err != nil {
		return 0, nil, fmt.Errorf("alsa: duplex: %w", err)
	}
	return frames, r, nil
}

var errFrameSize = errors.New("alsa: duplex: wrong frame size")

// Read blocks until the card has captured one frame and returns it at
// 8 kHz mono.
func (d *Duplex) Read(frame []int16) error {
	if len(frame) != d.frameSamples {
		return errFrameSize
	}
	if err := d.capture.ReadFrames(d.capBuf); err != nil {
		return err
	}
	ch := d.capture.Channels()
	mono := d.capMono
	if ch == 1 {
		copy(mono, d.capBuf)
	} else {
		for i := range mono {
			sum := 0
			for _, s := range d.capBuf[i*ch : i*ch+ch] {
				sum += int(s)
			}
			mono[i] = int16(sum / ch)
		}
	}
	if d.down == nil {
		copy(frame, mono)
		return nil
	}
	_, err := d.down.Process(frame, mono)
	return err
}

// Write queues one 8 kHz mono frame for the earpiece. The first Write
// queues one frame of silence (at least a period) ahead of it, so
// playback runs a frame behind capture: the frame loop may wake that late
// (a busy scheduler, a GC slice) before the card runs dry. After an
// underrun the same lead is rebuilt, so the gap is one frame.
func (d *Duplex) Write(frame []int16) error {
	if len(frame) != d.frameSamples {
		return errFrameSize
	}
	ch := d.playback.Channels()
	if !d.primed {
		silence := d.playBuf[:d.playFrames*ch]
		clear(silence)
		for left := d.lead(); left > 0; {
			n := min(left*ch, len(silence))
			left -= n / ch
			if err := d.playback.WriteFrames(silence[:n]); err != nil {
				return err
			}
		}
		d.primed = true
	}
	n := d.playFrames
	if d.up == nil {
		copy(d.playMono, frame)
	} else if _, err := d.up.Process(d.playMono[:n], frame); err != nil {
		return err
	}
	queued, err := d.playback.Delay()
	if err != nil {
		return err
	}
	n = adjust(d.playMono, n, d.drift.step(queued, d.playback.XRuns()))
	out := d.playBuf[:n*ch]
	if ch == 1 {
		copy(out, d.playMono[:n])
	} else {
		for i, s := range d.playMono[:n] {
			for c := range ch {
				out[i*ch+c] = s
			}
		}
	}
	return d.playback.WriteFrames(out)
}

// lead is the playback lead in device frames: one board frame, at least
// one period.
func (d *Duplex) lead() int { return max(d.playFrames, d.playback.PeriodFrames()) }

// Stats returns the xrun and drift counters.
func (d *Duplex) Stats() Stats {
	return Stats{
		CaptureXRuns:  d.capture.XRuns(),
		PlaybackXRuns: d.playback.XRuns(),
		Dropped:       d.drift.dropped,
		Repeated:      d.drift.repeated,
	}
}

// Close closes both devices.
func (d *Duplex) Close() error {
	return errors.Join(d.capture.Close(), d.playback.Close())
}

// driftAbsorber decides, frame by frame, whether the playback queue needs
// one sample fewer (-1) or more (+1).
type driftAbsorber struct {
	threshold float64 // frames either side of the reference
	warmup    int     // frames before the reference is taken

	frames    int
	avg, ref  float64
	lastXRuns uint64

	dropped, repeated uint64
}

func (a *driftAbsorber) step(queued int, xruns uint64) int {
	if xruns != a.lastXRuns {
		a.lastXRuns, a.frames = xruns, 0
	}
	if a.frames == 0 {
		a.avg = float64(queued)
	} else {
		a.avg += (float64(queued) - a.avg) / 32
	}
	a.frames++
	switch {
	case a.frames < a.warmup:
		return 0
	case a.frames == a.warmup:
		a.ref = a.avg
		return 0
	case a.avg > a.ref+a.threshold:
		a.avg-- // count the correction now rather than 16 frames late
		a.dropped++
		return -1
	case a.avg < a.ref-a.threshold:
		a.avg++
		a.repeated++
		return +1
	}
	return 0
}

// adjust drops (delta -1) or repeats (+1) one sample of x[:n] at its
// flattest point and returns the new length; x has room for n+1.
func adjust(x []int16, n, delta int) int {
	if delta == 0 || n < 3 {
		return n
	}
	best, bestCost := 1, 1<<30
	for i := 1; i < n-1; i++ {
		cost := int(x[i+1]) - int(x[i-1])
		if cost < 0 {
			cost = -cost
		}
		if cost < bestCost {
			best, bestCost = i, cost
		}
	}
	if delta < 0 {
		copy(x[best:n-1], x[best+1:n])
		return n - 1
	}
	copy(x[best+1:n+1], x[best:n])
	return n + 1
}
