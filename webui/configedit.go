package webui

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openata/ata/config"
)

// cloneConfig copies c deeply enough that edits never touch the running
// configuration (lines, their codec lists and Active pointers).
func cloneConfig(c *config.Config) *config.Config {
	n := *c
	n.Lines = slices.Clone(c.Lines)
	for i := range n.Lines {
		l := &n.Lines[i]
		l.Codecs = slices.Clone(l.Codecs)
		l.Ring = slices.Clone(l.Ring)
		if l.Active != nil {
			a := *l.Active
			l.Active = &a
		}
	}
	// Router mode's tables: the Users, Trunks and Routes pages edit them
	// in place.
	n.Router.AllowNetworks = slices.Clone(c.Router.AllowNetworks)
	n.Users = slices.Clone(c.Users)
	n.Routes = slices.Clone(c.Routes)
	n.Trunks = slices.Clone(c.Trunks)
	for i := range n.Trunks {
		t := &n.Trunks[i]
		t.Addresses, t.Ring = slices.Clone(t.Addresses), slices.Clone(t.Ring)
	}
	return &n
}

// formErrors collects problems by form field id, plus ones that belong to
// no field on the page.
type formErrors struct {
	fields  map[string]string
	general []string
}

func (e *formErrors) add(field, msg string) {
	if e.fields == nil {
		e.fields = map[string]string{}
	}
	if _, ok := e.fields[field]; !ok {
		e.fields[field] = msg
	}
}

func (e *formErrors) ok() bool { return len(e.fields) == 0 && len(e.general) == 0 }

func (e *formErrors) summary() string {
	if e.ok() {
		return ""
	}
	msg := "Nothing was saved: correct the fields marked below."
	if len(e.fields) == 0 {
		msg = "Nothing was saved."
	}
	if len(e.general) > 0 {
		msg += " " + strings.Join(e.general, " ")
	}
	return msg
}

// keyMapper maps a config key ("line[0].registrar") and its message to the
// id of the field showing it, or "" when the page has no such field.
type keyMapper func(key, msg string) string

// applyConfig validates cfg as the config package would read it and then
// hands it to the backend. Problems land in errs, mapped to fields.
func (s *Server) applyConfig(ctx context.Context, cfg *config.Config, errs *formErrors, mapKey keyMapper) {
	check := cloneConfig(cfg)
	if err := check.Validate(); err != nil {
		addConfigError(errs, err, mapKey)
		return
	}
	if !errs.ok() {
		return
	}
	if err := s.b.Apply(ctx, cfg); err != nil {
		addConfigError(errs, err, mapKey)
	}
}

// addConfigError files a config or backend error under its field.
func addConfigError(errs *formErrors, err error, mapKey keyMapper) {
	var fe *FieldErrors
	var ke *config.KeyError
	switch {
	case errors.As(err, &fe):
		for key, msg := range fe.Fields {
			fileKey(errs, key, msg, mapKey)
		}
	case errors.As(err, &ke):
		fileKey(errs, ke.Key, ke.Msg, mapKey)
	default:
		if key, msg, ok := keyInMessage(err.Error()); ok {
			fileKey(errs, key, msg, mapKey)
			return
		}
		errs.general = append(errs.general, sentence(err.Error()))
	}
}

func fileKey(errs *formErrors, key, msg string, mapKey keyMapper) {
	if id := mapKey(key, msg); id != "" {
		errs.add(id, sentence(lineWords(msg)))
		return
	}
	errs.general = append(errs.general, sentence(lineWords(fmt.Sprintf("%s: %s", key, msg))))
}

// keyRE finds a dotted config key in an error message from config.Parse
// ("config: x.toml:12: line[0].number: missing").
var keyRE = regexp.MustCompile(`(?:^|: )((?:line\[\d+\]|[a-z_]+)\.[a-z_]+): (.*)$`)

func keyInMessage(s string) (key, msg string, ok bool) {
	m := keyRE.FindStringSubmatch(s)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// sentence capitalises a message and ends it with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// lineKey splits "line[3].registrar" into 3 and "registrar".
func lineKey(key string) (int, string, bool) {
	rest, ok := strings.CutPrefix(key, "line[")
	if !ok {
		return 0, "", false
	}
	idx, name, ok := strings.Cut(rest, "].")
	if !ok {
		return 0, "", false
	}
	n, err := strconv.Atoi(idx)
	if err != nil {
		return 0, "", false
	}
	return n, name, true
}

// parsePort reads an optional port field; "" is no port.
func parsePort(errs *formErrors, id, v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		errs.add(id, "Enter a port number from 1 to 65535.")
		return ""
	}
	return strconv.Itoa(n)
}

// hostPort joins an address field and a port field ("" when both are empty).
func hostPort(errs *formErrors, hostID, portID, host, port string) string {
	host = strings.TrimSpace(host)
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	p := parsePort(errs, portID, port)
	switch {
	case host == "" && p == "" && strings.TrimSpace(port) == "":
		return ""
	case host == "":
		errs.add(hostID, "Enter the address this port belongs to.")
		return ""
	case config.TextProblem(host, config.MaxHost) != "":
		errs.add(hostID, sentence(config.TextProblem(host, config.MaxHost)))
		return ""
	case strings.ContainsAny(host, " /\t@;<>\"'") || (strings.Contains(host, ":") && net.ParseIP(host) == nil):
		errs.add(hostID, "Enter a host name or an IP address only (the port goes in its own field).")
		return ""
	case p == "":
		return host
	}
	return net.JoinHostPort(host, p)
}

// splitHostPort splits a config value host[:port] for two form fields.
func splitHostPort(v string) (host, port string) {
	if h, p, err := net.SplitHostPort(v); err == nil {
		return h, p
	}
	return v, ""
}

// parseSeconds reads a whole or decimal number of seconds within [lo, hi].
func parseSeconds(errs *formErrors, id, v string, lo, hi time.Duration) (time.Duration, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	d := time.Duration(f * float64(time.Second))
	if err != nil || d < lo || d > hi {
		errs.add(id, fmt.Sprintf("Enter a number of seconds from %s to %s.", trimSeconds(lo), trimSeconds(hi)))
		return 0, false
	}
	return d.Round(time.Millisecond), true
}

// parseMillis reads a whole number of milliseconds within [lo, hi].
func parseMillis(errs *formErrors, id, v string, lo, hi time.Duration) (time.Duration, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	d := time.Duration(n) * time.Millisecond
	if err != nil || d < lo || d > hi {
		errs.add(id, fmt.Sprintf("Enter a number of milliseconds from %d to %d.", lo.Milliseconds(), hi.Milliseconds()))
		return 0, false
	}
	return d, true
}

func trimSeconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }
