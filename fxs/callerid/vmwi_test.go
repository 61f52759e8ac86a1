package callerid_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/openata/ata/fxs/callerid"
	"github.com/openata/ata/fxs/callerid/minimodemtest"
)

func TestVMWIMessageBytes(t *testing.T) {
	for _, tc := range []struct {
		std  callerid.Standard
		on   bool
		want []byte
	}{
		// checksums: two's complement of the byte sum.
		{callerid.Bell202, true, []byte{0x82, 0x03, 0x0b, 0x01, 0xff, 0x70}},
		{callerid.Bell202, false, []byte{0x82, 0x03, 0x0b, 0x01, 0x00, 0x6f}},
		{callerid.ETSIFSK, true, []byte{0x82, 0x03, 0x0b, 0x01, 0xff, 0x70}},
		{callerid.ETSIFSKDTAS, false, []byte{0x82, 0x03, 0x0b, 0x01, 0x00, 0x6f}},
		{callerid.Bell202SDMF, true, []byte{0x06, 0x03, 0x42, 0x42, 0x42, 0x31}},
		{callerid.Bell202SDMF, false, []byte{0x06, 0x03, 0x6f, 0x6f, 0x6f, 0xaa}},
	} {
		got, err := tc.std.VMWIMessage(tc.on)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%s on=%v: % x, %v; want % x", tc.std, tc.on, got, err, tc.want)
			continue
		}
		on, err := callerid.ParseVMWI(got)
		if err != nil || on != tc.on {
			t.Errorf("ParseVMWI(% x) = %v, %v; want %v", got, on, err, tc.on)
		}
	}
	for _, std := range []callerid.Standard{callerid.DTMF, callerid.None} {
		if _, err := std.VMWIMessage(true); err == nil {
			t.Errorf("%s: VMWI message without an error", std)
		}
		if _, err := callerid.RenderVMWI(std, true, callerid.DefaultFSKLevel); err == nil {
			t.Errorf("%s: VMWI audio without an error", std)
		}
	}
}

// The rendered lamp messages decode with minimodem, on and off, for every
// FSK standard (the ETSI ones after their DT-AS).
func TestVMWIDecodesWithMinimodem(t *testing.T) {
	for _, std := range []callerid.Standard{callerid.Bell202, callerid.Bell202SDMF, callerid.ETSIFSK, callerid.ETSIFSKDTAS} {
		for _, on := range []bool{true, false} {
			audio, err := callerid.RenderVMWI(std, on, callerid.DefaultFSKLevel)
			if err != nil {
				t.Fatal(err)
			}
			pad := make([]int16, 800)
			audio = append(append(append([]int16{}, pad...), audio...), pad...)
			v23 := std == callerid.ETSIFSK || std == callerid.ETSIFSKDTAS
			if got := minimodemtest.VMWI(t, audio, v23); got != on {
				t.Errorf("%s: minimodem decoded lamp %v, want %v", std, got, on)
			}
		}
	}
}

// FuzzParseVMWI: no panic, errors wrap ErrMessage, and an accepted
// message's state renders to a message that parses the same.
func FuzzParseVMWI(f *testing.F) {
	for _, std := range []callerid.Standard{callerid.Bell202, callerid.Bell202SDMF} {
		for _, on := range []bool{true, false} {
			msg, _ := std.VMWIMessage(on)
			f.Add(msg)
			f.Add(msg[:len(msg)-1])
		}
	}
	f.Add([]byte{0x82, 0x05, 0x01, 0x01, 0x30, 0x0b, 0x01})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		on, err := callerid.ParseVMWI(b)
		if err != nil {
			if !errors.Is(err, callerid.ErrMessage) {
				t.Fatalf("error %v does not wrap ErrMessage", err)
			}
			return
		}
		msg, err := callerid.Bell202.VMWIMessage(on)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := callerid.ParseVMWI(msg); err != nil || back != on {
			t.Fatalf("round trip of %v: %v, %v", on, back, err)
		}
	})
}
