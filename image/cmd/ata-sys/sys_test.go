package main

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"
	"unsafe"
)

// reply builds a server answer to req with receive/transmit time at.
func reply(req []byte, at time.Time) []byte {
	r := make([]byte, 48)
	r[0] = 4<<3 | 4
	r[1] = 2
	copy(r[24:32], req[40:48])
	binary.BigEndian.PutUint64(r[32:], toNTP(at))
	binary.BigEndian.PutUint64(r[40:], toNTP(at))
	return r
}

func TestSNTPOffset(t *testing.T) {
	t1 := time.Date(1970, 1, 1, 0, 0, 10, 0, time.UTC) // a Pi without RTC
	t4 := t1.Add(40 * time.Millisecond)
	server := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	got, err := sntpOffset(reply(sntpRequest(t1), server), t1, t4)
	if err != nil {
		t.Fatal(err)
	}
	// Symmetric path: the server time is the midpoint of t1 and t4.
	want := server.Sub(t1.Add(20 * time.Millisecond))
	if d := got - want; d < -time.Microsecond || d > time.Microsecond {
		t.Fatalf("offset %v, want %v", got, want)
	}
}

func TestSNTPRejects(t *testing.T) {
	t1 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	good := func() []byte { return reply(sntpRequest(t1), t1) }
	cases := map[string]func([]byte) []byte{
		"short":          func(b []byte) []byte { return b[:47] },
		"client mode":    func(b []byte) []byte { b[0] = 4<<3 | 3; return b },
		"unsynchronized": func(b []byte) []byte { b[0] |= 3 << 6; return b },
		"kiss-o'-death":  func(b []byte) []byte { b[1] = 0; return b },
		"stratum 16":     func(b []byte) []byte { b[1] = 16; return b },
		"other request":  func(b []byte) []byte { b[31]++; return b },
		"zero transmit":  func(b []byte) []byte { clear(b[40:48]); return b },
	}
	if _, err := sntpOffset(good(), t1, t1); err != nil {
		t.Fatalf("control: %v", err)
	}
	for name, spoil := range cases {
		if _, err := sntpOffset(spoil(good()), t1, t1); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestNTPEras(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2036, 2, 7, 6, 28, 15, 0, time.UTC), // last second of era 0
		time.Date(2036, 2, 7, 6, 28, 16, 0, time.UTC), // first of era 1
		time.Date(2090, 1, 1, 0, 0, 0, 500_000_000, time.UTC),
	} {
		if got := fromNTP(toNTP(at)); got.Sub(at).Abs() > time.Microsecond {
			t.Errorf("%v -> %v", at, got)
		}
	}
}

// mbr lays out primary partitions (start, size in sectors; type 0x83).
func mbr(parts ...[2]uint32) []byte {
	b := make([]byte, 512)
	for i, p := range parts {
		e := b[446+16*i:]
		e[4] = 0x83
		binary.LittleEndian.PutUint32(e[8:], p[0])
		binary.LittleEndian.PutUint32(e[12:], p[1])
	}
	b[510], b[511] = 0x55, 0xaa
	return b
}

func TestGrowEntry(t *testing.T) {
	layout := [][2]uint32{{8192, 122880}, {131072, 32768}, {163840, 32768}, {196608, 32768}}
	b := mbr(layout...)
	// A 1 GB card that is not a multiple of 4 MiB.
	old, grown, err := growEntry(b, 4, 1_000_000_000/512)
	if err != nil {
		t.Fatal(err)
	}
	end := uint64(1_000_000_000/512) / growAlign * growAlign
	if old != 32768 || grown != end-196608 || uint64(binary.LittleEndian.Uint32(b[446+48+12:])) != grown {
		t.Fatalf("old %d new %d (entry %d), want 32768 -> %d", old, grown, binary.LittleEndian.Uint32(b[446+48+12:]), end-196608)
	}
	if _, _, err := growEntry(b, 4, 1_000_000_000/512); !errors.Is(err, errNoGrowth) {
		t.Errorf("second grow: %v, want errNoGrowth", err)
	}
	if _, _, err := growEntry(mbr(layout...), 3, 1<<21); err == nil {
		t.Error("grew partition 3, which is not the last")
	}
	if _, _, err := growEntry(mbr(layout...), 4, 229376); !errors.Is(err, errNoGrowth) {
		t.Errorf("image-sized disk: %v, want errNoGrowth", err)
	}
	noSig := mbr(layout...)
	noSig[510] = 0
	if _, _, err := growEntry(noSig, 4, 1<<21); err == nil {
		t.Error("grew a disk without an MBR signature")
	}
}

func superblock(blocks uint64, logSize uint32, is64 bool) []byte {
	sb := make([]byte, 1024)
	binary.LittleEndian.PutUint32(sb[0x4:], uint32(blocks))
	binary.LittleEndian.PutUint32(sb[0x18:], logSize)
	binary.LittleEndian.PutUint16(sb[0x38:], 0xef53)
	if is64 {
		binary.LittleEndian.PutUint32(sb[0x60:], 0x80)
		binary.LittleEndian.PutUint32(sb[0x150:], uint32(blocks>>32))
	}
	return sb
}

func TestExt4Blocks(t *testing.T) {
	for _, c := range []struct {
		blocks  uint64
		logSize uint32
		is64    bool
	}{{16384, 0, false}, {163840, 2, true}, {5 << 32, 2, true}} {
		n, size, err := ext4Blocks(superblock(c.blocks, c.logSize, c.is64))
		if err != nil || n != c.blocks || size != 1024<<c.logSize {
			t.Errorf("%+v: %d blocks of %d, %v", c, n, size, err)
		}
	}
	if _, _, err := ext4Blocks(make([]byte, 1024)); err == nil {
		t.Error("accepted a superblock without the ext magic")
	}
}

func FuzzSNTPOffset(f *testing.F) {
	t1 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Add(reply(sntpRequest(t1), t1))
	f.Add([]byte{0x24})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = sntpOffset(b, t1, t1.Add(time.Millisecond))
	})
}

func FuzzGrowEntry(f *testing.F) {
	f.Add(mbr([2]uint32{8192, 122880}, [2]uint32{196608, 32768}), 2, uint64(1<<21))
	f.Add(make([]byte, 512), 1, uint64(0))
	f.Fuzz(func(t *testing.T, b []byte, part int, disk uint64) {
		if len(b) < 512 {
			return
		}
		before := uint64(0)
		if part >= 1 && part <= 4 {
			before = uint64(binary.LittleEndian.Uint32(b[446+16*(part-1)+12:]))
		}
		_, grown, err := growEntry(b, part, disk)
		if err == nil && (grown <= before || grown > 1<<32-1) {
			t.Fatalf("grew %d -> %d", before, grown)
		}
	})
}

func FuzzExt4Blocks(f *testing.F) {
	f.Add(superblock(16384, 0, false))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, size, err := ext4Blocks(b); err == nil && (size < 1024 || size > 64<<10) {
			t.Fatalf("block size %d", size)
		}
	})
}

// The BLKPG_RESIZE_PARTITION request: the kernel's struct layouts (linux/blkpg.h,
// 64-bit) and the partition's byte range, from the MBR's sectors.
func TestResizeRequest(t *testing.T) {
	p := resizeRequest(4, 196608, 327680)
	if p.start != 196608*512 || p.length != 327680*512 || p.pno != 4 {
		t.Fatalf("request %+v, want start %d, length %d, pno 4", p, 196608*512, 327680*512)
	}
	if s, o := unsafe.Sizeof(p), unsafe.Offsetof(p.devname); s != 152 || o != 20 {
		t.Errorf("blkpg_partition: size %d, devname at %d; want 152, 20", s, o)
	}
	var a blkpgIoctlArg
	if s, o := unsafe.Sizeof(a), unsafe.Offsetof(a.data); s != 24 || o != 16 {
		t.Errorf("blkpg_ioctl_arg: size %d, data at %d; want 24, 16", s, o)
	}
}
