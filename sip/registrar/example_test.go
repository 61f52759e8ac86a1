package registrar_test

import (
	"log"
	"net/netip"

	"github.com/emiago/sipgo/sip"

	"github.com/openata/ata/sip/registrar"
)

// How the router uses the registrar: its INVITE handler on the same
// socket authenticates the caller with the registrar's digest code (and
// failure counting), and a call to a user goes to each binding's Source
// over its Transport, with the binding's Contact as Request-URI.
func Example() {
	md5hex, shahex := registrar.HA1("202", "openata", "s3cret-202")
	r, err := registrar.New(registrar.Options{
		Listen: "0.0.0.0:5062",
		Users: []registrar.User{
			{Name: "201", Password: "kitchen-201", DisplayName: "Kitchen", External: true},
			{Name: "202", HA1: md5hex, HA1SHA256: shahex},
		},
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16")},
		KeepAlive:     registrar.DefaultKeepAlive,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	r.Handle(sip.INVITE, func(req *sip.Request, tx sip.ServerTransaction) {
		caller, ok := r.Authenticate(req, tx) // answered 401 when not ok
		if !ok {
			return
		}
		for _, b := range r.Lookup(req.Recipient.User) {
			local, _ := r.LocalAddrFor(b.Source) // for the outgoing Via and Contact
			_ = local
			out := sip.NewRequest(sip.INVITE, sip.Uri{}) // Request-URI: b.Contact
			out.SetDestination(b.Source.String())
			out.SetTransport(b.Transport)
			_ = caller // ... sent with r.Client(), from the users' socket
		}
	})
}
