package fxs

import (
	"log/slog"
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
}

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
	return o, nil
}
