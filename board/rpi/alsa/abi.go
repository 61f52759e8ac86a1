package alsa

import "unsafe"

// The kernel's PCM ABI (include/uapi/sound/asound.h), little-endian Linux
// only (arm, arm64, amd64). C's long and unsigned long (snd_pcm_sframes_t,
// snd_pcm_uframes_t) are Go's int and uint on all three: the same width and
// alignment, so one set of structs has the kernel's layout on 32- and
// 64-bit alike. abi_test.go checks every offset against the header.

// Parameter indexes (SNDRV_PCM_HW_PARAM_*).
const (
	paramAccess    = 0 // masks
	paramFormat    = 1
	paramSubformat = 2

	paramSampleBits  = 8 // intervals
	paramFrameBits   = 9
	paramChannels    = 10
	paramRate        = 11
	paramPeriodTime  = 12
	paramPeriodSize  = 13
	paramPeriodBytes = 14
	paramPeriods     = 15
	paramBufferTime  = 16
	paramBufferSize  = 17
	paramBufferBytes = 18
	paramTickTime    = 19

	firstInterval = paramSampleBits
	lastInterval  = paramTickTime
)

const (
	accessRWInterleaved = 3 // SNDRV_PCM_ACCESS_RW_INTERLEAVED
	formatS16LE         = 2 // SNDRV_PCM_FORMAT_S16_LE
	subformatStd        = 0 // SNDRV_PCM_SUBFORMAT_STD
)

// snd_interval bit fields, allocated from the least significant bit on
// little-endian ABIs.
const (
	intervalOpenMin = 1 << iota
	intervalOpenMax
	intervalInteger
	intervalEmpty
)

// sndMask is struct snd_mask: SNDRV_MASK_MAX (256) bits.
type sndMask struct {
	Bits [8]uint32
}

// sndInterval is struct snd_interval.
type sndInterval struct {
	Min, Max uint32
	Flags    uint32 // openmin:1, openmax:1, integer:1, empty:1
}

// hwParams is struct snd_pcm_hw_params. Sync was carved out of reserved
// in Linux 6.10 (the stream sync ID); the size did not change.
type hwParams struct {
	Flags     uint32
	Masks     [paramSubformat + 1]sndMask
	Mres      [5]sndMask
	Intervals [lastInterval - firstInterval + 1]sndInterval
	Ires      [9]sndInterval
	Rmask     uint32
	Cmask     uint32
	Info      uint32
	Msbits    uint32
	RateNum   uint32
	RateDen   uint32
	FifoSize  uint
	Sync      [16]byte
	Reserved  [48]byte
}

// swParams is struct snd_pcm_sw_params.
type swParams struct {
	TstampMode       int32
	PeriodStep       uint32
	SleepMin         uint32
	AvailMin         uint
	XferAlign        uint
	StartThreshold   uint
	StopThreshold    uint
	SilenceThreshold uint
	SilenceSize      uint
	Boundary         uint
	Proto            uint32
	TstampType       uint32
	Reserved         [56]byte
}

// xferi is struct snd_xferi. Buf is a Go pointer so the collector keeps
// the buffer alive (and, stored in a heap PCM, on the heap) for the call.
type xferi struct {
	Result int
	Buf    unsafe.Pointer
	Frames uint
}

// _IOC encoding of asm-generic/ioctl.h (arm, arm64, x86).
const (
	iocNone  = 0
	iocWrite = 1
	iocRead  = 2
)

func ioc(dir, nr, size uintptr) uint {
	return uint(dir<<30 | size<<16 | 'A'<<8 | nr)
}

var (
	ioctlPVersion     = ioc(iocRead, 0x00, unsafe.Sizeof(int32(0)))
	ioctlHWRefine     = ioc(iocRead|iocWrite, 0x10, unsafe.Sizeof(hwParams{}))
	ioctlHWParams     = ioc(iocRead|iocWrite, 0x11, unsafe.Sizeof(hwParams{}))
	ioctlHWFree       = ioc(iocNone, 0x12, 0)
	ioctlSWParams     = ioc(iocRead|iocWrite, 0x13, unsafe.Sizeof(swParams{}))
	ioctlDelay        = ioc(iocRead, 0x21, unsafe.Sizeof(int(0)))
	ioctlPrepare      = ioc(iocNone, 0x40, 0)
	ioctlReset        = ioc(iocNone, 0x41, 0)
	ioctlStart        = ioc(iocNone, 0x42, 0)
	ioctlDrop         = ioc(iocNone, 0x43, 0)
	ioctlDrain        = ioc(iocNone, 0x44, 0)
	ioctlResume       = ioc(iocNone, 0x47, 0)
	ioctlWriteiFrames = ioc(iocWrite, 0x50, unsafe.Sizeof(xferi{}))
	ioctlReadiFrames  = ioc(iocRead, 0x51, unsafe.Sizeof(xferi{}))
)

func (m *sndMask) set(bit uint) {
	clear(m.Bits[:])
	m.Bits[bit/32] = 1 << (bit % 32)
}

func (m *sndMask) has(bit uint) bool { return m.Bits[bit/32]&(1<<(bit%32)) != 0 }

// value is the interval's smallest member (an open minimum excludes min).
func (iv *sndInterval) value() uint32 {
	if iv.Flags&intervalOpenMin != 0 {
		return iv.Min + 1
	}
	return iv.Min
}

// setRange narrows the interval to the whole numbers in [lo, hi].
func (iv *sndInterval) setRange(lo, hi uint32) {
	iv.Min, iv.Max = lo, hi
	iv.Flags = intervalInteger
}

func (p *hwParams) interval(k int) *sndInterval { return &p.Intervals[k-firstInterval] }

// any fills p the way alsa-lib's snd_pcm_hw_params_any does before the
// first refine: every mask full, every interval unbounded.
func (p *hwParams) any() {
	*p = hwParams{}
	for i := range p.Masks {
		for j := range p.Masks[i].Bits {
			p.Masks[i].Bits[j] = ^uint32(0)
		}
	}
	for i := range p.Intervals {
		p.Intervals[i] = sndInterval{Max: ^uint32(0)}
	}
	p.Rmask = ^uint32(0)
	p.Info = ^uint32(0)
}
