// Package codec holds the G.711 codecs (PCMU μ-law and PCMA A-law) used on
// the RTP path. Encode and Decode work on caller buffers and never allocate,
// so they can run once per 10/20 ms frame.
package codec

import (
	"strings"

	"github.com/zaf/g711"
)

// Codec is a G.711 variant. Its value is its static RTP payload type
// (RFC 3551), which is also how SDP names it when no rtpmap is given.
type Codec uint8

// The two G.711 laws, valued at their static payload types.
const (
	PCMU Codec = 0 // G.711 μ-law
	PCMA Codec = 8 // G.711 A-law
)

// ClockRate is the RTP clock rate of both G.711 codecs, in Hz.
const ClockRate = 8000

// Name returns the codec's RTP encoding name ("PCMU" or "PCMA").
func (c Codec) Name() string {
	switch c {
	case PCMU:
		return "PCMU"
	case PCMA:
		return "PCMA"
	}
	return "unknown"
}

func (c Codec) String() string { return c.Name() }

// PayloadType is the codec's static RTP payload type.
func (c Codec) PayloadType() uint8 { return uint8(c) }

// Valid reports whether c is PCMU or PCMA.
func (c Codec) Valid() bool { return c == PCMU || c == PCMA }

// ByName returns the codec with the given RTP encoding name, as found in an
// SDP rtpmap (case-insensitive, as RFC 4566 says).
func ByName(name string) (Codec, bool) {
	switch {
	case strings.EqualFold(name, "PCMU"):
		return PCMU, true
	case strings.EqualFold(name, "PCMA"):
		return PCMA, true
	}
	return 0, false
}

// ByPayloadType returns the codec with the given static payload type.
func ByPayloadType(pt uint8) (Codec, bool) {
	c := Codec(pt)
	return c, c.Valid()
}

// Encode compresses min(len(dst), len(src)) samples of src into dst, one
// byte per sample, and returns the number of bytes written.
func (c Codec) Encode(dst []byte, src []int16) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	if c == PCMA {
		for i, s := range src {
			dst[i] = g711.EncodeAlawFrame(s)
		}
		return n
	}
	for i, s := range src {
		dst[i] = g711.EncodeUlawFrame(s)
	}
	return n
}

// Decode expands min(len(dst), len(src)) bytes of src into dst and returns
// the number of samples written.
func (c Codec) Decode(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	if c == PCMA {
		for i, b := range src {
			dst[i] = g711.DecodeAlawFrame(b)
		}
		return n
	}
	for i, b := range src {
		dst[i] = g711.DecodeUlawFrame(b)
	}
	return n
}

// Silence returns the code word of a zero sample, used to pad payloads.
func (c Codec) Silence() byte {
	if c == PCMA {
		return 0xD5
	}
	return 0xFF
}
