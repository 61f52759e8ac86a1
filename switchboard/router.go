package switchboard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/openata/ata/call"
	"github.com/openata/ata/router"
	"github.com/openata/ata/sip"
	"github.com/openata/ata/sip/registrar"
)

// RouterSettings turn router mode on: calls are routed between the port,
// local users, the lines and the trunks (package router).
type RouterSettings struct {
	PortExtension string
	Users         []router.User
	Routes        []router.Route
	// LineRing and TrunkRing are each account's ring list, by the index
	// of Settings.Accounts and Settings.Trunks.
	LineRing, TrunkRing [][]string
	// Registrar is the local users' registrar; nil: no local users.
	Registrar *registrar.Options
	// Port is where the router rings the analog port (phone.Phone).
	Port router.Port
	// Record is told of every routed call when it ends (the call log).
	Record func(router.Record)
}

// errNoUsers is the user dialer's answer while no local user can be
// reached.
var errNoUsers = errors.New("switchboard: no local user is reachable")

type noUsers struct{}

func (noUsers) Dial(context.Context, string, call.DialOptions) (call.Leg, error) {
	return nil, errNoUsers
}

// downLink is an inactive line's place in the routes: never up, and
// refusing the calls a route still sends it.
type downLink struct{ name string }

func (d downLink) Dial(context.Context, string, call.DialOptions) (call.Leg, error) {
	return nil, fmt.Errorf("switchboard: %s is not active", d.name)
}

// newRouter builds the router for one generation of lines: every
// [[line]] is a link "line:N" (an inactive one is down), every trunk
// "trunk:NAME".
func newRouter(s Settings, ls *lines, log *slog.Logger) (*router.Router, error) {
	rs := s.Router
	byLink := map[string]line{}
	for _, l := range ls.lines {
		byLink[l.link] = l
	}
	var links []router.Link
	for i, acct := range s.Accounts {
		name := fmt.Sprintf("line:%d", i+1)
		link := router.Link{Name: name, Ring: ringOf(rs.LineRing, i, rs.PortExtension)}
		if l, ok := byLink[name]; ok && !acct.Inactive {
			reg := l.reg
			link.Dialer = l.line
			link.Up = func() bool { return reg.Status().State == sip.StateRegistered }
		} else {
			link.Dialer = downLink{name}
			link.Up = func() bool { return false }
		}
		links = append(links, link)
	}
	for i, acct := range s.Trunks {
		name := "trunk:" + acct.Number
		links = append(links, router.Link{Name: name, Dialer: byLink[name].line, Ring: ringOf(rs.TrunkRing, i, rs.PortExtension)})
	}
	var users call.Dialer = noUsers{}
	if ls.users != nil {
		users = ls.users
	}
	return router.New(router.Options{PortExtension: rs.PortExtension, Users: rs.Users, Links: links, Routes: rs.Routes,
		Port: rs.Port, UserDialer: users, Record: rs.Record, Logger: log})
}

func ringOf(rings [][]string, i int, port string) []string {
	if i < len(rings) && rings[i] != nil {
		return rings[i]
	}
	return []string{port}
}
