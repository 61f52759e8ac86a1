package phone

import (
	"github.com/openata/ata/call"
	"github.com/openata/ata/fxs/region"
)

// Feature codes: star codes dialled from the handset that change a
// feature. They are checked before a number is placed; a code that takes
// a number (forward on) gets it after a second dial tone, or straight
// after the code. The change is confirmed with the region's confirmation
// tone (three beeps, then dial tone) and handed to Opts.OnFeatures to be
// saved.

// Action is what a feature code does.
type Action int

// The feature code actions.
const (
	ForwardAlwaysOn Action = iota + 1
	ForwardAlwaysOff
	ForwardBusyOn
	ForwardBusyOff
	ForwardNoAnswerOn
	ForwardNoAnswerOff
	DNDOn
	DNDOff
	RejectAnonymousOn
	RejectAnonymousOff
	CallWaitingOffNext
	CallWaitingOn
	CallWaitingOff
	ClirOnce  // this call without our number
	ClidOnce  // this call with our number (when it is withheld always)
	Voicemail // call the line's voicemail
)

// takesNumber reports whether the action needs a number after the code.
func (a Action) takesNumber() bool {
	return a == ForwardAlwaysOn || a == ForwardBusyOn || a == ForwardNoAnswerOn || a.places()
}

// places reports whether the action places a call (with its number).
func (a Action) places() bool { return a == ClirOnce || a == ClidOnce }

// featureCode handles a dialled number that is a feature code (or the
// number a code waited for) and reports whether it was one.
func (ph *Phone) featureCode(number string) bool {
	if a := ph.pendingCode; a != 0 {
		ph.pendingCode = 0
		if !validTarget(number) {
			ph.toneState(Reorder, region.Congestion, "feature code: bad number")
			return true
		}
		ph.applyCode(a, number)
		return true
	}
	for code, a := range ph.opts.Codes {
		if code == "" || len(number) < len(code) || number[:len(code)] != code {
			continue
		}
		rest := number[len(code):]
		switch {
		case a.takesNumber() && rest == "":
			ph.pendingCode = a
			ph.port.PlayTone(ph.dialToneKind())
			ph.port.Collect()
			ph.to(DialTone, "feature code "+code+": enter the number")
			ph.publish()
			return true
		case a.takesNumber():
			if !validTarget(rest) {
				ph.toneState(Reorder, region.Congestion, "feature code: bad number")
				return true
			}
			ph.applyCode(a, rest)
			return true
		case rest == "":
			ph.applyCode(a, "")
			return true
		}
	}
	return false
}

// applyCode changes the feature, confirms it and has it saved; a code
// that places a call places it.
func (ph *Phone) applyCode(a Action, number string) {
	if a == Voicemail {
		if ph.opts.VoicemailNumber == "" {
			ph.toneState(Reorder, region.Congestion, "no voicemail number")
			return
		}
		ph.placeCall(ph.opts.VoicemailNumber, false)
		return
	}
	if a.places() {
		ph.placeCallWith(number, false, call.DialOptions{Anonymous: a == ClirOnce})
		return
	}
	f := &ph.opts.Features
	persist := true
	switch a {
	case ForwardAlwaysOn:
		f.ForwardAlways = number
	case ForwardAlwaysOff:
		f.ForwardAlways = ""
	case ForwardBusyOn:
		f.ForwardBusy = number
	case ForwardBusyOff:
		f.ForwardBusy = ""
	case ForwardNoAnswerOn:
		f.ForwardNoAnswer = number
	case ForwardNoAnswerOff:
		f.ForwardNoAnswer = ""
	case DNDOn:
		f.DND = true
	case DNDOff:
		f.DND = false
	case RejectAnonymousOn:
		f.RejectAnonymous = true
	case RejectAnonymousOff:
		f.RejectAnonymous = false
	case CallWaitingOn:
		f.CallWaiting = true
	case CallWaitingOff:
		f.CallWaiting = false
	case CallWaitingOffNext:
		ph.cwOffNext, persist = true, false
	}
	ph.log.Info("phone: feature code", "action", a, "number", number)
	if persist && ph.opts.OnFeatures != nil {
		ph.opts.OnFeatures(*f)
	}
	ph.port.PlayTone(region.Confirm)
	ph.port.Collect()
	ph.to(DialTone, "feature code taken")
	ph.publish()
}

// validTarget is a number a person may forward to: digits, * # + and at
// most 32 characters.
func validTarget(n string) bool {
	if n == "" || len(n) > 32 {
		return false
	}
	for _, r := range n {
		if (r < '0' || r > '9') && r != '*' && r != '#' && r != '+' {
			return false
		}
	}
	return true
}
