package fxs

import (
	"log/slog"

	"github.com/openata/ata/config"
	"github.com/openata/ata/fxs/callerid"
	"github.com/openata/ata/fxs/dialplan"
	"github.com/openata/ata/fxs/hook"
	"github.com/openata/ata/fxs/region"
)

// OptionsFromConfig checks the [phone] settings' meaning and builds port
// options: the region's defaults with the config's overrides. Errors name
// the key and, where there is a list, the known values.
func OptionsFromConfig(c config.Phone, log *slog.Logger) (Options, error) {
	r, err := region.Lookup(c.Region)
	if err != nil {
		return Options{}, &config.KeyError{Key: "phone.region", Msg: err.Error()}
	}
	o := Options{Region: r, Ring: r.Ring, Logger: log}
	cid := r.CallerID
	if c.CallerID != "" {
		cid = c.CallerID
	}
	if o.CallerID, err = callerid.ParseStandard(cid); err != nil {
		return Options{}, &config.KeyError{Key: "phone.caller_id", Msg: err.Error()}
	}
	if c.RingCadence != "" {
		if o.Ring, err = region.ParseCadence(c.RingCadence); err != nil {
			return Options{}, &config.KeyError{Key: "phone.ring_cadence", Msg: err.Error()}
		}
	}
	o.Hook = hook.DefaultOpts()
	o.Hook.FlashMin, o.Hook.FlashMax = c.FlashMin.D(), c.FlashMax.D()
	if err := o.Hook.Validate(); err != nil {
		return Options{}, &config.KeyError{Key: "phone.flash_min", Msg: err.Error()}
	}
	if o.DialPlan, err = dialplan.Parse(c.DialPlan); err != nil {
		return Options{}, &config.KeyError{Key: "phone.dial_plan", Msg: err.Error()}
	}
	o.Collect = dialplan.DefaultOpts()
	o.Collect.InterDigit, o.Collect.FirstDigit = c.InterDigitTimeout.D(), c.FirstDigitTimeout.D()
	return o, nil
}
