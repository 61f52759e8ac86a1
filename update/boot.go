package update

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// BootPartition is the partition the firmware started the system from:
// the Raspberry Pi firmware says so in the device tree
// (/chosen/bootloader/partition, a 32-bit big-endian number); under QEMU,
// which has no Pi firmware, the image test's boot script passes
// ata.boot_partition=N on the kernel command line. root is "/" (tests: a
// directory holding proc/...). 0 when neither says.
func BootPartition(root string) int {
	for _, a := range strings.Fields(readString(filepath.Join(root, "proc/cmdline"))) {
		if v, ok := strings.CutPrefix(a, "ata.boot_partition="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return n
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(root, "proc/device-tree/chosen/bootloader/partition"))
	if err == nil && len(b) == 4 {
		return int(binary.BigEndian.Uint32(b))
	}
	return 0
}

func readString(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
