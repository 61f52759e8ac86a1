package rpi

// Audio is the SLIC's voice path: a full-duplex 8 kHz, 16-bit mono PCM
// device such as a USB sound card or an I2S codec (the ALSA implementation
// lives elsewhere). Its sample clock is the board clock: Run makes one
// frame per Read, so the device paces the port.
//
// Only the port's Run goroutine calls it, one Read then one Write per
// frame, always with slices of the port's FrameSamples samples. Neither
// call may allocate in steady state.
type Audio interface {
	// Read blocks until the device has captured len(frame) samples (the
	// mouthpiece) and copies them into frame. Implementations recover
	// from overruns themselves; an error means the device is gone.
	Read(frame []int16) error
	// Write queues frame for the earpiece. It blocks only while the
	// playback buffer is full; implementations keep that buffer primed
	// so that playback runs a frame or so behind capture.
	Write(frame []int16) error
}
