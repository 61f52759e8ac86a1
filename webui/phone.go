package webui

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/openata/ata/config"
	"github.com/openata/ata/fxs/region"
)

type phoneData struct {
	Sections []section
}

var callerIDTypes = []string{
	"", "The region's standard",
	region.CallerIDBell202, "Bell 202 FSK (North America)",
	region.CallerIDETSIFSK, "ETSI V.23 FSK after the first ring",
	region.CallerIDETSIFSKDTAS, "ETSI V.23 FSK before ringing (UK, DT-AS)",
	region.CallerIDDTMF, "DTMF before the first ring",
	region.CallerIDNone, "None",
}

func (s *Server) phonePage(w http.ResponseWriter, r *http.Request, ss *session) {
	cfg := s.b.Config()
	s.renderPage(w, http.StatusOK, "phone", ss, view{Title: "Phone", Nav: "phone",
		Page: phoneView(phoneValuesFromConfig(cfg), nil)})
}

func (s *Server) phonePost(w http.ResponseWriter, r *http.Request, ss *session) {
	cfg, errs := phoneFormToConfig(s.b.Config(), r.PostForm)
	s.applyConfig(r.Context(), cfg, errs, phoneKeyMapper)
	if !errs.ok() {
		s.renderPage(w, http.StatusUnprocessableEntity, "phone", ss, view{Title: "Phone", Nav: "phone",
			Error: errs.summary(), Page: phoneView(r.PostForm, errs.fields)})
		return
	}
	s.logf(r, "phone settings saved")
	s.sessions.setFlash(ss, s.savedMessage("Saved and applied."))
	http.Redirect(w, r, "/phone", http.StatusSeeOther)
}

func phoneValuesFromConfig(cfg *config.Config) url.Values {
	p := cfg.Phone
	v := url.Values{}
	v.Set("region", p.Region)
	v.Set("caller_id", p.CallerID)
	v.Set("flash_min", strconv.FormatInt(p.FlashMin.D().Milliseconds(), 10))
	v.Set("flash_max", strconv.FormatInt(p.FlashMax.D().Milliseconds(), 10))
	v.Set("dial_plan", p.DialPlan)
	v.Set("inter_digit_timeout", trimSeconds(p.InterDigitTimeout.D()))
	v.Set("first_digit_timeout", trimSeconds(p.FirstDigitTimeout.D()))
	v.Set("ring_cadence", p.RingCadence)
	if p.EchoCanceller {
		v.Set("echo_canceller", "on")
	}
	v.Set("echo_tail", strconv.FormatInt(p.EchoTail.D().Milliseconds(), 10))
	v.Set("fax_mode", p.FaxMode)
	v.Set("tx_gain_db", strconv.FormatFloat(p.TxGainDB, 'f', -1, 64))
	v.Set("rx_gain_db", strconv.FormatFloat(p.RxGainDB, 'f', -1, 64))
	return v
}

func phoneFormToConfig(cur *config.Config, f url.Values) (*config.Config, *formErrors) {
	errs := &formErrors{}
	cfg := cloneConfig(cur)
	p := &cfg.Phone
	get := func(k string) string { return strings.TrimSpace(f.Get(k)) }
	p.Region = get("region")
	if _, err := region.Lookup(p.Region); err != nil {
		errs.add("region", "Choose a region from the list.")
	}
	p.CallerID = get("caller_id")
	known := false
	for i := 0; i < len(callerIDTypes); i += 2 {
		known = known || p.CallerID == callerIDTypes[i]
	}
	if !known {
		errs.add("caller_id", "Choose a caller ID type from the list.")
	}
	if d, ok := parseMillis(errs, "flash_min", f.Get("flash_min"), 10*time.Millisecond, 2*time.Second); ok {
		p.FlashMin = config.Duration(d)
	}
	if d, ok := parseMillis(errs, "flash_max", f.Get("flash_max"), 20*time.Millisecond, 3*time.Second); ok {
		p.FlashMax = config.Duration(d)
	}
	p.DialPlan = get("dial_plan")
	checkDialPlan(errs, "dial_plan", p.DialPlan)
	if d, ok := parseSeconds(errs, "inter_digit_timeout", f.Get("inter_digit_timeout"), time.Second, 30*time.Second); ok {
		p.InterDigitTimeout = config.Duration(d)
	}
	if d, ok := parseSeconds(errs, "first_digit_timeout", f.Get("first_digit_timeout"), time.Second, 5*time.Minute); ok {
		p.FirstDigitTimeout = config.Duration(d)
	}
	p.EchoCanceller = f.Get("echo_canceller") == "on"
	if d, ok := parseMillis(errs, "echo_tail", f.Get("echo_tail"), 16*time.Millisecond, 128*time.Millisecond); ok {
		p.EchoTail = config.Duration(d)
	}
	if p.FaxMode = get("fax_mode"); p.FaxMode != "passthrough" && p.FaxMode != "off" {
		errs.add("fax_mode", "Choose pass-through or off.")
	}
	for _, g := range []struct {
		id string
		to *float64
	}{{"tx_gain_db", &p.TxGainDB}, {"rx_gain_db", &p.RxGainDB}} {
		n, err := strconv.ParseFloat(get(g.id), 64)
		if err != nil || n < -12 || n > 12 {
			errs.add(g.id, "Enter a number of dB from -12 to 12.")
			continue
		}
		*g.to = n
	}
	p.RingCadence = get("ring_cadence")
	if p.RingCadence != "" {
		if _, err := region.ParseCadence(p.RingCadence); err != nil {
			errs.add("ring_cadence", sentence(strings.TrimPrefix(err.Error(), "region: ")))
		}
	}
	return cfg, errs
}

func phoneKeyMapper(key, msg string) string {
	name, ok := strings.CutPrefix(key, "phone.")
	if !ok {
		return ""
	}
	switch name {
	case "region", "caller_id", "flash_min", "flash_max", "dial_plan", "inter_digit_timeout", "first_digit_timeout", "ring_cadence",
		"echo_canceller", "echo_tail", "fax_mode", "tx_gain_db", "rx_gain_db":
		return name
	}
	return ""
}

func phoneView(v url.Values, errs map[string]string) phoneData {
	reg := field{ID: "region", Label: "Region", Kind: "select", Err: errs["region"],
		Help: "The country whose dial tone, busy tone, ring cadence and caller-ID standard the phone hears and uses."}
	for _, code := range region.Codes() {
		r, _ := region.Lookup(code)
		reg.Options = append(reg.Options, option{Value: code, Label: fmt.Sprintf("%s (%s)", r.Name, strings.ToUpper(code)), Selected: v.Get("region") == code})
	}
	cid := field{ID: "caller_id", Label: "Caller ID Type", Kind: "select", Err: errs["caller_id"],
		Help: "How the caller's number is sent to the phone's display. Keep the region's standard unless your phone shows nothing or garbage."}
	for i := 0; i < len(callerIDTypes); i += 2 {
		cid.Options = append(cid.Options, option{Value: callerIDTypes[i], Label: callerIDTypes[i+1], Selected: v.Get("caller_id") == callerIDTypes[i]})
	}
	num := func(id, label, unit, help, lo, hi, step string) field {
		return field{ID: id, Label: label, Kind: "number", Value: v.Get(id), Unit: unit, Min: lo, Max: hi, Step: step,
			Help: help, Err: errs[id], Narrow: true}
	}
	dial := field{ID: "dial_plan", Label: "Dial Plan", Kind: "text", Value: v.Get("dial_plan"), Err: errs["dial_plan"], AutoComp: "off", MaxLen: keyMax("phone.dial_plan"),
		Help: "Which numbers are complete, e.g. (911|1[2-9]xxxxxxxxx|[2-9]xxxxxxxxx|*xx|xx.T): x is any digit, [2-9] a range, . repeats the element before, T waits the inter-digit timeout, <9:> strips a 9. Press # to dial at once."}
	cadence := field{ID: "ring_cadence", Label: "Ring Cadence", Kind: "text", Value: v.Get("ring_cadence"), Err: errs["ring_cadence"],
		Placeholder: "the region's", AutoComp: "off", MaxLen: keyMax("phone.ring_cadence"),
		Help: "Ring on and off times in seconds, e.g. 2,4 (US) or 0.4,0.2,0.4,2 (UK). Leave empty for the region's cadence."}
	return phoneData{Sections: []section{
		{ID: "region", Legend: "Region", Rows: []row{{reg}, {cid}, {cadence}}},
		{ID: "hook", Legend: "Hook flash", Intro: "A short press of the hook switch (or the FLASH key) is a hook flash; a longer one hangs up.",
			Rows: []row{{
				num("flash_min", "Shortest flash", "ms", "Shorter breaks are ignored as switch bounce.", "10", "2000", "10"),
				num("flash_max", "Longest flash", "ms", "Longer breaks hang up.", "20", "3000", "10"),
			}}},
		{ID: "audio", Legend: "Audio", Intro: "The line echo canceller removes the caller's own voice coming back from the phone's line; fax machines and modems are let through untouched when their tones are heard.",
			Rows: []row{
				{field{ID: "echo_canceller", Label: "Echo canceller", Kind: "checkbox", Checked: v.Get("echo_canceller") == "on", Err: errs["echo_canceller"],
					Help: "Leave on: without it a caller hears themselves when the line's hybrid leaks (most lines do)."}},
				{num("echo_tail", "Echo tail", "ms", "How long an echo the canceller follows after the delay it finds by itself (16 to 128 ms; 64 ms suits most phones).", "16", "128", "8"),
					field{ID: "fax_mode", Label: "Fax and modem", Kind: "select", Err: errs["fax_mode"],
						Help:    "Pass-through: a fax or modem tone switches the call to a fixed jitter buffer with no concealment, and the canceller gets out of the way.",
						Options: []option{{Value: "passthrough", Label: "Pass-through", Selected: v.Get("fax_mode") != "off"}, {Value: "off", Label: "Off", Selected: v.Get("fax_mode") == "off"}}}},
				{num("tx_gain_db", "Mouthpiece gain", "dB", "Level of your voice toward the caller, -12 to +12 dB.", "-12", "12", "0.5"),
					num("rx_gain_db", "Earpiece gain", "dB", "Level of the caller's voice in the handset, -12 to +12 dB.", "-12", "12", "0.5")},
			}},
		{ID: "dialling", Legend: "Dialling", Rows: []row{{dial}, {
			num("inter_digit_timeout", "Inter-digit Timeout", "s", "After the last digit, wait this long before dialling a number the plan allows to grow.", "1", "30", "0.5"),
			num("first_digit_timeout", "First-digit Timeout", "s", "Dial tone with no digit this long gives the off-hook warning tone.", "1", "300", "1"),
		}}},
	}}
}
