package media

import "time"

// Endpoint is one party's audio as a bridge sees it: 8 kHz 16-bit mono
// frames, one call of each method per frame from the goroutine that paces
// the bridge (the analog port's frame loop, or the bridge's own clock).
// Neither method may block or allocate.
type Endpoint interface {
	// ReadFrame fills f with the party's next frame: what it says. A party
	// with nothing to say (not yet, or lost packets beyond concealment)
	// fills silence.
	ReadFrame(f []int16)
	// WriteFrame takes f, what the party hears next, and sends it.
	WriteFrame(f []int16)
}

// PassThrough is implemented by endpoints that can carry a fax or modem
// call unchanged (an RTP session): call control finds it on a leg's
// Media() by type assertion when a fax or modem tone is heard.
type PassThrough interface {
	// SetPassThrough turns pass-through on (a fixed jitter buffer of
	// depth, no loss concealment, no comfort noise, no silence
	// suppression) or off (back to the adaptive behaviour). Safe to call
	// from any goroutine while frames flow.
	SetPassThrough(on bool, depth time.Duration)
}

// Polled is implemented by endpoints whose packets a bridge's clock can
// read itself, once per frame before ReadFrame, instead of the endpoint
// waking a goroutine of its own per packet (an RTP session: see
// rtpsession.Session.StartPolling for why).
type Polled interface {
	// StartPolling hands receiving over; false: the endpoint keeps
	// receiving by itself and Poll must not be called.
	StartPolling() bool
	// Poll takes in what has arrived, without blocking or allocating.
	Poll()
	// StopPolling gives receiving back to the endpoint.
	StopPolling()
}
