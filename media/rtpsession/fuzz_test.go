package rtpsession

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/openata/ata/media/codec"
)

// nullConn is a PacketConn that goes nowhere, for driving the receive
// path directly.
type nullConn struct{}

func (nullConn) ReadFrom([]byte) (int, net.Addr, error)    { return 0, nil, net.ErrClosed }
func (nullConn) WriteTo(b []byte, _ net.Addr) (int, error) { return len(b), nil }
func (nullConn) Close() error                              { return nil }
func (nullConn) LocalAddr() net.Addr                       { return &net.UDPAddr{} }
func (nullConn) SetDeadline(time.Time) error               { return nil }
func (nullConn) SetReadDeadline(time.Time) error           { return nil }
func (nullConn) SetWriteDeadline(time.Time) error          { return nil }

func mustMarshal(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// FuzzReceive throws arbitrary datagrams at the RTP and RTCP receive paths
// (parse, sequence and jitter statistics, jitter buffer, DTMF receiver,
// comfort noise)
// between audio frames; nothing may panic and the stats must stay sane.
func FuzzReceive(f *testing.F) {
	voice := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1, Timestamp: 160, SSRC: 9}, Payload: make([]byte, 160)}
	event := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, Marker: true, SequenceNumber: 2, Timestamp: 320, SSRC: 9}, Payload: []byte{5, 10, 0, 160}}
	f.Add(mustMarshal(voice.Marshal()))
	f.Add(mustMarshal(event.Marshal()))
	f.Add(mustMarshal(rtcp.CompoundPacket{
		&rtcp.SenderReport{SSRC: 9, NTPTime: 1 << 40, Reports: []rtcp.ReceptionReport{{SSRC: 1, FractionLost: 25, LastSenderReport: 7, Delay: 3}}},
		rtcp.NewCNAMESourceDescription(9, "x"),
	}.Marshal()))
	f.Add(mustMarshal((&rtcp.ReceiverReport{SSRC: 9}).Marshal()))
	cnPkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 13, SequenceNumber: 3, Timestamp: 480, SSRC: 9}, Payload: []byte{50}}
	f.Add(mustMarshal(cnPkt.Marshal()))
	cnPkt.PayloadType, cnPkt.Payload = 105, []byte{0xFF, 1, 2, 3}
	f.Add(mustMarshal(cnPkt.Marshal()))
	f.Add([]byte{0x80})
	f.Add([]byte{0xa0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		clk := &fakeClock{}
		// The datagrams come from the SDP address: strict RTP lets them in
		// (FuzzStrictRTP walks the source rules).
		s, err := New(Config{Conn: nullConn{}, Remote: netip.MustParseAddrPort("192.0.2.1:4000"),
			Codec: codec.PCMU, EventPayloadType: 101, ComfortNoisePayloadType: 105, VAD: true,
			Clock: clk.now, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		from := netip.MustParseAddrPort("192.0.2.1:4000")
		ear := make([]int16, 160)
		for range 3 {
			s.handleRTP(clk.now(), data, from)
			s.handleRTCP(clk.now(), data, from)
			s.Exchange(ear, ear)
			clk.advance(20 * time.Millisecond)
		}
		st := s.Stats()
		if st.LossFraction < 0 || st.LossFraction > 1 || st.MOS < 1 || st.MOS > 4.5 {
			t.Fatalf("stats out of range: %+v", st)
		}
		s.Close()
	})
}
