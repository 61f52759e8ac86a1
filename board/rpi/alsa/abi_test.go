package alsa

import (
	"reflect"
	"testing"
	"unsafe"
)

// cField is a member of a C struct in asound.h: its element size and
// alignment and the array length.
type cField struct {
	name        string
	size, align uintptr
	count       uintptr
}

// cLayout applies the C ABI's rules (every member at a multiple of its
// alignment, the struct padded to its largest alignment) and returns the
// offsets and the size.
func cLayout(fields []cField) (offsets []uintptr, size uintptr) {
	var off, maxAlign uintptr = 0, 1
	for _, f := range fields {
		off = (off + f.align - 1) / f.align * f.align
		offsets = append(offsets, off)
		off += f.size * f.count
		maxAlign = max(maxAlign, f.align)
	}
	return offsets, (off + maxAlign - 1) / maxAlign * maxAlign
}

// long is C's long on this GOARCH (LP64 or ILP32 Linux).
const long = unsafe.Sizeof(uintptr(0))

// The members as asound.h declares them.
var (
	cHWParams = []cField{
		{"Flags", 4, 4, 1},          // unsigned int flags
		{"Masks", 32, 4, 3},         // struct snd_mask masks[LAST_MASK-FIRST_MASK+1]
		{"Mres", 32, 4, 5},          // struct snd_mask mres[5]
		{"Intervals", 12, 4, 12},    // struct snd_interval intervals[LAST_INTERVAL-FIRST_INTERVAL+1]
		{"Ires", 12, 4, 9},          // struct snd_interval ires[9]
		{"Rmask", 4, 4, 1},          // unsigned int rmask
		{"Cmask", 4, 4, 1},          // unsigned int cmask
		{"Info", 4, 4, 1},           // unsigned int info
		{"Msbits", 4, 4, 1},         // unsigned int msbits
		{"RateNum", 4, 4, 1},        // unsigned int rate_num
		{"RateDen", 4, 4, 1},        // unsigned int rate_den
		{"FifoSize", long, long, 1}, // snd_pcm_uframes_t fifo_size
		{"Sync", 1, 1, 16},          // unsigned char sync[16]
		{"Reserved", 1, 1, 48},      // unsigned char reserved[48]
	}
	cSWParams = []cField{
		{"TstampMode", 4, 4, 1},
		{"PeriodStep", 4, 4, 1},
		{"SleepMin", 4, 4, 1},
		{"AvailMin", long, long, 1},
		{"XferAlign", long, long, 1},
		{"StartThreshold", long, long, 1},
		{"StopThreshold", long, long, 1},
		{"SilenceThreshold", long, long, 1},
		{"SilenceSize", long, long, 1},
		{"Boundary", long, long, 1},
		{"Proto", 4, 4, 1},
		{"TstampType", 4, 4, 1},
		{"Reserved", 1, 1, 56},
	}
	cXferi = []cField{
		{"Result", long, long, 1}, // snd_pcm_sframes_t result
		{"Buf", long, long, 1},    // void __user *buf
		{"Frames", long, long, 1}, // snd_pcm_uframes_t frames
	}
	cInterval = []cField{{"Min", 4, 4, 1}, {"Max", 4, 4, 1}, {"Flags", 4, 4, 1}}
)

func checkLayout(t *testing.T, goType reflect.Type, fields []cField, wantSize map[uintptr]uintptr) {
	t.Helper()
	offsets, size := cLayout(fields)
	if goType.NumField() != len(fields) {
		t.Fatalf("%v has %d fields, asound.h %d", goType, goType.NumField(), len(fields))
	}
	for i, f := range fields {
		gf := goType.Field(i)
		if gf.Name != f.name {
			t.Errorf("%v field %d is %s, want %s", goType, i, gf.Name, f.name)
		}
		if gf.Offset != offsets[i] || gf.Type.Size() != f.size*f.count {
			t.Errorf("%v.%s at %d size %d, want at %d size %d", goType, gf.Name, gf.Offset, gf.Type.Size(), offsets[i], f.size*f.count)
		}
	}
	if goType.Size() != size {
		t.Errorf("sizeof %v = %d, the header gives %d", goType, goType.Size(), size)
	}
	if w, ok := wantSize[long]; ok && goType.Size() != w {
		t.Errorf("sizeof %v = %d, want %d with %d-byte longs", goType, goType.Size(), w, long)
	}
}

func TestStructLayout(t *testing.T) {
	checkLayout(t, reflect.TypeFor[hwParams](), cHWParams, map[uintptr]uintptr{8: 608, 4: 604})
	checkLayout(t, reflect.TypeFor[swParams](), cSWParams, map[uintptr]uintptr{8: 136, 4: 104})
	checkLayout(t, reflect.TypeFor[xferi](), cXferi, map[uintptr]uintptr{8: 24, 4: 12})
	checkLayout(t, reflect.TypeFor[sndInterval](), cInterval, map[uintptr]uintptr{8: 12, 4: 12})
	if s := unsafe.Sizeof(sndMask{}); s != 32 {
		t.Errorf("sizeof snd_mask = %d, want 32 (SNDRV_MASK_MAX 256 bits)", s)
	}
	// Offsets alsa-lib users know by heart on 64-bit.
	if long == 8 {
		var hw hwParams
		for _, c := range []struct {
			name      string
			got, want uintptr
		}{
			{"intervals", unsafe.Offsetof(hw.Intervals), 260},
			{"rmask", unsafe.Offsetof(hw.Rmask), 512},
			{"fifo_size", unsafe.Offsetof(hw.FifoSize), 536},
		} {
			if c.got != c.want {
				t.Errorf("offsetof(snd_pcm_hw_params, %s) = %d, want %d", c.name, c.got, c.want)
			}
		}
	}
}

func TestIoctlNumbers(t *testing.T) {
	// _IOC(dir, 'A', nr, size) = dir<<30 | size<<16 | 'A'<<8 | nr, with the
	// sizes above; the 64-bit values are what strace shows on arm64/amd64.
	want64 := map[string]uint{
		"PVERSION": 0x80044100, "HW_REFINE": 0xc2604110, "HW_PARAMS": 0xc2604111, "HW_FREE": 0x4112,
		"SW_PARAMS": 0xc0884113, "DELAY": 0x80084121, "PREPARE": 0x4140, "RESET": 0x4141,
		"START": 0x4142, "DROP": 0x4143, "DRAIN": 0x4144, "RESUME": 0x4147,
		"WRITEI_FRAMES": 0x40184150, "READI_FRAMES": 0x80184151,
	}
	want32 := map[string]uint{
		"PVERSION": 0x80044100, "HW_REFINE": 0xc25c4110, "HW_PARAMS": 0xc25c4111, "HW_FREE": 0x4112,
		"SW_PARAMS": 0xc0684113, "DELAY": 0x80044121, "PREPARE": 0x4140, "RESET": 0x4141,
		"START": 0x4142, "DROP": 0x4143, "DRAIN": 0x4144, "RESUME": 0x4147,
		"WRITEI_FRAMES": 0x400c4150, "READI_FRAMES": 0x800c4151,
	}
	got := map[string]uint{
		"PVERSION": ioctlPVersion, "HW_REFINE": ioctlHWRefine, "HW_PARAMS": ioctlHWParams, "HW_FREE": ioctlHWFree,
		"SW_PARAMS": ioctlSWParams, "DELAY": ioctlDelay, "PREPARE": ioctlPrepare, "RESET": ioctlReset,
		"START": ioctlStart, "DROP": ioctlDrop, "DRAIN": ioctlDrain, "RESUME": ioctlResume,
		"WRITEI_FRAMES": ioctlWriteiFrames, "READI_FRAMES": ioctlReadiFrames,
	}
	want := want64
	if long == 4 {
		want = want32
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("SNDRV_PCM_IOCTL_%s = %#x, want %#x", name, got[name], w)
		}
	}
}

func TestMaskAndInterval(t *testing.T) {
	var m sndMask
	m.Bits[0] = ^uint32(0)
	m.set(formatS16LE)
	if !m.has(formatS16LE) || m.has(accessRWInterleaved) || m.Bits[0] != 1<<formatS16LE {
		t.Errorf("set(S16_LE) left %#x", m.Bits)
	}
	iv := sndInterval{Min: 7999, Max: 8000, Flags: intervalOpenMin}
	if iv.value() != 8000 {
		t.Errorf("(7999, 8000] value = %d, want 8000", iv.value())
	}
	var hw hwParams
	hw.any()
	if hw.interval(paramRate) != &hw.Intervals[3] || hw.interval(paramRate).Max != ^uint32(0) || hw.Masks[paramFormat].Bits[7] != ^uint32(0) {
		t.Error("any() did not open every parameter")
	}
}
