package alsa

import (
	"os"
	"runtime"
	"syscall"
	"testing"
)

// BenchmarkDuplexDevice runs the board's voice path (20 ms frames) on a
// real ALSA device and reports the frame thread's wake-ups per device
// period (voluntary context switches: each is a sleep in the driver) and
// allocations. ATA_ALSA_DEVICE names the device for both directions; the
// QEMU image test runs it on snd-aloop:
//
//	ATA_ALSA_DEVICE=hw:Loopback,0 ./alsa.test -test.run '^$' -test.bench DuplexDevice -test.benchtime 200x -test.benchmem
//
// Without a sound card (most build machines) there is nothing to measure.
func BenchmarkDuplexDevice(b *testing.B) {
	dev := os.Getenv("ATA_ALSA_DEVICE")
	if dev == "" {
		b.Skip("ATA_ALSA_DEVICE unset: name a sound card to measure, such as hw:Loopback,0 (snd-aloop)")
	}
	const frameSamples = 160
	d, err := OpenDuplex(dev, dev, Config{}, frameSamples)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	// The thread is the port's: wake-ups are counted on it alone.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	frame := make([]int16, frameSamples)
	step := func() {
		if err := d.Read(frame); err != nil {
			b.Fatal(err)
		}
		if err := d.Write(frame); err != nil {
			b.Fatal(err)
		}
	}
	for range 10 { // start both streams and settle
		step()
	}
	before := threadSwitches(b)
	x0 := d.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		step()
	}
	b.StopTimer()
	after := threadSwitches(b)
	periods := float64(b.N) * float64(d.capFrames) / float64(d.capture.PeriodFrames())
	b.ReportMetric(float64(after-before)/periods, "wakeups/period")
	x1 := d.Stats()
	b.ReportMetric(float64(x1.CaptureXRuns+x1.PlaybackXRuns-x0.CaptureXRuns-x0.PlaybackXRuns), "xruns")
	b.ReportMetric(float64(d.capture.PeriodFrames())*1000/float64(d.capture.Rate()), "ms/period")
}

// threadSwitches is the calling thread's voluntary context switches.
func threadSwitches(b *testing.B) int64 {
	const rusageThread = 1 // RUSAGE_THREAD
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		b.Fatal(err)
	}
	return int64(ru.Nvcsw)
}
