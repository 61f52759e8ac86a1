// Command alsatest checks board/rpi/alsa against a real kernel driver: it
// plays a tone into snd-aloop's playback side and checks that the capture
// side hears it at the right frequency and level. Inside the QEMU image:
//
//	modprobe snd-aloop && alsatest            # exit status 0: pass
//
// Flags choose other devices (a real card with a loop-back cable) and the
// tone. It prints one line of figures and, on failure, why.
//
// With -serve ADDR it is instead the analog phone on the far side of the
// card: the sim board's HTTP API (/hook /dial /speak /listen) with the
// phone's earpiece recorded from -capture and its mouthpiece played into
// -play. The QEMU image test runs ata on hw:Loopback,0 and this on
// hw:Loopback,1 (alsatest -serve :8083 -capture hw:Loopback,1 -play hw:Loopback,1).
package main

import (
	"flag"
	"fmt"
	"math"
	"os"

	"github.com/openata/ata/board/pcm"
	"github.com/openata/ata/board/rpi/alsa"
)

func main() {
	play := flag.String("play", "hw:Loopback,0", "playback device")
	capture := flag.String("capture", "hw:Loopback,1", "capture device")
	freq := flag.Float64("freq", 1000, "tone frequency in Hz")
	rate := flag.Int("rate", 0, "device rate in Hz (0: 8000, else 16000, else 48000)")
	seconds := flag.Float64("seconds", 2, "how long to play")
	serveAddr := flag.String("serve", "", "instead of the tone check, serve the sim board's phone API on this address\nwith the phone's earpiece on -capture and its mouthpiece on -play (no authentication)")
	flag.Parse()
	if *serveAddr != "" {
		if err := serve(*serveAddr, *capture, *play); err != nil {
			fmt.Fprintln(os.Stderr, "alsatest: serve:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*capture, *play, *freq, *rate, *seconds); err != nil {
		fmt.Fprintln(os.Stderr, "alsatest: FAIL:", err)
		os.Exit(1)
	}
}

func run(captureDev, playDev string, freq float64, rate int, seconds float64) error {
	const frameSamples = 80 // 10 ms at 8 kHz
	d, err := alsa.OpenDuplex(captureDev, playDev, alsa.Config{Rate: rate}, frameSamples)
	if err != nil {
		return err
	}
	defer d.Close()

	const level = -10.0 // dBm0
	tone := pcm.NewSine(freq, pcm.Amplitude(level), 8000)
	frames := int(seconds * 100)
	heard := make([]int16, 0, frames*frameSamples)
	in, out := make([]int16, frameSamples), make([]int16, frameSamples)
	for range frames {
		if err := d.Read(in); err != nil {
			return fmt.Errorf("read: %w", err)
		}
		heard = append(heard, in...)
		for i := range out {
			out[i] = pcm.Clip16(tone.Next())
		}
		if err := d.Write(out); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	// Judge the second half: the first includes the loop's latency.
	tail := heard[len(heard)/2:]
	got := zeroCrossingFrequency(tail, 8000)
	amp, snr := fitSine(tail, freq, 8000)
	st := d.Stats()
	fmt.Printf("alsatest: %s → %s: sent %.0f Hz at %.1f dBm0, heard %.1f Hz at %.1f dBm0, SNR %.1f dB, xruns %d/%d, drift -%d/+%d\n",
		playDev, captureDev, freq, level, got, pcm.Level(amp), snr, st.PlaybackXRuns, st.CaptureXRuns, st.Dropped, st.Repeated)
	switch {
	case math.Abs(got-freq) > freq*0.01:
		return fmt.Errorf("heard %.1f Hz, want %.0f ± 1 %%", got, freq)
	case math.Abs(pcm.Level(amp)-level) > 1:
		return fmt.Errorf("heard %.1f dBm0, want %.1f ± 1", pcm.Level(amp), level)
	case snr < 40:
		return fmt.Errorf("SNR %.1f dB, want ≥ 40", snr)
	}
	return nil
}

// zeroCrossingFrequency counts rising zero crossings, interpolated between
// samples, from the first to the last.
func zeroCrossingFrequency(x []int16, rate int) float64 {
	first, last, n := -1.0, -1.0, 0
	for i := 1; i < len(x); i++ {
		if x[i-1] < 0 && x[i] >= 0 {
			t := float64(i-1) + float64(-x[i-1])/float64(int(x[i])-int(x[i-1]))
			if first < 0 {
				first = t
			} else {
				n++
			}
			last = t
		}
	}
	if n == 0 {
		return 0
	}
	return float64(n) * float64(rate) / (last - first)
}

// fitSine fits a tone at freq (least squares) and returns its amplitude and
// its power over the rest, in dB.
func fitSine(x []int16, freq float64, rate int) (amp, snr float64) {
	var cc, ss, cs, xc, xs float64
	w := 2 * math.Pi * freq / float64(rate)
	for i, v := range x {
		c, s := math.Cos(w*float64(i)), math.Sin(w*float64(i))
		cc, ss, cs = cc+c*c, ss+s*s, cs+c*s
		xc, xs = xc+float64(v)*c, xs+float64(v)*s
	}
	det := cc*ss - cs*cs
	if det == 0 {
		return 0, math.Inf(-1)
	}
	a, b := (xc*ss-xs*cs)/det, (xs*cc-xc*cs)/det
	var res float64
	for i, v := range x {
		e := float64(v) - a*math.Cos(w*float64(i)) - b*math.Sin(w*float64(i))
		res += e * e
	}
	amp = math.Hypot(a, b)
	return amp, 10 * math.Log10(amp*amp/2/(res/float64(len(x))+1e-9))
}
