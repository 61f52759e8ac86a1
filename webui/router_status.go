package webui

import (
	"fmt"
	"strings"
	"time"
)

// RouterStatusJSON is router mode's part of StatusJSON ("router"; null
// when router mode is off): the users with their registered phones, the
// calls the router joins with both legs, and the registrar's counters.
type RouterStatusJSON struct {
	Users           []UserStatusJSON `json:"users"`
	UsersRegistered int              `json:"users_registered"` // users with at least one registered phone
	Calls           []RoutedCallJSON `json:"calls"`
	AuthFailures    uint64           `json:"auth_failures"`
	BlockedSources  int              `json:"blocked_sources"`
	DroppedOutside  uint64           `json:"dropped_outside"`
	Registrations   uint64           `json:"registrations"`
}

type UserStatusJSON struct {
	Name        string            `json:"name"`
	DisplayName string            `json:"display_name,omitempty"`
	External    bool              `json:"external"`
	Contacts    []UserContactJSON `json:"contacts"`
}

type UserContactJSON struct {
	URI        string    `json:"uri"`
	Source     string    `json:"source"`
	Transport  string    `json:"transport"`
	UserAgent  string    `json:"user_agent,omitempty"`
	Expires    time.Time `json:"expires"`
	ExpiresInS int64     `json:"expires_in_s"`
}

// RoutedCallJSON is a call the router joins. Text says it in words ("201
// → 030123456 via line:1"); State is "ringing" or "answered".
type RoutedCallJSON struct {
	From       string          `json:"from"`
	Caller     string          `json:"caller"`
	To         string          `json:"to"`
	Route      string          `json:"route,omitempty"`
	AnsweredBy string          `json:"answered_by,omitempty"`
	State      string          `json:"state"`
	Since      time.Time       `json:"since"`
	DurationS  int64           `json:"duration_s"` // answered time; ringing time while ringing
	Text       string          `json:"text"`
	Legs       []RoutedLegJSON `json:"legs"`
}

type RoutedLegJSON struct {
	ID       string  `json:"id"`
	Side     string  `json:"side"`  // "caller" or "callee"
	Label    string  `json:"label"` // "Caller side (201)"
	Codec    string  `json:"codec"`
	Loss     float64 `json:"loss"`
	JitterMS float64 `json:"jitter_ms"`
	MOS      float64 `json:"mos"`
}

func routerJSON(rs *RouterStatus, now time.Time) *RouterStatusJSON {
	if rs == nil {
		return nil
	}
	out := &RouterStatusJSON{Users: []UserStatusJSON{}, Calls: []RoutedCallJSON{}, AuthFailures: rs.AuthFailures,
		BlockedSources: rs.BlockedSources, DroppedOutside: rs.DroppedOutside, Registrations: rs.Registrations}
	for _, u := range rs.Users {
		j := UserStatusJSON{Name: u.Name, DisplayName: u.DisplayName, External: u.External, Contacts: []UserContactJSON{}}
		for _, c := range u.Contacts {
			j.Contacts = append(j.Contacts, UserContactJSON{URI: c.URI, Source: c.Source, Transport: c.Transport, UserAgent: c.UserAgent,
				Expires: c.Expires.UTC(), ExpiresInS: max(0, int64(c.Expires.Sub(now)/time.Second))})
		}
		if len(u.Contacts) > 0 {
			out.UsersRegistered++
		}
		out.Users = append(out.Users, j)
	}
	for _, c := range rs.Calls {
		j := RoutedCallJSON{From: c.From, Caller: c.Caller, To: c.To, Route: c.Route, AnsweredBy: c.AnsweredBy,
			State: "ringing", Since: c.Start.UTC(), DurationS: max(0, int64(now.Sub(c.Start)/time.Second)), Legs: []RoutedLegJSON{}}
		if !c.Answered.IsZero() {
			j.State, j.Since, j.DurationS = "answered", c.Answered.UTC(), max(0, int64(now.Sub(c.Answered)/time.Second))
		}
		j.Text = routedText(c.Caller, c.To, c.Route, c.AnsweredBy)
		for _, l := range c.Legs {
			j.Legs = append(j.Legs, RoutedLegJSON{ID: l.ID, Side: l.Side, Label: legLabel(l.Side, c), Codec: l.Codec,
				Loss: l.Loss, JitterMS: l.JitterMS, MOS: l.MOS})
		}
		out.Calls = append(out.Calls, j)
	}
	return out
}

// routedText puts a routed call in words: "201 → 030123456 via line:1,
// answered by 202".
func routedText(caller, to, route, answeredBy string) string {
	if caller == "" {
		caller = "anonymous"
	}
	s := caller + " → " + to
	if route != "" {
		s += " via " + route
	}
	if answeredBy != "" && answeredBy != to {
		s += ", answered by " + answeredBy
	}
	return s
}

func legLabel(side string, c RoutedCall) string {
	switch side {
	case "caller":
		return "Caller side (" + c.Caller + ")"
	case "callee":
		who := c.AnsweredBy
		if who == "" {
			who = c.To
		}
		return "Callee side (" + who + ")"
	}
	return side
}

// routerMetrics writes router mode's metrics (none when it is off).
//
//	ata_router_users_registered        gauge: users with at least one registered phone
//	ata_router_contacts                gauge: registered phones
//	ata_router_registrations_total     counter: REGISTERs accepted
//	ata_router_auth_failures_total     counter: digest credentials that did not verify
//	ata_router_blocked_sources         gauge: sources ignored now for failed logins
//	ata_router_dropped_outside_total   counter: requests from outside allow_networks, dropped
//	ata_router_calls                   gauge: calls the router joins now
func routerMetrics(b *strings.Builder, rs *RouterStatus) {
	if rs == nil {
		return
	}
	metric := func(name, typ, help string, v any) {
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n%s %v\n", name, help, name, typ, name, v)
	}
	registered, contacts := 0, 0
	for _, u := range rs.Users {
		contacts += len(u.Contacts)
		if len(u.Contacts) > 0 {
			registered++
		}
	}
	metric("ata_router_users_registered", "gauge", "Local users with at least one registered phone.", registered)
	metric("ata_router_contacts", "gauge", "Phones registered by local users.", contacts)
	metric("ata_router_registrations_total", "counter", "REGISTER requests of local users accepted.", rs.Registrations)
	metric("ata_router_auth_failures_total", "counter", "Local users' digest credentials that did not verify.", rs.AuthFailures)
	metric("ata_router_blocked_sources", "gauge", "Source addresses ignored now after too many failed logins.", rs.BlockedSources)
	metric("ata_router_dropped_outside_total", "counter", "Requests from outside router.allow_networks, dropped without an answer.", rs.DroppedOutside)
	metric("ata_router_calls", "gauge", "Calls the router joins now.", len(rs.Calls))
}
