// Package alsa plays and records 16-bit PCM through the kernel's ALSA
// interface (/dev/snd/pcmC*D*[pc]) with ioctl calls alone: no alsa-lib, no
// cgo, so the firmware binary stays static.
//
// Open negotiates interleaved S16_LE at the lowest of 8, 16 and 48 kHz the
// device offers, mono where offered (else stereo), 10 ms periods. Duplex
// joins a capture and a playback PCM into the board's 8 kHz mono Audio,
// resampling with board/rpi/resample where the card does not do 8 kHz.
package alsa

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Stream is a PCM direction.
type Stream int

const (
	Playback Stream = iota
	Capture
)

func (s Stream) String() string {
	if s == Capture {
		return "capture"
	}
	return "playback"
}

// Config asks for a setup; zero fields take the defaults.
type Config struct {
	// Rate in Hz. Zero: 8000 if the device offers it, else 16000, else
	// 48000. A non-zero rate the device lacks is an error.
	Rate int
	// Channels: 0 means mono if offered, else stereo.
	Channels int
	// PeriodFrames is the wake-up interval in frames; 0 means 10 ms. A
	// device that cannot do it exactly gets the nearest larger size.
	PeriodFrames int
	// Periods in the ring buffer; 0 means 6 (room for a 20 ms frame on
	// top of a 20 ms lead with 10 ms periods). At least 2.
	Periods int
}

// candidateRates is the order Open tries without Config.Rate: 8 kHz needs
// no resampling, 16 and 48 kHz resample by whole factors.
var candidateRates = []uint32{8000, 16000, 48000}

// ioctlFunc performs one ioctl; tests put a fake device behind it.
type ioctlFunc func(fd uintptr, req uint, arg unsafe.Pointer) error

// PCM is an open, configured ALSA PCM stream in blocking mode. Its methods
// are for one goroutine at a time, except XRuns.
type PCM struct {
	fd     uintptr
	ioctl  ioctlFunc
	close  func() error
	stream Stream

	rate, channels, periodFrames, bufferFrames int

	xfer    xferi
	delay   int
	silence []int16 // written after a playback underrun: one period unless SetUnderrunFill
	xruns   atomic.Uint64
}

// Rate returns the negotiated rate in Hz.
func (p *PCM) Rate() int { return p.rate }

// Channels returns the negotiated channel count.
func (p *PCM) Channels() int { return p.channels }

// PeriodFrames returns the negotiated period size in frames.
func (p *PCM) PeriodFrames() int { return p.periodFrames }

// BufferFrames returns the ring buffer's size in frames.
func (p *PCM) BufferFrames() int { return p.bufferFrames }

// XRuns returns the number of under- or overruns recovered so far.
func (p *PCM) XRuns() uint64 { return p.xruns.Load() }

// newPCM configures the stream behind fd and prepares it.
func newPCM(fd uintptr, ioctl ioctlFunc, closeFn func() error, stream Stream, cfg Config) (*PCM, error) {
	p := &PCM{fd: fd, ioctl: ioctl, close: closeFn, stream: stream}
	if err := p.setHW(cfg); err != nil {
		return nil, err
	}
	if err := p.setSW(); err != nil {
		return nil, err
	}
	if err := p.do(ioctlPrepare, nil); err != nil {
		return nil, fmt.Errorf("alsa: %s prepare: %w", stream, err)
	}
	p.silence = make([]int16, p.periodFrames*p.channels)
	return p, nil
}

func (p *PCM) do(req uint, arg unsafe.Pointer) error { return p.ioctl(p.fd, req, arg) }

func (p *PCM) refine(hw *hwParams) error {
	hw.Rmask = ^uint32(0)
	return p.do(ioctlHWRefine, unsafe.Pointer(hw))
}

// try applies narrow to a copy of hw and keeps it if the device accepts.
func (p *PCM) try(hw *hwParams, narrow func(*hwParams)) bool {
	t := *hw
	narrow(&t)
	if p.refine(&t) != nil {
		return false
	}
	*hw = t
	return true
}

func (p *PCM) setHW(cfg Config) error {
	var hw hwParams
	hw.any()
	if err := p.refine(&hw); err != nil {
		return fmt.Errorf("alsa: %s: refine: %w", p.stream, err)
	}
	if !p.try(&hw, func(h *hwParams) {
		h.Masks[paramAccess].set(accessRWInterleaved)
		h.Masks[paramFormat].set(formatS16LE)
		h.Masks[paramSubformat].set(subformatStd)
	}) {
		return fmt.Errorf("alsa: %s: no interleaved S16_LE access", p.stream)
	}

	channels := []uint32{1, 2}
	if cfg.Channels > 0 {
		channels = []uint32{uint32(cfg.Channels)}
	}
	if !p.tryValues(&hw, paramChannels, channels) {
		iv := hw.interval(paramChannels)
		return fmt.Errorf("alsa: %s: channels %v not offered (device: %d–%d)", p.stream, channels, iv.Min, iv.Max)
	}

	rates := candidateRates
	if cfg.Rate > 0 {
		rates = []uint32{uint32(cfg.Rate)}
	}
	if !p.tryValues(&hw, paramRate, rates) {
		iv := hw.interval(paramRate)
		return fmt.Errorf("alsa: %s: rates %v not offered (device: %d–%d Hz)", p.stream, rates, iv.Min, iv.Max)
	}
	rate := hw.interval(paramRate).value()

	period := uint32(cfg.PeriodFrames)
	if period == 0 {
		period = rate / 100
	}
	if !p.tryValues(&hw, paramPeriodSize, []uint32{period}) {
		// The nearest larger size the device allows; failing that, the
		// kernel's own choice at HW_PARAMS.
		p.try(&hw, func(h *hwParams) { h.interval(paramPeriodSize).setRange(period, ^uint32(0)) })
	}
	periods := uint32(cfg.Periods)
	if periods == 0 {
		periods = 6
	}
	if !p.tryValues(&hw, paramPeriods, []uint32{max(periods, 2)}) {
		p.try(&hw, func(h *hwParams) { h.interval(paramPeriods).setRange(2, ^uint32(0)) })
	}

	hw.Rmask = ^uint32(0)
	if err := p.do(ioctlHWParams, unsafe.Pointer(&hw)); err != nil {
		return fmt.Errorf("alsa: %s: hw params: %w", p.stream, err)
	}
	p.rate = int(hw.interval(paramRate).value())
	p.channels = int(hw.interval(paramChannels).value())
	p.periodFrames = int(hw.interval(paramPeriodSize).value())
	p.bufferFrames = int(hw.interval(paramBufferSize).value())
	if p.periodFrames <= 0 || p.bufferFrames < p.periodFrames || p.channels <= 0 {
		return fmt.Errorf("alsa: %s: device set period %d, buffer %d, %d channels", p.stream, p.periodFrames, p.bufferFrames, p.channels)
	}
	return nil
}

// tryValues narrows interval k to the first of values the device accepts.
func (p *PCM) tryValues(hw *hwParams, k int, values []uint32) bool {
	for _, v := range values {
		if p.try(hw, func(h *hwParams) { h.interval(k).setRange(v, v) }) {
			return true
		}
	}
	return false
}

// setSW: wake per period; playback starts once two periods are queued (the
// one of silence Duplex primes with, and the first real one), capture at
// the first read; an empty (playback) or full (capture) buffer stops the
// stream as an xrun, which the read and write calls recover from.
func (p *PCM) setSW() error {
	sw := swParams{
		PeriodStep:     1,
		AvailMin:       uint(p.periodFrames),
		StartThreshold: 1,
		StopThreshold:  uint(p.bufferFrames),
		Proto:          protocolVersion,
	}
	if p.stream == Playback {
		sw.StartThreshold = uint(min(2*p.periodFrames, p.bufferFrames))
	}
	if err := p.do(ioctlSWParams, unsafe.Pointer(&sw)); err != nil {
		return fmt.Errorf("alsa: %s: sw params: %w", p.stream, err)
	}
	return nil
}

// protocolVersion is SNDRV_PCM_VERSION 2.0.15 (asound.h): sw params with
// tstamp_type.
const protocolVersion = 2<<16 | 0<<8 | 15

// WriteFrames queues interleaved samples (a whole number of frames),
// blocking while the buffer is full. After an underrun it prepares the
// stream again and queues the underrun fill of silence (one period, or
// what SetUnderrunFill says) first, so the audible gap is that long and
// the stream restarts with its usual lead.
func (p *PCM) WriteFrames(buf []int16) error {
	if p.stream != Playback {
		return errors.New("alsa: WriteFrames on a capture stream")
	}
	return p.transfer(ioctlWriteiFrames, buf)
}

// ReadFrames fills buf with interleaved captured samples (a whole number
// of frames), blocking until they are there. After an overrun it prepares
// the stream again (the next read restarts it); what the device captured
// while nobody read is lost.
func (p *PCM) ReadFrames(buf []int16) error {
	if p.stream != Capture {
		return errors.New("alsa: ReadFrames on a playback stream")
	}
	return p.transfer(ioctlReadiFrames, buf)
}

func (p *PCM) transfer(req uint, buf []int16) error {
	if len(buf)%p.channels != 0 {
		return fmt.Errorf("alsa: %s: %d samples is not a whole number of %d-channel frames", p.stream, len(buf), p.channels)
	}
	frames := len(buf) / p.channels
	for done := 0; done < frames; {
		n, err := p.xferOnce(req, buf[done*p.channels:])
		done += n
		switch {
		case err == nil:
		case errors.Is(err, syscall.EINTR), errors.Is(err, syscall.EAGAIN):
		case errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ESTRPIPE):
			if err := p.recover(); err != nil {
				return err
			}
		default:
			return fmt.Errorf("alsa: %s: transfer: %w", p.stream, err)
		}
	}
	return nil
}

func (p *PCM) xferOnce(req uint, buf []int16) (int, error) {
	p.xfer = xferi{Buf: unsafe.Pointer(&buf[0]), Frames: uint(len(buf) / p.channels)}
	err := p.do(req, unsafe.Pointer(&p.xfer))
	n := p.xfer.Result
	p.xfer.Buf = nil
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, syscall.EIO // the kernel reports failures as errors, never here
	}
	return n, nil
}

// recover handles an xrun (EPIPE) or a resume after suspend (ESTRPIPE) the
// same way: prepare, and for playback queue the underrun fill of silence.
func (p *PCM) recover() error {
	p.xruns.Add(1)
	if err := p.do(ioctlPrepare, nil); err != nil {
		return fmt.Errorf("alsa: %s: prepare after xrun: %w", p.stream, err)
	}
	if p.stream == Playback {
		if _, err := p.xferOnce(ioctlWriteiFrames, p.silence); err != nil {
			return fmt.Errorf("alsa: %s: silence after xrun: %w", p.stream, err)
		}
	}
	return nil
}

// SetUnderrunFill sets how much silence (frames) a playback stream queues
// after an underrun before the data that follows: the lead its writer
// keeps, so the stream restarts as far ahead as it ran. At least one
// period, and a period less than the buffer.
func (p *PCM) SetUnderrunFill(frames int) error {
	if p.stream != Playback {
		return errors.New("alsa: SetUnderrunFill on a capture stream")
	}
	if frames < p.periodFrames || frames > p.bufferFrames-p.periodFrames {
		return fmt.Errorf("alsa: playback: underrun fill of %d frames: want %d..%d (a period to the buffer less a period)",
			frames, p.periodFrames, p.bufferFrames-p.periodFrames)
	}
	p.silence = make([]int16, frames*p.channels)
	return nil
}

// Delay returns the stream's delay in frames: for playback, how long a
// frame written now waits before it is heard.
func (p *PCM) Delay() (int, error) {
	if err := p.do(ioctlDelay, unsafe.Pointer(&p.delay)); err != nil {
		if errors.Is(err, syscall.EPIPE) {
			return 0, nil // in xrun: nothing queued
		}
		return 0, fmt.Errorf("alsa: %s: delay: %w", p.stream, err)
	}
	return p.delay, nil
}

// Close stops the stream at once and closes the device.
func (p *PCM) Close() error {
	dropErr := p.do(ioctlDrop, nil)
	closeErr := p.close()
	if closeErr != nil {
		return fmt.Errorf("alsa: %s: close: %w", p.stream, closeErr)
	}
	if dropErr != nil && !errors.Is(dropErr, syscall.EBADFD) {
		return fmt.Errorf("alsa: %s: drop: %w", p.stream, dropErr)
	}
	return nil
}
