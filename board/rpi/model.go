package rpi

import (
	"fmt"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultModelPath is where Linux exposes the board model the firmware
// (device tree) declares, e.g. "Raspberry Pi 4 Model B Rev 1.4".
const DefaultModelPath = "/proc/device-tree/model"

// maxModelLen bounds what is kept of the model string for the status page.
const maxModelLen = 128

// ReadModel reads and cleans the board model from path.
func ReadModel(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("rpi: board model: %w", err)
	}
	return ParseModel(b), nil
}

// ParseModel turns the device tree's model property (a NUL-terminated
// string) into one printable line: cut at the first NUL, control and
// invalid characters dropped, spaces trimmed, at most 128 bytes.
func ParseModel(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	s := strings.Map(func(r rune) rune {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(string(b), ""))
	s = strings.TrimSpace(s)
	if len(s) > maxModelLen {
		end := 0
		for i, r := range s {
			if i+utf8.RuneLen(r) > maxModelLen {
				break
			}
			end = i + utf8.RuneLen(r)
		}
		s = s[:end]
	}
	return strings.TrimSpace(s)
}
