package bridge

import (
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// frameWaiter waits for the relays' next frame on a timerfd through the
// Go runtime's poller, with raw system calls (board/sim's frame timer
// does the same and says why at length): the goroutine holds no P while
// it waits, the kernel's high-resolution timer wakes the poller on time
// (a Go timer's epoll timeout is in whole milliseconds), and a raw call
// does not wake the runtime's monitor thread the way a Go system call
// does. Neither call can block: the fd is non-blocking.
type frameWaiter interface {
	sleep(d time.Duration)
	close()
}

type timerfdWaiter struct {
	f    *os.File // keeps the fd open and registered with the poller
	rc   syscall.RawConn
	fd   int
	its  unix.ItimerSpec
	buf  [8]byte // the expiration count, read to clear readiness
	read func(fd uintptr) bool
	back goTimerWaiter // if the timer cannot be set
}

func newFrameWaiter() frameWaiter {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return &goTimerWaiter{}
	}
	w := &timerfdWaiter{fd: fd, f: os.NewFile(uintptr(fd), "relay-frame-timer")}
	if w.rc, err = w.f.SyscallConn(); err != nil {
		w.f.Close()
		return &goTimerWaiter{}
	}
	w.read = func(fd uintptr) bool {
		_, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&w.buf[0])), uintptr(len(w.buf)))
		return e != syscall.EAGAIN // not expired yet: wait in the poller
	}
	return w
}

func (w *timerfdWaiter) sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	w.its.Value = unix.NsecToTimespec(int64(d))
	if _, _, e := syscall.RawSyscall6(unix.SYS_TIMERFD_SETTIME, uintptr(w.fd), 0,
		uintptr(unsafe.Pointer(&w.its)), 0, 0, 0); e != 0 {
		w.back.sleep(d)
		return
	}
	if w.rc.Read(w.read) != nil {
		w.back.sleep(d)
	}
}

func (w *timerfdWaiter) close() {
	w.f.Close()
	w.back.close()
}
