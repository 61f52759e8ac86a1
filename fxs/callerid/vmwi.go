package callerid

import (
	"fmt"
)

// Visual Message Waiting Indication: the on-hook data message that turns a
// phone's message lamp on or off, sent without ringing (GR-30-CORE;
// EN 300 659-3 "message waiting indicator", as spandsp's adsi.h lists it).
const (
	// TypeMDMFMWI is the MDMF message waiting notification.
	TypeMDMFMWI byte = 0x82
	// TypeSDMFMWI is the older single data message for VMWI.
	TypeSDMFMWI byte = 0x06
	// ParamVMWI is the visual indicator parameter: VMWIOn or VMWIOff.
	ParamVMWI byte = 0x0B

	VMWIOn  byte = 0xFF
	VMWIOff byte = 0x00

	// SDMF VMWI bodies: three times 0x42 (on) or 0x6F (off).
	sdmfVMWIOn  byte = 0x42
	sdmfVMWIOff byte = 0x6F
)

// VMWIMessage returns the framed message std sends to set the lamp: SDMF
// 0x06 for bell202-sdmf, MDMF 0x82 with parameter 0x0B for the other FSK
// standards. dtmf and none cannot carry it.
func (s Standard) VMWIMessage(on bool) ([]byte, error) {
	var buf [8]byte
	msg, err := s.appendVMWI(buf[:0], on)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), msg...), nil
}

func (s Standard) appendVMWI(dst []byte, on bool) ([]byte, error) {
	start := len(dst)
	switch s {
	case Bell202SDMF:
		v := sdmfVMWIOff
		if on {
			v = sdmfVMWIOn
		}
		dst = append(dst, TypeSDMFMWI, 3, v, v, v)
	case Bell202, ETSIFSK, ETSIFSKDTAS:
		v := VMWIOff
		if on {
			v = VMWIOn
		}
		dst = append(dst, TypeMDMFMWI, 3, ParamVMWI, 1, v)
	default:
		return dst, fmt.Errorf("callerid: %q cannot send message waiting", s)
	}
	return append(dst, checksum(dst[start:])), nil
}

// VMWIAlertReversal reports whether the port reverses the line and
// plays a DT-AS before the VMWI message of s (the ETSI standards: EN
// 300 659-1 data transmission not associated with ringing, line reversal
// then DT-AS, as BT SIN 227 does before caller ID). Bell 202 sends the FSK
// alone: its channel seizure wakes the phone (GR-30-CORE), as Asterisk
// does by default.
func (s Standard) VMWIAlertReversal() bool {
	return s == ETSIFSK || s == ETSIFSKDTAS
}

// RenderVMWI returns the on-hook audio that sets the phone's message lamp:
// for Bell 202 the FSK alone (seizure, marks, message, trailing marks),
// for the ETSI standards DT-AS, DTASToFSK of silence, then the V.23 FSK.
// The port reverses the line ReversalToDTAS before it (VMWIAlertReversal)
// and restores it after. It allocates the returned slice only.
func RenderVMWI(std Standard, on bool, levelDBm0 float64) ([]int16, error) {
	modem, ok := std.modem()
	if !ok {
		return nil, fmt.Errorf("callerid: %q cannot send message waiting", std)
	}
	if err := checkLevel(levelDBm0); err != nil {
		return nil, err
	}
	var buf [8]byte
	msg, err := std.appendVMWI(buf[:0], on)
	if err != nil {
		return nil, err
	}
	n := FSKSamples(OnHook.Bits(len(msg)))
	if std.VMWIAlertReversal() {
		n += samplesOf(DTASDuration) + samplesOf(DTASToFSK)
	}
	out := make([]int16, 0, n)
	if std.VMWIAlertReversal() {
		out = AppendDTAS(out, levelDBm0)
		out = appendSilence(out, DTASToFSK)
	}
	return AppendFSK(out, modem, OnHook, msg, levelDBm0), nil
}

// ParseVMWI decodes a framed VMWI message, MDMF (0x82, parameter 0x0B
// 0xFF or 0x00; other parameters are skipped) or SDMF (0x06, 0x42 or 0x6F
// three times), and returns the lamp state. Errors wrap ErrMessage.
func ParseVMWI(b []byte) (on bool, err error) {
	if len(b) > 0 && b[0] == TypeSDMFMWI {
		body, err := unframe(b, TypeSDMFMWI)
		if err != nil {
			return false, err
		}
		switch {
		case len(body) == 3 && body[0] == sdmfVMWIOn && body[1] == sdmfVMWIOn && body[2] == sdmfVMWIOn:
			return true, nil
		case len(body) == 3 && body[0] == sdmfVMWIOff && body[1] == sdmfVMWIOff && body[2] == sdmfVMWIOff:
			return false, nil
		}
		return false, fmt.Errorf("%w: SDMF VMWI body % x", ErrMessage, body)
	}
	body, err := unframe(b, TypeMDMFMWI)
	if err != nil {
		return false, err
	}
	found := false
	for len(body) > 0 {
		if len(body) < 2 {
			return false, fmt.Errorf("%w: parameter 0x%02x has no length", ErrMessage, body[0])
		}
		typ, n := body[0], int(body[1])
		if len(body) < 2+n {
			return false, fmt.Errorf("%w: parameter 0x%02x of %d bytes overruns the message", ErrMessage, typ, n)
		}
		val := body[2 : 2+n]
		body = body[2+n:]
		if typ != ParamVMWI {
			continue
		}
		if n != 1 || (val[0] != VMWIOn && val[0] != VMWIOff) {
			return false, fmt.Errorf("%w: VMWI parameter % x, want ff or 00", ErrMessage, val)
		}
		on, found = val[0] == VMWIOn, true
	}
	if !found {
		return false, fmt.Errorf("%w: MDMF 0x82 without the VMWI parameter", ErrMessage)
	}
	return on, nil
}
