package sdp

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/openata/ata/media/codec"
)

var local = Local{
	Addr: netip.MustParseAddr("192.0.2.10"), Port: 40000,
	SessionID: 1234, SessionVersion: 1,
}

func crlf(s string) []byte {
	return []byte(strings.ReplaceAll(strings.TrimLeft(s, "\n"), "\n", "\r\n"))
}

func TestOffer(t *testing.T) {
	b, err := Offer(local)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, line := range []string{
		"v=0\r\n",
		"o=- 1234 1 IN IP4 192.0.2.10\r\n",
		"c=IN IP4 192.0.2.10\r\n",
		"t=0 0\r\n",
		"m=audio 40000 RTP/AVP 0 8 101\r\n",
		"a=rtpmap:0 PCMU/8000\r\n",
		"a=rtpmap:8 PCMA/8000\r\n",
		"a=rtpmap:101 telephone-event/8000\r\n",
		"a=fmtp:101 0-16\r\n",
		"a=ptime:20\r\n",
		"a=sendrecv\r\n",
	} {
		if !strings.Contains(got, line) {
			t.Errorf("offer lacks %q:\n%s", line, got)
		}
	}
	// Our own offer negotiates against ourselves.
	m, err := Negotiate(local, b)
	if err != nil {
		t.Fatal(err)
	}
	want := Media{Codec: codec.PCMU, PayloadType: 0, EventPayloadType: 101, Ptime: 20 * time.Millisecond,
		Direction: SendRecv, Remote: netip.MustParseAddrPort("192.0.2.10:40000"),
		RemoteRTCP: netip.MustParseAddrPort("192.0.2.10:40001")}
	if m != want {
		t.Errorf("self-negotiation %+v, want %+v", m, want)
	}
}

func TestOfferIPv6AndErrors(t *testing.T) {
	l := local
	l.Addr = netip.MustParseAddr("2001:db8::1")
	b, err := Offer(l)
	if err != nil || !strings.Contains(string(b), "c=IN IP6 2001:db8::1\r\n") {
		t.Fatalf("IPv6 offer: %v\n%s", err, b)
	}
	l = local
	l.Port = 70000
	if _, err := Offer(l); !errors.Is(err, ErrBadPort) {
		t.Errorf("port 70000: %v, want ErrBadPort", err)
	}
	l = local
	l.EventPayloadType = 50
	if _, err := Offer(l); err == nil {
		t.Error("static telephone-event payload type accepted")
	}
}

// A typical Asterisk/FreeSWITCH-style offer, varied per case.
const remoteOffer = `
v=0
o=root 5 5 IN IP4 203.0.113.5
s=call
c=IN IP4 203.0.113.5
t=0 0
m=audio 18000 RTP/AVP %FMT%
%ATTR%
`

func offer(fmts, attrs string) []byte {
	s := strings.Replace(remoteOffer, "%FMT%", fmts, 1)
	return crlf(strings.Replace(s, "%ATTR%", attrs, 1))
}

func TestNegotiate(t *testing.T) {
	cases := []struct {
		name   string
		local  Local
		remote []byte
		want   Media
	}{
		{
			name:   "common codec in our order",
			local:  local,
			remote: offer("8 0 101", "a=rtpmap:8 PCMA/8000\na=rtpmap:0 PCMU/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\na=ptime:20\na=sendrecv"),
			want:   Media{Codec: codec.PCMU, PayloadType: 0, EventPayloadType: 101, Direction: SendRecv},
		},
		{
			name:   "PCMA-only remote",
			local:  local,
			remote: offer("8", "a=rtpmap:8 PCMA/8000"),
			want:   Media{Codec: codec.PCMA, PayloadType: 8, Direction: SendRecv},
		},
		{
			name:   "telephone-event on 96, ptime 10, no rtpmap for static types",
			local:  local,
			remote: offer("0 96", "a=rtpmap:96 telephone-event/8000\na=fmtp:96 0-16\na=ptime:10"),
			want:   Media{Codec: codec.PCMU, PayloadType: 0, EventPayloadType: 96, Direction: SendRecv, Ptime: 10 * time.Millisecond},
		},
		{
			name:   "wideband telephone-event ignored",
			local:  local,
			remote: offer("0 97 101", "a=rtpmap:97 telephone-event/48000\na=rtpmap:101 telephone-event/8000"),
			want:   Media{Codec: codec.PCMU, EventPayloadType: 101, Direction: SendRecv},
		},
		{
			name:   "remote holds with sendonly",
			local:  local,
			remote: offer("0 8 101", "a=rtpmap:101 telephone-event/8000\na=sendonly"),
			want:   Media{Codec: codec.PCMU, EventPayloadType: 101, Direction: RecvOnly, Hold: true},
		},
		{
			name:   "remote holds with inactive",
			local:  local,
			remote: offer("0", "a=inactive"),
			want:   Media{Codec: codec.PCMU, Direction: Inactive, Hold: true},
		},
		{
			name:   "we hold: our sendonly against their sendrecv",
			local:  Local{Addr: local.Addr, Port: local.Port, Direction: SendOnly},
			remote: offer("0", "a=sendrecv"),
			want:   Media{Codec: codec.PCMU, Direction: SendOnly},
		},
		{
			name:   "remote recvonly answer to our hold",
			local:  Local{Addr: local.Addr, Port: local.Port, Direction: SendOnly},
			remote: offer("0", "a=recvonly"),
			want:   Media{Codec: codec.PCMU, Direction: SendOnly},
		},
		{
			name:   "PCMA preferred locally",
			local:  Local{Addr: local.Addr, Port: local.Port, Codecs: []codec.Codec{codec.PCMA, codec.PCMU}},
			remote: offer("0 8", ""),
			want:   Media{Codec: codec.PCMA, PayloadType: 8, Direction: SendRecv},
		},
		{
			name:   "PCMU on a dynamic payload type",
			local:  local,
			remote: offer("98", "a=rtpmap:98 pcmu/8000"),
			want:   Media{Codec: codec.PCMU, PayloadType: 98, Direction: SendRecv},
		},
		{
			name:   "rtcp attribute",
			local:  local,
			remote: offer("0", "a=rtcp:18500"),
			want:   Media{Codec: codec.PCMU, Direction: SendRecv, RemoteRTCP: netip.MustParseAddrPort("203.0.113.5:18500")},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Negotiate(tc.local, tc.remote)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if want.Ptime == 0 {
				want.Ptime = 20 * time.Millisecond
			}
			want.Remote = netip.MustParseAddrPort("203.0.113.5:18000")
			if !want.RemoteRTCP.IsValid() {
				want.RemoteRTCP = netip.MustParseAddrPort("203.0.113.5:18001")
			}
			if got != want {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestHoldWithZeroAddress(t *testing.T) {
	remote := crlf(`
v=0
o=- 1 2 IN IP4 203.0.113.5
s=-
c=IN IP4 0.0.0.0
t=0 0
m=audio 18000 RTP/AVP 0 101
a=rtpmap:101 telephone-event/8000
`)
	m, err := Negotiate(local, remote)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Hold || m.Direction != RecvOnly || !m.Remote.Addr().IsUnspecified() {
		t.Fatalf("c=0.0.0.0: %+v, want hold, recvonly, unspecified remote", m)
	}
	ans, err := Answer(local, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"m=audio 40000 RTP/AVP 0 101\r\n", "a=recvonly\r\n", "a=rtpmap:101 telephone-event/8000\r\n"} {
		if !strings.Contains(string(ans), line) {
			t.Errorf("answer lacks %q:\n%s", line, ans)
		}
	}
}

func TestAnswerEchoesRemotePayloadTypes(t *testing.T) {
	m, err := Negotiate(local, offer("8 96", "a=rtpmap:96 telephone-event/8000\na=ptime:10\na=sendonly"))
	if err != nil {
		t.Fatal(err)
	}
	ans, err := Answer(local, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"m=audio 40000 RTP/AVP 8 96\r\n", "a=rtpmap:8 PCMA/8000\r\n",
		"a=rtpmap:96 telephone-event/8000\r\n", "a=ptime:10\r\n", "a=recvonly\r\n",
	} {
		if !strings.Contains(string(ans), line) {
			t.Errorf("answer lacks %q:\n%s", line, ans)
		}
	}
}

func TestNegotiateErrors(t *testing.T) {
	cases := []struct {
		name   string
		remote []byte
		want   error
		detail string
	}{
		{"no common codec", offer("18 9", "a=rtpmap:18 G729/8000\na=rtpmap:9 G722/8000"), ErrNoCommonCodec, "G729"},
		{"video only", crlf("v=0\no=- 1 1 IN IP4 203.0.113.5\ns=-\nc=IN IP4 203.0.113.5\nt=0 0\nm=video 5000 RTP/AVP 96\n"), ErrNoAudio, ""},
		{"SRTP only", crlf("v=0\no=- 1 1 IN IP4 203.0.113.5\ns=-\nc=IN IP4 203.0.113.5\nt=0 0\nm=audio 5000 RTP/SAVP 0\n"), ErrNoAudio, "RTP/SAVP"},
		{"rejected stream", bytesReplace(offer("0", ""), "18000", "0"), ErrRejected, ""},
		{"port out of range", bytesReplace(offer("0", ""), "18000", "65535"), ErrBadPort, "65535"},
		{"no c= line", crlf("v=0\no=- 1 1 IN IP4 203.0.113.5\ns=-\nt=0 0\nm=audio 5000 RTP/AVP 0\n"), ErrNoConnection, "no c= line"},
		{"hostname in c=", bytesReplace(offer("0", ""), "c=IN IP4 203.0.113.5", "c=IN IP4 pbx.example.com"), ErrNoConnection, "pbx.example.com"},
		{"garbage", []byte("hello"), ErrParse, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Negotiate(local, tc.remote)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("error %q does not name %q", err, tc.detail)
			}
		})
	}
}

func bytesReplace(b []byte, old, new string) []byte {
	return []byte(strings.Replace(string(b), old, new, 1))
}
