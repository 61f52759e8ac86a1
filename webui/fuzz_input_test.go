package webui

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/openata/ata/config"
)

// unsafeText returns the first text value of cfg that could not reach the
// wire as written (a control character, invalid UTF-8, over its key's
// limit), or "".
func unsafeText(v reflect.Value, key string) string {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			return unsafeText(v.Elem(), key)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("toml"), ",")
			if name == "" {
				continue
			}
			if key != "" {
				name = key + "." + name
			}
			if bad := unsafeText(v.Field(i), name); bad != "" {
				return bad
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			if bad := unsafeText(v.Index(i), key); bad != "" {
				return bad
			}
		}
	case reflect.String:
		s := v.String()
		if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }) ||
			utf8.RuneCountInString(s) > config.TextRules[key].Max {
			return key + " = " + strings.ToValidUTF8(s[:min(len(s), 80)], "?")
		}
	}
	return ""
}

// formPages are the settings forms' decoders, each with a valid form.
var formPages = []struct {
	name   string
	form   url.Values
	decode func(*config.Config, url.Values) (*config.Config, *formErrors)
}{
	{"sip", url.Values{"active": {"on"}, "number": {"1001"}, "display_name": {"Hall"}, "voicemail_number": {"*86"},
		"local_port": {"5060"}, "server_host": {"sip.example.net"}, "server_port": {"5070"}, "service_domain": {"example.net"},
		"auth_user": {"u1"}, "password": {"pw"}, "proxy_active": {"on"}, "proxy_host": {"sbc.example.net"}, "proxy_port": {"5080"},
		"expires": {"1800"}, "transport": {"udp"}, "codec1": {"PCMU"}, "codec2": {"PCMA"}, "dtmf_mode": {"rfc4733"},
		"ptime": {"20"}, "dial_plan": {"(*xx|xx.T)"}, "keepalive": {"30"}, "keepalive_method": {"crlf"}},
		func(c *config.Config, f url.Values) (*config.Config, *formErrors) { return sipFormToConfig(c, 0, f) }},
	{"phone", url.Values{"region": {"us"}, "caller_id": {""}, "flash_min": {"100"}, "flash_max": {"900"},
		"dial_plan": {"(*xx|xx.T)"}, "inter_digit_timeout": {"4"}, "first_digit_timeout": {"15"}, "ring_cadence": {""}},
		phoneFormToConfig},
	{"features", url.Values{"dnd_status": {"486"}, "forward_always": {"2000"}, "forward_busy": {""}, "forward_no_answer": {""},
		"forward_no_answer_after": {"20"}, "forward_method": {"redirect"}, "hotline": {""}, "warmline_after": {"0"},
		"ring_timeout": {"120"}, "call_waiting": {"on"}},
		featuresFormToConfig},
}

// FuzzFormFields puts arbitrary text into any field of the SIP, Phone and
// Features forms: the decoders never panic nor touch the running config,
// and a form they and config's checks accept holds nothing a SIP message
// could not carry.
func FuzzFormFields(f *testing.F) {
	for i, p := range formPages {
		for name := range p.form {
			for _, v := range []string{"Bob\r\nX-Injected: yes", "1\x002", "a\tb", "x\u0085", strings.Repeat("9", 10240), "\xff"} {
				f.Add(uint8(i), name, v)
			}
		}
	}
	f.Fuzz(func(t *testing.T, page uint8, field, value string) {
		p := formPages[int(page)%len(formPages)]
		cur := config.Default()
		cur.Lines = []config.Line{{Number: "1000", ServiceDomain: "x.example"}}
		before, _ := config.Marshal(cur)
		form := url.Values{}
		for k, v := range p.form {
			form[k] = append([]string(nil), v...)
		}
		form.Set(field, value)
		cfg, errs := p.decode(cur, form)
		if after, _ := config.Marshal(cur); string(after) != string(before) {
			t.Fatal("the form changed the running config")
		}
		if !errs.ok() || cloneConfig(cfg).Validate() != nil {
			return
		}
		if bad := unsafeText(reflect.ValueOf(cfg).Elem(), ""); bad != "" {
			t.Fatalf("%s form, %s=%q: accepted %s", p.name, field, value, bad)
		}
	})
}

// FuzzConfigJSONText: whatever PUT /api/config accepts holds nothing a SIP
// message could not carry.
func FuzzConfigJSONText(f *testing.F) {
	f.Add(`{"line":[{"number":"1","service_domain":"x.example","display_name":"Bob\r\nX-Injected: yes"}]}`)
	f.Add(`{"sip":{"user_agent":"a\u0000b"}}`)
	f.Add(`{"phone":{"hotline":"` + strings.Repeat("1", 10240) + `"}}`)
	f.Add(`{"line":[{"number":"1","service_domain":"x.example","codecs":["PCMU\n"]}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		cur := config.Default()
		cfg, err := configFromJSON([]byte(body), cur)
		if err != nil {
			return
		}
		if bad := unsafeText(reflect.ValueOf(cfg).Elem(), ""); bad != "" {
			t.Fatalf("accepted %s", bad)
		}
	})
}
