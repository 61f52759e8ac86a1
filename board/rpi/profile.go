package rpi

import (
	"fmt"
	"slices"
	"strings"
)

// Pins says which Raspberry Pi GPIOs (BCM numbers, as in "GPIO17") the SLIC
// module's control lines are wired to and how the module reads them.
type Pins struct {
	// Name is the board name config uses ("rpi-ag1171", ...); Board.Name
	// reports it.
	Name string
	// SHK is the SLIC's switch-hook output, an input on the Pi.
	SHK int
	// RM is the SLIC's ring-mode input: high while ringing, low otherwise.
	RM int
	// FR is the SLIC's forward/reverse input: high is forward. Toggling it
	// at the ring frequency while RM is high makes the ring voltage.
	FR int
	// Enable is an optional output that powers or connects the module (a
	// power-down pin or a line relay); 0 means not wired. GPIO0 and GPIO1
	// are reserved for the HAT ID EEPROM, so 0 is never a real choice.
	Enable int
	// EnableActiveLow drives Enable low to enable the module.
	EnableActiveLow bool
	// SHKActiveHigh means SHK is high while the loop is closed (off-hook),
	// as on the AG1171.
	SHKActiveHigh bool
	// CanReverse means holding FR low in talk mode reverses the line
	// polarity, which caller ID and disconnect signalling use.
	CanReverse bool
}

// Default GPIOs of the built-in profiles: clear of I2C (2, 3), SPI (7–11),
// UART (14, 15), I2S/PCM audio (18–21) and the HAT EEPROM (0, 1).
const (
	DefaultSHK    = 17 // header pin 11
	DefaultRM     = 27 // header pin 13
	DefaultFR     = 22 // header pin 15
	DefaultEnable = 23 // header pin 16, when a profile uses an enable pin
)

// DefaultProfile is the profile used when config names none.
const DefaultProfile = "rpi-ag1171"

// profiles are the built-in boards, as data.
var profiles = map[string]Pins{
	// Silver Telecom AG1171: SHK high when off-hook; F/R high = forward,
	// low = reverse (datasheet §5.9), so polarity reversal works.
	"rpi-ag1171": {
		Name: "rpi-ag1171", SHK: DefaultSHK, RM: DefaultRM, FR: DefaultFR,
		SHKActiveHigh: true, CanReverse: true,
	},
	// KS0835F-class modules: same RM and F/R ringing scheme. Reversal is
	// not claimed (not verified on this module), so SetReversed reports
	// board.ErrNotSupported; a custom Pins value can enable it.
	"rpi-ks0835": {
		Name: "rpi-ks0835", SHK: DefaultSHK, RM: DefaultRM, FR: DefaultFR,
		SHKActiveHigh: true,
	},
}

// ProfileNames lists the built-in profiles, sorted.
func ProfileNames() []string {
	names := make([]string, 0, len(profiles))
	for n := range profiles {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Profile returns the pins of a built-in profile. Callers wanting custom
// pins start from a profile and change the fields.
func Profile(name string) (Pins, error) {
	p, ok := profiles[name]
	if !ok {
		return Pins{}, fmt.Errorf("rpi: unknown board profile %q (known: %s)", name, strings.Join(ProfileNames(), ", "))
	}
	return p, nil
}

// Valid BCM GPIO numbers on the 40-pin header, HAT EEPROM pins excluded.
const (
	minGPIO = 2
	maxGPIO = 27
)

// Validate checks that every wired pin is a header GPIO and that no two
// functions share one.
func (p Pins) Validate() error {
	used := map[int]string{}
	check := func(fn string, n int, optional bool) error {
		if optional && n == 0 {
			return nil
		}
		if n < minGPIO || n > maxGPIO {
			return fmt.Errorf("rpi: %s on GPIO%d: want GPIO%d..GPIO%d", fn, n, minGPIO, maxGPIO)
		}
		if other, ok := used[n]; ok {
			return fmt.Errorf("rpi: %s and %s both on GPIO%d", other, fn, n)
		}
		used[n] = fn
		return nil
	}
	for _, c := range []struct {
		fn       string
		n        int
		optional bool
	}{{"SHK", p.SHK, false}, {"RM", p.RM, false}, {"FR", p.FR, false}, {"Enable", p.Enable, true}} {
		if err := check(c.fn, c.n, c.optional); err != nil {
			return err
		}
	}
	return nil
}
