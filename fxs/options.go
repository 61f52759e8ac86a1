package fxs

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/openata/ata/fxs/callerid"
	"github.com/openata/ata/fxs/dialplan"
	"github.com/openata/ata/fxs/hook"
	"github.com/openata/ata/fxs/region"
)

// Settings are a port's settings as a person gives them (the [phone]
// table): names and strings, checked and turned into Options by
// BuildOptions.
type Settings struct {
	Region      string // region code: tones, ring cadence, caller-ID standard
	CallerID    string // caller-ID standard; "" keeps the region's
	RingCadence string // ring cadence override; "" keeps the region's
	FlashMin    time.Duration
	FlashMax    time.Duration
	DialPlan    string // Cisco/Obihai digit map
	// InterDigitTimeout and FirstDigitTimeout bound digit collection.
	InterDigitTimeout, FirstDigitTimeout time.Duration
	// EchoCanceller and EchoTail: the line echo canceller and its tail,
	// MinEchoTail..MaxEchoTail (0: DefaultEchoTail).
	EchoCanceller bool
	EchoTail      time.Duration
	// FaxMode is "passthrough" (the default when empty: fax and modem
	// tones are reported to call control) or "off".
	FaxMode string
	// TxGainDB (mouthpiece → network) and RxGainDB (network → earpiece),
	// MinGainDB..MaxGainDB.
	TxGainDB, RxGainDB float64
}

// Limits of the line path's settings.
const (
	DefaultEchoTail = 64 * time.Millisecond
	MinEchoTail     = 16 * time.Millisecond
	MaxEchoTail     = 128 * time.Millisecond
	MinGainDB       = -12.0
	MaxGainDB       = 12.0
)

// FaxModes are the values of Settings.FaxMode.
var FaxModes = []string{"passthrough", "off"}

// SettingError is a setting BuildOptions refuses. Key is the setting's
// name as the config file spells it ("phone.region").
type SettingError struct {
	Key string
	Msg string
}

func (e *SettingError) Error() string { return e.Key + ": " + e.Msg }

// BuildOptions checks the settings' meaning and builds port options: the
// region's defaults with the overrides. Errors name the setting and, where
// there is a list, the known values.
func BuildOptions(s Settings, log *slog.Logger) (Options, error) {
	r, err := region.Lookup(s.Region)
	if err != nil {
		return Options{}, &SettingError{Key: "phone.region", Msg: err.Error()}
	}
	o := Options{Region: r, Ring: r.Ring, Logger: log, VMWIRefresh: DefaultVMWIRefresh}
	cid := r.CallerID
	if s.CallerID != "" {
		cid = s.CallerID
	}
	if o.CallerID, err = callerid.ParseStandard(cid); err != nil {
		return Options{}, &SettingError{Key: "phone.caller_id", Msg: err.Error()}
	}
	if s.RingCadence != "" {
		if o.Ring, err = region.ParseCadence(s.RingCadence); err != nil {
			return Options{}, &SettingError{Key: "phone.ring_cadence", Msg: err.Error()}
		}
	}
	o.Hook = hook.DefaultOpts()
	o.Hook.FlashMin, o.Hook.FlashMax = s.FlashMin, s.FlashMax
	if err := o.Hook.Validate(); err != nil {
		return Options{}, &SettingError{Key: "phone.flash_min", Msg: err.Error()}
	}
	if o.DialPlan, err = dialplan.Parse(s.DialPlan); err != nil {
		return Options{}, &SettingError{Key: "phone.dial_plan", Msg: err.Error()}
	}
	o.Collect = dialplan.DefaultOpts()
	o.Collect.InterDigit, o.Collect.FirstDigit = s.InterDigitTimeout, s.FirstDigitTimeout
	if err := lineOptions(s, &o); err != nil {
		return Options{}, err
	}
	return o, nil
}

// lineOptions checks and copies the call audio's settings: canceller, fax
// mode, gains.
func lineOptions(s Settings, o *Options) error {
	o.EchoCanceller, o.EchoTail = s.EchoCanceller, s.EchoTail
	if o.EchoTail == 0 {
		o.EchoTail = DefaultEchoTail
	}
	if o.EchoTail < MinEchoTail || o.EchoTail > MaxEchoTail {
		return &SettingError{Key: "phone.echo_tail", Msg: fmt.Sprintf("%v: want %v to %v", s.EchoTail, MinEchoTail, MaxEchoTail)}
	}
	switch s.FaxMode {
	case "", "passthrough":
		o.FaxPassthrough = true
	case "off":
	default:
		return &SettingError{Key: "phone.fax_mode", Msg: fmt.Sprintf("unknown %q (known: %s)", s.FaxMode, strings.Join(FaxModes, ", "))}
	}
	for _, g := range []struct {
		key string
		db  float64
	}{{"phone.tx_gain_db", s.TxGainDB}, {"phone.rx_gain_db", s.RxGainDB}} {
		if !(g.db >= MinGainDB && g.db <= MaxGainDB) { // NaN fails too
			return &SettingError{Key: g.key, Msg: fmt.Sprintf("%g dB: want %g to %+g", g.db, MinGainDB, MaxGainDB)}
		}
	}
	o.TxGainDB, o.RxGainDB = s.TxGainDB, s.RxGainDB
	return nil
}
