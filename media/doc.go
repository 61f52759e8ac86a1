// Package media is the root of the call media layer: G.711 codecs
// (media/codec), SDP offer/answer (media/sdp), the adaptive jitter buffer
// (media/jitter), G.711 Appendix I packet loss concealment (media/plc),
// RFC 4733 telephone events (media/rfc4733), RFC 3389 comfort noise and
// a simple VAD (media/cn), the RTP/RTCP session that
// ties them together for one call (media/rtpsession), and the bridge that
// joins several parties' audio (media/bridge: conference, hold, relay of
// two legs, with a fake Endpoint for tests in media/bridge/bridgetest).
//
// Nothing here knows about hardware or SIP signalling: the analog port
// drives a session or a bridge one audio frame at a time, and the SIP
// layer feeds sessions the negotiated SDP. Endpoint is the one party's
// audio that a bridge mixes; PassThrough is what an endpoint that can
// carry a fax or modem unchanged offers call control.
package media
