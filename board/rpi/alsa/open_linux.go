package alsa

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Open opens and configures a PCM device: "hw:CARD,DEV" (card number or
// id, as in "hw:0,0" or "hw:Loopback,1"), "hw:CARD=id,DEV=n", or a
// /dev/snd/pcmC*D*[pc] path.
func Open(device string, stream Stream, cfg Config) (*PCM, error) {
	path, err := DevicePath(device, stream, cardIndexFromProc)
	if err != nil {
		return nil, err
	}
	// Non-blocking open so a busy device fails instead of hanging, then
	// blocking transfers.
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("alsa: open %s: %w", path, err)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("alsa: %s: %w", path, err)
	}
	p, err := newPCM(uintptr(fd), sysIoctl, func() error { return unix.Close(fd) }, stream, cfg)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%w (device %s)", err, path)
	}
	return p, nil
}

func sysIoctl(fd uintptr, req uint, arg unsafe.Pointer) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, fd, uintptr(req), uintptr(arg))
	if errno != 0 {
		return errno
	}
	return nil
}
