package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

const (
	sectorSize = 512
	// growAlign keeps the partition end on a 4 MiB boundary (SD erase blocks).
	growAlign = 4 << 20 / sectorSize
	// minGrowth: smaller gains are not worth rewriting the partition table.
	minGrowth = 1 << 20 / sectorSize

	blkpg           = 0x1269     // _IO(0x12, 105): change one partition of a disk
	blkpgResize     = 3          // BLKPG_RESIZE_PARTITION
	ext4IocResizeFS = 0x40086610 // _IOW('f', 16, __u64)
)

// errNoGrowth says the partition already fills the disk.
var errNoGrowth = errors.New("nothing to grow")

// growEntry extends primary partition part (1-4) of the MBR in sector 0 to
// the end of a disk of diskSectors sectors, aligned down to growAlign. The
// partition must be the last one on the disk. It returns the partition's
// old and new sizes in sectors; mbr is changed in place.
func growEntry(mbr []byte, part int, diskSectors uint64) (oldSize, newSize uint64, err error) {
	if len(mbr) < sectorSize || mbr[510] != 0x55 || mbr[511] != 0xaa {
		return 0, 0, errors.New("no MBR signature")
	}
	if part < 1 || part > 4 {
		return 0, 0, fmt.Errorf("partition %d is not a primary partition", part)
	}
	entry := func(i int) []byte { return mbr[446+16*i : 446+16*(i+1)] }
	e := entry(part - 1)
	if e[4] == 0 || e[4] == 0xee || e[4] == 0x05 || e[4] == 0x0f {
		return 0, 0, fmt.Errorf("partition %d has type %#x: not a data partition", part, e[4])
	}
	start := uint64(binary.LittleEndian.Uint32(e[8:]))
	oldSize = uint64(binary.LittleEndian.Uint32(e[12:]))
	for i := 0; i < 4; i++ {
		o := entry(i)
		if i != part-1 && o[4] != 0 && uint64(binary.LittleEndian.Uint32(o[8:])) > start {
			return 0, 0, fmt.Errorf("partition %d is not the last one", part)
		}
	}
	end := diskSectors / growAlign * growAlign
	if end > 1<<32-1 {
		end = (1<<32 - 1) / growAlign * growAlign // MBR limit: 2 TiB
	}
	if end <= start || end-start < oldSize+minGrowth {
		return oldSize, oldSize, errNoGrowth
	}
	newSize = end - start
	binary.LittleEndian.PutUint32(e[12:], uint32(newSize))
	// CHS end: the "use LBA" marker, as for any partition past 8 GiB.
	e[5], e[6], e[7] = 0xfe, 0xff, 0xff
	return oldSize, newSize, nil
}

// blockDev describes a partition from sysfs.
type blockDev struct {
	name, disk  string // mmcblk0p4, mmcblk0
	part        int
	diskSectors uint64
	sectors     uint64
}

func sysfsPartition(dev string) (blockDev, error) {
	name := filepath.Base(dev)
	sys, err := filepath.EvalSymlinks("/sys/class/block/" + name)
	if err != nil {
		return blockDev{}, err
	}
	b := blockDev{name: name, disk: filepath.Base(filepath.Dir(sys))}
	num := func(path string) (uint64, error) {
		s, err := os.ReadFile(path)
		if err != nil {
			return 0, err
		}
		return strconv.ParseUint(strings.TrimSpace(string(s)), 10, 64)
	}
	p, err := num(sys + "/partition")
	if err != nil {
		return b, fmt.Errorf("%s is not a partition: %w", dev, err)
	}
	b.part = int(p)
	if b.sectors, err = num(sys + "/size"); err != nil {
		return b, err
	}
	b.diskSectors, err = num(filepath.Dir(sys) + "/size")
	return b, err
}

// blkpgPartition and blkpgIoctlArg are the kernel's struct blkpg_partition
// and struct blkpg_ioctl_arg (linux/blkpg.h; the same layout on arm64 and amd64).
type blkpgPartition struct {
	start, length int64 // bytes
	pno           int32
	devname       [64]byte
	volname       [64]byte
}

type blkpgIoctlArg struct {
	op, flags, datalen int32
	data               unsafe.Pointer
}

// resizeRequest describes partition part, starting at sector start, as
// size sectors long, for BLKPG_RESIZE_PARTITION.
func resizeRequest(part int, start, size uint64) blkpgPartition {
	return blkpgPartition{start: int64(start * sectorSize), length: int64(size * sectorSize), pno: int32(part)}
}

// growPartition extends the partition in the MBR and tells the kernel with
// BLKPG_RESIZE_PARTITION, which (unlike BLKRRPART, a re-read of the whole
// table) works while the partition is mounted: rcS grows /data in the
// background, after ata has started.
func growPartition(dev string) error {
	b, err := sysfsPartition(dev)
	if err != nil {
		return fmt.Errorf("grow-part: %w", err)
	}
	disk, err := os.OpenFile("/dev/"+b.disk, os.O_RDWR|os.O_SYNC, 0)
	if err != nil {
		return fmt.Errorf("grow-part: %w", err)
	}
	defer disk.Close()
	mbr := make([]byte, sectorSize)
	if _, err := disk.ReadAt(mbr, 0); err != nil {
		return fmt.Errorf("grow-part: read MBR: %w", err)
	}
	oldSize, newSize, err := growEntry(mbr, b.part, b.diskSectors)
	if errors.Is(err, errNoGrowth) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("grow-part: /dev/%s: %w", b.disk, err)
	}
	if _, err := disk.WriteAt(mbr, 0); err != nil {
		return fmt.Errorf("grow-part: write MBR: %w", err)
	}
	p := resizeRequest(b.part, uint64(binary.LittleEndian.Uint32(mbr[446+16*(b.part-1)+8:])), newSize)
	arg := blkpgIoctlArg{op: blkpgResize, datalen: int32(unsafe.Sizeof(p)), data: unsafe.Pointer(&p)}
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, disk.Fd(), blkpg, uintptr(unsafe.Pointer(&arg))); e != 0 {
		return fmt.Errorf("grow-part: resize partition %d in the kernel: %w", b.part, e)
	}
	fmt.Printf("grow-part: %s %d MiB -> %d MiB\n", dev, oldSize*sectorSize>>20, newSize*sectorSize>>20)
	return nil
}

// ext4Blocks reads the block count and block size from an ext4 superblock
// (the 1024 bytes at offset 1024 of the file system).
func ext4Blocks(sb []byte) (blocks uint64, blockSize uint64, err error) {
	if len(sb) < 1024 || binary.LittleEndian.Uint16(sb[0x38:]) != 0xef53 {
		return 0, 0, errors.New("not an ext2/3/4 superblock")
	}
	logSize := binary.LittleEndian.Uint32(sb[0x18:])
	if logSize > 6 { // 64 KiB is the largest ext4 block
		return 0, 0, fmt.Errorf("block size 2^%d KiB", logSize)
	}
	blocks = uint64(binary.LittleEndian.Uint32(sb[0x4:]))
	const incompat64bit = 0x80
	if binary.LittleEndian.Uint32(sb[0x60:])&incompat64bit != 0 {
		blocks |= uint64(binary.LittleEndian.Uint32(sb[0x150:])) << 32
	}
	return blocks, 1024 << logSize, nil
}

// growFS grows the mounted ext4 file system online (EXT4_IOC_RESIZE_FS,
// what resize2fs does for a mounted file system).
func growFS(dev, mountpoint string) error {
	b, err := sysfsPartition(dev)
	if err != nil {
		return fmt.Errorf("grow-fs: %w", err)
	}
	f, err := os.Open(dev)
	if err != nil {
		return fmt.Errorf("grow-fs: %w", err)
	}
	sb := make([]byte, 1024)
	_, err = f.ReadAt(sb, 1024)
	f.Close()
	if err != nil {
		return fmt.Errorf("grow-fs: read superblock: %w", err)
	}
	blocks, blockSize, err := ext4Blocks(sb)
	if err != nil {
		return fmt.Errorf("grow-fs: %s: %w", dev, err)
	}
	want := b.sectors * sectorSize / blockSize
	if want <= blocks {
		return nil
	}
	dir, err := os.Open(mountpoint)
	if err != nil {
		return fmt.Errorf("grow-fs: %w", err)
	}
	defer dir.Close()
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, dir.Fd(), ext4IocResizeFS, uintptr(unsafe.Pointer(&want))); e != 0 {
		return fmt.Errorf("grow-fs: resize %s to %d blocks: %w", mountpoint, want, e)
	}
	fmt.Printf("grow-fs: %s %d MiB -> %d MiB\n", mountpoint, blocks*blockSize>>20, want*blockSize>>20)
	return nil
}
