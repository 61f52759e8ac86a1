package sip

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	siplib "github.com/emiago/sipgo/sip"

	"github.com/openata/ata/call"
	"github.com/openata/ata/media/sdp"
)

// The INVITE details real providers send, on top of the plain call of
// call.go:
//   - late offer (RFC 3261 §13.2.1, RFC 3264): an INVITE or re-INVITE
//     without SDP gets our offer in its 2xx; the ACK brings the answer;
//   - reliable provisional responses (RFC 3262, 100rel): our 180 is sent
//     reliably (RSeq, Require) to a caller that supports it and repeated
//     until PRACKed; a provider's reliable 18x is PRACKed;
//   - forking (RFC 3261 §13.2.2.4): several early dialogs; the first 2xx
//     wins, a later 2xx from another fork gets ACK and BYE;
//   - 300/301/302 redirects (§8.1.3.4): the Contacts are tried in q order,
//     at most maxRedirects, never a target twice;
//   - 422 (RFC 4028 §7.4): the INVITE is sent again with the Min-SE asked;
//   - 503/500/480 with a short Retry-After: the INVITE is sent again after
//     it (Backoff.CallRetry).

// maxRedirects bounds the targets a call follows after 3xx.
const maxRedirects = 5

// relT1 and relMax time the retransmission of a reliable provisional
// response (RFC 3262 §3: T1 doubling, given up after 64·T1). Tests
// shorten them.
var (
	relT1  = 500 * time.Millisecond
	relMax = 64 * 500 * time.Millisecond
)

// inviteState is a call's part in these extensions.
type inviteState struct {
	// lateOffer: the incoming INVITE had no SDP.
	lateOffer bool

	// Under Call.mu: awaitAck is the CSeq of the far end's INVITE whose 2xx
	// carried our offer, until its ACK brings the answer; ackInitial says
	// whether that was the call's first INVITE (the answer starts media).
	awaitAck   uint32
	ackInitial bool

	// Reliable 180 (we are the UAS), under Call.mu: rseq is the last RSeq
	// sent, pracked closed once it is acknowledged.
	rseq    uint32
	pracked chan struct{}
	// earlyOffer: that 180 carried our offer (the INVITE had none: RFC
	// 3262 §5), its PRACK brings the answer; earlyDone once it has.
	earlyOffer, earlyDone bool

	// Outgoing, under Call.mu: the RSeq last PRACKed per early dialog
	// (to-tag), the SDP of each fork's 18x, the winning fork's tag once a
	// 2xx is taken, 2xx from other forks seen before that, and the forks
	// already sent ACK and BYE.
	rseqIn  map[string]uint32
	early   map[string][]byte
	winner  string
	stray   []*siplib.Response
	dropped map[string]bool
	// tried are the targets an outgoing call has been sent to, next the
	// redirect targets still to try, retries the 422/Retry-After resends.
	tried      map[string]bool
	next       []siplib.Uri
	retries    int
	redirected bool
	rounds     int // manyProvisionals
	tap        *callTap
}

// ourExtensions are the option tags a request may Require of us: those
// supportedTags names.
var ourExtensions = []string{"100rel", "timer", "replaces"}

// refuseExtensions answers 420 Bad Extension, naming them in Unsupported,
// a request that requires extensions we lack (RFC 3261 §8.2.2.3), such as
// preconditions (RFC 3312): the caller may try again without them.
func (l *Line) refuseExtensions(req *siplib.Request, tx siplib.ServerTransaction) bool {
	var bad []string
	for _, h := range req.GetHeaders("Require") {
		for t := range strings.SplitSeq(h.Value(), ",") {
			t = strings.TrimSpace(t)
			if t != "" && !slices.ContainsFunc(ourExtensions, func(o string) bool { return strings.EqualFold(o, t) }) {
				bad = append(bad, t)
			}
		}
	}
	if len(bad) == 0 {
		return false
	}
	l.log.Info("sip: request requires extensions we lack", "method", req.Method, "unsupported", bad)
	res := siplib.NewResponseFromRequest(req, 420, "Bad Extension", nil)
	res.AppendHeader(siplib.NewHeader("Unsupported", strings.Join(bad, ", ")))
	if err := tx.Respond(res); err != nil {
		l.log.Debug("sip: respond 420", "err", err)
	}
	return true
}

// ---- late offer ----

// answerBody is the SDP of our 2xx to the INVITE: the answer to its
// offer, our offer when it had none (late: the ACK answers), or none when
// offer and answer went in our reliable 180 and its PRACK.
func (c *Call) answerBody() (body []byte, late bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.inv.earlyDone:
		return nil, false, nil
	case c.inv.lateOffer:
		body, err := sdp.Offer(c.nextLocal())
		if err == nil {
			c.inv.awaitAck, c.inv.ackInitial = c.uas.InviteRequest.CSeq().SeqNo, true
		}
		return body, true, err
	}
	body, err = sdp.Answer(c.nextLocal(), c.media)
	return body, false, err
}

// offerInAnswer answers a re-INVITE without SDP with our offer in the 200;
// its ACK brings the answer (handleAck).
func (c *Call) offerInAnswer(req *siplib.Request, tx siplib.ServerTransaction) {
	if err := c.openAnswerMedia(); err != nil {
		c.line.log.Warn("sip: media for a late offer", "call", c.callID, "err", err)
		respond(tx, req, siplib.StatusInternalServerError, "Server Error")
		return
	}
	c.mu.Lock()
	offer, err := sdp.Offer(c.nextLocal())
	if err == nil {
		c.inv.awaitAck, c.inv.ackInitial = req.CSeq().SeqNo, false
	}
	c.mu.Unlock()
	if err != nil {
		c.line.log.Warn("sip: offer for an offer-less re-INVITE", "call", c.callID, "err", err)
		respond(tx, req, siplib.StatusInternalServerError, "Server Error")
		return
	}
	res := siplib.NewSDPResponseFromRequest(req, offer)
	res.AppendHeader(&c.contact)
	res.AppendHeader(siplib.NewHeader("Allow", allowMethods))
	res.AppendHeader(siplib.NewHeader("Supported", supportedTags))
	c.addTimerHeaders(res)
	c.line.log.Info("sip: re-INVITE without SDP: our offer in the 200", "call", c.callID)
	if err := tx.Respond(res); err != nil {
		c.line.log.Debug("sip: late offer 200", "call", c.callID, "err", err)
	}
}

// handleAck takes an ACK in the call: it confirms our 2xx, and where that
// 2xx carried our offer it brings the answer.
func (c *Call) handleAck(req *siplib.Request, tx siplib.ServerTransaction) {
	if c.uas != nil {
		c.uas.ReadAck(req, tx)
	}
	cseq := req.CSeq()
	c.mu.Lock()
	if c.inv.awaitAck == 0 || cseq == nil || cseq.SeqNo != c.inv.awaitAck {
		c.mu.Unlock()
		return
	}
	initial, wasHeld := c.inv.ackInitial, c.heldBy
	c.inv.awaitAck = 0
	c.mu.Unlock()
	var m sdp.Media
	err := fmt.Errorf("the ACK has no SDP")
	if len(req.Body()) > 0 {
		m, err = c.applyRemote(req.Body())
	}
	if err != nil {
		// RFC 3264 §5: the offer in a 2xx must be answered in the ACK; a
		// call without agreed media is over.
		c.line.log.Warn("sip: late offer not answered", "call", c.callID, "err", err)
		go c.bye()
		c.end(call.MediaFailed, "media: the ACK's answer: "+err.Error(), false)
		return
	}
	if initial {
		c.startMedia()
		c.emit(call.Event{Kind: call.Answered, Detail: "late offer"})
		return
	}
	c.noteHold(m.Hold, wasHeld)
}

// noteHold records whether the far end holds us and reports a change.
func (c *Call) noteHold(held, wasHeld bool) {
	c.mu.Lock()
	c.heldBy = held
	c.mu.Unlock()
	switch {
	case held && !wasHeld:
		c.emit(call.Event{Kind: call.Held, Detail: "far end"})
	case !held && wasHeld:
		c.emit(call.Event{Kind: call.Resumed})
	}
}

// bye ends an answered call with a BYE, as either side of the dialog.
func (c *Call) bye() {
	if c.uac != nil {
		c.byeUAC()
		return
	}
	c.byeUAS()
}

// byeChallenged sends our BYE again with credentials when the first was
// answered 401 or 407 (some providers challenge every request: unanswered,
// the call would stay up, and billed, on their side). reqMu is held.
func (c *Call) byeChallenged(ctx context.Context, err error) {
	var dr sipgo.ErrDialogResponse
	if !errors.As(err, &dr) || (dr.Res.StatusCode != 401 && dr.Res.StatusCode != 407) || c.line.acct.Password == "" {
		c.line.log.Debug("sip: BYE", "call", c.callID, "err", err)
		return
	}
	h, err := c.authorize(dr.Res, siplib.BYE)
	if err != nil {
		c.line.log.Warn("sip: BYE challenged", "call", c.callID, "err", err)
		return
	}
	bye := siplib.NewRequest(siplib.BYE, c.remoteTarget())
	bye.AppendHeader(h)
	res, err := c.doLocked(ctx, bye)
	switch {
	case err != nil:
		c.line.log.Warn("sip: BYE with credentials", "call", c.callID, "err", err)
	case !res.IsSuccess():
		c.line.log.Warn("sip: BYE with credentials refused", "call", c.callID, "code", res.StatusCode)
	}
}

// ---- 100rel: our reliable 180 ----

// wantsReliable reports whether the caller asks for (Require) or accepts
// (Supported) reliable provisional responses.
func (c *Call) wantsReliable() bool {
	return hasOptionTag(c.uas.InviteRequest, "100rel", "Require", "Supported", "k")
}

// alertReliable sends 180 with RSeq and Require: 100rel and repeats it
// until the PRACK (or the final answer) comes; a caller that never PRACKs
// is refused 5xx after relMax (RFC 3262 §3).
func (c *Call) alertReliable() error {
	var offer []byte
	if c.inv.lateOffer {
		// RFC 3262 §5: without an offer in the INVITE, the first reliable
		// response carries ours; the media sockets are bound for it now.
		if err := c.openAnswerMedia(); err != nil {
			return fmt.Errorf("sip: reliable 180: %w", err)
		}
		c.mu.Lock()
		var err error
		offer, err = sdp.Offer(c.nextLocal())
		c.inv.earlyOffer = err == nil
		c.mu.Unlock()
		if err != nil {
			return fmt.Errorf("sip: reliable 180: %w", err)
		}
	}
	res := siplib.NewResponseFromRequest(c.uas.InviteRequest, 180, "Ringing", offer)
	if len(offer) > 0 {
		res.AppendHeader(siplib.NewHeader("Content-Type", "application/sdp"))
	}
	c.mu.Lock()
	if c.inv.rseq == 0 {
		c.inv.rseq = uint32(rand.IntN(1<<16)) + 1
	} else {
		c.inv.rseq++
	}
	rseq := c.inv.rseq
	pracked := make(chan struct{})
	c.inv.pracked = pracked
	c.mu.Unlock()
	res.AppendHeader(siplib.NewHeader("Require", "100rel"))
	res.AppendHeader(siplib.NewHeader("RSeq", strconv.FormatUint(uint64(rseq), 10)))
	res.AppendHeader(siplib.NewHeader("Allow", allowMethods))
	res.AppendHeader(siplib.HeaderClone(&c.contact))
	if err := c.uas.WriteResponse(res); err != nil {
		return fmt.Errorf("sip: reliable 180: %w", err)
	}
	c.line.log.Info("sip: reliable 180 sent", "call", c.callID, "rseq", rseq)
	go func() {
		wait, total := relT1, time.Duration(0)
		for {
			t := time.NewTimer(wait)
			select {
			case <-pracked:
				t.Stop()
				return
			case <-c.done:
				t.Stop()
				return
			case <-c.final:
				t.Stop()
				return
			case <-t.C:
			}
			total += wait
			if c.answered.Load() {
				return
			}
			if total >= relMax {
				c.line.log.Warn("sip: reliable 180 never PRACKed", "call", c.callID, "rseq", rseq)
				c.refuse(500, call.NoResponse, []siplib.Header{siplib.NewHeader("Retry-After", "5")})
				return
			}
			if err := c.inviteTx.Respond(res); err != nil {
				return
			}
			wait = min(2*wait, 4*time.Second)
		}
	}()
	return nil
}

// handlePrack answers the PRACK of our reliable 180 (RFC 3262 §3).
func (l *Line) handlePrack(req *siplib.Request, tx siplib.ServerTransaction) {
	c := l.find(req)
	if c == nil || c.uas == nil {
		respond(tx, req, siplib.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	rseq, cseq, method, err := parseRAck(headerValue(req, "RAck"))
	c.mu.Lock()
	ok := err == nil && c.inv.rseq != 0 && rseq == c.inv.rseq && method == siplib.INVITE &&
		cseq == c.uas.InviteRequest.CSeq().SeqNo
	var pracked chan struct{}
	if ok {
		pracked, c.inv.pracked = c.inv.pracked, nil
	}
	c.mu.Unlock()
	if !ok {
		l.log.Info("sip: PRACK for no reliable response of ours", "call", c.callID, "rack", headerValue(req, "RAck"), "err", err)
		respond(tx, req, siplib.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	if pracked != nil {
		close(pracked)
	}
	c.mu.Lock()
	answerDue := c.inv.earlyOffer && !c.inv.earlyDone
	c.mu.Unlock()
	if answerDue && len(req.Body()) > 0 {
		// The answer to the offer in our 180 (RFC 3262 §5).
		if _, err := c.applyRemote(req.Body()); err != nil {
			l.log.Info("sip: PRACK's answer refused", "call", c.callID, "err", err)
			respond(tx, req, 488, "Not Acceptable Here")
			c.refuse(488, call.MediaFailed, nil)
			return
		}
		c.mu.Lock()
		c.inv.earlyDone, c.inv.lateOffer = true, false
		c.mu.Unlock()
	} else if answerDue {
		// No answer: our 200 OK offers again, the ACK answers.
		l.log.Info("sip: PRACK without the answer to our offer", "call", c.callID)
	}
	respond(tx, req, siplib.StatusOK, "OK")
}

// headerValue is a header's value, "" without it.
func headerValue(m interface{ GetHeader(string) siplib.Header }, name string) string {
	if h := m.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

// ---- outgoing: PRACK, forks ----

// provisional takes an outgoing call's 1xx: it PRACKs a reliable one
// (RFC 3262 §4) and keeps each fork's SDP. It reports false for a
// reliable response already taken (a retransmission or out of order):
// it is not processed further.
func (c *Call) provisional(res *siplib.Response) bool {
	tag, _ := res.To().Params.Get("tag")
	if len(res.Body()) > 0 && tag != "" {
		c.mu.Lock()
		if c.inv.early == nil {
			c.inv.early = map[string][]byte{}
		}
		c.inv.early[tag] = res.Body()
		c.mu.Unlock()
	}
	if res.StatusCode == 100 || !hasOptionTag(res, "100rel", "Require") {
		return true
	}
	rseq, err := strconv.ParseUint(strings.TrimSpace(headerValue(res, "RSeq")), 10, 32)
	if err != nil || rseq == 0 || tag == "" {
		c.line.log.Info("sip: reliable provisional without a usable RSeq or tag", "call", c.callID, "rseq", headerValue(res, "RSeq"))
		return true
	}
	c.mu.Lock()
	if c.inv.rseqIn == nil {
		c.inv.rseqIn = map[string]uint32{}
	}
	last, seen := c.inv.rseqIn[tag]
	if seen && uint32(rseq) != last+1 {
		c.mu.Unlock()
		return false
	}
	c.inv.rseqIn[tag] = uint32(rseq)
	c.mu.Unlock()
	prack := siplib.NewRequest(siplib.PRACK, c.uac.InviteRequest.Recipient)
	if ct := res.Contact(); ct != nil {
		prack.Recipient = ct.Address
	}
	prack.AppendHeader(siplib.NewHeader("RAck", fmt.Sprintf("%d %d INVITE", rseq, res.CSeq().SeqNo)))
	// Sent here, on WaitAnswer's goroutine: the dialog builds it from the
	// response in hand (its To tag, its Record-Route).
	tx, err := c.uac.TransactionRequest(context.Background(), prack)
	if err != nil {
		c.line.log.Warn("sip: PRACK", "call", c.callID, "err", err)
		return true
	}
	c.line.log.Info("sip: PRACK sent", "call", c.callID, "rseq", rseq, "tag", tag)
	go func() {
		defer tx.Terminate()
		select {
		case r := <-tx.Responses():
			if r.StatusCode >= 300 {
				c.line.log.Warn("sip: PRACK refused", "call", c.callID, "code", r.StatusCode)
			}
		case <-tx.Done():
		case <-time.After(32 * time.Second):
		}
	}()
	return true
}

// callTap sits between an outgoing call's dialog and the stack: it sees
// the call's INVITE transactions (a later 2xx from another fork comes to
// the transaction, not to the dialog) and gives the ACK of a 2xx the
// INVITE's CSeq (sipgo numbers it after the dialog's last request, a
// PRACK's in an early dialog).
type callTap struct {
	inner sipgo.ClientTransactionRequester
	c     *Call
	// invites are the CSeqs of the call's INVITEs, in order: an ACK whose
	// CSeq is none of them (a PRACK's) takes the latest INVITE's below it.
	mu      sync.Mutex
	invites []uint32
	// cancelTo, once an INVITE follows a redirect to another address
	// (without an outbound proxy), is where its CANCEL goes (RFC 3261
	// §9.1: where the INVITE went), not where the dialog's client sends
	// it.
	cancelTo atomic.Pointer[string]
}

func (t *callTap) Request(ctx context.Context, req *siplib.Request) (siplib.ClientTransaction, error) {
	if to := t.cancelTo.Load(); to != nil && req.IsCancel() {
		req.SetDestination(*to)
		return t.c.line.st.Client().TransactionRequest(ctx, req, keepAsBuilt)
	}
	if cs := req.CSeq(); cs != nil && req.IsAck() {
		cs.SeqNo = t.ackCSeq(cs.SeqNo)
	}
	tx, err := t.inner.Request(ctx, req)
	if err != nil || !req.IsInvite() {
		return tx, err
	}
	t.mu.Lock()
	t.invites = append(t.invites, req.CSeq().SeqNo)
	t.mu.Unlock()
	if t.c.uac == nil || t.c.uac.LoadState() < siplib.DialogStateEstablished {
		tx.OnRetransmission(t.c.laterAnswer) // the call's own INVITE, not a re-INVITE
	}
	return tx, nil
}

// ackCSeq is the CSeq an ACK numbered seq by the dialog must carry: seq
// when an INVITE of ours had it, else the latest INVITE's below it.
func (t *callTap) ackCSeq(seq uint32) uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	best := seq
	for i := len(t.invites) - 1; i >= 0; i-- {
		if n := t.invites[i]; n == seq {
			return seq
		} else if n < seq && (best == seq || n > best) {
			best = n
		}
	}
	return best
}

// tapCalls puts a callTap on the dialog's client.
func (c *Call) tapCalls(dua *sipgo.DialogUA) {
	inner := dua.Client.TxRequester
	if inner == nil {
		inner = plainRequester{dua.Client}
	}
	c.inv.tap = &callTap{inner: inner, c: c}
	dua.Client.TxRequester = c.inv.tap
}

// plainRequester sends through a client as built.
type plainRequester struct{ cl *sipgo.Client }

func (p plainRequester) Request(ctx context.Context, req *siplib.Request) (siplib.ClientTransaction, error) {
	cl := *p.cl
	cl.TxRequester = nil
	if req.IsAck() {
		return nil, cl.WriteRequest(req, keepAsBuilt)
	}
	return cl.TransactionRequest(ctx, req, keepAsBuilt)
}

// laterAnswer is a 2xx the INVITE transaction took after its first: a
// retransmission (sipgo's dialog acknowledges it again) or another fork's
// answer, which gets ACK and BYE (RFC 3261 §13.2.2.4). Until the first
// 2xx has been taken the fork is kept for then.
func (c *Call) laterAnswer(res *siplib.Response) {
	if !res.IsSuccess() {
		return
	}
	tag, _ := res.To().Params.Get("tag")
	c.mu.Lock()
	if c.inv.winner == "" {
		c.inv.stray = append(c.inv.stray, res)
		c.mu.Unlock()
		return
	}
	drop := tag != c.inv.winner
	c.mu.Unlock()
	if drop {
		go c.dropFork(res)
	}
}

// won records the fork whose 2xx the call took and drops the forks whose
// 2xx came meanwhile.
func (c *Call) won(res *siplib.Response) {
	tag, _ := res.To().Params.Get("tag")
	c.mu.Lock()
	c.inv.winner = tag
	stray := c.inv.stray
	c.inv.stray = nil
	c.mu.Unlock()
	for _, r := range stray {
		if t, _ := r.To().Params.Get("tag"); t != tag {
			go c.dropFork(r)
		}
	}
}

// earlyAnswer is the SDP the winning fork sent in an 18x: the answer of a
// 2xx without SDP.
func (c *Call) earlyAnswer(res *siplib.Response) []byte {
	tag, _ := res.To().Params.Get("tag")
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inv.early[tag]
}

// dropFork acknowledges another fork's 2xx and ends that dialog.
func (c *Call) dropFork(res *siplib.Response) {
	tag, _ := res.To().Params.Get("tag")
	inv := c.uac.InviteRequest
	ack := forkRequest(siplib.ACK, inv, res, inv.CSeq().SeqNo)
	cl := c.uac.UA.Client
	sipgo.ClientRequestAddVia(cl, ack)
	if err := cl.WriteRequest(ack, keepAsBuilt); err != nil {
		c.line.log.Warn("sip: ACK of a fork's 2xx", "call", c.callID, "err", err)
	}
	c.mu.Lock()
	if c.inv.dropped == nil {
		c.inv.dropped = map[string]bool{}
	}
	again := c.inv.dropped[tag]
	c.inv.dropped[tag] = true
	c.mu.Unlock()
	if again {
		return // a retransmission of that 2xx: acknowledged again, its BYE is out
	}
	c.line.log.Info("sip: a second fork answered: ACK and BYE", "call", c.callID, "tag", tag)
	bye := forkRequest(siplib.BYE, inv, res, inv.CSeq().SeqNo+1)
	sipgo.ClientRequestAddVia(cl, bye)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tx, err := cl.TransactionRequest(ctx, bye, keepAsBuilt)
	if err != nil {
		c.line.log.Warn("sip: BYE of a fork", "call", c.callID, "err", err)
		return
	}
	defer tx.Terminate()
	select {
	case <-tx.Responses():
	case <-tx.Done():
	case <-ctx.Done():
	}
}

// forkRequest builds a request in the dialog a fork's 2xx res created.
func forkRequest(method siplib.RequestMethod, inv *siplib.Request, res *siplib.Response, seq uint32) *siplib.Request {
	target := inv.Recipient
	if ct := res.Contact(); ct != nil {
		target = ct.Address
	}
	req := siplib.NewRequest(method, target)
	rr := res.GetHeaders("Record-Route")
	for i := len(rr) - 1; i >= 0; i-- {
		req.AppendHeader(siplib.NewHeader("Route", rr[i].Value()))
	}
	mf := siplib.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(siplib.HeaderClone(inv.From()))
	req.AppendHeader(siplib.HeaderClone(res.To()))
	req.AppendHeader(siplib.HeaderClone(inv.CallID()))
	req.AppendHeader(&siplib.CSeqHeader{SeqNo: seq, MethodName: method})
	req.SetTransport(inv.Transport())
	req.SetBody(nil)
	return req
}

// maxProvisionalRounds bounds manyProvisionals: 100 rounds of 10.
const maxProvisionalRounds = 100

// manyProvisionals reports whether WaitAnswer gave up only because the
// INVITE had more than 10 responses (sipgo's bound, with no error value
// of its own): a long ringing with repeated 180s, a reliable 183 sent
// again, forks. The transaction is alive; the call waits on for its final
// response, up to maxProvisionalRounds times.
func (c *Call) manyProvisionals(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil || err.Error() != "more than 10 responses received" ||
		c.inv.rounds >= maxProvisionalRounds {
		return false
	}
	c.inv.rounds++
	return true
}

// ---- outgoing: sending the INVITE again ----

// retryInvite decides, after the final refusal res of our INVITE, whether
// to send it again: to the next redirect target (3xx, or a failure while
// targets remain), with the Min-SE a 422 asks, or after a short
// Retry-After. It returns the wait before the resend and false when the
// call has failed.
func (c *Call) retryInvite(res *siplib.Response) (time.Duration, bool) {
	req := c.uac.InviteRequest
	code := res.StatusCode
	if c.inv.tried == nil {
		c.inv.tried = map[string]bool{uriKey(req.Recipient): true}
	}
	switch {
	case (code == 488 || code == 606) && c.srtpUpgrade(req): // an SRTP-only far end (srtp.go)
		return 0, true
	case code == 300 || code == 301 || code == 302:
		// Not 305 (Use Proxy, RFC 8119) nor 380 (Alternative Service):
		// their Contacts are not targets to call.
		for _, u := range redirectTargets(res) {
			// Each target once, and at most maxRedirects in all.
			if k := uriKey(u); !c.inv.tried[k] && len(c.inv.tried) <= maxRedirects {
				c.inv.next = append(c.inv.next, u)
				c.inv.tried[k] = true
			}
		}
	case code == 422:
		min, ok := minSE(res)
		have, _, _ := parseSessionExpires(req)
		if !ok || min <= have || c.inv.retries >= 2 || min > 2*time.Hour {
			return 0, false
		}
		c.inv.retries++
		secs := strconv.Itoa(int(min / time.Second))
		req.RemoveHeader("Session-Expires")
		req.RemoveHeader("Min-SE")
		req.AppendHeader(siplib.NewHeader("Session-Expires", secs))
		req.AppendHeader(siplib.NewHeader("Min-SE", secs))
		c.line.log.Info("sip: 422: calling again with the Min-SE asked", "call", c.callID, "min_se", min)
		return 0, true
	case code == 503 || code == 500 || code == 480:
		if len(c.inv.next) == 0 {
			wait, ok := c.line.backoff().CallRetry(retryAfter(res), c.inv.retries+1)
			if !ok {
				return 0, false
			}
			c.inv.retries++
			c.line.log.Info("sip: INVITE refused with Retry-After: calling again", "call", c.callID, "code", code, "after", wait)
			return wait, true
		}
	}
	if len(c.inv.next) == 0 || code >= 600 {
		return 0, false
	}
	u := c.inv.next[0]
	c.inv.next = c.inv.next[1:]
	req.Recipient = u
	c.inv.redirected = true
	c.line.log.Info("sip: following a redirect", "call", c.callID, "code", code, "to", u.String())
	c.emit(call.Event{Kind: call.Progress, Detail: statusDetail(code, res.Reason) + ": calling " + u.String()})
	return 0, true
}

// resendInvite sends the call's INVITE again (a new transaction, CSeq one
// up, no credentials of the last challenge) to its Request-URI: through
// the outbound proxy if there is one, else to the target's address.
func (c *Call) resendInvite(ctx context.Context) error {
	l := c.line
	req := c.uac.InviteRequest
	if c.inv.redirected && l.acct.OutboundProxy == "" {
		dest, err := l.redirectDest(ctx, req.Recipient)
		if err != nil {
			return err
		}
		req.SetDestination(dest.String())
		if c.inv.tap != nil {
			to := dest.String()
			c.inv.tap.cancelTo.Store(&to)
		}
	}
	via := &siplib.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
		Host: hostString(l.st.LocalAddr().Addr()), Port: int(l.st.LocalAddr().Port())}
	if old := req.Via(); old != nil {
		via.Host, via.Port = old.Host, old.Port
	}
	via.Params = siplib.HeaderParams{{K: "branch", V: siplib.GenerateBranch()}, {K: "rport"}}
	req.RemoveHeader("Via")
	req.RemoveHeader("Authorization")
	req.RemoveHeader("Proxy-Authorization")
	req.CSeq().SeqNo++
	req.PrependHeader(via)
	return c.uac.Invite(ctx)
}

// redirectDest is where an INVITE to u goes without an outbound proxy:
// the line's usual target when u names the service domain or registrar,
// else u's host resolved per RFC 3263.
func (l *Line) redirectDest(ctx context.Context, u siplib.Uri) (netip.AddrPort, error) {
	if strings.EqualFold(u.Host, l.aor.Host) {
		t, _, err := l.target(ctx)
		return t, err
	}
	hp := u.Host
	if u.Port > 0 {
		hp = u.HostPort()
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := ResolveUDP(rctx, l.opt.Resolver, hp)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("redirect target %s: %w", hp, err)
	}
	if len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("redirect target %s: no address", hp)
	}
	return addrs[0], nil
}

// backoff is the schedule of the line's retries.
func (l *Line) backoff() Backoff { return DefaultBackoff }

func uriKey(u siplib.Uri) string {
	u.UriParams, u.Headers = nil, nil
	return strings.ToLower(u.String())
}

// redirectTargets are a 3xx's Contacts, sip: and sips: only, the highest
// q first (RFC 3261 §8.1.3.4, §20.10; equal q keep their order).
func redirectTargets(res *siplib.Response) []siplib.Uri {
	type target struct {
		u siplib.Uri
		q float64
	}
	var ts []target
	for _, h := range res.GetHeaders("Contact") {
		ch, ok := h.(*siplib.ContactHeader)
		if !ok {
			continue
		}
		{
			scheme := strings.ToLower(ch.Address.Scheme)
			if (scheme != "sip" && scheme != "sips") || ch.Address.Host == "" {
				continue
			}
			q := 1.0
			if v, ok := ch.Params.Get("q"); ok {
				if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f <= 1 {
					q = f
				}
			}
			u := ch.Address
			u.Headers = nil
			ts = append(ts, target{u, q})
		}
	}
	slices.SortStableFunc(ts, func(a, b target) int { return cmp.Compare(b.q, a.q) })
	out := make([]siplib.Uri, len(ts))
	for i, t := range ts {
		out[i] = t.u
	}
	return out
}

// minSE is a 422's Min-SE (RFC 4028 §5).
func minSE(res *siplib.Response) (time.Duration, bool) {
	v, _, _ := strings.Cut(headerValue(res, "Min-SE"), ";")
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

// parseRAck reads an RAck header (RFC 3262 §7.2): "RSeq CSeq method".
func parseRAck(v string) (rseq, cseq uint32, method siplib.RequestMethod, err error) {
	f := strings.Fields(v)
	if len(f) != 3 {
		return 0, 0, "", fmt.Errorf("RAck %q: want three fields", v)
	}
	r, err1 := strconv.ParseUint(f[0], 10, 32)
	c, err2 := strconv.ParseUint(f[1], 10, 32)
	if err1 != nil || err2 != nil || r == 0 {
		return 0, 0, "", fmt.Errorf("RAck %q: bad numbers", v)
	}
	return uint32(r), uint32(c), siplib.RequestMethod(strings.ToUpper(f[2])), nil
}
