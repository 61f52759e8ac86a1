package rtpsession

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/openata/ata/media/codec"
)

// fuzzKey is the far end's fixed key in FuzzSRTPReceive (30 bytes: AES-CM
// key and salt).
var fuzzKey = []byte("0123456789abcdef0123456789abcd")

// fuzzSRTPSeeds are genuine SRTP and SRTCP packets under fuzzKey.
func fuzzSRTPSeeds(tb testing.TB) [][]byte {
	far, err := srtp.CreateContext(fuzzKey[:16], fuzzKey[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	if err != nil {
		tb.Fatal(err)
	}
	voice := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1, Timestamp: 160, SSRC: 9}, Payload: make([]byte, 160)}
	event := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, Marker: true, SequenceNumber: 2, Timestamp: 320, SSRC: 9}, Payload: []byte{5, 10, 0, 160}}
	var out [][]byte
	for _, p := range []rtp.Packet{voice, event} {
		b, err := far.EncryptRTP(nil, mustMarshal(p.Marshal()), nil)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	sr, err := far.EncryptRTCP(nil, mustMarshal(rtcp.CompoundPacket{
		&rtcp.SenderReport{SSRC: 9, NTPTime: 1 << 40},
		rtcp.NewCNAMESourceDescription(9, "x"),
	}.Marshal()), nil)
	if err != nil {
		tb.Fatal(err)
	}
	return append(out, sr)
}

// FuzzSRTPReceive throws datagrams at an SRTP session's RTP and RTCP
// receive paths. Nothing may panic, and nothing but a genuine packet (a
// seed, unaltered) may get past the check: forging the tag is not
// something a fuzzer does, so an accepted mutant means a packet went in
// unchecked.
func FuzzSRTPReceive(f *testing.F) {
	seeds := fuzzSRTPSeeds(f)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Add([]byte{0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Fuzz(func(t *testing.T, data []byte) {
		clk := &fakeClock{}
		s, err := New(Config{Conn: nullConn{}, Remote: netip.MustParseAddrPort("127.0.0.1:9"),
			Codec: codec.PCMU, EventPayloadType: 101, Clock: clk.now, Logger: quiet,
			SRTP: SRTPKeys{Profile: srtp.ProtectionProfileAes128CmHmacSha1_80, Local: make([]byte, 30), Remote: fuzzKey}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		genuine := false
		for _, seed := range seeds {
			genuine = genuine || bytes.Equal(seed, data)
		}
		from := netip.MustParseAddrPort("192.0.2.1:4000")
		ear := make([]int16, 160)
		for range 3 {
			in := append([]byte(nil), data...)
			s.handleRTP(clk.now(), in, from)
			if b := s.unprotectRTCP(append([]byte(nil), data...)); b != nil {
				if !genuine {
					t.Fatalf("an altered RTCP datagram passed the check: %x", data)
				}
				s.handleRTCP(clk.now(), b, from)
			}
			s.Exchange(ear, ear)
			clk.advance(20 * time.Millisecond)
		}
		st := s.Stats()
		if !genuine && (st.PacketsReceived != 0 || st.Malformed != 0 || st.UnknownType != 0) {
			t.Fatalf("an altered datagram got past the check: %+v", st)
		}
		if st.PacketsReceived > 1 {
			t.Fatalf("a packet replayed 3 times was taken %d times", st.PacketsReceived)
		}
	})
}
