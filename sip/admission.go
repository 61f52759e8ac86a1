package sip

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	siplib "github.com/emiago/sipgo/sip"
)

// Admission of incoming INVITEs: a flood of INVITEs (from the proxy's
// address, so the proxy-only filter lets it in) must not grow the
// firmware's memory without bound. Two things hold state per INVITE:
//
//   - a pending INVITE: from its arrival until we give it a final answer
//     (the call being set up, ringing or waiting: an early dialog), with
//     its call, dialog and media sockets. At most
//     StackConfig.MaxPendingInvites at once; beyond that a new INVITE is
//     answered 486 Busy Here with Retry-After at once, and its transaction
//     dropped: no call, no dialog, no media, no timers.
//   - an answered INVITE's transaction, which sipgo keeps after a non-2xx
//     answer to retransmit it until the caller's ACK (up to 64·T1, 32 s,
//     when no ACK ever comes). At most lingerPerPending times the pending
//     cap linger; past that an answered transaction is dropped as soon as
//     its answer is sent (a caller that lost it retransmits the INVITE and
//     is answered afresh).
//
// Re-INVITEs in a dialog are not counted: they belong to calls in progress.
//
// Other requests (OPTIONS, NOTIFY, BYE, INFO...) hold no state of ours,
// but sipgo keeps each answered transaction over UDP for 64·T1 (Timer J,
// 32 s) to answer retransmissions: 2,000 OPTIONS at 500/s held 8 MB of
// heap. At most lingerOther of those are kept; past that one is ended as
// soon as its handler returns (a lost answer is then answered afresh).

// DefaultMaxPendingInvites is StackConfig.MaxPendingInvites when unset: an
// ATA with one port has one call ringing and perhaps one waiting; 16 is
// room for a burst from a busy proxy.
const DefaultMaxPendingInvites = 16

const (
	// lingerPerPending sizes the answered transactions kept for their ACK.
	lingerPerPending = 4
	// lingerOther caps the answered non-INVITE transactions kept: a
	// provider's OPTIONS, NOTIFYs and the BYEs and INFOs of a call are a
	// few per minute.
	lingerOther = 64
	// busyRetryAfter is the Retry-After of an INVITE refused at the cap.
	busyRetryAfter = 5 * time.Second
	// refusalLogEvery spaces the log lines about refused INVITEs.
	refusalLogEvery = 10 * time.Second
)

// admission counts the stack's pending INVITEs and lingering answered
// INVITE transactions.
type admission struct {
	maxPending, maxLinger int

	mu        sync.Mutex
	pending   int
	lingering int
	others    int // answered non-INVITE transactions lingering

	refused    atomic.Uint64 // INVITEs answered 486 at the cap
	dropped    atomic.Uint64 // answered INVITE transactions dropped without lingering
	droppedOth atomic.Uint64 // answered non-INVITE transactions dropped without lingering
	lastLogged atomic.Uint64 // refused count at the last log line
	lastLogAt  atomic.Int64  // Unix ns of the last log line
}

func newAdmission(maxPending int) *admission {
	if maxPending <= 0 {
		maxPending = DefaultMaxPendingInvites
	}
	return &admission{maxPending: maxPending, maxLinger: lingerPerPending * maxPending}
}

// InviteLoad is the admission state: pending INVITEs, lingering answered
// INVITE transactions and other answered transactions, and the totals
// refused at the cap and dropped without lingering since the stack started.
type InviteLoad struct {
	Pending, Lingering, OthersLingering int
	Refused, Dropped, OthersDropped     uint64
}

// InviteLoad reports the admission of incoming INVITEs.
func (s *Stack) InviteLoad() InviteLoad {
	a := s.admission
	a.mu.Lock()
	defer a.mu.Unlock()
	return InviteLoad{Pending: a.pending, Lingering: a.lingering, OthersLingering: a.others,
		Refused: a.refused.Load(), Dropped: a.dropped.Load(), OthersDropped: a.droppedOth.Load()}
}

// answered runs when a request's handler has returned: a non-INVITE
// transaction sipgo would keep for retransmissions lingers if there is
// room, else it ends now. (INVITEs are admittedTx's; ACKs have none.)
func (a *admission) answered(req *siplib.Request, tx siplib.ServerTransaction) {
	if tx == nil || req.IsInvite() || req.IsAck() {
		return
	}
	a.mu.Lock()
	if a.others >= lingerOther {
		a.mu.Unlock()
		a.droppedOth.Add(1)
		tx.Terminate()
		return
	}
	a.others++
	a.mu.Unlock()
	if !tx.OnTerminate(func(string, error) { a.otherEnded() }) {
		a.otherEnded()
	}
}

func (a *admission) otherEnded() {
	a.mu.Lock()
	a.others--
	a.mu.Unlock()
}

// admitInvites wraps the INVITE handler h: a new INVITE (no To tag) runs
// h only with a pending slot, through a transaction that gives the slot
// back when the INVITE is answered, the handler returns or the
// transaction ends, whichever comes first.
func (s *Stack) admitInvites(h Handler) Handler {
	return func(req *siplib.Request, tx siplib.ServerTransaction) {
		if to := req.To(); tx == nil || to == nil || to.Params.Has("tag") {
			h(req, tx)
			return
		}
		atx := s.admission.admit(tx)
		if atx == nil {
			s.refuseBusy(req, tx)
			return
		}
		defer atx.handled()
		h(req, atx)
	}
}

// refuseBusy answers a new INVITE over the cap with 486 and Retry-After
// and drops its transaction at once: nothing of it stays.
func (s *Stack) refuseBusy(req *siplib.Request, tx siplib.ServerTransaction) {
	a := s.admission
	n := a.refused.Add(1)
	res := siplib.NewResponseFromRequest(req, siplib.StatusBusyHere, "Busy Here", nil)
	res.AppendHeader(siplib.NewHeader("Retry-After", strconv.Itoa(int(busyRetryAfter/time.Second))))
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sip: respond 486 at the INVITE cap", "err", err)
	}
	tx.Terminate()
	// One line per refusalLogEvery, not per INVITE: a flood must not
	// flood the log too.
	now := time.Now().UnixNano()
	last := a.lastLogAt.Load()
	if now-last >= int64(refusalLogEvery) && a.lastLogAt.CompareAndSwap(last, now) {
		since := n - a.lastLogged.Swap(n)
		s.log.Warn("sip: too many incoming INVITEs at once: new ones answered 486 Busy Here",
			"pending", a.maxPending, "refused", since, "src", req.Source())
	}
}

// admit takes a pending slot for tx, or returns nil at the cap.
func (a *admission) admit(tx siplib.ServerTransaction) *admittedTx {
	a.mu.Lock()
	if a.pending >= a.maxPending {
		a.mu.Unlock()
		return nil
	}
	a.pending++
	a.mu.Unlock()
	t := &admittedTx{ServerTransaction: tx, a: a}
	if !tx.OnTerminate(func(string, error) { t.terminated() }) {
		t.terminated() // ended already (a CANCEL overtook us)
	}
	return t
}

// admittedTx is an INVITE server transaction holding a pending slot.
type admittedTx struct {
	siplib.ServerTransaction
	a *admission

	// Under a.mu.
	settled bool // the pending slot is given back
	lingers bool // counted in a.lingering
	ended   bool // the transaction has terminated
}

// Respond sends res. A final answer gives the pending slot back first,
// so that a caller may send its next INVITE as soon as it has the answer.
func (t *admittedTx) Respond(res *siplib.Response) error {
	if res.StatusCode < 200 {
		return t.ServerTransaction.Respond(res)
	}
	drop := t.settle(res.StatusCode)
	err := t.ServerTransaction.Respond(res)
	if drop {
		t.drop()
	}
	return err
}

// handled runs when the INVITE handler returns: a slot still held (no
// final answer went through Respond, e.g. sipgo answered a CANCEL with
// 487 itself) is given back.
func (t *admittedTx) handled() {
	if t.settle(0) {
		t.drop()
	}
}

// settle gives the pending slot back once: the INVITE has its final
// answer (status; 0 when the handler returned without one through us).
// A transaction left waiting for the ACK of a non-2xx answer lingers if
// there is room; else settle says to drop it once the answer is sent.
// After a 2xx the dialog needs the transaction (it retransmits the 200
// until the ACK): it stays, uncounted; answered calls are few.
func (t *admittedTx) settle(status int) (drop bool) {
	a := t.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if t.settled {
		return false
	}
	t.settled = true
	a.pending--
	if t.ended || (status >= 200 && status < 300) {
		return false
	}
	if a.lingering < a.maxLinger {
		a.lingering++
		t.lingers = true
		return false
	}
	return true
}

// drop ends the transaction now, without waiting for the ACK.
func (t *admittedTx) drop() {
	t.a.dropped.Add(1)
	t.ServerTransaction.Terminate()
}

// terminated runs when sipgo ends the transaction (sipgo's OnTerminate:
// it must not call into the transaction).
func (t *admittedTx) terminated() {
	a := t.a
	a.mu.Lock()
	defer a.mu.Unlock()
	t.ended = true
	if !t.settled {
		t.settled = true
		a.pending--
	}
	if t.lingers {
		t.lingers = false
		a.lingering--
	}
}
