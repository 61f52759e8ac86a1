package phone

import (
	"github.com/openata/ata/media"
	"github.com/openata/ata/media/bridge"
)

// BridgeMixer adapts a bridge.Mixer to call control's Mixer: the port's
// audio is the mixer's local party.
type BridgeMixer struct{ *bridge.Mixer }

// SetMode puts e in the mix, holds it or takes it out.
func (m BridgeMixer) SetMode(e media.Endpoint, mode Mode) {
	_, in := m.Mixer.Mode(e)
	switch {
	case mode == Out && in:
		_ = m.Mixer.Remove(e)
	case mode == Out:
	case !in:
		_ = m.Mixer.Add(e, bridgeMode(mode))
	default:
		_ = m.Mixer.SetMode(e, bridgeMode(mode))
	}
}

func bridgeMode(m Mode) bridge.Mode {
	if m == Held {
		return bridge.Held
	}
	return bridge.Active
}
