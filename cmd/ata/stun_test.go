package main

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/internal/stuntest"
)

// TestSTUNAddressInContactAndSDP ([sip] stun_server, issue 13 item 7): a
// STUN server started by the test stands for a NAT that maps the ATA to
// 198.51.100.77 with other ports; the provider is a scripted registrar and
// proxy that does not fix NATs with rport (its answers carry no
// received/rport). The REGISTER's Contact, the INVITE's Contact and its
// SDP (c=, o=, m=) carry the STUN mappings: the SIP socket's for SIP, and
// the call's own RTP socket's for the media (the STUN server saw a request
// from that port).
func TestSTUNAddressInContactAndSDP(t *testing.T) {
	public := netip.MustParseAddr("198.51.100.77")
	srv := stuntest.Start(t, stuntest.FakeNAT(public))
	prov := newSIPPeer(t, nil, "")
	first, last := narrowRTPPorts()
	f := startFirmware(t, fmt.Sprintf(`
[system]
data_dir = "DATA_DIR"

[web]
listen = "127.0.0.1:0"

[board]
name = "sim"
sim_listen = "SIM_LISTEN"

[phone]
region = "us"
dial_plan = "(xxxx)"

[sip]
listen = "127.0.0.1:0"
stun_server = %q
rtp_ports = "%d-%d"
keepalive = "0s"

[[line]]
number = "1001"
service_domain = %q
password = "secret"
`, srv.Addr().String(), first, last, prov.local()))

	reg := prov.next(15*time.Second, "REGISTER", func(m sipMsg) bool { return m.status == 0 && m.method == "REGISTER" })
	ataSIP := reg.src.AddrPort()
	wantSIP := fmt.Sprintf("%s:%d", public, stuntest.NATPort(ataSIP.Port()))
	if c := reg.header("Contact", "m"); !strings.Contains(c, "@"+wantSIP+">") && !strings.Contains(c, "@"+wantSIP+";") {
		t.Errorf("REGISTER Contact %q, want STUN's mapping of the SIP socket %s", c, wantSIP)
	}
	if seen := srv.Seen(); len(seen) == 0 || seen[0].Port() != ataSIP.Port() {
		t.Errorf("the STUN server saw %v, want the SIP socket's port %d first", seen, ataSIP.Port())
	}
	prov.grantRegister(reg)

	ctx := context.Background()
	if err := f.phone.Hook(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	if err := f.phone.Dial(ctx, "2000", "dtmf"); err != nil {
		t.Fatal(err)
	}
	inv := prov.next(15*time.Second, "INVITE", func(m sipMsg) bool { return m.status == 0 && m.method == "INVITE" })
	prov.reply(inv, 603, "Decline")
	if c := inv.header("Contact", "m"); !strings.Contains(c, "@"+wantSIP) {
		t.Errorf("INVITE Contact %q, want %s", c, wantSIP)
	}
	body := inv.body()
	if m := regexp.MustCompile(`(?m)^c=IN IP4 (\S+)`).FindStringSubmatch(body); m == nil || m[1] != public.String() {
		t.Errorf("SDP c= %v, want %s:\n%s", m, public, body)
	}
	if m := regexp.MustCompile(`(?m)^o=\S+ \d+ \d+ IN IP4 (\S+)`).FindStringSubmatch(body); m == nil || m[1] != public.String() {
		t.Errorf("SDP o= %v, want %s", m, public)
	}
	m := regexp.MustCompile(`(?m)^m=audio (\d+) `).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no m=audio in the offer:\n%s", body)
	}
	sdpPort, _ := strconv.Atoi(m[1])
	var rtpPort int
	for _, s := range srv.Seen() {
		if p := int(s.Port()); p >= first && p <= last && p%2 == 0 {
			rtpPort = p
		}
	}
	if rtpPort == 0 {
		t.Fatalf("the STUN server saw no request from an RTP port %d-%d: %v", first, last, srv.Seen())
	}
	if want := int(stuntest.NATPort(uint16(rtpPort))); sdpPort != want {
		t.Errorf("SDP m= port %d, want %d: STUN's mapping of the call's RTP port %d", sdpPort, want, rtpPort)
	}
}

// grantRegister answers a REGISTER 200 with its Contact for an hour and
// no received/rport: a registrar that does not fix NATs.
func (p *sipPeer) grantRegister(m sipMsg) {
	var b strings.Builder
	b.WriteString("SIP/2.0 200 OK\r\n")
	for _, v := range m.headers("Via", "v") {
		fmt.Fprintf(&b, "Via: %s\r\n", v)
	}
	fmt.Fprintf(&b, "From: %s\r\nTo: %s;tag=reg1\r\nCall-ID: %s\r\nCSeq: %s\r\nContact: %s;expires=3600\r\nContent-Length: 0\r\n\r\n",
		m.header("From", "f"), m.header("To", "t"), m.header("Call-ID", "i"), m.header("CSeq", ""), m.header("Contact", "m"))
	p.send(b.String(), m.src)
}
