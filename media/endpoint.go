package media

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
