package fxs

import (
	"fmt"
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
		return Options{}, fmt.Errorf("phone.region: %w", err)
	}
	o := Options{Region: r, Ring: r.Ring, Logger: log}
	cid := r.CallerID
	if c.CallerID != "" {
		cid = c.CallerID
	}
	if o.CallerID, err = callerid.ParseStandard(cid); err != nil {
		return Options{}, fmt.Errorf("phone.caller_id: %w", err)
	}
	if c.RingCadence != "" {
		if o.Ring, err = region.ParseCadence(c.RingCadence); err != nil {
			return Options{}, fmt.Errorf("phone.ring_cadence: %w", err)
		}
	}
	o.Hook = hook.DefaultOpts()
	o.Hook.FlashMin, o.Hook.FlashMax = c.FlashMin.D(), c.FlashMax.D()
	if err := o.Hook.Validate(); err != nil {
		return Options{}, fmt.Errorf("phone.flash_min/flash_max: %w", err)
	}
	if o.DialPlan, err = dialplan.Parse(c.DialPlan); err != nil {
		return Options{}, fmt.Errorf("phone.dial_plan: %w", err)
	}
	o.Collect = dialplan.DefaultOpts()
	o.Collect.InterDigit, o.Collect.FirstDigit = c.InterDigitTimeout.D(), c.FirstDigitTimeout.D()
	return o, nil
}
