package fxs

import (
	"log/slog"

	"github.com/openata/ata/config"
)

// OptionsFromConfig builds port options from a [phone] table, as main
// does, for the tests that start from the default config.
func OptionsFromConfig(c config.Phone, log *slog.Logger) (Options, error) {
	return BuildOptions(Settings{Region: c.Region, CallerID: c.CallerID, RingCadence: c.RingCadence,
		FlashMin: c.FlashMin.D(), FlashMax: c.FlashMax.D(), DialPlan: c.DialPlan,
		InterDigitTimeout: c.InterDigitTimeout.D(), FirstDigitTimeout: c.FirstDigitTimeout.D(),
		EchoCanceller: c.EchoCanceller, EchoTail: c.EchoTail.D(), FaxMode: c.FaxMode,
		TxGainDB: c.TxGainDB, RxGainDB: c.RxGainDB}, log)
}
