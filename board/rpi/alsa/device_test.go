package alsa

import (
	"errors"
	"strings"
	"testing"
)

func fakeCards(id string) (int, error) {
	if id == "Loopback" {
		return 2, nil
	}
	return 0, errors.New("no such card")
}

func TestDevicePath(t *testing.T) {
	for _, tc := range []struct {
		dev    string
		stream Stream
		want   string
	}{
		{"hw:0,0", Playback, "/dev/snd/pcmC0D0p"},
		{"hw:1", Capture, "/dev/snd/pcmC1D0c"},
		{"hw:Loopback,1", Capture, "/dev/snd/pcmC2D1c"},
		{"hw:CARD=Loopback,DEV=0", Playback, "/dev/snd/pcmC2D0p"},
		{"/dev/snd/pcmC0D3c", Capture, "/dev/snd/pcmC0D3c"},
	} {
		got, err := DevicePath(tc.dev, tc.stream, fakeCards)
		if err != nil || got != tc.want {
			t.Errorf("DevicePath(%q, %v) = %q, %v; want %q", tc.dev, tc.stream, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "default", "plughw:0,0", "hw:", "hw:0,x", "hw:0,-1", "hw:0,32", "hw:32", "hw:Nope,0",
		"hw:a/b", "/dev/snd/pcmC0D0p", "/dev/snd/controlC0", "hw:ThisIdIsFarTooLong"} {
		if got, err := DevicePath(bad, Capture, fakeCards); err == nil {
			t.Errorf("DevicePath(%q) = %q, want an error", bad, got)
		}
	}
}

func FuzzParseHW(f *testing.F) {
	for _, s := range []string{"hw:0,0", "hw:Loopback,1", "hw:CARD=x,DEV=2", "hw:", "hw:,", "hw:0,0,0", "hw:é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		card, dev, err := ParseHW(s)
		if err != nil {
			return
		}
		if !validCardID(card) || dev < 0 || dev > 31 || strings.ContainsAny(card, ",=/") {
			t.Fatalf("ParseHW(%q) = %q, %d: accepted a bad name", s, card, dev)
		}
		path, err := DevicePath(s, Playback, func(string) (int, error) { return 0, nil })
		if err != nil || !strings.HasPrefix(path, "/dev/snd/pcmC") || strings.Count(path, "/") != 3 {
			t.Fatalf("DevicePath(%q) = %q, %v", s, path, err)
		}
	})
}
