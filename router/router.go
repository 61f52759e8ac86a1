// Package router is the routing core of router mode: it joins calls
// between the analog port, local users (SIP phones registered to the
// box), provider lines and IP trunks. It speaks only the call vocabulary
// (call.Leg, call.Dialer): the SIP side gives it legs and dialers, the
// phone is an endpoint like any other. Why a package of its own: the port
// (phone), the SIP side (sip, switchboard) and the web UI all meet here,
// and none of them may import the others.
//
// Three things happen here:
//   - the port's own calls (Dial): another extension is called directly,
//     anything else goes out through the first route whose digit map
//     matches (or the first link);
//   - a call in on a link (FromLink) rings the link's ring list together
//     (the port and users); the first to answer wins, the others are
//     cancelled;
//   - a user's call (FromUser) goes to an extension, or out through a
//     route if the user may call out.
//
// A call between two SIP legs is anchored: both are answered here and
// their media relayed on the router's clock (each leg encodes its own
// codec, so PCMU on one side and PCMA on the other just works), keys and
// holds passed across. The port takes its legs directly.
package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/openata/ata/call"
	"github.com/openata/ata/fxs/dialplan"
	"github.com/openata/ata/media"
	"github.com/openata/ata/media/bridge"
)

// Port is the analog port as the router sees it (phone.Phone).
type Port interface {
	Incoming(call.Leg)
}

// User is a local SIP user (an extension).
type User struct {
	Name     string // the extension and SIP user name
	External bool   // may call out through lines and trunks
	// DND: the user's phones are not alerted (callers get busy when
	// nothing else rings).
	DND bool
	// Forwarding: always (the phones are not alerted), when busy (the
	// phone refuses busy, or none is registered), or when it does not
	// answer within ForwardNoAnswerAfter (default 20 s). A target is an
	// extension or a number the routes take.
	ForwardAlways, ForwardBusy, ForwardNoAnswer string
	ForwardNoAnswerAfter                        time.Duration
}

// Link is a provider link: a line (registered account) or a trunk.
type Link struct {
	Name   string      // "line:1", "trunk:carrier"
	Dialer call.Dialer // places calls on it
	Ring   []string    // extensions alerted for its incoming calls
	// Up reports whether the link can place calls now (a registered
	// line); nil: always.
	Up func() bool
}

// Route sends numbers that match a digit map through a link.
type Route struct {
	Pattern string // Cisco/Obihai digit map; its rewriting gives the number sent
	Via     string // a Link name
}

// Options configure a Router. Names are checked by New.
type Options struct {
	PortExtension string // the analog port's extension
	Users         []User
	Links         []Link // in order: with no routes, the first link that is up takes every outgoing call
	Routes        []Route
	Port          Port
	// UserDialer calls a local user by name (every registered contact).
	UserDialer call.Dialer
	// Relay joins two anchored legs' media until stop; default: a
	// bridge.Relay with 20 ms frames.
	Relay  func(a, b media.Endpoint) (stop func())
	Record func(Record) // the call log; nil: none
	Logger *slog.Logger
}

// Errors for the port's calls that no endpoint takes.
var (
	ErrNoRoute   = errors.New("router: no route for the number")
	ErrNotPermit = errors.New("router: the caller may not call out")
)

// Router routes calls. Methods may be called from many goroutines.
type Router struct {
	o      Options
	log    *slog.Logger
	routes []route
	users  map[string]User
	links  map[string]*Link

	mu    sync.Mutex
	calls map[*active]struct{}
}

type route struct {
	plan *dialplan.Plan
	via  string
}

// New checks the options: every ring-list entry and route target must
// exist, user names must be unique and differ from the port's extension,
// digit maps must parse. Errors name the offending entry.
func New(o Options) (*Router, error) {
	r := &Router{o: o, log: o.Logger, users: map[string]User{}, links: map[string]*Link{}, calls: map[*active]struct{}{}}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.o.Relay == nil {
		r.o.Relay = func(a, b media.Endpoint) func() { return bridge.Relay(a, b, 20*time.Millisecond) }
	}
	for i, u := range o.Users {
		switch {
		case u.Name == "":
			return nil, fmt.Errorf("user[%d].name: empty", i)
		case u.Name == o.PortExtension:
			return nil, fmt.Errorf("user[%d].name: %q is the port's extension", i, u.Name)
		}
		if _, dup := r.users[u.Name]; dup {
			return nil, fmt.Errorf("user[%d].name: %q is already a user", i, u.Name)
		}
		r.users[u.Name] = u
	}
	for i := range o.Links {
		l := &o.Links[i]
		if _, dup := r.links[l.Name]; dup {
			return nil, fmt.Errorf("link %q: named twice", l.Name)
		}
		for _, ext := range l.Ring {
			if !r.isExtension(ext) {
				return nil, fmt.Errorf("%s ring: %q is no extension (the port's is %q)", l.Name, ext, o.PortExtension)
			}
		}
		r.links[l.Name] = l
	}
	for i, rt := range o.Routes {
		p, err := dialplan.Parse(rt.Pattern)
		if err != nil {
			return nil, fmt.Errorf("route[%d].pattern: %w", i, err)
		}
		if _, ok := r.links[rt.Via]; !ok {
			return nil, fmt.Errorf("route[%d].via: no link %q", i, rt.Via)
		}
		r.routes = append(r.routes, route{p, rt.Via})
	}
	return r, nil
}

func (r *Router) isExtension(ext string) bool {
	_, user := r.users[ext]
	return user || ext == r.o.PortExtension && r.o.PortExtension != ""
}

// Resolve tells where number goes: an extension ("ext", the name), or a
// link with the number to send on it.
func (r *Router) Resolve(number string) (kind, target, send string, err error) {
	if r.isExtension(number) {
		return "ext", number, number, nil
	}
	for _, rt := range r.routes {
		res := rt.plan.Match(number)
		// A rewrite that leaves nothing to send is no route (found by fuzzing: "<0:>").
		if (res.Status == dialplan.Complete || res.Status == dialplan.CompleteWithMore) && res.Number != "" {
			return "link", rt.via, res.Number, nil
		}
	}
	if len(r.routes) == 0 {
		for i := range r.o.Links {
			if l := &r.o.Links[i]; l.Up == nil || l.Up() {
				return "link", l.Name, number, nil
			}
		}
	}
	return "", "", "", ErrNoRoute
}

// Dial places the port's calls: an extension directly, anything else by
// the routes. It is the port's call.Dialer.
func (r *Router) Dial(ctx context.Context, number string, o call.DialOptions) (call.Leg, error) {
	kind, target, send, err := r.Resolve(number)
	if err != nil {
		return nil, err
	}
	if kind == "ext" {
		if target == r.o.PortExtension {
			return nil, fmt.Errorf("router: %s is this phone", number)
		}
		return r.o.UserDialer.Dial(ctx, target, o)
	}
	r.log.Info("router: port call out", "number", number, "via", target, "sent", send)
	return r.links[target].Dialer.Dial(ctx, send, o)
}

// FromLink takes a call that came in on a link: its ring list is alerted.
func (r *Router) FromLink(ctx context.Context, link string, in call.Leg) {
	l, ok := r.links[link]
	if !ok || len(l.Ring) == 0 {
		r.log.Warn("router: call on a link with nothing to ring", "link", link, "from", in.Remote().Number)
		in.Reject(call.Unavailable)
		return
	}
	rec := &Record{Start: time.Now(), From: link, To: strings.Join(l.Ring, ","), Caller: in.Remote().Number, Route: link}
	go r.ring(ctx, rec, in, l.Ring)
}

// FromUser takes a call a local user placed to number (the Request-URI's
// user part); the user has authenticated.
func (r *Router) FromUser(ctx context.Context, user, number string, in call.Leg) {
	u, ok := r.users[user]
	if !ok {
		in.Reject(call.Rejected)
		return
	}
	rec := &Record{Start: time.Now(), From: "user:" + user, Caller: user, To: number}
	kind, target, send, err := r.Resolve(number)
	switch {
	case err != nil:
		r.log.Info("router: no route", "user", user, "number", number)
		rec.Cause, rec.Detail = call.NotFound.String(), "no route"
		in.Reject(call.NotFound)
		r.record(rec)
		return
	case kind == "ext":
		go r.ring(ctx, rec, in, []string{target})
		return
	case !u.External:
		r.log.Warn("router: user may not call out", "user", user, "number", number)
		rec.Cause, rec.Detail = call.Rejected.String(), "internal calls only"
		in.Reject(call.Rejected)
		r.record(rec)
		return
	}
	rec.Route, rec.To = target, send
	out, err := r.links[target].Dialer.Dial(ctx, send, call.DialOptions{Anonymous: in.Remote().Anonymous()})
	if err != nil {
		r.log.Warn("router: call out failed", "user", user, "via", target, "err", err)
		rec.Cause, rec.Detail = call.Congestion.String(), err.Error()
		in.Reject(call.Congestion)
		r.record(rec)
		return
	}
	go r.anchor(rec, in, out)
}

// Calls is every call the router joins now.
func (r *Router) Calls() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Record
	for a := range r.calls {
		out = append(out, a.snapshot())
	}
	slices.SortFunc(out, func(a, b Record) int { return a.Start.Compare(b.Start) })
	return out
}

func (r *Router) record(rec *Record) {
	if rec.End.IsZero() {
		rec.End = time.Now()
	}
	r.log.Info("router: call ended", "from", rec.From, "to", rec.To, "route", rec.Route, "cause", rec.Cause, "ended_by", rec.EndedBy)
	if r.o.Record != nil {
		r.o.Record(*rec)
	}
}
