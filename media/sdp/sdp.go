// Package sdp does the SDP offer/answer (RFC 3264) for one G.711 audio
// stream: it writes our offer or answer and negotiates a remote one into
// the few facts the RTP session needs. Parsing is pion/sdp's.
package sdp

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	psdp "github.com/pion/sdp/v3"

	"github.com/openata/ata/media/codec"
)

// Direction is a media direction attribute, from the point of view of the
// side that writes it.
type Direction uint8

// The four directions of RFC 3264 §5.1. The zero value means sendrecv.
const (
	SendRecv Direction = iota
	SendOnly
	RecvOnly
	Inactive
)

func (d Direction) String() string {
	switch d {
	case SendOnly:
		return "sendonly"
	case RecvOnly:
		return "recvonly"
	case Inactive:
		return "inactive"
	}
	return "sendrecv"
}

// Sends reports whether the side may send media.
func (d Direction) Sends() bool { return d == SendRecv || d == SendOnly }

// Receives reports whether the side wants media.
func (d Direction) Receives() bool { return d == SendRecv || d == RecvOnly }

// Reverse is the direction as seen from the other side.
func (d Direction) Reverse() Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	}
	return d
}

func direction(sends, receives bool) Direction {
	switch {
	case sends && receives:
		return SendRecv
	case sends:
		return SendOnly
	case receives:
		return RecvOnly
	}
	return Inactive
}

// DefaultEventPayloadType is the dynamic payload type offered for
// telephone-event, as most SIP phones use.
const DefaultEventPayloadType = 101

// Local describes our side of the stream.
type Local struct {
	// Addr is our RTP address for c= and o=. An unspecified address
	// (0.0.0.0) is the RFC 2543 way to put the far end on hold.
	Addr netip.Addr
	Port int // RTP port; RTCP is Port+1
	// Codecs in preference order; empty means PCMU then PCMA.
	Codecs []codec.Codec
	// EventPayloadType for RFC 4733 in offers: 0 means 101; negative
	// leaves telephone-event out.
	EventPayloadType int
	// ComfortNoise offers RFC 3389 comfort noise (CN/8000, payload type
	// 13) and accepts it in an offer: we send CN in our silences (VAD).
	// Received CN of type 13 is played either way.
	ComfortNoise bool
	Ptime        time.Duration // 20 ms if zero
	Direction    Direction     // SendOnly to hold the far end
	// SessionID and SessionVersion fill o=; the version must grow with
	// each new offer or answer in a dialog (RFC 3264 §8).
	SessionID, SessionVersion uint64
	// SRTP is the line's SRTP policy and Crypto our keys for the call
	// (NewCryptos), kept for all its offers and answers.
	SRTP   SRTPPolicy
	Crypto []Crypto
}

func (l Local) codecs() []codec.Codec {
	if len(l.Codecs) == 0 {
		return []codec.Codec{codec.PCMU, codec.PCMA}
	}
	return l.Codecs
}

func (l Local) ptime() time.Duration {
	if l.Ptime == 10*time.Millisecond {
		return l.Ptime
	}
	return 20 * time.Millisecond
}

// Media is the outcome of a negotiation: what our RTP session does.
type Media struct {
	Codec       codec.Codec
	PayloadType uint8 // payload type the codec is sent and received with
	// EventPayloadType is the remote's telephone-event payload type, 0 if
	// it offered none (0 is PCMU's, never an event's).
	EventPayloadType uint8
	// CNPayloadType is the remote's comfort noise (CN/8000) payload type
	// when we asked for comfort noise (Local.ComfortNoise) and it lists
	// it, else 0 (0 is PCMU's, never CN's).
	CNPayloadType uint8
	Ptime         time.Duration // 10 or 20 ms
	Direction     Direction     // ours: whether we send and receive
	Remote        netip.AddrPort
	RemoteRTCP    netip.AddrPort
	// Hold is set when the far end holds us: it sent sendonly, inactive or
	// a 0.0.0.0 connection address.
	Hold bool
	// SRTP is the negotiated SDES-SRTP (SRTP.On false: plain RTP). SAVP
	// is set when the far end's m-line said RTP/SAVP (our answer says it
	// too). A value, not a pointer: see Key.
	SRTP SRTP
	SAVP bool
}

// Errors a negotiation can end with; the returned errors wrap one of them
// and name the details.
var (
	ErrParse         = errors.New("sdp: malformed")
	ErrNoAudio       = errors.New("sdp: no RTP/AVP audio m-line")
	ErrRejected      = errors.New("sdp: audio stream rejected (port 0)")
	ErrBadPort       = errors.New("sdp: bad port")
	ErrNoConnection  = errors.New("sdp: no usable connection address")
	ErrNoCommonCodec = errors.New("sdp: no common codec")
)

// Offer writes an offer with all our codecs and telephone-event.
func Offer(l Local) ([]byte, error) {
	var formats []format
	for _, c := range l.codecs() {
		if !c.Valid() {
			return nil, fmt.Errorf("sdp: offer: codec %d is not G.711", c)
		}
		formats = append(formats, format{pt: c.PayloadType(), name: c.Name()})
	}
	if l.ComfortNoise {
		formats = append(formats, format{pt: cnPayloadType, name: comfortNoise})
	}
	switch {
	case l.EventPayloadType == 0:
		formats = append(formats, format{pt: DefaultEventPayloadType, name: telephoneEvent})
	case l.EventPayloadType >= 96 && l.EventPayloadType <= 127:
		formats = append(formats, format{pt: uint8(l.EventPayloadType), name: telephoneEvent})
	case l.EventPayloadType > 0:
		return nil, fmt.Errorf("sdp: offer: telephone-event payload type %d is not dynamic (96-127)", l.EventPayloadType)
	}
	var crypto []string
	if l.SRTP != SRTPOff {
		for _, s := range offeredSuites {
			if c, ok := l.keyFor(s); ok {
				crypto = append(crypto, c.Attribute())
			}
		}
		if len(crypto) == 0 {
			return nil, fmt.Errorf("sdp: offer: SRTP %s but no keys", l.SRTP)
		}
	}
	return build(l, formats, l.ptime(), l.Direction, l.SRTP == SRTPMandatory, crypto)
}

// Answer writes our answer to a remote offer that Negotiate turned into m:
// the chosen codec, telephone-event if the offer had it (with its payload
// type), the negotiated ptime and our direction.
func Answer(l Local, m Media) ([]byte, error) {
	formats := []format{{pt: m.PayloadType, name: m.Codec.Name()}}
	if m.CNPayloadType != 0 && l.ComfortNoise {
		formats = append(formats, format{pt: m.CNPayloadType, name: comfortNoise})
	}
	if m.EventPayloadType != 0 {
		formats = append(formats, format{pt: m.EventPayloadType, name: telephoneEvent})
	}
	var crypto []string
	if m.SRTP.On() {
		crypto = []string{Crypto{Tag: m.SRTP.Tag, Suite: m.SRTP.Suite, Key: m.SRTP.Local}.Attribute()}
	}
	return build(l, formats, m.Ptime, m.Direction, m.SAVP && m.SRTP.On(), crypto)
}

const telephoneEvent = "telephone-event"

// Comfort noise (RFC 3389) at 8 kHz has the static payload type 13.
const (
	comfortNoise  = "CN"
	cnPayloadType = 13
)

type format struct {
	pt   uint8
	name string
}

// build writes the SDP; savp makes the profile RTP/SAVP, crypto are the
// a=crypto values.
func build(l Local, formats []format, ptime time.Duration, dir Direction, savp bool, crypto []string) ([]byte, error) {
	if l.Port <= 0 || l.Port > 65535 {
		return nil, fmt.Errorf("%w: local port %d", ErrBadPort, l.Port)
	}
	if !l.Addr.IsValid() {
		return nil, fmt.Errorf("%w: local address not set", ErrNoConnection)
	}
	addrType := "IP4"
	if l.Addr.Is6() && !l.Addr.Is4In6() {
		addrType = "IP6"
	}
	addr := l.Addr.Unmap().String()
	md := &psdp.MediaDescription{
		MediaName: psdp.MediaName{
			Media:  "audio",
			Port:   psdp.RangedPort{Value: l.Port},
			Protos: []string{"RTP", "AVP"},
		},
	}
	if savp {
		md.MediaName.Protos[1] = "SAVP"
	}
	for _, f := range formats {
		pt := strconv.Itoa(int(f.pt))
		md.MediaName.Formats = append(md.MediaName.Formats, pt)
		md.Attributes = append(md.Attributes, psdp.NewAttribute("rtpmap", pt+" "+f.name+"/8000"))
		if f.name == telephoneEvent {
			md.Attributes = append(md.Attributes, psdp.NewAttribute("fmtp", pt+" 0-16"))
		}
	}
	for _, c := range crypto {
		md.Attributes = append(md.Attributes, psdp.NewAttribute("crypto", c))
	}
	md.Attributes = append(md.Attributes,
		psdp.NewAttribute("ptime", strconv.Itoa(int(ptime/time.Millisecond))),
		psdp.NewPropertyAttribute(dir.String()))
	s := psdp.SessionDescription{
		Origin: psdp.Origin{
			Username: "-", SessionID: l.SessionID, SessionVersion: l.SessionVersion,
			NetworkType: "IN", AddressType: addrType, UnicastAddress: addr,
		},
		SessionName: "-",
		ConnectionInformation: &psdp.ConnectionInformation{
			NetworkType: "IN", AddressType: addrType, Address: &psdp.Address{Address: addr},
		},
		TimeDescriptions:  []psdp.TimeDescription{{}},
		MediaDescriptions: []*psdp.MediaDescription{md},
	}
	out, err := s.Marshal()
	if err != nil {
		return nil, fmt.Errorf("sdp: marshal: %w", err)
	}
	return out, nil
}

// Negotiate reads a remote offer or answer and settles the stream: the
// first of our codecs (in our order) that the remote lists, the remote's
// telephone-event payload type, ptime 10 or 20 ms, our resulting direction
// and where to send.
func Negotiate(l Local, remote []byte) (Media, error) {
	var s psdp.SessionDescription
	if err := s.Unmarshal(remote); err != nil {
		return Media{}, fmt.Errorf("%w: %w", ErrParse, err)
	}
	md, err := audioLine(&s, l.SRTP != SRTPOff)
	if err != nil {
		return Media{}, err
	}
	profile := md.MediaName.Protos[len(md.MediaName.Protos)-1] // AVP, AVPF, SAVP or SAVPF
	m := Media{Ptime: 20 * time.Millisecond, SAVP: strings.HasPrefix(profile, "S")}
	if m.SAVP || l.SRTP != SRTPOff {
		var values []string
		for _, a := range md.Attributes {
			if a.Key == "crypto" {
				values = append(values, a.Value)
			}
		}
		srtp, err := negotiateCrypto(l, values)
		switch {
		case err == nil:
			m.SRTP = srtp
		case m.SAVP || l.SRTP == SRTPMandatory:
			return Media{}, err
		}
	}

	// Remote formats: payload type → encoding name at 8 kHz.
	names := map[uint8]string{0: "PCMU", 8: "PCMA", cnPayloadType: comfortNoise}
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		pt, name, rate, ok := parseRtpmap(a.Value)
		if ok && rate == codec.ClockRate {
			names[pt] = name
		} else if ok {
			names[pt] = "" // known, but not at 8 kHz
		}
	}
	var offered []string
	remotePT := map[codec.Codec]uint8{}
	for _, f := range md.MediaName.Formats {
		n, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			continue // not an RTP payload type; ignore like other stacks
		}
		pt := uint8(n)
		name := names[pt]
		if pt >= 96 && name == "" {
			continue
		}
		offered = append(offered, f+"/"+name)
		if strings.EqualFold(name, telephoneEvent) && m.EventPayloadType == 0 {
			m.EventPayloadType = pt
		}
		// CN is 13 or dynamic: a static type of another codec renamed CN
		// is nonsense a session would refuse.
		isCN := strings.EqualFold(name, comfortNoise) && (pt == cnPayloadType || pt >= 96)
		if l.ComfortNoise && isCN && m.CNPayloadType == 0 {
			m.CNPayloadType = pt
		}
		if c, ok := codec.ByName(name); ok {
			if _, dup := remotePT[c]; !dup {
				remotePT[c] = pt
			}
		}
	}
	found := false
	for _, c := range l.codecs() {
		if pt, ok := remotePT[c]; ok {
			m.Codec, m.PayloadType, found = c, pt, true
			break
		}
	}
	if !found {
		return Media{}, fmt.Errorf("%w: remote offers %v, we accept %v", ErrNoCommonCodec, offered, l.codecs())
	}

	if v, ok := md.Attribute("ptime"); ok {
		if p, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && p > 0 && p < 20 {
			m.Ptime = 10 * time.Millisecond
		}
	}

	remoteDir := SendRecv
	if d, ok := directionAttr(md.Attributes); ok {
		remoteDir = d
	} else if d, ok := directionAttr(s.Attributes); ok {
		remoteDir = d
	}

	addr, err := connection(&s, md)
	if err != nil {
		return Media{}, err
	}
	port := md.MediaName.Port.Value
	m.Remote = netip.AddrPortFrom(addr, uint16(port))
	m.RemoteRTCP = netip.AddrPortFrom(addr, uint16(port+1))
	if v, ok := md.Attribute("rtcp"); ok {
		if rtcp, ok := parseRTCPAttr(v, addr); ok {
			m.RemoteRTCP = rtcp
		}
	}

	// An unspecified address means "do not send to me" (RFC 3264 §8.4).
	remoteReceives := remoteDir.Receives() && !addr.IsUnspecified()
	m.Hold = !remoteReceives
	m.Direction = direction(l.Direction.Sends() && remoteReceives,
		l.Direction.Receives() && remoteDir.Sends())
	return m, nil
}

// audioLine returns the first usable audio m-line: RTP/AVP or RTP/AVPF,
// and RTP/SAVP or RTP/SAVPF when we take SRTP.
func audioLine(s *psdp.SessionDescription, srtp bool) (*psdp.MediaDescription, error) {
	var seen []string
	for _, md := range s.MediaDescriptions {
		if md.MediaName.Media != "audio" {
			continue
		}
		proto := strings.Join(md.MediaName.Protos, "/")
		if proto != "RTP/AVP" && proto != "RTP/AVPF" && (!srtp || proto != "RTP/SAVP" && proto != "RTP/SAVPF") {
			seen = append(seen, proto)
			continue
		}
		switch port := md.MediaName.Port.Value; {
		case port == 0:
			return nil, ErrRejected
		case port < 0 || port > 65534: // RTCP needs port+1
			return nil, fmt.Errorf("%w: audio port %d", ErrBadPort, port)
		}
		return md, nil
	}
	if len(seen) > 0 {
		if !srtp {
			return nil, fmt.Errorf("%w: audio offered only over %v (SRTP is off on this line)", ErrNoAudio, seen)
		}
		return nil, fmt.Errorf("%w: audio offered only over %v", ErrNoAudio, seen)
	}
	return nil, ErrNoAudio
}

// connection returns the media-level c= address, or the session-level one.
func connection(s *psdp.SessionDescription, md *psdp.MediaDescription) (netip.Addr, error) {
	c := md.ConnectionInformation
	if c == nil {
		c = s.ConnectionInformation
	}
	if c == nil || c.Address == nil {
		return netip.Addr{}, fmt.Errorf("%w: no c= line", ErrNoConnection)
	}
	if c.NetworkType != "IN" {
		return netip.Addr{}, fmt.Errorf("%w: network type %q", ErrNoConnection, c.NetworkType)
	}
	addr, err := netip.ParseAddr(c.Address.Address)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: %q is not an IP address", ErrNoConnection, c.Address.Address)
	}
	if addr.Is4() != (c.AddressType == "IP4") {
		return netip.Addr{}, fmt.Errorf("%w: %s address %s", ErrNoConnection, c.AddressType, addr)
	}
	if addr.IsMulticast() {
		return netip.Addr{}, fmt.Errorf("%w: multicast address %s", ErrNoConnection, addr)
	}
	return addr, nil
}

func directionAttr(attrs []psdp.Attribute) (Direction, bool) {
	for _, a := range attrs {
		switch a.Key {
		case "sendrecv":
			return SendRecv, true
		case "sendonly":
			return SendOnly, true
		case "recvonly":
			return RecvOnly, true
		case "inactive":
			return Inactive, true
		}
	}
	return SendRecv, false
}

// parseRtpmap splits "<pt> <name>/<rate>[/<channels>]".
func parseRtpmap(v string) (pt uint8, name string, rate int, ok bool) {
	ptStr, rest, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return 0, "", 0, false
	}
	n, err := strconv.ParseUint(ptStr, 10, 7)
	if err != nil {
		return 0, "", 0, false
	}
	parts := strings.Split(strings.TrimSpace(rest), "/")
	if len(parts) < 2 {
		return 0, "", 0, false
	}
	rate, err = strconv.Atoi(parts[1])
	if err != nil {
		return 0, "", 0, false
	}
	if len(parts) > 2 && parts[2] != "1" {
		return uint8(n), "", 0, true // not mono
	}
	return uint8(n), parts[0], rate, true
}

// parseRTCPAttr reads RFC 3605 "a=rtcp:<port> [IN IP4 <addr>]".
func parseRTCPAttr(v string, def netip.Addr) (netip.AddrPort, bool) {
	fields := strings.Fields(v)
	if len(fields) == 0 {
		return netip.AddrPort{}, false
	}
	port, err := strconv.ParseUint(fields[0], 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, false
	}
	addr := def
	if len(fields) == 4 {
		if a, err := netip.ParseAddr(fields[3]); err == nil {
			addr = a
		}
	}
	return netip.AddrPortFrom(addr, uint16(port)), true
}
