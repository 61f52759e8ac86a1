// Package config reads the firmware's TOML configuration. It checks the
// shape of the file (known keys, types) and reports problems with the file
// name, line and key; packages that own a setting check its meaning (a
// region code, a dial plan) when they are built from it.
package config

import (
	_ "embed"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// DefaultTOML is the embedded default configuration.
//
//go:embed default.toml
var DefaultTOML []byte

// Config is the whole configuration file.
type Config struct {
	Board Board `toml:"board"`
	Phone Phone `toml:"phone"`
}

// Board selects the hardware.
type Board struct {
	// Name is the board: "sim" (the virtual phone).
	Name string `toml:"name"`
	// SimListen is the sim board's control API address (loopback only).
	SimListen string `toml:"sim_listen"`
}

// Phone holds the analog port's settings.
type Phone struct {
	// Region picks tones, ring cadence and the caller-ID standard.
	Region string `toml:"region"`
	// CallerID overrides the region's caller-ID standard ("" keeps it).
	CallerID string `toml:"caller_id"`
	// RingCadence overrides the region's ring cadence: seconds on,off,...
	RingCadence string `toml:"ring_cadence"`
	// FlashMin and FlashMax bound a hook flash; a longer break is a hang-up.
	FlashMin Duration `toml:"flash_min"`
	FlashMax Duration `toml:"flash_max"`
	// DialPlan is a Cisco/Obihai style digit map.
	DialPlan string `toml:"dial_plan"`
	// InterDigitTimeout ends dialling after the last digit.
	InterDigitTimeout Duration `toml:"inter_digit_timeout"`
	// FirstDigitTimeout is how long dial tone waits for the first digit
	// before the receiver-off-hook tone.
	FirstDigitTimeout Duration `toml:"first_digit_timeout"`
}

// Boards lists the board names the firmware knows.
var Boards = []string{"sim"}

// Default returns the embedded default configuration.
func Default() *Config {
	c, err := Parse("(default)", DefaultTOML)
	if err != nil {
		panic(fmt.Sprintf("config: embedded default is invalid: %v", err))
	}
	return c
}

// Load reads and checks the configuration file at path. An empty path
// gives the embedded default.
func Load(path string) (*Config, error) {
	if path == "" {
		return Default(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes data (named name in errors) over the built-in defaults and
// checks it. Keys the file leaves out keep their defaults.
func Parse(name string, data []byte) (*Config, error) {
	c := builtin()
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, describe(name, err)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("config: %s: %w", name, err)
	}
	return c, nil
}

// builtin is what a key the file omits falls back to.
func builtin() *Config {
	return &Config{
		Board: Board{Name: "sim", SimListen: "127.0.0.1:8081"},
		Phone: Phone{
			Region:            "us",
			FlashMin:          Duration(100 * time.Millisecond),
			FlashMax:          Duration(900 * time.Millisecond),
			DialPlan:          "(*xx|xx.T)",
			InterDigitTimeout: Duration(4 * time.Second),
			FirstDigitTimeout: Duration(15 * time.Second),
		},
	}
}

// describe turns a TOML decoding error into one that names file:line and key.
func describe(name string, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		msgs := make([]string, 0, len(strict.Errors))
		for _, e := range strict.Errors {
			row, _ := e.Position()
			msgs = append(msgs, fmt.Sprintf("%s:%d: unknown key %q", name, row, strings.Join(e.Key(), ".")))
		}
		return fmt.Errorf("config: %s", strings.Join(msgs, "; "))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, _ := de.Position()
		key := strings.Join(de.Key(), ".")
		if key != "" {
			return fmt.Errorf("config: %s:%d: key %q: %s", name, row, key, de.Error())
		}
		return fmt.Errorf("config: %s:%d: %s", name, row, de.Error())
	}
	return fmt.Errorf("config: %s: %w", name, err)
}

func (c *Config) check() error {
	known := false
	for _, b := range Boards {
		known = known || c.Board.Name == b
	}
	if !known {
		return fmt.Errorf("board.name: unknown board %q (known: %s)", c.Board.Name, strings.Join(Boards, ", "))
	}
	if c.Board.Name == "sim" {
		if err := checkLoopback(c.Board.SimListen); err != nil {
			return fmt.Errorf("board.sim_listen: %w", err)
		}
	}
	p := c.Phone
	if p.FlashMin <= 0 || p.FlashMax <= p.FlashMin {
		return fmt.Errorf("phone.flash_min/flash_max: want 0 < flash_min < flash_max, got %v and %v", p.FlashMin, p.FlashMax)
	}
	if p.InterDigitTimeout < Duration(time.Second) || p.InterDigitTimeout > Duration(30*time.Second) {
		return fmt.Errorf("phone.inter_digit_timeout: want 1s to 30s, got %v", p.InterDigitTimeout)
	}
	if p.FirstDigitTimeout < Duration(time.Second) || p.FirstDigitTimeout > Duration(5*time.Minute) {
		return fmt.Errorf("phone.first_digit_timeout: want 1s to 5m, got %v", p.FirstDigitTimeout)
	}
	return nil
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address (the sim control API has no auth)", addr)
	}
	return nil
}

// Duration is a time.Duration written as a Go duration string ("4s", "900ms").
type Duration time.Duration

// UnmarshalText parses a duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("want a duration such as \"4s\" or \"900ms\": %w", err)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// String is the duration string.
func (d Duration) String() string { return time.Duration(d).String() }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
