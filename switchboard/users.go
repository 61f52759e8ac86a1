package switchboard

import (
	"fmt"
	"log/slog"
	"reflect"
	"strings"

	siplib "github.com/emiago/sipgo/sip"

	"github.com/openata/ata/router"
	"github.com/openata/ata/sip"
	"github.com/openata/ata/sip/registrar"
)

// users is router mode's local users: the registrar on the users' socket
// (it outlives generations of lines, so a changed line does not drop the
// phones' registrations) and, per generation, the users' line mounted on
// it.
type users struct {
	reg  *registrar.Registrar
	opts registrar.Options // what reg was built from, users aside
}

// ensureRegistrar builds the registrar for o, or keeps the running one
// when only its users changed (their bindings stay).
func (sb *Switchboard) ensureRegistrar(o *registrar.Options, log *slog.Logger) (*registrar.Registrar, error) {
	if o == nil {
		if sb.users.reg != nil {
			sb.users.reg.Close()
			sb.users = users{}
		}
		return nil, nil
	}
	same := o.Users
	cur := sb.users.opts
	cur.Users, cur.Logger = same, o.Logger
	if sb.users.reg != nil && reflect.DeepEqual(cur, *o) {
		if err := sb.users.reg.SetUsers(o.Users); err != nil {
			return nil, err
		}
		sb.users.opts = *o
		return sb.users.reg, nil
	}
	if sb.users.reg != nil {
		sb.users.reg.Close()
		sb.users = users{}
	}
	reg, err := registrar.New(*o)
	if err != nil {
		return nil, fmt.Errorf("router.listen: %w", err)
	}
	sb.users = users{reg: reg, opts: *o}
	return reg, nil
}

// usersLine is the line local users call through and are called on: a
// stack mounted on the registrar's socket, every INVITE checked by its
// digest, calls to a user sent to its most preferred binding.
func usersLine(reg *registrar.Registrar, s Settings, log *slog.Logger) (*sip.Line, error) {
	cfg := s.Stack
	cfg.Listen, cfg.AcceptProxyOnly = reg.LocalAddr().String(), false // the registrar filters its sources
	st, err := sip.NewStackOn(cfg, sip.Mount{UA: reg.UserAgent(), Client: reg.Client(), Conn: reg.UDPConn(), Handle: reg.Handle},
		sip.WithLogger(log))
	if err != nil {
		return nil, err
	}
	return sip.NewLine(st, sip.Account{Number: "router", ServiceDomain: reg.LocalAddr().String(), Codecs: []string{"PCMU", "PCMA"}},
		sip.LineOptions{Logger: log, RTPPortMin: s.RTPPortMin, RTPPortMax: s.RTPPortMax,
			Admit:  reg.Authenticate,
			Locate: func(user string) []sip.UserContact { return userContacts(reg.Lookup(user)) }})
}

// userContacts are a user's bindings (most preferred first) as the users'
// line calls them: at the contact, sent where the REGISTER came from, over
// its transport (a TCP phone over the connection it registered on).
func userContacts(bindings []registrar.Binding) []sip.UserContact {
	var out []sip.UserContact
	for _, b := range bindings {
		var u siplib.Uri
		if err := siplib.ParseUri(b.Contact, &u); err != nil {
			continue
		}
		tr := strings.ToLower(b.Transport)
		if tr == "" {
			tr = sip.TransportUDP
		}
		out = append(out, sip.UserContact{Contact: u, Dest: b.Source, Transport: tr})
	}
	return out
}

// Router is the running router (router mode), or nil.
func (sb *Switchboard) Router() *router.Router {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.cur.router
}

// Users is the local users' registration state (router mode), nil without.
func (sb *Switchboard) Users() *registrar.Registrar {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.users.reg
}
