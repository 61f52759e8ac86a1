package webui

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/openata/ata/config"
)

// The Features page: do not disturb, forwarding, anonymous-call rejection,
// hot/warm line and the multi-call features (call waiting, three-way,
// transfer on hang-up, ring timeout). Star codes on the handset may change
// some of these, so every load reads the running config.

type featuresData struct {
	Summary  []stateLine
	Sections []section
}

// stateLine is one sentence of the summary at the top of the page.
type stateLine struct {
	ID   string // stable hook for tests and styles
	Text string
	On   bool // a feature that changes what callers get
}

var dndStatuses = []string{
	"486", "Busy (486 Busy Here)",
	"480", "Unavailable (480 Temporarily Unavailable)",
	"603", "Declined (603 Decline)",
}

var forwardMethods = []string{
	"redirect", "Redirect: the caller's side places the call (302)",
	"bridge", "The ATA places the call and joins the two (bridge)",
}

// featureNumbers are the number fields, checked as config checks them.
var featureNumbers = []string{"forward_always", "forward_busy", "forward_no_answer", "hotline"}

// featureKeys are the [phone] keys this page edits (its field ids).
var featureKeys = map[string]bool{
	"dnd": true, "dnd_status": true, "reject_anonymous": true,
	"forward_always": true, "forward_busy": true, "forward_no_answer": true,
	"forward_no_answer_after": true, "forward_method": true,
	"hotline": true, "warmline_after": true,
	"call_waiting": true, "call_waiting_caller_id": true, "three_way": true,
	"transfer_on_hangup": true, "ring_timeout": true,
}

func (s *Server) featuresPage(w http.ResponseWriter, r *http.Request, ss *session) {
	cfg := s.b.Config()
	s.renderPage(w, http.StatusOK, "features", ss, view{Title: "Features", Nav: "features",
		Page: featuresView(&cfg.Phone, featureValuesFromConfig(&cfg.Phone), nil)})
}

func (s *Server) featuresPost(w http.ResponseWriter, r *http.Request, ss *session) {
	cur := s.b.Config()
	cfg, errs := featuresFormToConfig(cur, r.PostForm)
	s.applyConfig(r.Context(), cfg, errs, featuresKeyMapper)
	if !errs.ok() {
		// The summary tells what is in force: the running config.
		s.renderPage(w, http.StatusUnprocessableEntity, "features", ss, view{Title: "Features", Nav: "features",
			Error: errs.summary(), Page: featuresView(&cur.Phone, r.PostForm, errs.fields)})
		return
	}
	s.logf(r, "calling features saved")
	s.sessions.setFlash(ss, s.savedMessage("Saved and applied."))
	http.Redirect(w, r, "/features", http.StatusSeeOther)
}

func featureValuesFromConfig(p *config.Phone) url.Values {
	v := url.Values{}
	for id, on := range featureChecks(p) {
		if *on {
			v.Set(id, "on")
		}
	}
	v.Set("dnd_status", strconv.Itoa(p.DNDStatus))
	v.Set("forward_always", p.ForwardAlways)
	v.Set("forward_busy", p.ForwardBusy)
	v.Set("forward_no_answer", p.ForwardNoAnswer)
	v.Set("forward_no_answer_after", trimSeconds(p.ForwardNoAnswerAfter.D()))
	v.Set("forward_method", p.ForwardMethod)
	v.Set("hotline", p.Hotline)
	v.Set("warmline_after", trimSeconds(p.WarmlineAfter.D()))
	v.Set("ring_timeout", trimSeconds(p.RingTimeout.D()))
	return v
}

// featureChecks maps the page's checkboxes to their settings.
func featureChecks(p *config.Phone) map[string]*bool {
	return map[string]*bool{
		"dnd":                    &p.DND,
		"reject_anonymous":       &p.RejectAnonymous,
		"call_waiting":           &p.CallWaiting,
		"call_waiting_caller_id": &p.CallWaitingCallerID,
		"three_way":              &p.ThreeWay,
		"transfer_on_hangup":     &p.TransferOnHangup,
	}
}

// checkNumber applies config's rule for a number to dial (digits, * # +,
// letters . - _, at most 32 characters; "" is off) with words for a person.
func checkNumber(errs *formErrors, id, v string) bool {
	if len(v) > 32 {
		errs.add(id, fmt.Sprintf("Too long: %d characters, at most 32.", len(v)))
		return false
	}
	for _, r := range v {
		switch {
		case r >= '0' && r <= '9', r == '*', r == '#', r == '+',
			r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '.', r == '-', r == '_':
		case r == ' ' || r == '\t':
			errs.add(id, "Enter the number without spaces: digits, * # + and letters . - _ only.")
			return false
		default:
			errs.add(id, fmt.Sprintf("%q cannot be dialled: use digits, * # + and letters . - _ only.", string(r)))
			return false
		}
	}
	return true
}

// parseFeatureSeconds reads seconds within [lo, hi]; a value the page showed
// unchanged is kept as it is (the file may hold "1500ms").
func parseFeatureSeconds(errs *formErrors, id, v string, cur, lo, hi time.Duration, msg string) (time.Duration, bool) {
	if strings.TrimSpace(v) == trimSeconds(cur) {
		return cur, true
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	d := time.Duration(f * float64(time.Second)).Round(time.Millisecond)
	if err != nil || f != f || d < lo || d > hi {
		errs.add(id, msg)
		return 0, false
	}
	return d, true
}

// parseRingTimeout reads whole seconds, 0 (ring until the caller gives up)
// or 1 to 3600. A value the page showed unchanged is kept even when it is
// not whole (a file may say "90.5s"), so an untouched page always saves.
func parseRingTimeout(errs *formErrors, id, v string, cur time.Duration) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == trimSeconds(cur) {
		return cur, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 3600 {
		errs.add(id, "Enter a whole number of seconds from 1 to 3600, or 0 to ring until the caller hangs up.")
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

func featuresFormToConfig(cur *config.Config, f url.Values) (*config.Config, *formErrors) {
	errs := &formErrors{}
	cfg := cloneConfig(cur)
	p := &cfg.Phone
	get := func(k string) string { return strings.TrimSpace(f.Get(k)) }
	// The form always posts every box: an unticked one is absent.
	for id, on := range featureChecks(p) {
		*on = f.Get(id) == "on"
	}
	switch s := get("dnd_status"); s {
	case "486", "480", "603":
		p.DNDStatus, _ = strconv.Atoi(s)
	default:
		errs.add("dnd_status", "Choose busy (486), unavailable (480) or declined (603).")
	}
	nums := map[string]*string{"forward_always": &p.ForwardAlways, "forward_busy": &p.ForwardBusy,
		"forward_no_answer": &p.ForwardNoAnswer, "hotline": &p.Hotline}
	for _, id := range featureNumbers {
		v := get(id)
		if checkNumber(errs, id, v) {
			*nums[id] = v
		}
	}
	if d, ok := parseFeatureSeconds(errs, "forward_no_answer_after", f.Get("forward_no_answer_after"),
		cur.Phone.ForwardNoAnswerAfter.D(), time.Second, 5*time.Minute, "Enter a number of seconds from 1 to 300."); ok {
		p.ForwardNoAnswerAfter = config.Duration(d)
	}
	switch m := get("forward_method"); m {
	case "redirect", "bridge":
		p.ForwardMethod = m
	default:
		errs.add("forward_method", "Choose redirect or bridge.")
	}
	if d, ok := parseFeatureSeconds(errs, "warmline_after", f.Get("warmline_after"),
		cur.Phone.WarmlineAfter.D(), 0, time.Minute, "Enter a number of seconds from 0 (dial at once) to 60."); ok {
		p.WarmlineAfter = config.Duration(d)
	}
	if d, ok := parseRingTimeout(errs, "ring_timeout", f.Get("ring_timeout"), cur.Phone.RingTimeout.D()); ok {
		p.RingTimeout = config.Duration(d)
	}
	return cfg, errs
}

func featuresKeyMapper(key, msg string) string {
	name, ok := strings.CutPrefix(key, "phone.")
	if ok && featureKeys[name] {
		return name
	}
	return ""
}

func pick(opts []string, v string) []option {
	var out []option
	for i := 0; i < len(opts); i += 2 {
		out = append(out, option{Value: opts[i], Label: opts[i+1], Selected: v == opts[i]})
	}
	return out
}

// featureSummary says in a few sentences what is in force.
func featureSummary(p *config.Phone) []stateLine {
	var out []stateLine
	if p.DND {
		answer := map[int]string{486: "busy", 480: "unavailable", 603: "declined"}[p.DNDStatus]
		out = append(out, stateLine{"dnd", fmt.Sprintf("Do not disturb is ON: the phone does not ring, callers are told %s (%d).", answer, p.DNDStatus), true})
	} else {
		out = append(out, stateLine{"dnd", "Do not disturb is off.", false})
	}
	how := map[string]string{"redirect": "by redirect", "bridge": "by the ATA"}[p.ForwardMethod]
	fw := false
	if p.ForwardAlways != "" {
		out = append(out, stateLine{"forward_always", fmt.Sprintf("Calls are forwarded to %s (%s).", p.ForwardAlways, how), true})
		fw = true
	}
	if p.ForwardBusy != "" {
		out = append(out, stateLine{"forward_busy", fmt.Sprintf("When busy, calls are forwarded to %s.", p.ForwardBusy), true})
		fw = true
	}
	if p.ForwardNoAnswer != "" {
		out = append(out, stateLine{"forward_no_answer", fmt.Sprintf("Calls not answered within %s s are forwarded to %s.",
			trimSeconds(p.ForwardNoAnswerAfter.D()), p.ForwardNoAnswer), true})
		fw = true
	}
	if !fw {
		out = append(out, stateLine{"forward", "Calls are not forwarded.", false})
	}
	if p.RejectAnonymous {
		out = append(out, stateLine{"reject_anonymous", "Anonymous calls are refused.", true})
	}
	if p.Hotline != "" {
		if p.WarmlineAfter == 0 {
			out = append(out, stateLine{"hotline", fmt.Sprintf("Hot line: lifting the handset dials %s at once.", p.Hotline), true})
		} else {
			out = append(out, stateLine{"hotline", fmt.Sprintf("Warm line: lifting the handset dials %s after %s s without a digit.",
				p.Hotline, trimSeconds(p.WarmlineAfter.D())), true})
		}
	}
	return out
}

func featuresView(running *config.Phone, v url.Values, errs map[string]string) featuresData {
	check := func(id, label, needs, help string) field {
		return field{ID: id, Label: label, Kind: "checkbox", Checked: v.Get(id) == "on", Needs: needs, Help: help, Err: errs[id]}
	}
	number := func(id, label, needs, help string) field {
		return field{ID: id, Label: label, Kind: "text", Value: v.Get(id), Placeholder: "off", InputMode: "tel",
			AutoComp: "off", Needs: needs, Help: help, Err: errs[id], MaxLen: keyMax("phone." + id)}
	}
	secs := func(id, label, needs, help, lo, hi string) field {
		return field{ID: id, Label: label, Kind: "number", Value: v.Get(id), Unit: "s", Min: lo, Max: hi, Step: "1",
			Needs: needs, Help: help, Err: errs[id], Narrow: true}
	}
	sel := func(id, label, needs, help string, opts []string) field {
		return field{ID: id, Label: label, Kind: "select", Options: pick(opts, v.Get(id)), Needs: needs, Help: help, Err: errs[id]}
	}
	ringTimeout := field{ID: "ring_timeout", Label: "Ring timeout (seconds, 0 = until the caller hangs up)", Kind: "number",
		Value: v.Get("ring_timeout"), Min: "0", Max: "3600", Step: "1", Err: errs["ring_timeout"], Narrow: true,
		Help: "An incoming call nobody answers (ringing, waiting, or ringing back) is refused after this long, so a caller who never gives up cannot hold the line."}
	return featuresData{Summary: featureSummary(running), Sections: []section{
		{ID: "dnd", Legend: "Do not disturb", Rows: []row{
			{check("dnd", "Do not disturb", "",
				"Incoming calls are refused without ringing; the dial tone stutters as a reminder.")},
			{sel("dnd_status", "Answer given to callers", "dnd",
				"What the caller's side is told while do not disturb is on.", dndStatuses)},
		}},
		{ID: "forwarding", Legend: "Forwarding", Intro: "Enter a number to forward to, or leave it empty for off. Forwarded calls are dialled through this line.",
			Rows: []row{
				{number("forward_always", "Forward all calls to", "", "Every call goes there; the phone does not ring.")},
				{number("forward_busy", "Forward when busy to", "", "Calls that would get busy (the line is in use and call waiting cannot take them).")},
				{number("forward_no_answer", "Forward on no answer to", "", "Calls nobody answers in time."),
					secs("forward_no_answer_after", "Forward after", "", "Seconds of ringing, 1 to 300.", "1", "300")},
				{sel("forward_method", "Method", "",
					"Redirect asks the caller's side (usually the provider) to call the number; no second call runs through the ATA. Bridge places the call from the ATA and joins the two: it works with any provider but uses this line twice.", forwardMethods)},
			}},
		{ID: "anonymous", Legend: "Anonymous calls", Rows: []row{
			{check("reject_anonymous", "Refuse anonymous calls", "",
				"Calls that withhold their number are refused (433 Anonymity Disallowed) without ringing.")},
		}},
		{ID: "hotline", Legend: "Hot line", Intro: "Lifting the handset dials a fixed number: a lift phone, a door phone, a child's phone.",
			Rows: []row{
				{number("hotline", "Hot line number", "", "Empty: normal dial tone."),
					secs("warmline_after", "Warm line delay", "", "0 = at once; otherwise dial tone for this long, and the number is dialled if no digit was pressed.", "0", "60")},
			}},
		{ID: "calls", Legend: "Call waiting and three-way calling", Intro: "What a hook flash and hanging up do when more than one call is involved.",
			Rows: []row{
				{check("call_waiting", "Call waiting", "",
					"A second call during a call plays the call-waiting tone; a hook flash answers it and holds the first. Off: the second caller hears busy.")},
				{check("call_waiting_caller_id", "Caller ID for a waiting call", "call_waiting",
					"Show the waiting caller's number and name on the phone's display during the call (where the caller-ID type is FSK).")},
				{check("three_way", "Three-way calling", "",
					"A hook flash during a call holds it and gives dial tone for a second call; another flash joins all three.")},
				{check("transfer_on_hangup", "Transfer on hang-up", "three_way",
					"Hanging up with a call held and a second one connected, or in a three-way call, joins the other two and leaves. Off: the held call rings back; a three-way call ends.")},
				{ringTimeout},
			}},
	}}
}
