package update

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// dropCache drops a file's (or block device's) clean cached pages so that
// the read that follows comes from the card, not from what was written.
func dropCache(f *os.File) {
	unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}

// TrybootArg is the reboot argument that makes the Raspberry Pi firmware
// start autoboot.txt's [tryboot] partition for one boot ("0": the
// default partition, in tryboot mode). The kernel prints it on the
// console ("Restarting system with command '0 tryboot'"), which is how the
// QEMU image test, having no Pi firmware, sees the request.
const TrybootArg = "0 tryboot"

// Reboot syncs the file systems and restarts the machine at once, with
// arg passed to the firmware ("" for none). Only as root.
func Reboot(arg string) error {
	unix.Sync()
	if arg == "" {
		return unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	}
	b, err := unix.BytePtrFromString(arg)
	if err != nil {
		return err
	}
	_, _, e := unix.Syscall6(unix.SYS_REBOOT, unix.LINUX_REBOOT_MAGIC1, unix.LINUX_REBOOT_MAGIC2,
		unix.LINUX_REBOOT_CMD_RESTART2, uintptr(unsafe.Pointer(b)), 0, 0)
	if e != 0 {
		return fmt.Errorf("reboot %q: %w", arg, e)
	}
	return nil
}
