// Command ata-sys does the few system jobs the image's init scripts need
// and busybox cannot do (Debian's busybox-static has no ntpd and no
// resize2fs):
//
//	ata-sys ntp [-timeout 3s] [-config FILE] [-every D] SERVER...   set the clock from the first SNTP server that answers
//	                                      (FILE's [system] ntp_server first; -every: keep it set, ntp.go)
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
		cfgPath := fs.String("config", "", "ata's config file: its [system] ntp_server is asked first (ntp.go)")
		every := fs.Duration("every", 0, "keep running: set the clock again this often (0: once)")
		_ = fs.Parse(args)
		if fs.NArg() == 0 && *cfgPath == "" {
			usage()
		}
		set := func(servers []string) error { return setClock(servers, *timeout) }
		if *every <= 0 {
			servers := fs.Args()
			if c := configuredNTP(*cfgPath); c != "" {
				servers = append([]string{c}, servers...)
			}
			err = set(servers)
			break
		}
		ntpLoop{configured: func() string { return configuredNTP(*cfgPath) }, fallback: fs.Args(), set: set,
			every: *every, retry: 10 * time.Second, check: 15 * time.Second,
			logf: func(f string, a ...any) { fmt.Printf(f+"\n", a...) }}.run(nil)
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
		timeout, from := healthTimeout(append(args, "/data/ata.toml"))
		fmt.Fprintf(os.Stderr, "update-watch: trial boot; committed within %v (%s) or rolled back\n", timeout, from)
		err = updateWatch("/", timeout, time.Second, func() error { return update.Reboot("") })
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ata-sys: %v\n", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: ata-sys ntp [-timeout D] [-config FILE] [-every D] SERVER... | grow-part DEVICE | grow-fs DEVICE MOUNTPOINT | update-boot | update-watch [CONFIG]")
	os.Exit(2)
}
