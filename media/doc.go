// Package media is the root of the call media layer: G.711 codecs
// (media/codec), SDP offer/answer (media/sdp), the adaptive jitter buffer
// (media/jitter), G.711 Appendix I packet loss concealment (media/plc),
// RFC 4733 telephone events (media/rfc4733) and the RTP/RTCP session that
// ties them together for one call (media/rtpsession).
//
// Nothing here knows about hardware or SIP signalling: the analog port
// drives a session one audio frame at a time, and the SIP layer feeds it
// the negotiated SDP.
package media
