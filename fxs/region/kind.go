package region

import (
	"fmt"
	"strings"
)

// Kind names a call-progress tone a region defines.
type Kind int

const (
	Dial            Kind = iota // proceed to dial
	Ringback                    // the far end is ringing
	Busy                        // the called line is busy
	Congestion                  // reorder / network busy
	CallWaiting                 // a second call waits (played over the call)
	StutterDial                 // message-waiting / special dial tone
	ReceiverOffHook             // howler: the handset was left off hook
	Confirm                     // a feature code was taken: three short beeps, then dial tone
	NumKinds                    // number of kinds, for arrays indexed by Kind
)

var kindNames = [NumKinds]string{
	"dial", "ringback", "busy", "congestion", "call-waiting", "stutter-dial", "receiver-off-hook", "confirm",
}

// String returns the kind's config name, e.g. "call-waiting".
func (k Kind) String() string {
	if k < 0 || k >= NumKinds {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// ParseKind returns the Kind named s (as String writes it, any case).
func ParseKind(s string) (Kind, error) {
	for k, name := range kindNames {
		if strings.EqualFold(s, name) {
			return Kind(k), nil
		}
	}
	return 0, fmt.Errorf("region: unknown tone kind %q (known: %s)", s, strings.Join(kindNames[:], ", "))
}
