package rtpsession

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// SRTP (RFC 3711) with pion/srtp: every RTP and RTCP packet is protected
// as it leaves and checked as it arrives. A packet that fails (a bad
// authentication tag, a replay, too short) is dropped and counted before
// anything reads it: it is never played, never moves the statistics and
// never latches the far end's address.
//
// Four pion contexts, one per direction and protocol, each used from one
// place: RTP out under Session.mu (the frame path), RTP in under
// Session.mu (handleRTP, from the RTP goroutine or a relay's poll), RTCP
// out under srtpKeys.rtcpOut (the report writer and Close's BYE), RTCP in
// from the RTCP goroutine only. New keys (a re-INVITE) replace all four
// at once; the RTCP sides see the change through an atomic pointer.

// SRTPKeys are a call's SRTP keys, negotiated by SDES (media/sdp); the
// zero value (no Profile) is plain RTP. They never print (Format): a
// Config in a log shows the profile only.
type SRTPKeys struct {
	Profile srtp.ProtectionProfile
	// Local is the master key then master salt we send with; Remote the
	// far end's.
	Local, Remote []byte
	// RemoteMKI is the master key identifier in the far end's packets,
	// nil without one.
	RemoteMKI []byte
}

func (k SRTPKeys) equal(o SRTPKeys) bool {
	return k.Profile == o.Profile && bytes.Equal(k.Local, o.Local) && bytes.Equal(k.Remote, o.Remote) &&
		bytes.Equal(k.RemoteMKI, o.RemoteMKI)
}

// On reports whether the keys are set.
func (k SRTPKeys) On() bool { return k.Profile != 0 }

// Format writes the profile, never the keys, whatever the verb.
func (k SRTPKeys) Format(f fmt.State, _ rune) {
	if !k.On() {
		io.WriteString(f, "plain RTP")
		return
	}
	io.WriteString(f, k.Profile.String()+" [keys redacted]")
}

// Replay windows (RFC 3711 §3.3.2: at least 64).
const (
	srtpReplayWindow  = 128
	srtcpReplayWindow = 64
)

// srtpMaxOverhead is what protection adds to a packet at most: a 16-byte
// tag (AES-GCM) or a 10-byte one, the SRTCP index and an MKI.
const srtpMaxOverhead = 16 + 4 + 10 + 8

// srtpContexts is one set of keys in use.
type srtpContexts struct {
	keys          SRTPKeys
	rtpOut, rtpIn *srtp.Context
	rtcpOut       *srtp.Context // under rtcpOutMu
	rtcpOutMu     sync.Mutex
	rtcpIn        *srtp.Context // the RTCP goroutine only
}

// srtpState is the session's SRTP: its contexts (nil for plain RTP), the
// buffers protection works in, and its counts.
type srtpState struct {
	ctx atomic.Pointer[srtpContexts]

	out    [1500 + srtpMaxOverhead]byte // protected RTP out, under Session.mu
	in     [1500]byte                   // RTP in after checking, under Session.mu
	rtcpIn [1500]byte                   // RTCP in after checking, the RTCP goroutine only

	hdrOut, hdrIn rtp.Header // what pion parses, kept so that it does not allocate

	failed     atomic.Uint64 // packets (RTP and RTCP) that failed the check
	failLogged atomic.Bool
}

func newSRTPContexts(k SRTPKeys) (*srtpContexts, error) {
	keyLen, err := k.Profile.KeyLen()
	if err != nil {
		return nil, fmt.Errorf("rtpsession: SRTP: %w", err)
	}
	saltLen, err := k.Profile.SaltLen()
	if err != nil {
		return nil, fmt.Errorf("rtpsession: SRTP: %w", err)
	}
	if len(k.Local) != keyLen+saltLen || len(k.Remote) != keyLen+saltLen {
		return nil, fmt.Errorf("rtpsession: SRTP: %s takes %d bytes of key and salt, got %d and %d",
			k.Profile, keyLen+saltLen, len(k.Local), len(k.Remote))
	}
	out := func() (*srtp.Context, error) {
		return srtp.CreateContext(k.Local[:keyLen], k.Local[keyLen:], k.Profile)
	}
	in := func(opts ...srtp.ContextOption) (*srtp.Context, error) {
		if len(k.RemoteMKI) > 0 {
			opts = append(opts, srtp.MasterKeyIndicator(k.RemoteMKI))
		}
		return srtp.CreateContext(k.Remote[:keyLen], k.Remote[keyLen:], k.Profile, opts...)
	}
	c := srtpContexts{keys: SRTPKeys{Profile: k.Profile, Local: bytes.Clone(k.Local), Remote: bytes.Clone(k.Remote),
		RemoteMKI: bytes.Clone(k.RemoteMKI)}}
	var errs [4]error
	c.rtpOut, errs[0] = out()
	c.rtcpOut, errs[1] = out()
	c.rtpIn, errs[2] = in(srtp.SRTPReplayProtection(srtpReplayWindow))
	c.rtcpIn, errs[3] = in(srtp.SRTCPReplayProtection(srtcpReplayWindow))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("rtpsession: SRTP: %w", err)
	}
	return &c, nil
}

// SetSRTP changes the session's keys (zero: plain RTP from now on), as a
// new offer or answer says. New keys start their packet counters over, as
// RFC 3711 has them for a new master key; the keys in use again (a session
// refresh, a hold) change nothing, so the rollover counters carry on.
func (s *Session) SetSRTP(k SRTPKeys) error {
	if cur := s.srtp.ctx.Load(); cur != nil && cur.keys.equal(k) || cur == nil && !k.On() {
		return nil
	}
	var c *srtpContexts
	if k.On() {
		var err error
		if c, err = newSRTPContexts(k); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srtp.ctx.Store(c)
	return nil
}

// Encrypted reports whether the session protects its media with SRTP.
func (s *Session) Encrypted() bool { return s.srtp.ctx.Load() != nil }

// srtpFailed counts a packet that failed the check; the first is logged
// (without anything of the packet: it came from anyone).
func (s *Session) srtpFailed(proto string, err error) {
	s.srtp.failed.Add(1)
	if !s.srtp.failLogged.Swap(true) {
		s.log.Warn("srtp: packet failed the check, dropped (further ones only counted)", "proto", proto, "err", err)
	}
}

// protectRTP returns the RTP packet b as it goes on the wire: b itself
// without SRTP, else encrypted and authenticated in the session's own
// buffer. ok is false when it cannot go. s.mu is held.
func (s *Session) protectRTP(b []byte) (wire []byte, ok bool) {
	c := s.srtp.ctx.Load()
	if c == nil {
		return b, true
	}
	out, err := c.rtpOut.EncryptRTP(s.srtp.out[:0], b, &s.srtp.hdrOut)
	if err != nil {
		s.log.Warn("srtp: protect RTP", "err", err)
		return nil, false
	}
	return out, true
}

// unprotectRTP returns the received datagram b as plain RTP: b itself
// without SRTP, else checked and decrypted into the session's buffer, or
// nil (counted) when it fails the check. s.mu is held.
func (s *Session) unprotectRTP(b []byte) []byte {
	c := s.srtp.ctx.Load()
	if c == nil {
		return b
	}
	out, err := c.rtpIn.DecryptRTP(s.srtp.in[:0], b, &s.srtp.hdrIn)
	if err != nil || len(out) > len(s.srtp.in) {
		s.srtpFailed("rtp", err)
		return nil
	}
	return out
}

// protectRTCP returns a compound RTCP packet as it goes on the wire (the
// RTCP path allocates: it is off the audio path).
func (s *Session) protectRTCP(b []byte) ([]byte, bool) {
	c := s.srtp.ctx.Load()
	if c == nil {
		return b, true
	}
	c.rtcpOutMu.Lock()
	defer c.rtcpOutMu.Unlock()
	out, err := c.rtcpOut.EncryptRTCP(make([]byte, 0, len(b)+srtpMaxOverhead), b, nil)
	if err != nil {
		s.log.Warn("srtp: protect RTCP", "err", err)
		return nil, false
	}
	return out, true
}

// unprotectRTCP returns a received RTCP datagram checked and decrypted,
// or nil (counted) when it fails. The RTCP goroutine only.
func (s *Session) unprotectRTCP(b []byte) []byte {
	c := s.srtp.ctx.Load()
	if c == nil {
		return b
	}
	out, err := c.rtcpIn.DecryptRTCP(s.srtp.rtcpIn[:0], b, nil)
	if err != nil || len(out) > len(s.srtp.rtcpIn) {
		s.srtpFailed("rtcp", err)
		return nil
	}
	return out
}
