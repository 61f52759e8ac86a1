package alsa

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DevicePath turns a device name into its /dev/snd node. cardIndex
// resolves a card id ("Loopback") to its number; Open reads /proc/asound.
func DevicePath(device string, stream Stream, cardIndex func(id string) (int, error)) (string, error) {
	if strings.HasPrefix(device, "/dev/snd/") {
		base := filepath.Base(device)
		var card, dev int
		var dir byte
		if n, err := fmt.Sscanf(base, "pcmC%dD%d%c", &card, &dev, &dir); n != 3 || err != nil || (dir != 'p' && dir != 'c') {
			return "", fmt.Errorf("alsa: %q is not a /dev/snd/pcmC<card>D<device>[pc] node", device)
		}
		if (dir == 'c') != (stream == Capture) {
			return "", fmt.Errorf("alsa: %q is not a %s node", device, stream)
		}
		return device, nil
	}
	card, dev, err := ParseHW(device)
	if err != nil {
		return "", err
	}
	idx, err := strconv.Atoi(card)
	if err != nil {
		if idx, err = cardIndex(card); err != nil {
			return "", fmt.Errorf("alsa: card %q: %w", card, err)
		}
	}
	dir := "p"
	if stream == Capture {
		dir = "c"
	}
	return fmt.Sprintf("/dev/snd/pcmC%dD%d%s", idx, dev, dir), nil
}

// ParseHW splits "hw:CARD[,DEV]" or "hw:CARD=id[,DEV=n]" into the card
// (a number or an id) and the device number (0 when absent).
func ParseHW(device string) (card string, dev int, err error) {
	rest, ok := strings.CutPrefix(device, "hw:")
	if !ok {
		return "", 0, fmt.Errorf("alsa: device %q: want hw:CARD,DEV or a /dev/snd/pcm* path", device)
	}
	cardPart, devPart, hasDev := strings.Cut(rest, ",")
	if v, ok := strings.CutPrefix(cardPart, "CARD="); ok {
		cardPart = v
	}
	if !validCardID(cardPart) {
		return "", 0, fmt.Errorf("alsa: device %q: bad card %q", device, cardPart)
	}
	if hasDev {
		if v, ok := strings.CutPrefix(devPart, "DEV="); ok {
			devPart = v
		}
		dev, err = strconv.Atoi(devPart)
		if err != nil || dev < 0 || dev > 31 {
			return "", 0, fmt.Errorf("alsa: device %q: bad device number %q", device, devPart)
		}
	}
	return cardPart, dev, nil
}

// validCardID accepts what the kernel allows in card ids (alphanumerics,
// '_' and '-', at most 15 bytes) or a card number.
func validCardID(s string) bool {
	if s == "" || len(s) > 15 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	if n, err := strconv.Atoi(s); err == nil && (n < 0 || n > 31) {
		return false
	}
	return true
}

// cardIndexFromProc resolves a card id through /proc/asound/<id>, a
// symlink to cardN.
func cardIndexFromProc(id string) (int, error) {
	target, err := os.Readlink(filepath.Join("/proc/asound", id))
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimPrefix(target, "card"))
	if err != nil {
		return 0, fmt.Errorf("/proc/asound/%s points at %q", id, target)
	}
	return n, nil
}
