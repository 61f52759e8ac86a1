package config

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Router holds router mode's settings: local SIP users register to the
// box, and calls are routed between them, the analog port, the lines and
// IP trunks.
type Router struct {
	// Enabled turns router mode on: the registrar listens on Listen.
	Enabled bool `toml:"enabled"`
	// Listen is the local users' SIP socket (UDP and TCP).
	Listen string `toml:"listen"`
	// AllowNetworks are the only sources the users' socket answers;
	// anything else is dropped without an answer.
	AllowNetworks []string `toml:"allow_networks"`
	// PortExtension is the analog port's extension.
	PortExtension string `toml:"port_extension"`
	// AuthFailures from one source within a minute block it for BlockFor.
	AuthFailures int      `toml:"auth_failures"`
	BlockFor     Duration `toml:"block_for"`
}

// User is a local SIP user: an extension that registers to the box.
type User struct {
	// Name is the extension and the SIP user name.
	Name string `toml:"name"`
	// Password is the digest password as a person writes it in a file;
	// the web UI stores HA1 instead (the two hashes below) and clears it.
	Password string `toml:"password,omitempty"`
	// HA1MD5 and HA1SHA256 are the digest hashes of name:realm:password
	// (hex), for MD5 and SHA-256 digest.
	HA1MD5    string `toml:"ha1_md5,omitempty"`
	HA1SHA256 string `toml:"ha1_sha256,omitempty"`
	// DisplayName is shown to the people this user calls.
	DisplayName string `toml:"display_name"`
	// External lets the user call out through lines and trunks.
	External bool `toml:"external"`
	// DND: the user's phones are not alerted; callers get busy when
	// nothing else rings.
	DND bool `toml:"dnd,omitempty"`
	// Forwarding targets (an extension, or a number the routes take: only
	// for an external user); "" is off. ForwardNoAnswerAfter is how long
	// the phones ring first (default 20 s).
	ForwardAlways        string   `toml:"forward_always,omitempty"`
	ForwardBusy          string   `toml:"forward_busy,omitempty"`
	ForwardNoAnswer      string   `toml:"forward_no_answer,omitempty"`
	ForwardNoAnswerAfter Duration `toml:"forward_no_answer_after,omitempty"`
}

// Trunk is a provider link without registration: calls come from its
// addresses and go to Dial.
type Trunk struct {
	Name      string   `toml:"name"`
	Addresses []string `toml:"addresses"` // IPs or networks INVITEs are accepted from
	Dial      string   `toml:"dial"`      // host[:port] outgoing calls go to
	Ring      []string `toml:"ring"`      // extensions alerted for its calls
}

// Route sends the numbers its digit map matches through a line or trunk.
type Route struct {
	Pattern string `toml:"pattern"` // digit map; its rewriting gives the number sent
	Via     string `toml:"via"`     // "line:1" (1-based) or "trunk:NAME"
}

// DigestRealm is the realm of the local users' digest (their HA1s).
const DigestRealm = "openata"

// UserHA1 is what the web UI stores for a user's password: the MD5 and
// SHA-256 digest hashes (hex) of name:DigestRealm:password, so the file
// never holds the password itself. The name is in the hash: a renamed user
// needs its password again.
func UserHA1(name, password string) (md5hex, sha256hex string) {
	s := name + ":" + DigestRealm + ":" + password
	m, h := md5.Sum([]byte(s)), sha256.Sum256([]byte(s))
	return hex.EncodeToString(m[:]), hex.EncodeToString(h[:])
}

func init() {
	for k, r := range map[string]TextRule{
		"router.listen":          {Max: MaxHostPort, Wire: true},
		"router.allow_networks":  {Max: MaxHostPort},
		"router.port_extension":  {Max: MaxUserName, Wire: true},
		"user.name":              {Max: MaxUserName, Wire: true},
		"user.password":          {Max: MaxPassword},
		"user.ha1_md5":           {Max: 32},
		"user.ha1_sha256":        {Max: 64},
		"user.display_name":      {Max: MaxDisplayName, Wire: true},
		"user.forward_always":    {Max: MaxDialNumber, Wire: true},
		"user.forward_busy":      {Max: MaxDialNumber, Wire: true},
		"user.forward_no_answer": {Max: MaxDialNumber, Wire: true},
		"trunk.name":             {Max: MaxWord},
		"trunk.addresses":        {Max: MaxHostPort},
		"trunk.dial":             {Max: MaxHostPort, Wire: true},
		"trunk.ring":             {Max: MaxUserName},
		"route.pattern":          {Max: MaxDialPlan, Wire: true},
		"route.via":              {Max: MaxWord + 8},
		"line.ring":              {Max: MaxUserName},
	} {
		TextRules[k] = r
	}
}

// Extensions are the names calls can ring: the port's extension and the
// users'.
func (c *Config) Extensions() []string {
	ext := []string{c.Router.PortExtension}
	for _, u := range c.Users {
		ext = append(ext, u.Name)
	}
	return ext
}

// ParseNetwork reads an allow_networks or trunk address entry: a network
// ("10.0.0.0/8") or one address.
func ParseNetwork(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a network such as 192.168.0.0/16", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or a network such as 192.168.0.0/16", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// checkRouter checks [router], [[user]], [[trunk]], [[route]] and the
// lines' ring lists.
func (c *Config) checkRouter() error {
	r := c.Router // its text keys: check's checkTexts
	if _, _, err := splitPort(r.Listen); err != nil {
		return keyErr("router.listen", "%v", err)
	}
	for i, n := range r.AllowNetworks {
		if _, err := ParseNetwork(n); err != nil {
			return keyErr(fmt.Sprintf("router.allow_networks[%d]", i), "%v", err)
		}
	}
	if err := checkExtension(r.PortExtension); err != nil {
		return keyErr("router.port_extension", "%v", err)
	}
	if r.AuthFailures < 1 || r.AuthFailures > 1000 {
		return keyErr("router.auth_failures", "want 1 to 1000 failed logins a minute before a source is blocked, got %d", r.AuthFailures)
	}
	if r.BlockFor < 0 || r.BlockFor > Duration(24*time.Hour) {
		return keyErr("router.block_for", "want 0s to 24h, got %v", r.BlockFor)
	}
	names := map[string]string{r.PortExtension: "router.port_extension"}
	for i := range c.Users {
		u, key := &c.Users[i], fmt.Sprintf("user[%d]", i)
		if err := checkTexts(reflect.ValueOf(u).Elem(), key, "user"); err != nil {
			return err
		}
		if err := checkExtension(u.Name); err != nil {
			return keyErr(key+".name", "%v", err)
		}
		if other, dup := names[u.Name]; dup {
			return keyErr(key+".name", "%q is already %s", u.Name, other)
		}
		names[u.Name] = key + ".name"
		if u.Password == "" && u.HA1MD5 == "" {
			return keyErr(key+".password", "missing: a user needs a password")
		}
		if err := checkHex(u.HA1MD5, 32); err != nil {
			return keyErr(key+".ha1_md5", "%v", err)
		}
		if err := checkHex(u.HA1SHA256, 64); err != nil {
			return keyErr(key+".ha1_sha256", "%v", err)
		}
		if err := checkDisplayName(key+".display_name", u.DisplayName); err != nil {
			return err
		}
		for _, f := range []struct{ name, v string }{{"forward_always", u.ForwardAlways}, {"forward_busy", u.ForwardBusy}, {"forward_no_answer", u.ForwardNoAnswer}} {
			if err := checkDialNumber(f.v); err != nil {
				return keyErr(key+"."+f.name, "%v", err)
			}
			if f.v == u.Name {
				return keyErr(key+"."+f.name, "%q is the user itself", f.v)
			}
		}
		if d := u.ForwardNoAnswerAfter; d != 0 && (d < Duration(time.Second) || d > Duration(5*time.Minute)) {
			return keyErr(key+".forward_no_answer_after", "want 1s to 5m, got %v", d)
		}
	}
	checkRing := func(key string, ring []string) error {
		for j, ext := range ring {
			if _, ok := names[ext]; !ok {
				return keyErr(fmt.Sprintf("%s[%d]", key, j), "%q is no extension (known: %s)", ext, strings.Join(c.Extensions(), ", "))
			}
		}
		return nil
	}
	trunks := map[string]bool{}
	for i := range c.Trunks {
		t, key := &c.Trunks[i], fmt.Sprintf("trunk[%d]", i)
		if err := checkTexts(reflect.ValueOf(t).Elem(), key, "trunk"); err != nil {
			return err
		}
		switch {
		case t.Name == "" || strings.ContainsAny(t.Name, " :/@"):
			return keyErr(key+".name", "%q: want a short name without spaces, : / or @", t.Name)
		case trunks[t.Name]:
			return keyErr(key+".name", "%q is already a trunk's name", t.Name)
		case t.Dial == "":
			return keyErr(key+".dial", "missing: the host[:port] the trunk's calls go to")
		case len(t.Addresses) == 0:
			return keyErr(key+".addresses", "empty: list the addresses the trunk's calls come from")
		}
		trunks[t.Name] = true
		if err := checkHostPort(t.Dial); err != nil {
			return keyErr(key+".dial", "%v", err)
		}
		for j, a := range t.Addresses {
			if _, err := ParseNetwork(a); err != nil {
				return keyErr(fmt.Sprintf("%s.addresses[%d]", key, j), "%v", err)
			}
		}
		if err := checkRing(key+".ring", t.Ring); err != nil {
			return err
		}
	}
	for i := range c.Lines {
		if err := checkRing(fmt.Sprintf("line[%d].ring", i), c.Lines[i].Ring); err != nil {
			return err
		}
	}
	for i := range c.Routes {
		rt, key := &c.Routes[i], fmt.Sprintf("route[%d]", i)
		if err := checkTexts(reflect.ValueOf(rt).Elem(), key, "route"); err != nil {
			return err
		}
		if strings.TrimSpace(rt.Pattern) == "" {
			return keyErr(key+".pattern", "missing: a digit map such as \"<9:>xx.\"")
		}
		kind, name, _ := strings.Cut(rt.Via, ":")
		switch kind {
		case "line":
			n, err := strconv.Atoi(name)
			if err != nil || n < 1 || n > len(c.Lines) {
				return keyErr(key+".via", "%q: no such line (lines are numbered from 1; there are %d)", rt.Via, len(c.Lines))
			}
		case "trunk":
			if !trunks[name] {
				return keyErr(key+".via", "%q: no trunk named %q", rt.Via, name)
			}
		default:
			return keyErr(key+".via", "%q: want \"line:N\" or \"trunk:NAME\"", rt.Via)
		}
	}
	return nil
}

// checkExtension accepts an extension: 1 to 32 digits, letters, . - _.
func checkExtension(v string) error {
	if v == "" {
		return fmt.Errorf("empty")
	}
	return checkDialNumber(v)
}

func checkHex(v string, n int) error {
	if v == "" {
		return nil
	}
	if len(v) != n || strings.Trim(strings.ToLower(v), "0123456789abcdef") != "" {
		return fmt.Errorf("want %d hex digits", n)
	}
	return nil
}

// splitPort checks host:port.
func splitPort(v string) (string, int, error) {
	i := strings.LastIndex(v, ":")
	if i < 0 {
		return "", 0, fmt.Errorf("%q: want host:port", v)
	}
	p, err := strconv.Atoi(v[i+1:])
	if err != nil || p < 0 || p > 65535 {
		return "", 0, fmt.Errorf("%q: port %q is not a number from 0 to 65535", v, v[i+1:])
	}
	return v[:i], p, nil
}
