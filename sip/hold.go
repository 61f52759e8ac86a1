package sip

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	siplib "github.com/emiago/sipgo/sip"

	"github.com/openata/ata/call"
	"github.com/openata/ata/media/sdp"
)

// Hold and resume (RFC 3264 §8.4, RFC 6337 §5): we hold the far end with
// a re-INVITE whose SDP says sendonly and resume with sendrecv; the far
// end holds us with sendonly, inactive or c=0.0.0.0 in a re-INVITE or an
// UPDATE, which we answer recvonly (or inactive) and report as Held.

// glareWait is how long to wait before retrying a re-INVITE refused with
// 491 (RFC 3261 §14.1): 2.1-4 s when we own the Call-ID (we placed the
// call), 0-2 s otherwise, in units of 10 ms. Tests shorten it.
var glareWait = func(owner bool) time.Duration {
	if owner {
		return 2100*time.Millisecond + time.Duration(rand.IntN(190))*10*time.Millisecond
	}
	return time.Duration(rand.IntN(201)) * 10 * time.Millisecond
}

// maxGlareRetries bounds the re-INVITE retries after 491.
const maxGlareRetries = 4

// Hold puts the far end on hold: a re-INVITE with a=sendonly. It returns
// at once; a failed re-INVITE leaves the call as it was (and is logged).
func (c *Call) Hold() error { return c.setHold(true) }

// Resume takes the far end off hold: a re-INVITE with a=sendrecv.
func (c *Call) Resume() error { return c.setHold(false) }

func (c *Call) setHold(on bool) error {
	op := map[bool]string{true: "hold", false: "resume"}[on]
	if !c.up() {
		return fmt.Errorf("sip: %s: call not answered", op)
	}
	c.mu.Lock()
	if c.holding == on {
		c.mu.Unlock()
		return nil
	}
	c.holding = on
	c.local.Direction = sdp.SendRecv
	if on {
		c.local.Direction = sdp.SendOnly
	}
	c.mu.Unlock()
	c.line.log.Info("sip: "+op, "call", c.callID)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		defer cancel()
		if err := c.reoffer(ctx); err != nil {
			c.line.log.Warn("sip: "+op+" failed", "call", c.callID, "err", err)
			c.mu.Lock()
			if c.holding == on { // undo, unless another Hold/Resume came since
				c.holding = !on
				c.local.Direction = sdp.SendRecv
				if !on {
					c.local.Direction = sdp.SendOnly
				}
			}
			c.mu.Unlock()
		}
	}()
	return nil
}

// reoffer sends a re-INVITE with our current SDP and applies the answer:
// a hold, a resume or a session refresh. It retries after 491 (glare) and
// answers one 401/407 challenge with the line's credentials.
func (c *Call) reoffer(ctx context.Context) error {
	var auth []siplib.Header
	for attempt := 0; ; attempt++ {
		res, err := c.sendReinvite(ctx, auth)
		if err != nil {
			return err
		}
		switch {
		case res.IsSuccess():
			if _, err := c.applyRemote(res.Body()); err != nil {
				return fmt.Errorf("re-INVITE answer: %w", err)
			}
			if t := c.timer; t != nil {
				t.refreshed()
			}
			return nil
		case res.StatusCode == 491 && attempt < maxGlareRetries:
			wait := glareWait(c.outgoing)
			c.line.log.Info("sip: re-INVITE glare (491): retrying", "call", c.callID, "after", wait)
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return fmt.Errorf("re-INVITE: 491 and %w", ctx.Err())
			}
		case res.StatusCode == 422 && c.timer != nil && attempt < maxGlareRetries && c.timer.tooSmall(res):
			c.line.log.Info("sip: re-INVITE 422: again with the Min-SE asked", "call", c.callID, "min_se", c.timer.period())
		case (res.StatusCode == 401 || res.StatusCode == 407) && auth == nil && c.line.acct.Password != "":
			h, err := c.authorize(res, siplib.INVITE)
			if err != nil {
				return fmt.Errorf("re-INVITE: %w", err)
			}
			auth = []siplib.Header{h}
		default:
			return &statusError{res.StatusCode, res.Reason, fmt.Errorf("re-INVITE refused")}
		}
	}
}

func (c *Call) sendReinvite(ctx context.Context, extra []siplib.Header) (*siplib.Response, error) {
	c.offering.Store(true)
	defer c.offering.Store(false)
	c.mu.Lock()
	offer, err := sdp.Offer(c.nextLocal())
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	req := siplib.NewRequest(siplib.INVITE, c.remoteTarget())
	req.AppendHeader(siplib.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(siplib.NewHeader("Allow", allowMethods))
	req.AppendHeader(siplib.NewHeader("Supported", supportedTags))
	if t := c.timer; t != nil {
		refresher := "uas"
		if t.weRefresh {
			refresher = "uac"
		}
		req.AppendHeader(siplib.NewHeader("Session-Expires", strconv.Itoa(int(t.period()/time.Second))+";refresher="+refresher))
		if mse := t.minSEHeader(); mse != nil {
			req.AppendHeader(mse) // after a 422 (RFC 4028 §7.4)
		}
	}
	for _, h := range extra {
		req.AppendHeader(h)
	}
	req.SetBody(offer)
	c.reqMu.Lock()
	defer c.reqMu.Unlock()
	res, err := c.doLocked(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("re-INVITE: %w", err)
	}
	if res.IsSuccess() {
		c.ackLocked(res)
	}
	return res, nil
}

// authorize answers a 401/407 challenge to a request in the dialog.
func (c *Call) authorize(res *siplib.Response, method siplib.RequestMethod) (siplib.Header, error) {
	target := c.remoteTarget()
	name, cred, _, err := digestAnswer(res, method, target.Addr(), &c.line.acct)
	if err != nil {
		return nil, err
	}
	return siplib.NewHeader(name, cred), nil
}

// handleOffer answers the far end's re-INVITE or UPDATE with SDP: a new
// address, a hold (Held) or a resume (Resumed).
func (c *Call) handleOffer(req *siplib.Request, tx siplib.ServerTransaction) {
	if c.offering.Load() {
		// Our own re-INVITE is out: glare (RFC 3261 §14.2).
		respond(tx, req, 491, "Request Pending")
		return
	}
	if req.IsInvite() && len(req.Body()) == 0 {
		c.offerInAnswer(req, tx) // late offer: ours in the 200, the answer in the ACK (invite.go)
		return
	}
	if err := c.openAnswerMedia(); err != nil { // an offer before our answer: our SDP names a port now
		c.line.log.Warn("sip: media for an early offer", "call", c.callID, "err", err)
		respond(tx, req, siplib.StatusInternalServerError, "Server Error")
		return
	}
	c.mu.Lock()
	wasHeld := c.heldBy
	c.mu.Unlock()
	m, err := c.applyRemote(req.Body())
	if err != nil {
		c.line.log.Info("sip: offer refused", "call", c.callID, "method", req.Method, "err", err)
		respond(tx, req, 488, "Not Acceptable Here")
		return
	}
	c.mu.Lock()
	answer, err := sdp.Answer(c.nextLocal(), m)
	held := m.Hold
	if len(req.Body()) == 0 {
		held = wasHeld // an offer-less re-INVITE changes nothing
	}
	c.heldBy = held
	c.mu.Unlock()
	if err != nil {
		respond(tx, req, 488, "Not Acceptable Here")
		return
	}
	res := siplib.NewSDPResponseFromRequest(req, answer)
	res.AppendHeader(&c.contact)
	res.AppendHeader(siplib.NewHeader("Allow", allowMethods))
	res.AppendHeader(siplib.NewHeader("Supported", supportedTags))
	c.addTimerHeaders(res)
	if err := tx.Respond(res); err != nil {
		c.line.log.Debug("sip: offer answer", "call", c.callID, "err", err)
	}
	switch {
	case held && !wasHeld:
		c.emit(call.Event{Kind: call.Held, Detail: "far end: " + m.Direction.Reverse().String()})
	case !held && wasHeld:
		c.emit(call.Event{Kind: call.Resumed})
	}
}

// addTimerHeaders notes a refresh from the far end and adds the session
// timer headers to our 2xx.
func (c *Call) addTimerHeaders(res *siplib.Response) {
	t := c.timer
	if t == nil {
		return
	}
	t.refreshed()
	// In a response, "uac" is the sender of the request (the far end).
	refresher := "uac"
	if t.weRefresh {
		refresher = "uas"
	}
	for _, h := range sessionTimerHeaders(t.period(), refresher, !t.weRefresh || c.remoteSupports("timer")) {
		res.AppendHeader(h)
	}
}
