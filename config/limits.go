package config

import (
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"
)

// Field limits: the longest value a text key takes, in characters. They
// keep a settings page readable and a SIP message well under the UDP
// datagram size, and they are what a person could mean (cf. the field
// sizes of a Cisco SPA112 or Grandstream HT801 web page).
const (
	MaxDialNumber  = 32   // a number to dial: forward targets, hot line, voicemail
	MaxUserName    = 64   // a SIP user part: line number, auth user
	MaxDisplayName = 64   // the name in From
	MaxHost        = 253  // a DNS name (RFC 1035), the host part of host[:port]
	MaxHostPort    = 259  // host[:port]: MaxHost and ":65535"
	MaxPassword    = 128  // a digest password
	MaxDialPlan    = 1024 // a digit map
	MaxUserAgent   = 128  // the User-Agent header
	MaxPath        = 1024 // a directory or an ALSA device name
	MaxWord        = 32   // a value from a list: a board, a region, a mode
	MaxCadence     = 128  // ring on/off times
	MaxFeatureCode = 4    // * and up to 3 digits
	MaxURL         = 1024 // a provisioning or syslog URL
)

// TextRule is what a text key may hold.
type TextRule struct {
	// Max is the longest value in characters (runes).
	Max int
	// Wire: the value reaches a SIP header, the SDP or the number a call
	// dials. Every text key refuses control characters; the wire keys are
	// the reason, the others follow so a file never holds invisible text.
	Wire bool
}

// TextRules lists every text key of the configuration by its key without
// line indexes ("line.display_name", "phone.feature_codes.dnd_on"). A
// string field not listed here is a mistake: config's tests fail on one.
var TextRules = map[string]TextRule{
	"board.name":                MaxWordRule,
	"board.sim_listen":          {Max: MaxHostPort},
	"board.audio_capture":       {Max: MaxPath},
	"board.audio_playback":      {Max: MaxPath},
	"board.virtual_gpio_listen": {Max: MaxHostPort},

	"phone.region":            MaxWordRule,
	"phone.caller_id":         MaxWordRule,
	"phone.ring_cadence":      {Max: MaxCadence},
	"phone.dial_plan":         {Max: MaxDialPlan, Wire: true}, // its substitutions become dialled digits
	"phone.forward_always":    {Max: MaxDialNumber, Wire: true},
	"phone.forward_busy":      {Max: MaxDialNumber, Wire: true},
	"phone.forward_no_answer": {Max: MaxDialNumber, Wire: true},
	"phone.forward_method":    MaxWordRule,
	"phone.hotline":           {Max: MaxDialNumber, Wire: true},
	"phone.fax_mode":          MaxWordRule,

	"system.data_dir":   {Max: MaxPath},
	"system.syslog":     {Max: MaxURL},
	"system.timezone":   {Max: MaxWord},
	"system.ntp_server": {Max: MaxHostPort},

	"provisioning.url":          {Max: MaxURL},
	"provisioning.firmware_url": {Max: MaxURL},
	"web.listen":                {Max: MaxHostPort},

	"sip.listen":           {Max: MaxHostPort, Wire: true}, // Via and Contact
	"sip.keepalive_method": MaxWordRule,
	"sip.user_agent":       {Max: MaxUserAgent, Wire: true},
	"sip.rtp_ports":        {Max: MaxWord, Wire: true}, // the SDP's media port
	"sip.rtp_latching":     MaxWordRule,
	"sip.tls_ca_file":      {Max: MaxPath},
	"sip.stun_server":      {Max: MaxHostPort},

	"line.number":           {Max: MaxUserName, Wire: true},
	"line.display_name":     {Max: MaxDisplayName, Wire: true},
	"line.voicemail_number": {Max: MaxDialNumber, Wire: true},
	"line.service_domain":   {Max: MaxHostPort, Wire: true},
	"line.auth_user":        {Max: MaxUserName, Wire: true},
	"line.password":         {Max: MaxPassword}, // only its digest is sent
	"line.registrar":        {Max: MaxHostPort, Wire: true},
	"line.outbound_proxy":   {Max: MaxHostPort, Wire: true},
	"line.codecs":           {Max: MaxWord, Wire: true}, // each element; the SDP's rtpmap
	"line.dtmf_mode":        MaxWordRule,
	"line.transport":        MaxWordRule,
	"line.srtp":             MaxWordRule,
}

// MaxWordRule is the rule of a key whose values come from a list.
var MaxWordRule = TextRule{Max: MaxWord}

func init() {
	for _, code := range DefaultFeatureCodes.All() {
		// Dialled from the handset; a forward-on code's number follows it.
		TextRules["phone.feature_codes."+code.Key] = TextRule{Max: MaxFeatureCode, Wire: true}
	}
}

// defaultTextRule applies to a text key missing from TextRules, so that a
// key added without a rule is still bounded (the tests insist on a rule).
var defaultTextRule = TextRule{Max: 256}

// checkText checks one value against its rule; "" is fine.
func checkText(key, v string, rule TextRule) error {
	if msg := TextProblem(v, rule.Max); msg != "" {
		return &KeyError{Key: key, Msg: msg}
	}
	return nil
}

// TextProblem says what is wrong with v as a text value of at most max
// characters ("contains a line break", "10240 characters, at most 64"),
// or "". What the value contains is named before its length: a pasted
// header is refused for its line break, whatever its length. Forms use
// it for fields that are not one key.
func TextProblem(v string, max int) string {
	if !utf8.ValidString(v) {
		return "not valid UTF-8 text"
	}
	for _, r := range v {
		switch {
		case r == '\r' || r == '\n':
			return "contains a line break"
		case r == '\t':
			return "contains a tab"
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return fmt.Sprintf("contains the control character U+%04X", r)
		}
	}
	if n := utf8.RuneCountInString(v); n > max {
		return fmt.Sprintf("%d characters, at most %d", n, max)
	}
	return ""
}

// checkTexts checks every text key of v (a struct of the configuration)
// against TextRules. prefix is v's key ("line[0]", "" for the Config);
// rulePrefix is the same without indexes ("line"). Lines are skipped at
// the top level: checkLines checks each with its index.
func checkTexts(v reflect.Value, prefix, rulePrefix string) error {
	t := v.Type()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		key, ruleKey := join(prefix, name), join(rulePrefix, name)
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			if err := checkText(key, f.String(), ruleFor(ruleKey)); err != nil {
				return err
			}
		case reflect.Slice:
			if f.Type().Elem().Kind() != reflect.String {
				continue // [[line]]: checked per line
			}
			for j := range f.Len() {
				if err := checkText(key, f.Index(j).String(), ruleFor(ruleKey)); err != nil {
					return err
				}
			}
		case reflect.Struct:
			if err := checkTexts(f, key, ruleKey); err != nil {
				return err
			}
		}
	}
	return nil
}

func ruleFor(key string) TextRule {
	if r, ok := TextRules[key]; ok {
		return r
	}
	return defaultTextRule
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// checkDisplayName refuses what the SIP stack would have to escape: the
// From header carries the name as a quoted string written as it is.
func checkDisplayName(key, v string) error {
	if strings.ContainsAny(v, "\"\\") {
		return keyErr(key, `contains " or \: SIP carries the name in quotes`)
	}
	return nil
}

// checkLineText checks line i's text keys, its display name, and that no
// earlier line has its number (an incoming call is routed by number).
func (c *Config) checkLineText(i int) error {
	l, key := &c.Lines[i], fmt.Sprintf("line[%d]", i)
	if err := checkTexts(reflect.ValueOf(l).Elem(), key, "line"); err != nil {
		return err
	}
	if err := checkDisplayName(key+".display_name", l.DisplayName); err != nil {
		return err
	}
	for j := range i {
		if n := strings.TrimSpace(l.Number); n != "" && n == strings.TrimSpace(c.Lines[j].Number) {
			return keyErr(key+".number", "%s is already line[%d]'s number", n, j)
		}
	}
	return nil
}
