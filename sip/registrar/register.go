package registrar

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Verdict is the outcome of checking a request's digest credentials.
type Verdict struct {
	Result AuthResult
	// User is the digest user name (set when credentials were given;
	// trust it only when Result is AuthOK).
	User string
}

// Check verifies req's digest credentials (Authorization, else
// Proxy-Authorization) against the users, with the registrar's nonces.
// A failure (AuthFailed) is counted against the request's source address,
// which FailLimit failures within FailWindow block: the router calls it
// for INVITEs so that password guessing by call attempts counts too.
func (r *Registrar) Check(req *sip.Request) Verdict {
	src, _ := requestSource(req)
	return r.check(req, src.Addr())
}

func (r *Registrar) check(req *sip.Request, src netip.Addr) Verdict {
	v := r.digest.check(req, r.user)
	if v.result == AuthFailed {
		blocked := r.guard.fail(src)
		r.log.Info("registrar: authentication failed", "src", src.String(), "user", v.user,
			"method", string(req.Method), "why", v.why, "blocked", blocked)
	}
	return Verdict{Result: v.result, User: v.user}
}

// Challenge is a 401 answer to req with fresh WWW-Authenticate
// challenges, one per algorithm (SHA-256, then MD5, by default; MD5
// alone for phones known to fail on SHA-256); stale sets stale=true.
func (r *Registrar) Challenge(req *sip.Request, stale bool) *sip.Response {
	res := sip.NewResponseFromRequest(req, sip.StatusUnauthorized, "Unauthorized", nil)
	for _, c := range r.digest.challenges(algorithmsFor(req, r.opts.Algorithms), stale) {
		res.AppendHeader(sip.NewHeader("WWW-Authenticate", c))
	}
	return res
}

// Authenticate is Check plus the answer: it returns the authenticated
// user, or answers req on tx with a challenge (401, stale=true when
// only the nonce was old) and returns ok false. The router calls it for
// requests from users (INVITE), on the registrar's socket.
func (r *Registrar) Authenticate(req *sip.Request, tx sip.ServerTransaction) (user string, ok bool) {
	v := r.Check(req)
	if v.Result == AuthOK {
		return v.User, true
	}
	r.respond(tx, r.Challenge(req, v.Result == AuthStale))
	return "", false
}

// register handles one REGISTER (RFC 3261 §10.3) from src over
// transport and returns the answer.
func (r *Registrar) register(req *sip.Request, src netip.AddrPort, transport string) *sip.Response {
	to, callID, cseq := req.To(), req.CallID(), req.CSeq()
	if to == nil || to.Address.User == "" || callID == nil || cseq == nil {
		return sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Missing To user, Call-ID or CSeq", nil)
	}
	v := r.check(req, src.Addr())
	switch v.Result {
	case AuthMissing, AuthFailed:
		return r.Challenge(req, false)
	case AuthStale:
		return r.Challenge(req, true)
	}
	user := to.Address.User
	if v.User != user {
		// Right credentials of another user: it may not change this AOR.
		return sip.NewResponseFromRequest(req, sip.StatusForbidden, "Forbidden", nil)
	}
	contacts, wildcard, err := r.parseContacts(req)
	if err != nil {
		return sip.NewResponseFromRequest(req, sip.StatusBadRequest, err.Error(), nil)
	}
	for _, c := range contacts {
		if c.expires > 0 && c.expires < r.opts.MinExpires {
			res := sip.NewResponseFromRequest(req, sip.StatusIntervalToBrief, "Interval Too Brief", nil)
			res.AppendHeader(sip.NewHeader("Min-Expires", strconv.Itoa(int(r.opts.MinExpires.Seconds()))))
			return res
		}
	}
	now := r.clock.Now()
	ua := ""
	if h := req.GetHeader("User-Agent"); h != nil {
		ua = h.Value()
	}
	status, reason := r.apply(user, to.Address.String(), string(*callID), cseq.SeqNo, contacts, wildcard,
		src, transport, ua, now)
	if status != sip.StatusOK {
		return sip.NewResponseFromRequest(req, status, reason, nil)
	}
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	r.mu.Lock()
	live := r.liveLocked(user, now)
	r.mu.Unlock()
	for _, b := range live {
		v := "<" + b.Contact + ">;expires=" + strconv.Itoa(int(b.Expires.Sub(now).Round(time.Second).Seconds()))
		if b.Q != 1 {
			v += ";q=" + strconv.FormatFloat(b.Q, 'f', -1, 64)
		}
		if b.Instance != "" {
			// Echoed so a phone finds its own binding by instance (RFC
			// 5627 §4.2); reg-id is not: we do not claim outbound support.
			v += `;+sip.instance="<` + b.Instance + `>"`
		}
		res.AppendHeader(sip.NewHeader("Contact", v))
	}
	res.AppendHeader(sip.NewHeader("Date", now.UTC().Format(time.RFC1123)))
	return res
}

// contact is one Contact of a REGISTER, checked.
type contact struct {
	uri      string
	key      string // binding identity: instance and reg-id, else the URI
	expires  time.Duration
	q        float64
	instance string
	regID    int
}

// parseContacts reads the Contact headers with their expiry (the
// contact's expires parameter, else the Expires header, else
// DefaultExpires; capped at MaxExpires). wildcard is a valid
// "Contact: *" (with Expires: 0, alone).
func (r *Registrar) parseContacts(req *sip.Request) (list []contact, wildcard bool, err error) {
	def := r.opts.DefaultExpires
	headerZero := false
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32)
		if err != nil {
			return nil, false, fmt.Errorf("Bad Expires %q", h.Value())
		}
		def = time.Duration(n) * time.Second
		headerZero = n == 0
	}
	hdrs := req.GetHeaders("Contact")
	for _, h := range hdrs {
		ch, ok := h.(*sip.ContactHeader)
		if !ok {
			return nil, false, fmt.Errorf("Bad Contact")
		}
		if ch.Address.Wildcard {
			if len(hdrs) != 1 || !headerZero {
				return nil, false, fmt.Errorf("Contact * needs Expires: 0 and no other Contact")
			}
			return nil, true, nil
		}
		scheme := strings.ToLower(ch.Address.Scheme)
		if scheme != "sip" && scheme != "sips" || ch.Address.Host == "" {
			return nil, false, fmt.Errorf("Bad Contact %q", ch.Address.String())
		}
		c := contact{uri: ch.Address.String(), expires: def, q: 1}
		if s, ok := ch.Params.Get("expires"); ok {
			if n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32); err == nil {
				c.expires = time.Duration(n) * time.Second
			}
		}
		c.expires = min(c.expires, r.opts.MaxExpires)
		if s, ok := ch.Params.Get("q"); ok {
			if q, err := strconv.ParseFloat(s, 64); err == nil && q >= 0 && q <= 1 {
				c.q = q
			}
		}
		if s, ok := ch.Params.Get("+sip.instance"); ok {
			c.instance = strings.TrimSuffix(strings.TrimPrefix(strings.Trim(s, `"`), "<"), ">")
		}
		if s, ok := ch.Params.Get("reg-id"); ok {
			c.regID, _ = strconv.Atoi(s)
		}
		c.key = contactKey(&ch.Address, c.instance, c.regID)
		list = append(list, c)
	}
	return list, false, nil
}

// contactKey identifies a binding: RFC 5626 §6 keys it by instance and
// reg-id when the phone sends them, else by the Contact URI compared as
// RFC 3261 §19.1.4 would (case-insensitive host, default port).
func contactKey(u *sip.Uri, instance string, regID int) string {
	if instance != "" {
		return "instance:" + instance + ";" + strconv.Itoa(regID)
	}
	tp := ""
	if u.UriParams != nil {
		tp, _ = u.UriParams.Get("transport")
	}
	return fmt.Sprintf("%s:%s@%s:%d;%s", strings.ToLower(u.Scheme), u.User, strings.ToLower(u.Host),
		portOf(u), strings.ToLower(tp))
}

// apply changes user's bindings as a REGISTER asks, all or nothing.
func (r *Registrar) apply(user, aor, callID string, cseq uint32, contacts []contact, wildcard bool,
	src netip.AddrPort, transport, ua string, now time.Time) (int, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.users[user]; !ok {
		return sip.StatusNotFound, "Not Found" // removed meanwhile
	}
	old := r.bindings[user]
	// RFC 3261 §10.3 step 7: a request older than what made a binding
	// (same Call-ID, CSeq not higher) fails the whole update.
	outOfOrder := func(b *Binding) bool { return b.callID == callID && cseq <= b.cseq }
	if wildcard {
		for _, b := range old {
			if b.Expires.After(now) && outOfOrder(b) {
				return sip.StatusBadRequest, "Out of Order CSeq"
			}
		}
		delete(r.bindings, user)
		return sip.StatusOK, ""
	}
	next := slices.DeleteFunc(slices.Clone(old), func(b *Binding) bool { return !b.Expires.After(now) })
	refreshed := false
	for _, c := range contacts {
		i := slices.IndexFunc(next, func(b *Binding) bool { return b.keyStr == c.key })
		if i >= 0 && outOfOrder(next[i]) {
			return sip.StatusBadRequest, "Out of Order CSeq"
		}
		if c.expires == 0 {
			if i >= 0 {
				next = slices.Delete(next, i, i+1)
			}
			continue
		}
		b := &Binding{AOR: aor, Contact: c.uri, Source: src, Transport: transport, Expires: now.Add(c.expires),
			Q: c.q, Instance: c.instance, RegID: c.regID, UserAgent: ua, Registered: now,
			callID: callID, cseq: cseq, keyStr: c.key}
		if i >= 0 {
			next[i] = b
		} else {
			next = append(next, b)
		}
		refreshed = true
	}
	if len(next) > r.opts.MaxBindings {
		return sip.StatusForbidden, "Too Many Contacts"
	}
	if len(next) == 0 {
		delete(r.bindings, user)
	} else {
		r.bindings[user] = next
	}
	if refreshed {
		r.registrations.Add(1)
	}
	if len(next) != len(old) {
		r.log.Info("registrar: bindings changed", "user", user, "bindings", len(next),
			"source", src.String(), "transport", transport, "user_agent", ua)
	}
	return sip.StatusOK, ""
}
