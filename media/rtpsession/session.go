// Package rtpsession runs the media of one call: G.711 over RTP with
// RFC 4733 DTMF, an adaptive jitter buffer with packet loss concealment,
// RFC 3389 comfort noise (played when received; sent with silence
// suppression when VAD is on), a pass-through mode for fax and modems,
// symmetric RTP and RTCP reports and statistics.
//
// The session owns no clock. The analog port calls Exchange once per audio
// frame (10 or 20 ms): the mic frame is encoded and sent as one packet, and
// the ear frame is pulled from the jitter buffer. A bridge drives the same
// two halves separately through WriteFrame and ReadFrame (media.Endpoint). Receiving runs in the
// session's own goroutines. Neither path allocates per packet.
package rtpsession

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/openata/ata/media"
	"github.com/openata/ata/media/cn"
	"github.com/openata/ata/media/codec"
	"github.com/openata/ata/media/jitter"
	"github.com/openata/ata/media/plc"
	"github.com/openata/ata/media/rfc4733"
)

// Config sets up a session. Conn and Codec are required.
type Config struct {
	// Conn is the RTP socket and RTCPConn the RTCP one (port+1); nil
	// RTCPConn means no RTCP. The session owns both from New on and closes
	// them in Close.
	Conn     net.PacketConn
	RTCPConn net.PacketConn
	// Remote is where RTP goes; RemoteRTCP defaults to Remote's port+1.
	// Both can change later with SetRemote.
	Remote     netip.AddrPort
	RemoteRTCP netip.AddrPort
	// Latching says when RTP (and RTCP) goes to the source of the far
	// end's packets instead of Remote (strict.go); the zero value is
	// LatchAuto. Symmetric is the older flag for LatchAlways.
	Latching  Latching
	Symmetric bool

	Codec       codec.Codec
	PayloadType uint8 // the codec's payload type; 0 means Codec's static one
	// EventPayloadType is the negotiated telephone-event payload type; 0
	// disables RFC 4733 in both directions.
	EventPayloadType uint8
	// PacketSamples is the negotiated packet time in samples (80 for
	// ptime 10); a frame longer than it goes out as several packets. 0
	// sends one packet per frame.
	PacketSamples int

	Jitter     jitter.Config
	DisablePLC bool // output silence for lost frames instead of concealing

	// ComfortNoisePayloadType is the negotiated RFC 3389 comfort noise
	// payload type, 0 if CN was not negotiated. CN packets of it, and of
	// the static type 13 whatever was negotiated, are played as noise at
	// the level they name until speech resumes.
	ComfortNoisePayloadType uint8
	// VAD turns on silence suppression: after DefaultHangover of frames
	// under VADThreshold the session sends one CN packet (the background
	// level), then nothing until speech resumes, refreshing the CN packet
	// every CNRefresh. It needs a ComfortNoisePayloadType (RFC 3389 §5: no
	// CN packets unless negotiated) and is off in pass-through.
	VAD          bool
	VADThreshold uint8 // in −dBov; 0 means cn.DefaultThreshold (−45)

	// RTCPInterval is the mean report interval: 5 s if zero (RFC 3550
	// §6.2 minimum), randomized by ±50 %.
	RTCPInterval time.Duration
	CNAME        string // RTCP SDES CNAME; a random one if empty

	// Clock returns the time on the audio clock's time line: monotonic
	// time since New if nil. Packet arrival times and playout are
	// measured on it.
	Clock func() time.Duration
	// Wall is the wall-clock time at Clock's zero, for RTCP NTP timestamps:
	// time.Now() at New if zero.
	Wall time.Time

	Logger *slog.Logger

	// SRTP protects the media with these keys (srtp.go); zero: plain RTP.
	SRTP SRTPKeys
}

// ErrNoTelephoneEvent is returned by SendDTMF when the far end did not
// negotiate telephone-event.
var ErrNoTelephoneEvent = errors.New("rtpsession: telephone-event not negotiated")

// MaxFrame is the largest frame Exchange takes: 60 ms.
const MaxFrame = jitter.MaxPayload

// dtmfQueueLen bounds how many keys SendDTMF can queue (a dial string).
const dtmfQueueLen = 32

type queuedKey struct {
	key     byte
	samples int
}

// Session is the RTP media of one call.
type Session struct {
	cfg   Config
	log   *slog.Logger
	clock func() time.Duration
	pt    uint8
	evPT  uint8

	mu sync.Mutex // guards everything below

	// Where to send: the address and, for conns without
	// WriteToUDPAddrPort, the same as a *net.UDPAddr built once.
	remote, remoteRTCP       netip.AddrPort
	remoteUDP, remoteRTCPUDP *net.UDPAddr
	strict                   strictSource // the learned source (strict.go)
	send, receive            bool

	// Pass-through (fax, modems): passReq is what SetPassThrough asked for
	// (the depth, 0 for off), from any goroutine; the frame path applies
	// it under mu into passOn. passUsed is for the call's report.
	passReq  atomic.Int64
	passUsed atomic.Bool
	passOn   time.Duration

	// Send side.
	ssrc     uint32
	seq      uint16
	ts       uint32
	first    bool // next voice packet is the first: marker bit
	out      rtp.Packet
	payload  [MaxFrame]byte
	wire     [1500]byte
	sent     sendStats
	dtmfOut  rfc4733.Sender
	dtmfQ    [dtmfQueueLen]queuedKey
	dtmfHead int
	dtmfLen  int
	vad      cn.Detector
	silent   bool   // in a suppressed silence: CN sent, speech packets not
	cnSentTS uint32 // RTP timestamp of the last CN packet sent
	cnSent   uint64
	muted    uint64 // packets suppressed in silence

	// Comfort noise received: active from the CN packet's timestamp until
	// a speech frame after it plays.
	cnPT     uint8
	cnIn     cn.Payload
	cnActive bool
	cnTS     uint32
	noise    cn.Noise
	cnRecv   uint64

	// Receive side.
	rbuf      rtpReadBuf // used by the RTP goroutine only
	in        rtp.Packet
	jb        *jitter.Buffer
	conceal   plc.Concealer
	concealed uint64
	src       sourceStats
	dtmfIn    *rfc4733.Receiver
	dtmfCh    chan rfc4733.KeyEvent
	dtmfDrop  uint64
	malformed uint64
	unknownPT uint64
	remoteRep remoteReport

	// RTCP.
	rtcpBuf  [1500]byte // used by the RTCP goroutine only
	nextRTCP time.Duration
	rtcpKick chan time.Duration
	cname    string

	started, closed bool
	wg              sync.WaitGroup

	// rawRTP does the RTP socket's I/O without Go system calls (rawio.go);
	// nil for a conn it cannot drive.
	rawRTP *rawUDP

	srtp srtpState // SRTP contexts and buffers (srtp.go)
	// pollGate is the socket while a relay polls it (poll.go).
	pollGate pollGate
	// rawRTCP is rawRTP for the RTCP socket; rtcpWriteMu serialises its
	// writers.
	rawRTCP     *rawUDP
	rtcpWriteMu sync.Mutex
}

// New prepares a session; Start begins receiving.
func New(cfg Config) (*Session, error) {
	if cfg.Conn == nil {
		return nil, errors.New("rtpsession: no RTP conn")
	}
	if !cfg.Codec.Valid() {
		return nil, fmt.Errorf("rtpsession: codec %d is not G.711", cfg.Codec)
	}
	if cfg.EventPayloadType != 0 && (cfg.EventPayloadType < 96 || cfg.EventPayloadType > 127) {
		return nil, fmt.Errorf("rtpsession: telephone-event payload type %d is not dynamic", cfg.EventPayloadType)
	}
	if pt := cfg.ComfortNoisePayloadType; pt != 0 && pt != cn.PayloadType && (pt < 96 || pt > 127) {
		return nil, fmt.Errorf("rtpsession: comfort noise payload type %d is neither 13 nor dynamic", pt)
	}
	if cfg.RTCPInterval <= 0 {
		cfg.RTCPInterval = 5 * time.Second
	}
	s := &Session{cfg: cfg, log: cfg.Logger, clock: cfg.Clock,
		pt: cfg.PayloadType, evPT: cfg.EventPayloadType, cnPT: cfg.ComfortNoisePayloadType,
		vad:  cn.Detector{Threshold: cfg.VADThreshold},
		send: true, receive: true, first: true,
		dtmfCh: make(chan rfc4733.KeyEvent, 16), rtcpKick: make(chan time.Duration, 1)}
	if s.pt == 0 {
		s.pt = cfg.Codec.PayloadType()
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.clock == nil {
		start := time.Now()
		s.clock = func() time.Duration { return time.Since(start) }
	}
	if s.cfg.Wall.IsZero() {
		s.cfg.Wall = time.Now()
	}
	// Random initial sequence number, timestamp and SSRC (RFC 3550 §5.1).
	var r [14]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, fmt.Errorf("rtpsession: random: %w", err)
	}
	s.ssrc = binary.BigEndian.Uint32(r[0:])
	s.seq = binary.BigEndian.Uint16(r[4:])
	s.ts = binary.BigEndian.Uint32(r[6:])
	s.cname = cfg.CNAME
	if s.cname == "" {
		s.cname = fmt.Sprintf("ata-%x@openata", r[10:14])
	}
	s.out.Header = rtp.Header{Version: 2, SSRC: s.ssrc}
	s.jb = jitter.New(cfg.Jitter, cfg.Codec)
	s.rawRTP = newRawUDP(cfg.Conn)
	if cfg.RTCPConn != nil {
		s.rawRTCP = newRawUDP(cfg.RTCPConn)
	}
	s.dtmfIn = rfc4733.NewReceiver(s.reportKey)
	s.remoteChanged(cfg.Remote, cfg.RemoteRTCP)
	s.nextRTCP = s.clock() + s.rtcpInterval()
	if err := s.SetSRTP(cfg.SRTP); err != nil {
		return nil, err
	}
	return s, nil
}

// Start launches the receive goroutines (RTP, and RTCP if configured).
func (s *Session) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return
	}
	s.started = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for s.readRTP() == nil || s.afterRead() {
		}
	}()
	if s.cfg.RTCPConn != nil {
		s.wg.Add(2)
		go func() {
			defer s.wg.Done()
			for s.readRTCP() == nil {
			}
		}()
		go func() {
			defer s.wg.Done()
			s.rtcpWriter()
		}()
	}
}

// Close stops the session, closes its sockets and the DTMF channel. It
// sends an RTCP BYE first if RTCP is on.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	if s.cfg.RTCPConn != nil {
		s.sendBye()
	}
	close(s.rtcpKick)
	s.mu.Lock()
	polled := s.endPolling() // polling closed the conn already (poll.go)
	s.mu.Unlock()
	var err error
	if !polled {
		err = s.cfg.Conn.Close()
	}
	if s.cfg.RTCPConn != nil {
		err = errors.Join(err, s.cfg.RTCPConn.Close())
	}
	s.wg.Wait()
	close(s.dtmfCh)
	s.logStrict() // what strict RTP dropped (strict.go)
	if err != nil {
		return fmt.Errorf("rtpsession: close: %w", err)
	}
	return nil
}

// SetRemote changes where media goes (after a re-INVITE). A zero rtcp
// means rtp's port+1. A new address starts strict RTP's learning over.
func (s *Session) SetRemote(rtp, rtcp netip.AddrPort) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remoteChanged(rtp, rtcp)
}

func (s *Session) setRemote(rtp, rtcp netip.AddrPort) {
	if !rtcp.IsValid() && rtp.IsValid() {
		rtcp = netip.AddrPortFrom(rtp.Addr(), rtp.Port()+1)
	}
	s.remote, s.remoteRTCP = rtp, rtcp
	s.remoteUDP, s.remoteRTCPUDP = udpAddr(rtp), udpAddr(rtcp)
}

func udpAddr(ap netip.AddrPort) *net.UDPAddr {
	if !ap.IsValid() {
		return nil
	}
	return net.UDPAddrFromAddrPort(ap)
}

// SetDirection sets whether media is sent and whether received media is
// played (hold: sendonly, recvonly or inactive). RTCP continues.
func (s *Session) SetDirection(send, receive bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.send, s.receive = send, receive
}

// SendDTMF queues an RFC 4733 key press of the given length (at least
// 40 ms; 100 ms is usual). The event replaces the voice packets while it
// lasts; queued keys follow one another.
func (s *Session) SendDTMF(key byte, d time.Duration) error {
	if s.evPT == 0 {
		return ErrNoTelephoneEvent
	}
	if _, err := rfc4733.KeyCode(key); err != nil {
		return err
	}
	samples := int(max(d, 40*time.Millisecond) / (time.Second / codec.ClockRate))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dtmfLen == dtmfQueueLen {
		return fmt.Errorf("rtpsession: DTMF queue full (%d keys)", dtmfQueueLen)
	}
	s.dtmfQ[(s.dtmfHead+s.dtmfLen)%dtmfQueueLen] = queuedKey{key, samples}
	s.dtmfLen++
	return nil
}

// DTMF delivers the far end's RFC 4733 key presses: one down and one up
// per key. Events are dropped (and counted) if nobody reads. The channel
// closes with the session.
func (s *Session) DTMF() <-chan rfc4733.KeyEvent { return s.dtmfCh }

func (s *Session) reportKey(e rfc4733.KeyEvent) {
	select {
	case s.dtmfCh <- e:
	default:
		s.dtmfDrop++
	}
}

// The session is one party of a bridge as well as the port's stream.
var _ media.Endpoint = (*Session)(nil)

// Exchange is called once per audio frame by the port: mic is sent as one
// RTP packet and ear is filled with the next frame of far-end audio.
// len(mic) is the packet's duration in samples (at most MaxFrame). It is
// WriteFrame then ReadFrame, under one lock and one clock reading.
func (s *Session) Exchange(mic, ear []int16) {
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		clear(ear)
		return
	}
	s.writeFrame(now, mic)
	s.readFrame(now, ear)
}

// WriteFrame sends mic, what the far end hears next, as packets of the
// negotiated packet time (media.Endpoint). A bridge calls it once per
// frame, with ReadFrame.
func (s *Session) WriteFrame(mic []int16) {
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.writeFrame(now, mic)
}

// ReadFrame fills ear with the far end's next frame from the jitter
// buffer, concealing losses (media.Endpoint). After Close it is silence.
func (s *Session) ReadFrame(ear []int16) {
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		clear(ear)
		return
	}
	s.readFrame(now, ear)
}

// writeFrame sends one frame and, since the send side paces the session
// (it runs once per frame whatever arrives), tells the RTCP writer when a
// report is due. s.mu is held.
func (s *Session) writeFrame(now time.Duration, mic []int16) {
	s.applyPassThrough()
	s.sendFrame(mic)
	if s.cfg.RTCPConn != nil && now >= s.nextRTCP {
		s.nextRTCP = now + s.rtcpInterval()
		select {
		case s.rtcpKick <- now:
		default:
		}
	}
}

// readFrame plays one frame and lets the DTMF receiver end a key whose
// end packets were lost. s.mu is held.
func (s *Session) readFrame(now time.Duration, ear []int16) {
	s.applyPassThrough()
	s.receiveFrame(now, ear)
	s.dtmfIn.Expire(now)
}

// sendFrame sends mic (or a DTMF event in its place) as packets of the
// negotiated packet time and advances the RTP clock by one frame.
func (s *Session) sendFrame(mic []int16) {
	frame := min(len(mic), MaxFrame)
	step := frame
	if p := s.cfg.PacketSamples; p > 0 && p < frame {
		step = p
	}
	for off := 0; off < frame; off += step {
		end := min(frame, off+step)
		s.sendPacket(mic[off:end])
		s.ts += uint32(end - off)
	}
}

func (s *Session) sendPacket(mic []int16) {
	frame := len(mic)
	if !s.dtmfOut.Active() && s.dtmfLen > 0 {
		q := s.dtmfQ[s.dtmfHead]
		s.dtmfHead = (s.dtmfHead + 1) % dtmfQueueLen
		s.dtmfLen--
		s.dtmfOut.Start(q.key, q.samples, s.ts)
	}
	if s.dtmfOut.Active() {
		// A key ends a suppressed silence: if it is quiet after the key,
		// a fresh CN packet says so.
		s.silent = false
		p, ok := s.dtmfOut.Next(frame)
		if !ok || !s.send {
			return
		}
		n, _ := p.Event.MarshalTo(s.payload[:])
		s.out.PayloadType, s.out.Marker, s.out.Timestamp = s.evPT, p.Marker, p.Timestamp
		s.write(s.payload[:n])
		return
	}
	if !s.send || frame == 0 {
		return
	}
	if s.suppress(mic) {
		return
	}
	n := s.cfg.Codec.Encode(s.payload[:frame], mic)
	s.out.PayloadType, s.out.Marker, s.out.Timestamp = s.pt, s.first, s.ts
	s.first = false
	s.write(s.payload[:n])
}

// write marshals the header in s.out with payload and sends it.
func (s *Session) write(payload []byte) {
	if !s.remote.IsValid() || s.remote.Addr().IsUnspecified() {
		return
	}
	s.out.SequenceNumber = s.seq
	s.seq++
	s.out.Payload = payload
	n, err := s.out.MarshalTo(s.wire[:])
	if err != nil {
		s.log.Warn("rtp: marshal", "err", err)
		return
	}
	wire, ok := s.protectRTP(s.wire[:n])
	if !ok {
		return
	}
	if err := s.sendRTP(wire); err != nil {
		s.log.Debug("rtp: send", "to", s.remote, "err", err)
		return
	}
	s.sent.packets++
	s.sent.octets += uint64(len(payload))
}

type addrPortWriter interface {
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
}

// writeTo sends without allocating: through WriteToUDPAddrPort when the
// conn has it, else WriteTo with the prebuilt *net.UDPAddr.
func writeTo(c net.PacketConn, b []byte, ap netip.AddrPort, ua *net.UDPAddr) (int, error) {
	if w, ok := c.(addrPortWriter); ok {
		return w.WriteToUDPAddrPort(b, ap)
	}
	return c.WriteTo(b, ua)
}

// receiveFrame pulls the next frame from the jitter buffer, concealing
// what is missing, or playing comfort noise in the far end's silence. In
// pass-through nothing is invented: what is missing stays zero.
func (s *Session) receiveFrame(now time.Duration, ear []int16) {
	pass := s.passOn > 0
	switch s.jb.Get(now, ear) {
	case jitter.Audio:
		s.speechPlayed()
		if !s.cfg.DisablePLC && !pass {
			s.conceal.Good(ear)
		}
	case jitter.Lost:
		switch {
		case pass:
			s.concealed++ // the missing samples play as zeros
		case s.inComfortNoise():
			s.noise.Fill(ear) // the far end's silence, not a loss
		default:
			s.concealed++
			if !s.cfg.DisablePLC {
				s.conceal.Conceal(ear)
			}
		}
	default: // buffering: silence, and nothing to continue from
		if s.conceal.Erasing() {
			s.conceal.Reset()
		}
		if !pass && s.cnActive {
			s.noise.Fill(ear)
		}
	}
	if !s.receive {
		clear(ear)
	}
}
