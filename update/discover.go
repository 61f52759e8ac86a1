package update

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The image's card layout (image/board/genimage.cfg): p1 the boot
// partition (autoboot.txt), p2 and p3 the slots, p4 the data partition.
const (
	BootMount    = "/boot"        // where rcS mounts p1
	StateDirName = "update"       // under the data partition's mount
	SlotA, SlotB = 2, 3           // partition numbers
	dataPart     = "4"            // the data partition's number
	dataMount    = "/data"        // where rcS mounts it
	mountsFile   = "proc/mounts"  // relative to root
	cmdlineFile  = "proc/cmdline" // relative to root
)

// ErrNoCard: the system does not run from the image's A/B card (a
// developer's machine, a test): there is nothing to update.
var ErrNoCard = errors.New("no A/B card: this system was not started from the firmware image's card (updates need its boot and slot partitions)")

// Discover finds the image's card from what rcS mounted: the data
// partition on /data (its disk gives the slot devices) and the boot
// partition on /boot with autoboot.txt. root is "/" (tests: a directory).
func Discover(root string) (*Card, error) {
	mounts, err := os.ReadFile(filepath.Join(root, mountsFile))
	if err != nil {
		return nil, ErrNoCard
	}
	var dataDev string
	for _, l := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[1] == dataMount && strings.HasPrefix(f[0], "/dev/") {
			dataDev = f[0]
		}
	}
	if dataDev == "" || !strings.HasSuffix(dataDev, dataPart) {
		return nil, ErrNoCard
	}
	prefix := strings.TrimSuffix(dataDev, dataPart) // /dev/mmcblk0p, /dev/vda
	c := &Card{
		BootDir:  filepath.Join(root, BootMount),
		StateDir: filepath.Join(root, dataMount, StateDirName),
		Slots: map[int]string{
			SlotA: filepath.Join(root, fmt.Sprintf("%s%d", prefix, SlotA)),
			SlotB: filepath.Join(root, fmt.Sprintf("%s%d", prefix, SlotB)),
		},
	}
	a, err := c.Autoboot()
	if err != nil {
		return nil, ErrNoCard
	}
	c.Running = BootPartition(root)
	if c.Running == 0 {
		c.Running = a.Committed // no firmware report: the default boot
	}
	if _, ok := c.Slots[c.Running]; !ok {
		return nil, fmt.Errorf("update: started from partition %d, not a slot", c.Running)
	}
	return c, nil
}
