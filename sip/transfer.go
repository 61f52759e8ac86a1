package sip

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	siplib "github.com/emiago/sipgo/sip"

	"github.com/openata/ata/call"
)

// Call transfer (RFC 3515 REFER, RFC 5589 call-control transfer, RFC 3891
// Replaces): we transfer the far end (Transfer, TransferTo), or the far
// end transfers us (an incoming REFER becomes TransferRequested).

// Timings of a transfer we ask for, variables for tests.
var (
	// referFinalTimeout bounds the wait for the NOTIFY with the final
	// status after the REFER was accepted.
	referFinalTimeout = 30 * time.Second
	// transferByeDelay is how long we let the transferee hang up itself
	// after the success NOTIFY before we send our BYE (no crossing BYEs).
	transferByeDelay = 200 * time.Millisecond
	// replacedGrace is how long the other leg of an attended transfer
	// waits for the far end's BYE (its party took the INVITE with
	// Replaces) before we hang it up ourselves.
	replacedGrace = 5 * time.Second
)

// transferOut is a REFER we sent.
type transferOut struct {
	finalTimeout, byeDelay, grace time.Duration // the timings, read once

	other     *Call // the leg an attended transfer hands over, or nil
	replaces  bool  // other is to be replaced (not a blind fallback)
	frags     chan int
	succeeded atomic.Bool
	doneOnce  sync.Once
}

// done reports TransferDone once, whoever learns of the success first.
func (x *transferOut) done(c *Call) {
	x.doneOnce.Do(func() { c.emit(call.Event{Kind: call.TransferDone}) })
}

// Transfer asks the far end to call target (a number at the service
// domain, or a sip: URI) in our place: a blind transfer.
func (c *Call) Transfer(target string) error {
	uri, err := c.line.targetURI(target)
	if err != nil {
		return fmt.Errorf("sip: transfer: %w", err)
	}
	return c.refer("<"+uri.String()+">", nil, false)
}

// TransferTo asks the far end to take over other, another of our calls,
// in our place (attended transfer): REFER with Replaces for other's
// dialog when the far end supports Replaces, else a blind REFER to
// other's party. other must be a *Call of this package.
func (c *Call) TransferTo(other call.Leg) error {
	o, ok := other.(*Call)
	if !ok || o == nil {
		return call.ErrNotSupported
	}
	if o == c {
		return fmt.Errorf("sip: transfer: a call cannot replace itself")
	}
	if !o.confirmed() || o.ended.Load() {
		return fmt.Errorf("sip: transfer: the other call is not up")
	}
	// The transferee sends the INVITE with Replaces and the other party
	// takes it: both must know Replaces (RFC 3891), else it becomes a
	// second call at the other party.
	if c.remoteSupports("replaces") && o.remoteSupports("replaces") {
		local, remote := o.tags()
		// As the receiver of the INVITE with Replaces (other's far end)
		// sees the dialog: to-tag is its tag, from-tag ours.
		ref := dialogRef{CallID: o.callID, ToTag: remote, FromTag: local}
		target := o.remoteTarget()
		target.Headers = nil
		return c.refer("<"+target.String()+"?Replaces="+uriHeaderEscape(ref.String())+">", o, true)
	}
	number := o.remote.Number
	if o.remote.Anonymous() {
		return fmt.Errorf("sip: transfer: the far end cannot replace calls and the other party's number is withheld")
	}
	uri, err := c.line.targetURI(number)
	if err != nil {
		return fmt.Errorf("sip: transfer: %w", err)
	}
	c.line.log.Info("sip: a party does not support Replaces: blind transfer to the other party", "call", c.callID, "to", uri.String())
	return c.refer("<"+uri.String()+">", o, false)
}

// refer sends the REFER and follows its NOTIFYs in the background.
func (c *Call) refer(referToValue string, other *Call, replaces bool) error {
	if !c.up() {
		return fmt.Errorf("sip: transfer: call not answered")
	}
	x := &transferOut{other: other, replaces: replaces, frags: make(chan int, 16),
		finalTimeout: referFinalTimeout, byeDelay: transferByeDelay, grace: replacedGrace}
	c.mu.Lock()
	if c.xferOut != nil {
		c.mu.Unlock()
		return fmt.Errorf("sip: transfer: one is already in progress")
	}
	c.xferOut = x
	c.mu.Unlock()
	c.line.log.Info("sip: transfer", "call", c.callID, "refer_to", referToValue)
	go c.followRefer(x, referToValue)
	return nil
}

func (c *Call) followRefer(x *transferOut, referToValue string) {
	fail := func(detail string) {
		c.mu.Lock()
		if c.xferOut == x {
			c.xferOut = nil
		}
		c.mu.Unlock()
		c.line.log.Info("sip: transfer failed", "call", c.callID, "detail", detail)
		c.emit(call.Event{Kind: call.TransferFailed, Detail: detail})
	}
	req := siplib.NewRequest(siplib.REFER, c.remoteTarget())
	req.AppendHeader(siplib.NewHeader("Refer-To", referToValue))
	req.AppendHeader(siplib.NewHeader("Referred-By", "<"+c.line.aor.String()+">"))
	req.AppendHeader(siplib.NewHeader("Allow", allowMethods))
	req.AppendHeader(siplib.NewHeader("Supported", supportedTags))
	ctx, cancel := context.WithTimeout(context.Background(), 32*time.Second)
	res, err := c.do(ctx, req)
	if err == nil && (res.StatusCode == 401 || res.StatusCode == 407) && c.line.acct.Password != "" {
		var h siplib.Header
		if h, err = c.authorize(res, siplib.REFER); err == nil {
			again := siplib.NewRequest(siplib.REFER, c.remoteTarget())
			for _, name := range []string{"Refer-To", "Referred-By", "Allow", "Supported"} {
				again.AppendHeader(siplib.HeaderClone(req.GetHeader(name)))
			}
			again.AppendHeader(h)
			res, err = c.do(ctx, again)
		}
	}
	cancel()
	switch {
	case err != nil:
		fail("REFER: " + err.Error())
		return
	case !res.IsSuccess():
		fail("REFER refused: " + statusDetail(res.StatusCode, res.Reason))
		return
	}
	timeout := time.NewTimer(x.finalTimeout)
	defer timeout.Stop()
	for {
		var code int
		select {
		case code = <-x.frags:
		case <-timeout.C:
			fail("no final NOTIFY")
			return
		}
		if c.ended.Load() {
			return
		}
		switch {
		case code < 200:
			continue
		case code >= 300:
			fail("transfer failed: " + statusDetail(code, ""))
			return
		}
		if o := x.other; o != nil {
			if x.replaces {
				o.expectReplaced(x.grace)
			} else {
				o.hangup(call.Transferred, "transferred (blind fallback)")
			}
		}
		time.Sleep(x.byeDelay)
		c.hangup(call.Transferred, "transferred")
		return
	}
}

// expectReplaced readies this call for its far end's BYE after an
// attended transfer replaced it, and hangs up if it does not come.
func (c *Call) expectReplaced(grace time.Duration) {
	c.mu.Lock()
	c.byeCause = call.Replaced
	c.mu.Unlock()
	go func() {
		time.Sleep(grace)
		if !c.ended.Load() {
			c.line.log.Info("sip: replaced call not released by the far end: hanging up", "call", c.callID)
			c.hangup(call.Replaced, "replaced (no BYE from the far end)")
		}
	}()
}

// handleNotify takes the NOTIFYs of our REFER's implicit subscription:
// each is answered 200; their sipfrag status drives the transfer.
func (c *Call) handleNotify(req *siplib.Request, tx siplib.ServerTransaction) {
	ev := req.GetHeader("Event")
	if ev == nil {
		ev = req.GetHeader("o")
	}
	if ev == nil || !strings.EqualFold(strings.TrimSpace(strings.Split(ev.Value(), ";")[0]), "refer") {
		respond(tx, req, 489, "Bad Event")
		return
	}
	c.mu.Lock()
	x := c.xferOut
	c.mu.Unlock()
	if x == nil {
		respond(tx, req, siplib.StatusCallTransactionDoesNotExists, "Subscription Does Not Exist")
		return
	}
	code, reason, err := parseSipfrag(req.Body())
	if err != nil {
		c.line.log.Info("sip: NOTIFY body unreadable", "call", c.callID, "err", err)
		if st := req.GetHeader("Subscription-State"); st != nil && strings.HasPrefix(strings.ToLower(strings.TrimSpace(st.Value())), "terminated") {
			code = 500 // the subscription ended without a final status
		}
	}
	respond(tx, req, siplib.StatusOK, "OK")
	if code == 0 {
		return
	}
	c.line.log.Info("sip: transfer progress", "call", c.callID, "status", code, "reason", reason)
	if code >= 200 && code < 300 {
		// Before anything else: a BYE right behind this NOTIFY ends the
		// call as transferred.
		x.succeeded.Store(true)
		x.done(c)
	}
	select {
	case x.frags <- code:
	default:
	}
}

// transferIn is a REFER we received and accepted.
type transferIn struct {
	c        *Call
	target   referTo
	placed   atomic.Bool
	answered atomic.Bool // the target answered: we leave once the transferor knows
	finished atomic.Bool
	notes    chan sipfragNote
	once     sync.Once
}

type sipfragNote struct {
	code   int
	reason string
}

// handleRefer accepts the far end's REFER (202), tells it 100 Trying and
// reports TransferRequested; call control follows or refuses it.
func (c *Call) handleRefer(req *siplib.Request, tx siplib.ServerTransaction) {
	h := req.GetHeader("Refer-To")
	if h == nil {
		h = req.GetHeader("r")
	}
	if h == nil {
		respond(tx, req, siplib.StatusBadRequest, "Missing Refer-To")
		return
	}
	target, err := parseReferTo(h.Value())
	if err != nil {
		c.line.log.Info("sip: REFER refused", "call", c.callID, "err", err)
		respond(tx, req, siplib.StatusBadRequest, "Bad Refer-To")
		return
	}
	if !c.up() {
		respond(tx, req, 603, "Decline")
		return
	}
	x := &transferIn{c: c, target: target, notes: make(chan sipfragNote, 8)}
	c.mu.Lock()
	if c.xferIn != nil && !c.xferIn.finished.Load() {
		c.mu.Unlock()
		respond(tx, req, 491, "Request Pending")
		return
	}
	c.xferIn = x
	c.mu.Unlock()
	res := siplib.NewResponseFromRequest(req, 202, "Accepted", nil)
	res.AppendHeader(&c.contact)
	if err := tx.Respond(res); err != nil {
		c.line.log.Debug("sip: respond REFER", "call", c.callID, "err", err)
	}
	referredBy := ""
	if rb := req.GetHeader("Referred-By"); rb != nil {
		referredBy = rb.Value()
	} else if rb := req.GetHeader("b"); rb != nil {
		referredBy = rb.Value()
	} else {
		u := c.remoteURI()
		referredBy = "<" + u.String() + ">"
	}
	go x.notifier()
	x.note(100, "Trying")
	who := target.URI.User
	if who == "" {
		who = target.URI.String()
	}
	c.line.log.Info("sip: transfer requested", "call", c.callID, "target", target.URI.String(), "attended", target.Replaces != "")
	spec := dialSpec{uri: target.URI, replaces: target.Replaces, referredBy: referredBy}
	tr := call.NewTransferRequest(who, target.Replaces != "",
		func(ctx context.Context) (call.Leg, error) { return x.place(ctx, spec) },
		func(cause call.Cause) { x.fail(statusOf(cause), "") })
	c.emit(call.Event{Kind: call.TransferRequested, Detail: target.URI.String(), Transfer: tr})
}

// place dials the transfer target and reports its progress to the
// transferor; once it is answered the transferring call ends.
func (x *transferIn) place(ctx context.Context, spec dialSpec) (call.Leg, error) {
	if x.finished.Load() || x.placed.Swap(true) {
		return nil, fmt.Errorf("sip: transfer already followed or refused")
	}
	c := x.c
	var ringing atomic.Bool
	nc, err := c.line.dial(ctx, spec, func(nc *Call, ev call.Event) {
		switch ev.Kind {
		case call.Progress, call.EarlyMedia:
			if !ringing.Swap(true) {
				x.note(180, "Ringing")
			}
		case call.Answered:
			c.mu.Lock()
			c.byeCause = call.Transferred
			c.mu.Unlock()
			x.answered.Store(true)
			x.finish(200, "OK") // the notifier then hangs up the transferring call
		case call.Ended:
			nc.mu.Lock()
			code := nc.endCode
			nc.mu.Unlock()
			if code == 0 {
				code = statusOf(ev.Cause)
			}
			x.fail(code, "")
		}
	})
	if err != nil {
		x.placed.Store(false)
		x.fail(503, "")
		return nil, err
	}
	return nc, nil
}

// note queues a provisional status for the transferor.
func (x *transferIn) note(code int, reason string) {
	if x.finished.Load() {
		return
	}
	select {
	case x.notes <- sipfragNote{code, reason}:
	default:
	}
}

// finish queues the final status (the subscription ends with it).
func (x *transferIn) finish(code int, reason string) {
	x.once.Do(func() {
		x.finished.Store(true)
		x.notes <- sipfragNote{code, reason}
		close(x.notes)
	})
}

func (x *transferIn) fail(code int, reason string) {
	if code < 300 {
		code = 503
	}
	x.finish(code, reason)
}

// notifier sends the queued statuses as NOTIFYs, in order.
func (x *transferIn) notifier() {
	c := x.c
	for n := range x.notes {
		if c.ended.Load() {
			c.line.log.Debug("sip: transfer NOTIFY after the call ended: not sent", "call", c.callID, "status", n.code)
			continue
		}
		reason := n.reason
		if reason == "" {
			reason = statusPhrase(n.code)
		}
		state := "active;expires=60"
		if n.code >= 200 {
			state = "terminated;reason=noresource"
		}
		req := siplib.NewRequest(siplib.NOTIFY, c.remoteTarget())
		req.AppendHeader(siplib.NewHeader("Event", "refer"))
		req.AppendHeader(siplib.NewHeader("Subscription-State", state))
		req.AppendHeader(siplib.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
		req.SetBody([]byte(fmt.Sprintf("SIP/2.0 %d %s\r\n", n.code, reason)))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := c.do(ctx, req)
		cancel()
		switch {
		case err != nil:
			c.line.log.Info("sip: transfer NOTIFY", "call", c.callID, "status", n.code, "err", err)
		case !res.IsSuccess():
			c.line.log.Info("sip: transfer NOTIFY refused", "call", c.callID, "status", n.code, "answer", res.StatusCode)
		}
	}
	if x.answered.Load() {
		c.hangup(call.Transferred, "transferred")
	}
}
