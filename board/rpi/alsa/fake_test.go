package alsa

import (
	"syscall"
	"unsafe"
)

// fakeDev is a PCM device behind the ioctl interface: it refines hardware
// parameters the way the kernel does for what it offers (access, format,
// channels, rate, period size, periods) and moves samples.
type fakeDev struct {
	rates                  []uint32 // discrete rates; nil: rateMin..rateMax
	rateMin, rateMax       uint32
	chMin, chMax           uint32
	periodMin, periodMax   uint32
	periodsMin, periodsMax uint32
	formats                sndMask

	log      []string
	sw       swParams
	channels int
	record   bool
	played   []int16       // everything written, if record
	source   func([]int16) // fills captured samples
	errs     []error       // returned by the next transfers, in order (nil: succeed)
	maxXfer  uint          // frames moved per call at most; 0: all
	delay    int
	delayFn  func() int // overrides delay
	frames   int        // frames moved so far
}

func newFakeDev() *fakeDev {
	d := &fakeDev{
		rateMin: 8000, rateMax: 192000, chMin: 1, chMax: 2,
		periodMin: 16, periodMax: 1 << 16, periodsMin: 2, periodsMax: 64, record: true,
	}
	d.formats.set(formatS16LE)
	d.formats.Bits[0] |= 1 << 10 // S32_LE too
	return d
}

var ioctlNames = map[uint]string{
	ioctlHWRefine: "HW_REFINE", ioctlHWParams: "HW_PARAMS", ioctlSWParams: "SW_PARAMS",
	ioctlPrepare: "PREPARE", ioctlDrop: "DROP", ioctlWriteiFrames: "WRITEI", ioctlReadiFrames: "READI",
	ioctlDelay: "DELAY",
}

func (d *fakeDev) ioctl(fd uintptr, req uint, arg unsafe.Pointer) error {
	if req != ioctlWriteiFrames && req != ioctlReadiFrames && req != ioctlDelay {
		d.log = append(d.log, ioctlNames[req])
	}
	switch req {
	case ioctlHWRefine:
		return d.refine((*hwParams)(arg))
	case ioctlHWParams:
		hw := (*hwParams)(arg)
		if err := d.refine(hw); err != nil {
			return err
		}
		// Choose the smallest of what is left, as the kernel does.
		for _, k := range []int{paramChannels, paramRate, paramPeriodSize, paramPeriods} {
			iv := hw.interval(k)
			iv.Max = iv.Min
		}
		period, periods := hw.interval(paramPeriodSize).Min, hw.interval(paramPeriods).Min
		hw.interval(paramBufferSize).setRange(period*periods, period*periods)
		d.channels = int(hw.interval(paramChannels).Min)
		return nil
	case ioctlSWParams:
		d.sw = *(*swParams)(arg)
		return nil
	case ioctlPrepare, ioctlDrop:
		return nil
	case ioctlDelay:
		*(*int)(arg) = d.delay
		if d.delayFn != nil {
			*(*int)(arg) = d.delayFn()
		}
		return nil
	case ioctlWriteiFrames, ioctlReadiFrames:
		x := (*xferi)(arg)
		if len(d.errs) > 0 {
			err := d.errs[0]
			d.errs = d.errs[1:]
			if err != nil {
				x.Result = -int(err.(syscall.Errno))
				return err
			}
		}
		frames := x.Frames
		if d.maxXfer > 0 {
			frames = min(frames, d.maxXfer)
		}
		buf := unsafe.Slice((*int16)(x.Buf), int(frames)*d.channels)
		if req == ioctlWriteiFrames {
			if d.record {
				d.played = append(d.played, buf...)
			}
		} else if d.source != nil {
			d.source(buf)
		}
		x.Result = int(frames)
		d.frames += int(frames)
		return nil
	}
	return syscall.ENOTTY
}

func narrow(iv *sndInterval, lo, hi uint32) error {
	iv.Min, iv.Max = max(iv.Min, lo), min(iv.Max, hi)
	if iv.Min > iv.Max {
		return syscall.EINVAL
	}
	return nil
}

func (d *fakeDev) refine(hw *hwParams) error {
	access := &hw.Masks[paramAccess]
	access.Bits[0] &= 1<<accessRWInterleaved | 1<<1 // RW or MMAP interleaved
	clear(access.Bits[1:])
	format := &hw.Masks[paramFormat]
	nonEmpty := false
	for i := range format.Bits {
		format.Bits[i] &= d.formats.Bits[i]
		nonEmpty = nonEmpty || format.Bits[i] != 0
	}
	if access.Bits[0] == 0 || !nonEmpty {
		return syscall.EINVAL
	}
	if err := narrow(hw.interval(paramChannels), d.chMin, d.chMax); err != nil {
		return err
	}
	rate := hw.interval(paramRate)
	if d.rates == nil {
		if err := narrow(rate, d.rateMin, d.rateMax); err != nil {
			return err
		}
	} else {
		var in []uint32
		for _, r := range d.rates {
			if r >= rate.Min && r <= rate.Max {
				in = append(in, r)
			}
		}
		if len(in) == 0 {
			return syscall.EINVAL
		}
		rate.Min, rate.Max = in[0], in[len(in)-1]
	}
	if err := narrow(hw.interval(paramPeriodSize), d.periodMin, d.periodMax); err != nil {
		return err
	}
	return narrow(hw.interval(paramPeriods), d.periodsMin, d.periodsMax)
}

func (d *fakeDev) open(stream Stream, cfg Config) (*PCM, error) {
	return newPCM(3, d.ioctl, func() error { d.log = append(d.log, "close"); return nil }, stream, cfg)
}

func errPipe() error { return syscall.EPIPE }
