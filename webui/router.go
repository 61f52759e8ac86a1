package webui

import "time"

// RouterStatus is router mode's state: the local users with their
// registered phones, the calls the router joins, and the registrar's
// security counters. Nil in Status when router mode is off.
type RouterStatus struct {
	Users []UserStatus
	Calls []RoutedCall
	// AuthFailures counts digest credentials that did not verify;
	// BlockedSources is how many source addresses are ignored now;
	// DroppedOutside counts requests from outside [router] allow_networks.
	AuthFailures   uint64
	BlockedSources int
	DroppedOutside uint64
	Registrations  uint64
}

// UserStatus is one [[user]] and its registered phones.
type UserStatus struct {
	Name, DisplayName string
	External          bool
	Contacts          []UserContact
}

// UserContact is one registered phone of a user.
type UserContact struct {
	URI       string // the Contact as the phone gave it
	Source    string // where its REGISTER came from (after NAT)
	Transport string
	UserAgent string
	Expires   time.Time
}

// RoutedCall is a call the router joins: its two legs and the route.
type RoutedCall struct {
	From       string // "line:1", "trunk:carrier", "user:201"
	Caller     string
	To         string // the extensions alerted, or the number sent out
	Route      string // the link it went out or came in on
	AnsweredBy string
	Start      time.Time
	Answered   time.Time // zero while ringing
	Legs       []RoutedLeg
}

// RoutedLeg is one leg of a routed call with its media figures.
type RoutedLeg struct {
	ID, Side string // side: "caller" or "callee"
	Codec    string
	Loss     float64
	JitterMS float64
	MOS      float64
}
