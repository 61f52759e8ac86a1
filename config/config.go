// Package config reads the firmware's TOML configuration. It checks the
// shape of the file (known keys, types) and reports problems with the file
// name, line and key; packages that own a setting check its meaning (a
// region code, a dial plan) when they are built from it.
package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
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
	Board  Board  `toml:"board"`
	Phone  Phone  `toml:"phone"`
	SIP    SIP    `toml:"sip"`
	Lines  []Line `toml:"line"`
	System System `toml:"system"`
	Web    Web    `toml:"web"`
	// Provisioning (config/system.go): a config fetched from a URL.
	Provisioning Provisioning `toml:"provisioning"`
	// Router mode (config/router.go): local users, trunks, routes.
	Router Router  `toml:"router"`
	Users  []User  `toml:"user,omitempty"`
	Trunks []Trunk `toml:"trunk,omitempty"`
	Routes []Route `toml:"route,omitempty"`
}

// Web holds the web UI's settings.
type Web struct {
	// Listen is the web UI's address ("127.0.0.1:8080"; the image uses ":80").
	Listen string `toml:"listen"`
	// MetricsPublic serves /metrics without a login.
	MetricsPublic bool `toml:"metrics_public"`
}

// System holds where the firmware keeps its files.
type System struct {
	// DataDir holds the call log (calls.jsonl) and, later, saved config.
	DataDir string `toml:"data_dir"`
	// UpdateHealthTimeout is how long a freshly installed firmware has to
	// become healthy (ata up, web UI answering, lines registered) before
	// the box returns to the previous slot.
	UpdateHealthTimeout Duration `toml:"update_health_timeout"`
	// Syslog is where log records also go: "udp://host:514" or
	// "tcp://host:514" (RFC 5424); empty: nowhere.
	Syslog string `toml:"syslog"`
	// Timezone is an IANA zone name ("Europe/Berlin") for caller ID time,
	// the call log and logs; empty: UTC.
	Timezone string `toml:"timezone"`
	// NTPServer is the SNTP server the image sets the clock from (empty:
	// the image's default pool).
	NTPServer string `toml:"ntp_server"`
}

// SIP holds the SIP stack's settings shared by all lines.
type SIP struct {
	// Listen is the local SIP address (UDP), "0.0.0.0:5060" by default.
	Listen string `toml:"listen"`
	// KeepAlive is the NAT keep-alive interval towards the proxy; 0 turns it off.
	KeepAlive Duration `toml:"keepalive"`
	// KeepAliveMethod is "crlf" (a double CRLF) or "options".
	KeepAliveMethod string `toml:"keepalive_method"`
	// KeepAliveMisses is how many keep-alives in a row may go unanswered
	// before the provider counts as not answering and the line registers
	// again as soon as it answers.
	KeepAliveMisses int `toml:"keepalive_misses"`
	// RTPTimeout ends a call whose far end sent no RTP for this long (not
	// while held); 0 turns it off.
	RTPTimeout Duration `toml:"rtp_timeout"`
	// RTPLatching says when a call's RTP goes to the source of the far
	// end's packets instead of its SDP address: "auto" (only where the SDP
	// address is private, loopback or unspecified and the packets come
	// from elsewhere: a far end behind a NAT), "always" or "never".
	RTPLatching string `toml:"rtp_latching"`
	// RTPPorts is the UDP port range calls use, "A-B" with both ends
	// included: each call takes an even RTP port and the odd RTCP port
	// above it (a firewall in front of the box opens this range).
	RTPPorts string `toml:"rtp_ports"`
	// AcceptProxyOnly drops requests that do not come from the line's
	// registrar or outbound proxy addresses (Grandstream's "accept SIP from
	// proxy only"): SIP scanners never ring the phone.
	AcceptProxyOnly bool `toml:"accept_proxy_only"`
	// UserAgent is the User-Agent header.
	UserAgent string `toml:"user_agent"`
	// TLSCAFile is a PEM file of CA certificates trusted for TLS lines,
	// besides the system roots.
	TLSCAFile string `toml:"tls_ca_file"`
	// STUNServer is host[:port] of a STUN server (RFC 8489): UDP lines put
	// the public address it reports into Contact and SDP. Empty: none.
	STUNServer string `toml:"stun_server"`
}

// Line is one SIP account, as the provider gives it (the fields of a
// ZyXEL V630 "SIP Account Setup" page).
type Line struct {
	// Active turns the line on; an inactive line neither registers nor calls.
	Active *bool `toml:"active,omitempty"`
	// Number is the SIP number (the user part of the address of record).
	Number string `toml:"number"`
	// DisplayName is shown to the called party.
	DisplayName string `toml:"display_name"`
	// VoicemailNumber is the provider's voicemail, dialled by the
	// voicemail feature code (*98).
	VoicemailNumber string `toml:"voicemail_number"`
	// ServiceDomain is the domain of the address of record.
	ServiceDomain string `toml:"service_domain"`
	// AuthUser is the digest user name; empty: the number.
	AuthUser string `toml:"auth_user"`
	// Password is the digest password.
	Password string `toml:"password"`
	// Registrar is host[:port] of the REGISTER server; empty: the service domain.
	Registrar string `toml:"registrar"`
	// OutboundProxy is host[:port] every request goes through; empty: none.
	OutboundProxy string `toml:"outbound_proxy"`
	// RegisterExpires is the expiry asked for in REGISTER.
	RegisterExpires Duration `toml:"register_expires"`
	// Codecs is the codec preference order: "PCMU", "PCMA".
	Codecs []string `toml:"codecs"`
	// DTMFMode is how digits reach the far end: "rfc4733", "inband" or "info".
	DTMFMode string `toml:"dtmf_mode"`
	// Ptime is the packet time in ms: 20 or 10.
	Ptime int `toml:"ptime"`
	// VAD turns on silence suppression with RFC 3389 comfort noise.
	VAD bool `toml:"vad"`
	// Ring lists the extensions alerted for this line's calls in router
	// mode (default: the port's).
	Ring []string `toml:"ring"`
	// Transport is "udp", "tcp" or "tls"; empty: udp, unless the registrar
	// or proxy names one with ;transport= (see TransportName).
	Transport string `toml:"transport,omitempty"`
	// TLSVerify checks the provider's certificate and host name (TLS
	// lines); default true.
	TLSVerify *bool `toml:"tls_verify,omitempty"`
	// SRTP is "off", "optional" or "mandatory"; empty: optional on a TLS
	// line, else off (see SRTPMode).
	SRTP string `toml:"srtp,omitempty"`
}

// IsActive reports whether the line is on (the default).
func (l *Line) IsActive() bool { return l.Active == nil || *l.Active }

// AuthName is the digest user name.
func (l *Line) AuthName() string {
	if l.AuthUser != "" {
		return l.AuthUser
	}
	return l.Number
}

// RegistrarAddr is where REGISTER goes (host[:port]).
func (l *Line) RegistrarAddr() string {
	if l.Registrar != "" {
		return l.Registrar
	}
	return l.ServiceDomain
}

// Board selects the hardware.
type Board struct {
	// Name is the board: "sim" (the virtual phone), or a Raspberry Pi with
	// a SLIC module: "rpi-ag1171", "rpi-ks0835".
	Name string `toml:"name"`
	// SimListen is the sim board's control API address (loopback only).
	SimListen string `toml:"sim_listen"`
	// GPIOSHK, GPIORM, GPIOFR and GPIOEnable override the Pi profile's BCM
	// GPIO numbers (0 keeps the profile's).
	GPIOSHK    int `toml:"gpio_shk"`
	GPIORM     int `toml:"gpio_rm"`
	GPIOFR     int `toml:"gpio_fr"`
	GPIOEnable int `toml:"gpio_enable"`
	// AudioCapture and AudioPlayback are the ALSA devices of the SLIC's
	// audio ("hw:0,0", "hw:CARD=Device,DEV=0").
	AudioCapture  string `toml:"audio_capture"`
	AudioPlayback string `toml:"audio_playback"`
	// VirtualGPIOListen, when set on a Pi board, replaces the SLIC's GPIOs
	// with virtual lines driven over an HTTP API at this loopback address
	// (board/rpi/vgpio): a sound card can be tried before a SLIC is wired.
	VirtualGPIOListen string `toml:"virtual_gpio_listen"`
	// SimEchoERL gives the sim board's line a hybrid that returns the
	// earpiece into the mouthpiece this many dB down (0: no echo path),
	// through ITU-T G.168 Annex D echo path model SimEchoModel (1..8)
	// behind SimEchoDelay of bulk delay (0..60ms), to hear and measure the
	// echo canceller without hardware.
	SimEchoERL   float64  `toml:"sim_echo_erl"`
	SimEchoModel int      `toml:"sim_echo_model"`
	SimEchoDelay Duration `toml:"sim_echo_delay"`
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
	// RingTimeout ends an incoming call nobody answers (480), so a caller
	// that never gives up cannot hold the line; "0s" rings until the
	// caller gives up.
	RingTimeout Duration `toml:"ring_timeout"`
	// DND (do not disturb): incoming calls are refused with DNDStatus and
	// never ring; the dial tone stutters while it is on.
	DND       bool `toml:"dnd"`
	DNDStatus int  `toml:"dnd_status"` // 486 (busy, default), 480 or 603
	// CLIR withholds our number on every call (caller-ID blocking).
	CLIR bool `toml:"clir"`
	// RejectAnonymous refuses calls without a number (433).
	RejectAnonymous bool `toml:"reject_anonymous"`
	// Forwarding targets (numbers dialled through the line); "" is off.
	ForwardAlways   string `toml:"forward_always"`
	ForwardBusy     string `toml:"forward_busy"`
	ForwardNoAnswer string `toml:"forward_no_answer"`
	// ForwardNoAnswerAfter is how long a call rings before forward_no_answer.
	ForwardNoAnswerAfter Duration `toml:"forward_no_answer_after"`
	// ForwardMethod is "redirect" (302 to the caller's side) or "bridge"
	// (the ATA calls the target and joins the two calls).
	ForwardMethod string `toml:"forward_method"`
	// Hotline is dialled when the handset is lifted: at once, or after
	// WarmlineAfter without a digit (a warm line).
	Hotline       string   `toml:"hotline"`
	WarmlineAfter Duration `toml:"warmline_after"`
	// VMWIRefresh resends the message-waiting lamp's state this often while
	// on hook ("0s": only when it changes).
	VMWIRefresh Duration `toml:"vmwi_refresh"`
	// EchoCanceller puts a line echo canceller (ITU-T G.168) on the
	// mouthpiece signal of every call, over EchoTail (16ms..128ms) of echo
	// path after the bulk delay it finds.
	EchoCanceller bool     `toml:"echo_canceller"`
	EchoTail      Duration `toml:"echo_tail"`
	// FaxMode "passthrough": a fax or modem tone switches the call to
	// pass-through (G.711, fixed jitter buffer of FaxJitter, 20ms..200ms,
	// no concealment or comfort noise); "off" leaves calls as they are.
	FaxMode   string   `toml:"fax_mode"`
	FaxJitter Duration `toml:"fax_jitter"`
	// TxGainDB (mouthpiece → network) and RxGainDB (network → earpiece)
	// set the call's levels, -12 to +12 dB.
	TxGainDB float64 `toml:"tx_gain_db"`
	RxGainDB float64 `toml:"rx_gain_db"`
	// FeatureCodes are the star codes dialled from the handset.
	FeatureCodes FeatureCodes `toml:"feature_codes"`
	// CallWaiting: a second call during a call is announced by the
	// call-waiting tone (a hook flash takes it) instead of getting busy.
	CallWaiting bool `toml:"call_waiting"`
	// CallWaitingCallerID sends the waiting caller's number and name over
	// the call (Type II caller ID) where the region's standard has it.
	CallWaitingCallerID bool `toml:"call_waiting_caller_id"`
	// ThreeWay: a hook flash during a call holds it and gives dial tone for
	// a second call; another flash joins the three (conference).
	ThreeWay bool `toml:"three_way"`
	// TransferOnHangup: hanging up with a held and a second call (or in a
	// conference) joins the two other parties and leaves; off, it ends them.
	TransferOnHangup bool `toml:"transfer_on_hangup"`
}

// FeatureCodes are the codes a person dials to change a feature, as on a
// Cisco SPA112 by default. A code with a number (forward on) takes the
// number after a second dial tone, or straight after the code. "" turns a
// code off.
type FeatureCodes struct {
	ForwardAlwaysOn    string `toml:"forward_always_on"`
	ForwardAlwaysOff   string `toml:"forward_always_off"`
	ForwardBusyOn      string `toml:"forward_busy_on"`
	ForwardBusyOff     string `toml:"forward_busy_off"`
	ForwardNoAnswerOn  string `toml:"forward_no_answer_on"`
	ForwardNoAnswerOff string `toml:"forward_no_answer_off"`
	DNDOn              string `toml:"dnd_on"`
	DNDOff             string `toml:"dnd_off"`
	RejectAnonymousOn  string `toml:"reject_anonymous_on"`
	RejectAnonymousOff string `toml:"reject_anonymous_off"`
	CallWaitingOffNext string `toml:"call_waiting_off_next"`
	CallWaitingOn      string `toml:"call_waiting_on"`
	CallWaitingOff     string `toml:"call_waiting_off"`
	ClirOnce           string `toml:"clir_once"` // this call without our number
	ClidOnce           string `toml:"clid_once"` // this call with it
	Voicemail          string `toml:"voicemail"` // call the line's voicemail_number
}

// DefaultFeatureCodes are Cisco SPA112's.
var DefaultFeatureCodes = FeatureCodes{
	ForwardAlwaysOn: "*72", ForwardAlwaysOff: "*73", ForwardBusyOn: "*90", ForwardBusyOff: "*91",
	ForwardNoAnswerOn: "*92", ForwardNoAnswerOff: "*93", DNDOn: "*78", DNDOff: "*79",
	RejectAnonymousOn: "*77", RejectAnonymousOff: "*87",
	CallWaitingOffNext: "*70", CallWaitingOn: "*56", CallWaitingOff: "*57",
	ClirOnce: "*67", ClidOnce: "*82", Voicemail: "*98",
}

// All lists the codes with their keys.
func (f FeatureCodes) All() []struct{ Key, Code string } {
	return []struct{ Key, Code string }{
		{"forward_always_on", f.ForwardAlwaysOn}, {"forward_always_off", f.ForwardAlwaysOff},
		{"forward_busy_on", f.ForwardBusyOn}, {"forward_busy_off", f.ForwardBusyOff},
		{"forward_no_answer_on", f.ForwardNoAnswerOn}, {"forward_no_answer_off", f.ForwardNoAnswerOff},
		{"dnd_on", f.DNDOn}, {"dnd_off", f.DNDOff},
		{"reject_anonymous_on", f.RejectAnonymousOn}, {"reject_anonymous_off", f.RejectAnonymousOff},
		{"call_waiting_off_next", f.CallWaitingOffNext}, {"call_waiting_on", f.CallWaitingOn},
		{"call_waiting_off", f.CallWaitingOff},
		{"clir_once", f.ClirOnce}, {"clid_once", f.ClidOnce}, {"voicemail", f.Voicemail},
	}
}

// KeyError is a problem with one key's value. Key is the dotted TOML key
// ("phone.region", "line[0].number"), so a form can show it by its field.
type KeyError struct {
	Key string
	Msg string
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Msg }

func keyErr(key, format string, args ...any) error {
	return &KeyError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// Boards lists the board names the firmware knows.
var Boards = []string{"sim", "rpi-ag1171", "rpi-ks0835"}

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
	c, err := Decode(name, data)
	if err != nil {
		return nil, err
	}
	if err := c.check(); err != nil {
		line := 0
		if ke := (*KeyError)(nil); errors.As(err, &ke) {
			line = keyLine(data, ke.Key)
		}
		return nil, &FileError{Name: name, Line: line, Err: err}
	}
	if i, err := c.checkLines(); err != nil {
		return nil, &FileError{Name: name, Line: tableLine(data, "line", i), Err: err}
	}
	if err := c.checkRouter(); err != nil {
		line := 0
		if ke := (*KeyError)(nil); errors.As(err, &ke) {
			line = keyLine(data, ke.Key)
		}
		return nil, &FileError{Name: name, Line: line, Err: err}
	}
	return c, nil
}

// Decode reads data over the built-in defaults without checking what the
// values mean: a file that decodes can be made usable (MakeUsable) even
// when some setting in it is wrong.
func Decode(name string, data []byte) (*Config, error) {
	c := builtin()
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, describe(name, data, err)
	}
	c.lineDefaults()
	return c, nil
}

// Builtin is what every key a file leaves out falls back to.
func Builtin() *Config { return builtin() }

// Validate checks a configuration built in memory (a web form) the way
// Parse checks a file; errors are *KeyError naming the key.
func (c *Config) Validate() error {
	c.lineDefaults()
	if err := c.check(); err != nil {
		return err
	}
	if _, err := c.checkLines(); err != nil {
		return err
	}
	return c.checkRouter()
}

// Marshal writes c as TOML that Parse reads back to the same settings.
func Marshal(c *Config) ([]byte, error) {
	b, err := toml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("config: marshal: %w", err)
	}
	return b, nil
}

// Save validates c and writes it to path atomically: a temporary file in
// the same directory, fsync, rename over path, fsync the directory. A
// crash at any moment leaves either the old file or the new one, whole.
func Save(path string, c *Config) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	data, err := Marshal(c)
	if err != nil {
		return err
	}
	if _, err := Parse(path, data); err != nil {
		return fmt.Errorf("config: the saved form would not read back: %w", err)
	}
	return WriteFileAtomic(path, data, 0o600)
}

// WriteFileAtomic replaces path with data so that readers (and a reboot
// after power loss) see the old content or the new one, never a mix.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	// Temporary files of saves cut short by a crash or power loss.
	if stale, _ := filepath.Glob(filepath.Join(dir, "."+filepath.Base(path)+".tmp*")); len(stale) > 0 {
		for _, f := range stale {
			os.Remove(f)
		}
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("config: save %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename this removes nothing
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("config: save %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("config: save %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("config: save %s: fsync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("config: save %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("config: save %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("config: save %s: open dir: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("config: save %s: fsync dir: %w", path, err)
	}
	return nil
}

// builtin is what a key the file omits falls back to.
func builtin() *Config {
	return &Config{
		Board: Board{Name: "sim", SimListen: "127.0.0.1:8081", AudioCapture: "hw:0,0", AudioPlayback: "hw:0,0", SimEchoModel: 1},
		Phone: Phone{
			Region:               "us",
			FlashMin:             Duration(100 * time.Millisecond),
			FlashMax:             Duration(900 * time.Millisecond),
			CallWaiting:          true,
			CallWaitingCallerID:  true,
			ThreeWay:             true,
			TransferOnHangup:     true,
			DialPlan:             "(*xx|xx.T)",
			InterDigitTimeout:    Duration(4 * time.Second),
			FirstDigitTimeout:    Duration(15 * time.Second),
			RingTimeout:          Duration(120 * time.Second),
			DNDStatus:            486,
			ForwardNoAnswerAfter: Duration(20 * time.Second),
			ForwardMethod:        "redirect",
			FeatureCodes:         DefaultFeatureCodes,
			VMWIRefresh:          Duration(15 * time.Minute),
			EchoCanceller:        true,
			EchoTail:             Duration(64 * time.Millisecond),
			FaxMode:              "passthrough",
			FaxJitter:            Duration(60 * time.Millisecond),
		},
		System:       System{DataDir: "data", UpdateHealthTimeout: Duration(5 * time.Minute)},
		Provisioning: Provisioning{Interval: Duration(24 * time.Hour), FirmwareHour: 3},
		Router: Router{Listen: "0.0.0.0:5062", PortExtension: "100", AuthFailures: 10, BlockFor: Duration(10 * time.Minute),
			AllowNetworks: []string{"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fd00::/8", "fe80::/10"}},
		Web: Web{Listen: "127.0.0.1:8080"},
		SIP: SIP{
			Listen:          "0.0.0.0:5060",
			KeepAlive:       Duration(30 * time.Second),
			KeepAliveMethod: "crlf",
			KeepAliveMisses: 2,
			RTPTimeout:      Duration(60 * time.Second),
			RTPPorts:        "10000-20000",
			RTPLatching:     "auto",
			AcceptProxyOnly: true,
			UserAgent:       "openata",
		},
	}
}

// lineDefaults fills what each [[line]] table leaves out (TOML arrays of
// tables start from zero values, not from builtin).
func (c *Config) lineDefaults() {
	for i := range c.Lines {
		l := &c.Lines[i]
		if l.RegisterExpires == 0 {
			l.RegisterExpires = Duration(time.Hour)
		}
		if l.Codecs == nil {
			l.Codecs = []string{"PCMU", "PCMA"}
		}
		if l.DTMFMode == "" {
			l.DTMFMode = "rfc4733"
		}
		if l.Ptime == 0 {
			l.Ptime = 20
		}
		if l.Ring == nil {
			l.Ring = []string{c.Router.PortExtension}
		}
	}
}

// checkLines checks each [[line]]; on error it returns the line's index.
func (c *Config) checkLines() (int, error) {
	for i := range c.Lines {
		l := &c.Lines[i]
		key := fmt.Sprintf("line[%d]", i)
		if err := c.checkLineText(i); err != nil {
			return i, err
		}
		switch {
		case strings.TrimSpace(l.Number) == "":
			return i, keyErr(key+".number", "missing (the SIP number your provider gave you)")
		case strings.TrimSpace(l.ServiceDomain) == "":
			return i, keyErr(key+".service_domain", "missing (the SIP service domain your provider gave you)")
		case strings.ContainsAny(l.Number, " \t<>@;:\"\r\n"):
			return i, keyErr(key+".number", "%q is not a SIP user name", l.Number)
		}
		if err := checkHostPort(l.ServiceDomain); err != nil {
			return i, &KeyError{Key: key + ".service_domain", Msg: err.Error()}
		}
		for _, hp := range []struct{ name, v string }{
			{"registrar", l.Registrar}, {"outbound_proxy", l.OutboundProxy},
		} {
			if err := checkHostPortParam(hp.v); err != nil {
				return i, &KeyError{Key: key + "." + hp.name, Msg: err.Error()}
			}
		}
		if err := checkDialNumber(l.VoicemailNumber); err != nil {
			return i, keyErr(key+".voicemail_number", "%v", err)
		}
		if l.RegisterExpires < Duration(time.Minute) || l.RegisterExpires > Duration(24*time.Hour) {
			return i, keyErr(key+".register_expires", "want 1m to 24h, got %v", l.RegisterExpires)
		}
		if len(l.Codecs) == 0 {
			return i, keyErr(key+".codecs", "empty (known: PCMU, PCMA)")
		}
		for _, codec := range l.Codecs {
			if codec != "PCMU" && codec != "PCMA" {
				return i, keyErr(key+".codecs", "unknown codec %q (known: PCMU, PCMA)", codec)
			}
		}
		if l.DTMFMode != "rfc4733" && l.DTMFMode != "inband" && l.DTMFMode != "info" {
			return i, keyErr(key+".dtmf_mode", "unknown mode %q (known: rfc4733, inband, info)", l.DTMFMode)
		}
		if l.Ptime != 10 && l.Ptime != 20 {
			return i, keyErr(key+".ptime", "want 10 or 20, got %d", l.Ptime)
		}
		if err := checkLineSecurity(key, l); err != nil {
			return i, err
		}
	}
	return 0, nil
}

// checkHostPort accepts "", "host" or "host:port" with a port in 1..65535.
// checkDialNumber accepts "" or a number as a person dials it: digits,
// * # + and the letters of a SIP user part, at most 32 characters.
func checkDialNumber(v string) error {
	if len(v) > 32 {
		return fmt.Errorf("%d characters, want at most 32", len(v))
	}
	for _, r := range v {
		switch {
		case r >= '0' && r <= '9', r == '*', r == '#', r == '+',
			r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '.', r == '-', r == '_':
		default:
			return fmt.Errorf("%q: want digits, * # +, letters . - _ only", v)
		}
	}
	return nil
}

func checkHostPort(v string) error {
	if v == "" {
		return nil
	}
	host, port := v, ""
	if h, p, err := net.SplitHostPort(v); err == nil {
		host, port = h, p
	} else if strings.Count(v, ":") == 1 {
		return fmt.Errorf("%q: %w", v, err)
	}
	if len(host) > MaxHost {
		return fmt.Errorf("the host name has %d characters, at most %d", len(host), MaxHost)
	}
	if host == "" || strings.ContainsAny(host, " /\t@;<>\"") {
		return fmt.Errorf("%q: not a host name or address", v)
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: port %q is not a number from 1 to 65535", v, port)
		}
	}
	return nil
}

// tableLine finds the line number of the n-th [[name]] header in data
// (1-based), so errors about a table's missing keys can point at it.
func tableLine(data []byte, name string, n int) int {
	header := "[[" + name + "]]"
	for i, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), header) {
			if n == 0 {
				return i + 1
			}
			n--
		}
	}
	return 0
}

// describe turns a TOML decoding error into one that names file:line and
// key, in words for a person: "line[0].ptime: must be a whole number such
// as 20, not text in quotes".
func describe(name string, data []byte, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		return unknownKeys(name, strict)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, _ := de.Position()
		if ke := decodeKeyError(data, de); ke != nil {
			return &FileError{Name: name, Line: row, Err: ke}
		}
		return &FileError{Name: name, Line: row, Err: errors.New(strings.TrimPrefix(de.Error(), "toml: "))}
	}
	return &FileError{Name: name, Err: err}
}

func (c *Config) check() error {
	// Text first: later messages quote values, which are then short.
	if err := checkTexts(reflect.ValueOf(c).Elem(), "", ""); err != nil {
		return err
	}
	known := false
	for _, b := range Boards {
		known = known || c.Board.Name == b
	}
	if !known {
		return keyErr("board.name", "unknown board %q (known: %s)", c.Board.Name, strings.Join(Boards, ", "))
	}
	for _, g := range []struct {
		key string
		v   int
	}{{"gpio_shk", c.Board.GPIOSHK}, {"gpio_rm", c.Board.GPIORM}, {"gpio_fr", c.Board.GPIOFR}, {"gpio_enable", c.Board.GPIOEnable}} {
		if g.v != 0 && (g.v < 2 || g.v > 27) {
			return keyErr("board."+g.key, "BCM GPIO %d: want 2 to 27 (0 keeps the profile's)", g.v)
		}
	}
	if c.Board.Name == "sim" {
		if err := checkLoopback(c.Board.SimListen); err != nil {
			return keyErr("board.sim_listen", "%v", err)
		}
	}
	if e := c.Board.SimEchoERL; !(e >= 0 && e <= 60) { // NaN fails too
		return keyErr("board.sim_echo_erl", "%g dB: want 0 (no echo path) to 60", e)
	}
	if m := c.Board.SimEchoModel; m < 1 || m > 8 {
		return keyErr("board.sim_echo_model", "%d: want an ITU-T G.168 echo path model, 1 to 8", m)
	}
	if d := c.Board.SimEchoDelay; d < 0 || d > Duration(60*time.Millisecond) {
		return keyErr("board.sim_echo_delay", "want 0ms to 60ms, got %v (durations are strings such as \"20ms\")", d)
	}
	if c.Board.VirtualGPIOListen != "" {
		if c.Board.Name == "sim" {
			return keyErr("board.virtual_gpio_listen", "only for a Raspberry Pi board (the sim board has its own API, board.sim_listen)")
		}
		if err := checkLoopback(c.Board.VirtualGPIOListen); err != nil {
			return keyErr("board.virtual_gpio_listen", "%v", err)
		}
	}
	if _, _, err := net.SplitHostPort(c.Web.Listen); err != nil {
		return keyErr("web.listen", "%q: %v", c.Web.Listen, err)
	}
	if strings.TrimSpace(c.System.DataDir) == "" {
		return keyErr("system.data_dir", "empty")
	}
	if _, _, err := net.SplitHostPort(c.SIP.Listen); err != nil {
		return keyErr("sip.listen", "%q: %v", c.SIP.Listen, err)
	}
	if c.SIP.KeepAlive < 0 || (c.SIP.KeepAlive > 0 && c.SIP.KeepAlive < Duration(time.Second)) {
		return keyErr("sip.keepalive", "want 0s (off) or at least 1s, got %v (durations are strings such as \"30s\")", c.SIP.KeepAlive)
	}
	if m := c.SIP.KeepAliveMethod; m != "crlf" && m != "options" {
		return keyErr("sip.keepalive_method", "unknown %q (known: crlf, options)", m)
	}
	if n := c.SIP.KeepAliveMisses; n < 1 || n > 10 {
		return keyErr("sip.keepalive_misses", "want 1 to 10 unanswered keep-alives, got %d", n)
	}
	if d := c.SIP.RTPTimeout; d < 0 || (d > 0 && d < Duration(5*time.Second)) || d > Duration(time.Hour) {
		return keyErr("sip.rtp_timeout", "want 0s (off) or 5s to 1h, got %v (durations are strings such as \"60s\")", d)
	}
	if _, _, err := c.SIP.RTPPortRange(); err != nil {
		return keyErr("sip.rtp_ports", "%v", err)
	}
	if m := c.SIP.RTPLatching; m != "auto" && m != "always" && m != "never" {
		return keyErr("sip.rtp_latching", "unknown %q (known: auto, always, never)", m)
	}
	if err := c.checkSystem(); err != nil {
		return err
	}
	p := c.Phone
	if p.FlashMin < Duration(10*time.Millisecond) || p.FlashMax > Duration(5*time.Second) || p.FlashMax <= p.FlashMin {
		return keyErr("phone.flash_min", "want 10ms ≤ flash_min < flash_max ≤ 5s, got %v and %v (durations are strings such as \"100ms\")", p.FlashMin, p.FlashMax)
	}
	if p.InterDigitTimeout < Duration(time.Second) || p.InterDigitTimeout > Duration(30*time.Second) {
		return keyErr("phone.inter_digit_timeout", "want 1s to 30s, got %v", p.InterDigitTimeout)
	}
	if p.FirstDigitTimeout < Duration(time.Second) || p.FirstDigitTimeout > Duration(5*time.Minute) {
		return keyErr("phone.first_digit_timeout", "want 1s to 5m, got %v", p.FirstDigitTimeout)
	}
	if p.RingTimeout != 0 && (p.RingTimeout < Duration(time.Second) || p.RingTimeout > Duration(time.Hour)) {
		return keyErr("phone.ring_timeout", "want 1s to 1h, or \"0s\" to ring until the caller gives up, got %v", p.RingTimeout)
	}
	if s := p.DNDStatus; s != 486 && s != 480 && s != 603 {
		return keyErr("phone.dnd_status", "want 486 (busy), 480 (unavailable) or 603 (declined), got %d", s)
	}
	for _, f := range []struct{ key, v string }{{"phone.forward_always", p.ForwardAlways},
		{"phone.forward_busy", p.ForwardBusy}, {"phone.forward_no_answer", p.ForwardNoAnswer}, {"phone.hotline", p.Hotline}} {
		if err := checkDialNumber(f.v); err != nil {
			return keyErr(f.key, "%v", err)
		}
	}
	if d := p.ForwardNoAnswerAfter; d < Duration(time.Second) || d > Duration(5*time.Minute) {
		return keyErr("phone.forward_no_answer_after", "want 1s to 5m, got %v", d)
	}
	if m := p.ForwardMethod; m != "redirect" && m != "bridge" {
		return keyErr("phone.forward_method", "unknown %q (known: redirect, bridge)", m)
	}
	if d := p.WarmlineAfter; d < 0 || d > Duration(time.Minute) {
		return keyErr("phone.warmline_after", "want 0s (a hotline: dial at once) to 1m, got %v", d)
	}
	if d := p.VMWIRefresh; d != 0 && (d < Duration(time.Minute) || d > Duration(24*time.Hour)) {
		return keyErr("phone.vmwi_refresh", "want 0s (only on changes) or 1m to 24h, got %v", d)
	}
	if d := p.EchoTail; d < Duration(16*time.Millisecond) || d > Duration(128*time.Millisecond) {
		return keyErr("phone.echo_tail", "want 16ms to 128ms, got %v (durations are strings such as \"64ms\")", d)
	}
	if m := p.FaxMode; m != "passthrough" && m != "off" {
		return keyErr("phone.fax_mode", "unknown %q (known: passthrough, off)", m)
	}
	if d := p.FaxJitter; d < Duration(20*time.Millisecond) || d > Duration(200*time.Millisecond) {
		return keyErr("phone.fax_jitter", "want 20ms to 200ms, got %v", d)
	}
	for _, g := range []struct {
		key string
		db  float64
	}{{"phone.tx_gain_db", p.TxGainDB}, {"phone.rx_gain_db", p.RxGainDB}} {
		if !(g.db >= -12 && g.db <= 12) {
			return keyErr(g.key, "%g dB: want -12 to +12", g.db)
		}
	}
	seen := map[string]string{}
	for _, fc := range p.FeatureCodes.All() {
		if fc.Code == "" {
			continue
		}
		key := "phone.feature_codes." + fc.Key
		if len(fc.Code) < 2 || len(fc.Code) > 4 || fc.Code[0] != '*' || strings.Trim(fc.Code[1:], "0123456789") != "" {
			return keyErr(key, "%q: want * and 1 to 3 digits, e.g. \"*72\" (or \"\" for none)", fc.Code)
		}
		if other, dup := seen[fc.Code]; dup {
			return keyErr(key, "%q is already %s", fc.Code, other)
		}
		seen[fc.Code] = key
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
		// time's own message quotes Go; this one is read by a person.
		return fmt.Errorf("%q is not a duration: want a number and a unit such as \"4s\" or \"900ms\"", b)
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

// Bounds of sip.rtp_ports: no privileged ports, and room for two calls
// (a call waiting or a conference needs a second RTP/RTCP pair).
const (
	minRTPPort     = 1024
	maxRTPPort     = 65535
	minRTPPortSpan = 4
)

// RTPPortRange parses RTPPorts ("10000-20000") into its first and last
// port: A even (RTP ports are even, RFC 3550 §11), A < B, both in
// 1024..65535, and at least 4 ports (two calls' RTP and RTCP).
func (s SIP) RTPPortRange() (first, last int, err error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s.RTPPorts), "-")
	if !ok {
		return 0, 0, fmt.Errorf("want \"first-last\" such as \"10000-20000\", got %q", s.RTPPorts)
	}
	first, err1 := strconv.Atoi(strings.TrimSpace(a))
	last, err2 := strconv.Atoi(strings.TrimSpace(b))
	switch {
	case err1 != nil || err2 != nil:
		return 0, 0, fmt.Errorf("want two port numbers \"first-last\" such as \"10000-20000\", got %q", s.RTPPorts)
	case first < minRTPPort || last > maxRTPPort:
		return 0, 0, fmt.Errorf("ports %d-%d: want them within %d-%d", first, last, minRTPPort, maxRTPPort)
	case first%2 != 0:
		return 0, 0, fmt.Errorf("first port %d is odd: RTP takes even ports (RTCP the odd one above)", first)
	case last-first+1 < minRTPPortSpan:
		return 0, 0, fmt.Errorf("%d-%d: want at least %d ports (first < last), room for two calls' RTP and RTCP", first, last, minRTPPortSpan)
	}
	return first, last, nil
}
