package sip

import (
	"context"
	"net"
	"testing"

	"github.com/miekg/dns"
)

// naptrDNS is srvDNS with NAPTR records.
type naptrDNS struct {
	srvDNS
	naptr map[string][]NAPTR
}

func (d naptrDNS) LookupNAPTR(_ context.Context, name string) ([]NAPTR, error) {
	if recs, ok := d.naptr[name]; ok {
		return recs, nil
	}
	return nil, &net.DNSError{Err: "no NAPTR", Name: name, IsNotFound: true}
}

// NAPTR records choose the transport of a bare domain by order, then
// preference (RFC 3263 §4.1), before the _sips._tcp SRV check.
func TestAutoTransportFromNAPTR(t *testing.T) {
	res := naptrDNS{srvDNS: srvDNS{sips: map[string]string{"sip.test": "edge.sip.test"}}, naptr: map[string][]NAPTR{
		"tcp.test":  {{Order: 20, Preference: 1, Service: "SIPS+D2T"}, {Order: 10, Preference: 5, Service: "SIP+D2T"}, {Order: 10, Preference: 9, Service: "SIP+D2U"}},
		"sip.test":  {{Order: 10, Preference: 10, Service: "SIP+D2U"}},
		"tls.test":  {{Order: 1, Service: "SIP+D2S"}, {Order: 5, Service: "sips+d2t"}},
		"none.test": {{Order: 1, Service: "E2U+sip"}},
	}}
	for hp, want := range map[string]string{"tcp.test": "tcp", "sip.test": "udp", "tls.test": "tls", "none.test": "udp", "tcp.test:5060": "udp"} {
		if got := AutoTransport(t.Context(), res, hp); got != want {
			t.Errorf("AutoTransport(%s) = %s, want %s", hp, got, want)
		}
	}
}

// The system lookup reads NAPTR answers from a DNS server (one on
// loopback here), keeping the terminal ("s") records.
func TestLookupNAPTRFromServer(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if q.Question[0].Name == "voip.test." && q.Question[0].Qtype == dns.TypeNAPTR {
			for _, s := range []string{
				`voip.test. 60 IN NAPTR 10 50 "s" "SIPS+D2T" "" _sips._tcp.voip.test.`,
				`voip.test. 60 IN NAPTR 20 50 "s" "SIP+D2U" "" _sip._udp.voip.test.`,
				`voip.test. 60 IN NAPTR 5 50 "u" "E2U+sip" "!^.*$!sip:x@voip.test!" .`,
			} {
				rr, err := dns.NewRR(s)
				if err != nil {
					t.Error(err)
				}
				m.Answer = append(m.Answer, rr)
			}
		} else {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	host, port, _ := net.SplitHostPort(pc.LocalAddr().String())
	recs, err := lookupNAPTRAt(t.Context(), "voip.test", []string{host}, port)
	if err != nil || len(recs) != 2 || recs[0].Service != "SIPS+D2T" || recs[0].Replacement != "_sips._tcp.voip.test." || recs[1].Order != 20 {
		t.Fatalf("NAPTR records %+v (%v), want the two terminal SIP ones", recs, err)
	}
	if _, err := lookupNAPTRAt(t.Context(), "other.test", []string{host}, port); err == nil {
		t.Fatal("NXDOMAIN gave no error")
	}
}

// countingDNS counts NAPTR lookups.
type countingDNS struct {
	naptrDNS
	n *int
}

func (d countingDNS) LookupNAPTR(ctx context.Context, name string) ([]NAPTR, error) {
	*d.n++
	return d.naptrDNS.LookupNAPTR(ctx, name)
}

// An "auto" line asks DNS once: its calls reuse the registration's choice.
func TestAutoTransportDecidedOnce(t *testing.T) {
	n := 0
	res := countingDNS{naptrDNS{naptr: map[string][]NAPTR{"voip.test": {{Order: 1, Service: "SIP+D2U"}}}}, &n}
	st := newTestStack(t, "127.0.0.1:0", false)
	acct := &Account{Number: "1", ServiceDomain: "voip.test", Transport: "auto"}
	for range 3 {
		if got := st.transportOf(t.Context(), res, acct); got != "udp" {
			t.Fatalf("transport %s, want udp", got)
		}
	}
	if n != 1 {
		t.Fatalf("%d NAPTR lookups for three decisions, want 1", n)
	}
}
