package sim

import (
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// frameTimer waits for the next frame on a timerfd through the Go
// runtime's poller, with raw system calls.
//
// Why this pacing: the frame loop used to sleep in nanosleep on a thread
// of its own. A goroutine in a system call keeps its P, so with one P
// (cmd/ata) the runtime's monitor thread (sysmon) took the P back during
// every 20 ms sleep, handed it to another thread, and polled every 20 µs
// after each wake-up: six or more context switches per frame, most of the
// firmware's CPU time in a call. Parked on the timerfd, the goroutine
// holds no P; the thread waiting in epoll (real-time: board.
// RealtimeProcess) is woken by the kernel's high-resolution timer on time
// and runs the frame itself, one wake-up per frame. A Go timer would do
// the same but its epoll timeout is in whole milliseconds (up to 1 ms
// late). The calls are raw (syscall.RawSyscall) because a Go system call
// wakes sysmon from its idle sleep each time the process wakes; neither
// call can block (the fd is non-blocking), so neither needs what a Go
// system call does for a blocking one.
type frameTimer struct {
	fd   int
	f    *os.File // keeps fd open and registered with the poller
	rc   syscall.RawConn
	its  unix.ItimerSpec
	buf  [8]byte // expiration count, read to clear readiness
	read func(fd uintptr) bool
}

// newFrameTimer returns nil if the kernel has no timerfd.
func newFrameTimer() *frameTimer {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil
	}
	// A non-blocking fd makes a pollable File.
	t := &frameTimer{fd: fd, f: os.NewFile(uintptr(fd), "sim-frame-timer")}
	if t.rc, err = t.f.SyscallConn(); err != nil {
		t.f.Close()
		return nil
	}
	t.read = func(fd uintptr) bool {
		_, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&t.buf[0])), uintptr(len(t.buf)))
		return e != syscall.EAGAIN // not expired yet: wait in the poller
	}
	return t
}

// sleep waits d; false if the timer could not be set.
func (t *frameTimer) sleep(d time.Duration) bool {
	t.its.Value = unix.NsecToTimespec(int64(d))
	if _, _, e := syscall.RawSyscall6(unix.SYS_TIMERFD_SETTIME, uintptr(t.fd), 0,
		uintptr(unsafe.Pointer(&t.its)), 0, 0, 0); e != 0 {
		return false
	}
	return t.rc.Read(t.read) == nil
}
