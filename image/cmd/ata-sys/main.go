// Command ata-sys does the few system jobs the image's init scripts need
// and busybox cannot do (Debian's busybox-static has no ntpd and no
// resize2fs):
//
//	ata-sys ntp [-timeout 3s] SERVER...   set the clock from the first SNTP server that answers
//	ata-sys grow-part DEVICE              extend the last MBR partition (e.g. /dev/mmcblk0p4) to the end of the disk
//	ata-sys grow-fs DEVICE MOUNTPOINT     grow the mounted ext4 file system on DEVICE to fill its partition
//	ata-sys update-boot                   settle an update's trial at boot; prints "trial" or "committed"
//	ata-sys update-watch [CONFIG]         roll a trial boot back (reboot) unless ata commits it in time
//
// It runs as root in the initramfs (grow-part and grow-fs in the background
// once ata has started); every failure is reported and non-fatal to the boot.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/openata/ata/update"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "ntp":
		fs := flag.NewFlagSet("ntp", flag.ExitOnError)
		timeout := fs.Duration("timeout", 3*time.Second, "time to wait for each server")
		_ = fs.Parse(args)
		if fs.NArg() == 0 {
			usage()
		}
		err = setClock(fs.Args(), *timeout)
	case "grow-part":
		if len(args) != 1 {
			usage()
		}
		err = growPartition(args[0])
	case "grow-fs":
		if len(args) != 2 {
			usage()
		}
		err = growFS(args[0], args[1])
	case "update-boot":
		err = updateBoot("/")
	case "update-watch":
		files := append(args, "/data/ata.toml")
		err = updateWatch("/", files, time.Second, func() error { return update.Reboot("") })
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ata-sys: %v\n", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: ata-sys ntp [-timeout D] SERVER... | grow-part DEVICE | grow-fs DEVICE MOUNTPOINT | update-boot | update-watch [CONFIG]")
	os.Exit(2)
}
