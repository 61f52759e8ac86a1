package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	siplib "github.com/emiago/sipgo/sip"

	"github.com/openata/ata/board"
	"github.com/openata/ata/media/rtpsession"
	"github.com/openata/ata/media/sdp"
)

// Call is one call of a Line, outgoing or incoming. Its methods are safe
// from any goroutine; progress is reported on Events.
type Call struct {
	line     *Line
	outgoing bool
	callID   string
	number   string // the other party
	name     string

	events  chan CallEvent
	endOnce sync.Once
	ended   atomic.Bool

	// Outgoing.
	uac    *sipgo.DialogClientSession
	cancel context.CancelFunc // cancels the INVITE (CANCEL) before an answer

	// Incoming.
	uas       *sipgo.DialogServerSession
	final     chan struct{} // closed once the INVITE has its final response
	finalOnce sync.Once
	answered  atomic.Bool

	contact siplib.ContactHeader
	// Session timer (RFC 4028): offered is the interval an incoming
	// INVITE asked for; timer runs once the call is up.
	offered time.Duration
	timer   *sessionTimer

	// Media.
	local    sdp.Local
	rtp      *net.UDPConn
	rtcp     *net.UDPConn
	mu       sync.Mutex
	session  *rtpsession.Session
	media    sdp.Media
	stream   atomic.Pointer[rtpsession.Session]
	version  uint64
	startedM bool
}

// Events reports the call's progress. It is closed after CallEnded.
func (c *Call) Events() <-chan CallEvent { return c.events }

// Outgoing reports the direction.
func (c *Call) Outgoing() bool { return c.outgoing }

// Remote is the other party: number (user part) and display name.
func (c *Call) Remote() (number, name string) { return c.number, c.name }

func (c *Call) emit(ev CallEvent) {
	if c.ended.Load() {
		return
	}
	if ev.Kind == CallEnded {
		c.endOnce.Do(func() {
			c.ended.Store(true)
			c.events <- ev
			close(c.events)
			if c.timer != nil {
				c.timer.close()
			}
			c.closeMedia()
			c.line.remove(c)
			c.line.log.Info("sip: call ended", "call", c.callID, "status", ev.Status, "reason", ev.Reason, "remote", ev.Remote)
		})
		return
	}
	select {
	case c.events <- ev:
	default: // the buffer holds every event a call can have; never block SIP
	}
}

// Dial places a call to number (the user part of sip:number@service_domain).
// It returns once the INVITE is on its way; the call's Events tell the rest.
func (l *Line) Dial(ctx context.Context, number string) (*Call, error) {
	if number == "" {
		return nil, fmt.Errorf("sip: dial: empty number")
	}
	target, route, err := l.target(ctx)
	if err != nil {
		return nil, fmt.Errorf("sip: dial %s: %w", number, err)
	}
	ip, err := l.localIP(target)
	if err != nil {
		return nil, fmt.Errorf("sip: dial %s: local address: %w", number, err)
	}
	c := &Call{line: l, outgoing: true, number: number, events: make(chan CallEvent, 8)}
	if err := c.openMedia(ip); err != nil {
		return nil, fmt.Errorf("sip: dial %s: %w", number, err)
	}
	offer, err := sdp.Offer(c.local)
	if err != nil {
		c.closeMedia()
		return nil, fmt.Errorf("sip: dial %s: %w", number, err)
	}
	ruri := siplib.Uri{Scheme: "sip", User: number, Host: l.aor.Host, Port: l.aor.Port}
	req := siplib.NewRequest(siplib.INVITE, ruri)
	req.AppendHeader(&siplib.ViaHeader{
		ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
		Host: hostString(ip), Port: int(l.st.LocalAddr().Port()),
		Params: siplib.HeaderParams{{K: "branch", V: siplib.GenerateBranch()}, {K: "rport"}},
	})
	mf := siplib.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	if route != nil {
		req.AppendHeader(&siplib.RouteHeader{Address: *route})
	}
	req.AppendHeader(&siplib.FromHeader{DisplayName: l.cfg.DisplayName, Address: l.aor,
		Params: siplib.HeaderParams{{K: "tag", V: siplib.GenerateTagN(16)}}})
	req.AppendHeader(&siplib.ToHeader{Address: ruri})
	c.callID = siplib.GenerateTagN(24)
	cid := siplib.CallIDHeader(c.callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&siplib.CSeqHeader{SeqNo: 1, MethodName: siplib.INVITE})
	contact := l.contact(ip)
	c.contact = contact
	req.AppendHeader(&contact)
	req.AppendHeader(siplib.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE"))
	req.AppendHeader(siplib.NewHeader("Supported", "timer"))
	if ua := l.st.cfg.UserAgent; ua != "" {
		req.AppendHeader(siplib.NewHeader("User-Agent", ua))
	}
	req.AppendHeader(siplib.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(offer)
	req.SetTransport("UDP")
	req.SetDestination(target.String())
	la := l.st.conn.LocalAddr().(*net.UDPAddr)
	req.Laddr = siplib.Addr{IP: la.IP, Port: la.Port}

	var proxy netip.AddrPort
	if route != nil {
		proxy = target
	}
	dua, err := l.dialogUA(contact, proxy)
	if err != nil {
		c.closeMedia()
		return nil, fmt.Errorf("sip: dial %s: %w", number, err)
	}
	l.add(c)
	uac, err := dua.WriteInvite(context.Background(), req)
	if err != nil {
		c.closeMedia()
		l.remove(c)
		return nil, fmt.Errorf("sip: dial %s: INVITE: %w", number, err)
	}
	c.uac = uac
	wctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	l.log.Info("sip: calling", "number", number, "call", c.callID, "via", target)
	go c.waitAnswer(wctx)
	return c, nil
}

// waitAnswer follows the INVITE to its final response, answering 401/407
// with the line's credentials.
func (c *Call) waitAnswer(ctx context.Context) {
	l := c.line
	err := c.uac.WaitAnswer(ctx, sipgo.AnswerOptions{
		Username: l.cfg.AuthName(),
		Password: l.cfg.Password,
		OnResponse: func(res *siplib.Response) error {
			switch {
			case res.StatusCode == 180 || (res.StatusCode == 183 && len(res.Body()) == 0):
				c.emit(CallEvent{Kind: CallProgress})
			case res.StatusCode == 183:
				if err := c.applyRemote(res.Body()); err != nil {
					l.log.Warn("sip: early media SDP", "err", err)
					c.emit(CallEvent{Kind: CallProgress})
					return nil
				}
				c.emit(CallEvent{Kind: CallEarlyMedia})
			}
			return nil
		},
	})
	var dr *sipgo.ErrDialogResponse
	switch {
	case err == nil:
	case errors.As(err, &dr):
		c.emit(CallEvent{Kind: CallEnded, Status: dr.Res.StatusCode, Reason: reasonText(dr.Res.StatusCode, dr.Res.Reason), Remote: true})
		return
	case ctx.Err() != nil:
		c.emit(CallEvent{Kind: CallEnded, Status: 487, Reason: "cancelled"})
		return
	default:
		c.emit(CallEvent{Kind: CallEnded, Status: 408, Reason: "no answer: " + err.Error(), Remote: true})
		return
	}
	res := c.uac.InviteResponse
	if err := c.applyRemote(res.Body()); err != nil {
		l.log.Warn("sip: answer SDP", "err", err)
		c.uac.Ack(context.Background())
		c.byeUAC()
		c.emit(CallEvent{Kind: CallEnded, Status: 488, Reason: "media: " + err.Error()})
		return
	}
	if err := c.uac.Ack(context.Background()); err != nil {
		l.log.Warn("sip: ACK", "err", err)
	}
	if interval, refresher, ok := parseSessionExpires(res); ok {
		c.timer = newSessionTimer(interval, refresher != "uas")
		go c.runSessionTimer(c.timer)
	}
	c.emit(CallEvent{Kind: CallAnswered})
}

// statusPhrase is the reason phrase of the statuses we send.
func statusPhrase(code int) string {
	switch code {
	case 480:
		return "Temporarily Unavailable"
	case 486:
		return "Busy Here"
	case 603:
		return "Decline"
	}
	return "Error"
}

// reasonText is the short cause for a final response.
func reasonText(code int, reason string) string {
	switch code {
	case 486, 600:
		return "busy"
	case 603:
		return "declined"
	case 404, 604:
		return "not found"
	case 480:
		return "unavailable"
	case 484:
		return "incomplete number"
	case 487:
		return "cancelled"
	}
	if reason != "" {
		return reason
	}
	return fmt.Sprintf("%d", code)
}

// newIncoming builds the call for a new INVITE: SDP negotiated, 180 sent.
func (l *Line) newIncoming(req *siplib.Request, tx siplib.ServerTransaction) (*Call, error) {
	src, _ := netip.ParseAddrPort(req.Source())
	ip, err := l.localIP(src)
	if err != nil {
		return nil, &statusError{500, "Server Error", err}
	}
	number, name := callerID(req)
	c := &Call{line: l, number: number, name: name, events: make(chan CallEvent, 8), final: make(chan struct{})}
	if interval, _, ok := parseSessionExpires(req); ok {
		if interval < minSessionExpires {
			return nil, &statusError{422, "Session Interval Too Small", fmt.Errorf("Session-Expires %v below our Min-SE %v", interval, minSessionExpires)}
		}
		c.offered = interval
	}
	c.callID = req.CallID().Value()
	if err := c.openMedia(ip); err != nil {
		return nil, &statusError{503, "Service Unavailable", err}
	}
	if err := c.applyRemote(req.Body()); err != nil {
		c.closeMedia()
		return nil, &statusError{488, "Not Acceptable Here", err}
	}
	c.contact = l.contact(ip)
	// With an outbound proxy the INVITE came from it (the provider reaches
	// a NATed ATA through the proxy it registered through): the dialog's
	// requests go back to that source.
	var proxy netip.AddrPort
	if l.cfg.OutboundProxy != "" {
		proxy = src
	}
	dua, err := l.dialogUA(c.contact, proxy)
	if err != nil {
		c.closeMedia()
		return nil, &statusError{500, "Server Error", err}
	}
	uas, err := dua.ReadInvite(req, tx)
	if err != nil {
		c.closeMedia()
		return nil, &statusError{500, "Server Error", err}
	}
	c.uas = uas
	l.add(c)
	if err := uas.Respond(180, "Ringing", nil); err != nil {
		c.closeMedia()
		l.remove(c)
		return nil, err
	}
	l.log.Info("sip: incoming call", "from", number, "name", name, "call", c.callID)
	// The caller gives up (CANCEL) or the transaction dies before an answer.
	go func() {
		<-uas.Context().Done()
		if !c.answered.Load() {
			c.finish()
			c.emit(CallEvent{Kind: CallEnded, Status: 487, Reason: "cancelled", Remote: true})
		}
	}()
	return c, nil
}

// waitFinal blocks the INVITE handler until the call has its final answer.
func (c *Call) waitFinal() { <-c.final }

func (c *Call) finish() { c.finalOnce.Do(func() { close(c.final) }) }

// Answer accepts an incoming call: 200 OK with our SDP answer. It returns
// at once; CallAnswered follows as the 200 OK leaves.
func (c *Call) Answer() error {
	if c.outgoing || c.uas == nil {
		return fmt.Errorf("sip: answer: not an incoming call")
	}
	if c.ended.Load() {
		return fmt.Errorf("sip: answer: call already ended")
	}
	c.mu.Lock()
	answer, err := sdp.Answer(c.nextLocal(), c.media)
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("sip: answer: %w", err)
	}
	c.answered.Store(true)
	c.startMedia()
	res := siplib.NewSDPResponseFromRequest(c.uas.InviteRequest, answer)
	if c.offered > 0 {
		// We accept the caller's interval and let it refresh (§9).
		for _, h := range sessionTimerHeaders(c.offered, "uac") {
			res.AppendHeader(h)
		}
		c.timer = newSessionTimer(c.offered, false)
		go c.runSessionTimer(c.timer)
	}
	c.emit(CallEvent{Kind: CallAnswered})
	go func() {
		defer c.finish()
		if err := c.uas.WriteResponse(res); err != nil {
			c.line.log.Warn("sip: 200 OK not acknowledged", "err", err)
			c.byeUAS()
			c.emit(CallEvent{Kind: CallEnded, Status: 408, Reason: "no ACK", Remote: true})
		}
	}()
	return nil
}

// Reject refuses an incoming call that has not been answered.
func (c *Call) Reject(status int) {
	if c.outgoing || c.uas == nil || c.answered.Load() {
		return
	}
	c.answered.Store(true) // no CANCEL event after our own final answer
	go func() {
		defer c.finish()
		c.uas.Respond(status, statusPhrase(status), nil)
	}()
	c.emit(CallEvent{Kind: CallEnded, Status: status, Reason: reasonText(status, "")})
}

// Hangup ends the call: CANCEL for an outgoing call not yet answered, BYE
// for an answered one, 480 for an incoming call not answered.
func (c *Call) Hangup() {
	if c.ended.Load() {
		return
	}
	switch {
	case c.outgoing && c.uac.LoadState() < siplib.DialogStateEstablished:
		c.cancel() // waitAnswer sends CANCEL and reports the end
		return
	case c.outgoing:
		go c.byeUAC()
	case !c.answered.Load():
		c.Reject(480)
		return
	default:
		go c.byeUAS()
	}
	c.emit(CallEvent{Kind: CallEnded, Status: 200, Reason: "local hangup"})
}

func (c *Call) byeUAC() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.uac.Bye(ctx); err != nil {
		c.line.log.Debug("sip: BYE", "err", err)
	}
}

func (c *Call) byeUAS() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.uas.Bye(ctx); err != nil {
		c.line.log.Debug("sip: BYE", "err", err)
	}
}

// remoteBye is the far end hanging up.
func (c *Call) remoteBye(req *siplib.Request, tx siplib.ServerTransaction) {
	var err error
	if c.uac != nil {
		err = c.uac.ReadBye(req, tx)
	} else {
		err = c.uas.ReadBye(req, tx)
	}
	if err != nil {
		respond(tx, req, siplib.StatusOK, "OK")
	}
	c.emit(CallEvent{Kind: CallEnded, Status: 200, Reason: "bye", Remote: true})
}

// reinvite answers a re-INVITE: hold, resume or a new address.
func (c *Call) reinvite(req *siplib.Request, tx siplib.ServerTransaction) {
	if err := c.applyRemote(req.Body()); err != nil {
		respond(tx, req, 488, "Not Acceptable Here")
		return
	}
	c.mu.Lock()
	answer, err := sdp.Answer(c.nextLocal(), c.media)
	c.mu.Unlock()
	if err != nil {
		respond(tx, req, 488, "Not Acceptable Here")
		return
	}
	res := siplib.NewSDPResponseFromRequest(req, answer)
	res.AppendHeader(&c.contact)
	if t := c.timer; t != nil {
		t.refreshed()
		// In a response, "uac" is the sender of this re-INVITE (the far end).
		refresher := "uac"
		if t.weRefresh {
			refresher = "uas"
		}
		for _, h := range sessionTimerHeaders(t.interval, refresher) {
			res.AppendHeader(h)
		}
	}
	if err := tx.Respond(res); err != nil {
		c.line.log.Debug("sip: re-INVITE answer", "err", err)
	}
}

// nextLocal is our SDP for a new answer; the version grows each time.
// Callers hold c.mu.
func (c *Call) nextLocal() sdp.Local {
	l := c.local
	c.version++
	l.SessionVersion = c.version
	return l
}

// SendDTMF sends a key to the far end per the line's DTMF mode.
func (c *Call) SendDTMF(key byte, d time.Duration) error {
	s := c.stream.Load()
	if s == nil {
		return fmt.Errorf("sip: DTMF: no media")
	}
	switch c.line.cfg.DTMFMode {
	case "inband":
		return nil // the tone itself travels in the audio
	case "info":
		return c.sendInfo(key, d)
	}
	if c.InBandDTMF() {
		return nil // no telephone-event negotiated: the tone went in-band
	}
	return s.SendDTMF(key, d)
}

// InBandDTMF reports whether keys reach the far end only as tones in the
// audio: the line's mode is "inband", or RFC 4733 was not negotiated.
func (c *Call) InBandDTMF() bool {
	switch c.line.cfg.DTMFMode {
	case "inband":
		return true
	case "info":
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.media.EventPayloadType == 0
}

func (c *Call) sendInfo(key byte, d time.Duration) error {
	req := siplib.NewRequest(siplib.INFO, c.remoteTarget())
	req.AppendHeader(siplib.NewHeader("Content-Type", "application/dtmf-relay"))
	req.SetBody([]byte(fmt.Sprintf("Signal=%c\r\nDuration=%d\r\n", key, d.Milliseconds())))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var res *siplib.Response
	var err error
	if c.uac != nil {
		res, err = c.uac.Do(ctx, req)
	} else {
		res, err = c.uas.Do(ctx, req)
	}
	if err != nil {
		return fmt.Errorf("sip: INFO: %w", err)
	}
	if !res.IsSuccess() {
		return fmt.Errorf("sip: INFO: %d %s", res.StatusCode, res.Reason)
	}
	return nil
}

func (c *Call) remoteTarget() siplib.Uri {
	if c.uac != nil {
		if ct := c.uac.InviteResponse.Contact(); ct != nil {
			return ct.Address
		}
		return c.uac.InviteRequest.Recipient
	}
	return c.uas.InviteRequest.Contact().Address
}

// Audio is the call's media for the handset; nil until there is any.
func (c *Call) Audio() board.Stream {
	if s := c.stream.Load(); s != nil {
		return s
	}
	return nil
}

// Report summarizes the media for the call log.
func (c *Call) Report() MediaReport {
	c.mu.Lock()
	s, m, started := c.session, c.media, c.startedM
	c.mu.Unlock()
	if s == nil || !started {
		return MediaReport{}
	}
	st := s.Stats()
	r := MediaReport{Codec: m.Codec.Name(), Loss: st.LossFraction, Jitter: st.Jitter, RTT: st.RTT}
	if st.PacketsReceived > 0 {
		r.MOS = st.MOS
	}
	if r.Loss < 0 {
		r.Loss = 0
	}
	return r
}

// openMedia binds the call's RTP and RTCP sockets.
func (c *Call) openMedia(ip netip.Addr) error {
	rtp, rtcp, port, err := c.line.openRTP(ip)
	if err != nil {
		return err
	}
	c.rtp, c.rtcp = rtp, rtcp
	c.local = c.line.localSDP(ip, port)
	c.version = c.local.SessionVersion
	return nil
}

// applyRemote negotiates the far end's SDP and creates or updates the RTP
// session to match it.
func (c *Call) applyRemote(body []byte) error {
	if len(body) == 0 {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.session != nil {
			return nil // a 200 OK without SDP after early media keeps it
		}
		return fmt.Errorf("no SDP")
	}
	m, err := sdp.Negotiate(c.local, body)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.media = m
	if c.session == nil {
		s, err := rtpsession.New(rtpsession.Config{
			Conn: c.rtp, RTCPConn: c.rtcp, Remote: m.Remote, RemoteRTCP: m.RemoteRTCP,
			Symmetric: true, Codec: m.Codec, PayloadType: m.PayloadType,
			EventPayloadType: m.EventPayloadType, Jitter: c.line.opt.Jitter,
			PacketSamples: int(m.Ptime / (time.Second / 8000)),
			Logger:        c.line.log,
		})
		if err != nil {
			return err
		}
		c.session = s
		if c.outgoing {
			c.startLocked()
		}
		return nil
	}
	c.session.SetRemote(m.Remote, m.RemoteRTCP)
	c.session.SetDirection(m.Direction.Sends(), m.Direction.Receives())
	return nil
}

func (c *Call) startMedia() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.startLocked()
}

func (c *Call) startLocked() {
	if c.session == nil || c.startedM {
		return
	}
	c.session.Start()
	c.startedM = true
	c.stream.Store(c.session)
}

func (c *Call) closeMedia() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stream.Store(nil)
	if c.session != nil {
		c.session.Close()
		c.session = nil
		return
	}
	if c.rtp != nil {
		c.rtp.Close()
		c.rtcp.Close()
	}
}

func msDuration(ms int) time.Duration { return time.Duration(ms) * time.Millisecond }
